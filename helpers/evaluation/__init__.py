"""Evaluation: predictions files, metrics, statistics, fusion and temporal probes."""
