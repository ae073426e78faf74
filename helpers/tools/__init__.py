"""One-off tools: throughput benchmarks and the GPU node check."""
