"""`python -m helpers bench data|train|refit`: throughput benchmarks, and the refit shift.

`bench data` (`helpers.tools.bench.data`) takes every data figure side by side in one run on
the same videos (`videos`), with the dataset rates of `loaders`; `bench train`
(`helpers.tools.bench.step_bench`) times the trainer's step on the device; `bench refit`
(`helpers.tools.bench.refit`) measures, for a finished `refit` run, what carrying the held-out
models' fitted choices over to the reported models does on test.
"""

from __future__ import annotations
