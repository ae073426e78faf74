"""`python -m helpers gpu-check <step>`: the GPU-node check behind `scripts/gpu-check.sh`,
one step per process (argparse wiring only; the steps are `helpers.tools.gpucheck`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.tools.gpucheck import STEPS, run_step
from helpers.tools.gpucheck.plan import DEFAULT_WORK


def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.utils.argtypes import positive_float

    parser.add_argument("step", choices=STEPS,
                        help="setup first, then any of train, compile, torchrun, loaders, "
                             "epoch; report last (scripts/gpu-check.sh runs them all)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK,
                        help=f"stores, runs, logs and step results ({DEFAULT_WORK})")
    parser.add_argument("--limit", type=positive_float, default=None,
                        help="seconds the step may take (the script's timeout for it)")
    parser.add_argument("--dry-run", action="store_true",
                        help="setup: tiny CPU sizes even where CUDA is available")
    parser.add_argument("--out", type=Path, default=None, help="report: also write it here")
    parser.add_argument("--elapsed", type=float, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    return run_step(args.step, args.work_dir, dry_run=args.dry_run, limit=args.limit,
                    out=args.out, elapsed=args.elapsed)
