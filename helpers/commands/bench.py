"""`python -m helpers bench data|train|refit`: throughput benchmarks, and the refit shift
(argparse wiring only; the benchmarks are `helpers.tools.bench`). Each measure's module is
imported only when it runs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.commands.synth import frame_size
    from helpers.utils.argtypes import positive_float, positive_int

    sub = parser.add_subparsers(dest="what", metavar="<what>", parser_class=type(parser))
    sub.required = True
    data_help = "store size, prepare and dataset throughput, measured side by side"
    data = sub.add_parser("data", help=data_help, description=data_help)
    data.prog = f"{parser.prog} data"
    data.add_argument("--videos", type=positive_int, default=16, help="videos to measure on (16)")
    data.add_argument("--source", type=Path, default=None,
                      help="an AVI tree (folder holding UCF-101/); default: the shared real clip, "
                           "else a synthetic set")
    data.add_argument("--splits", type=Path, default=None,
                      help="folder holding classInd.txt (default: found under --source)")
    data.add_argument("--workers", type=positive_int, default=1,
                      help="processes for decode-only and prepare (1); datasets use one process")
    data.add_argument("--seconds", type=positive_float, default=3.0,
                      help="minimum time per dataset measurement (3)")
    data.add_argument("--work-dir", type=Path, default=None,
                      help="keep sources and stores here (reused synthetic set); default: a "
                           "temporary folder, removed")
    data.add_argument("--synth-size", type=frame_size, default=(320, 240), metavar="WxH",
                      help="frame size of the synthetic fallback (320x240)")
    train_help = "training throughput and TFLOP/s of ResNet-50 and R3D-50 (bf16 on CUDA)"
    train = sub.add_parser("train", help=train_help, description=train_help)
    train.prog = f"{parser.prog} train"
    train.add_argument("--steps", type=positive_int, default=10, help="timed steps per model (10)")
    train.add_argument("--batch-size", type=positive_int, default=None, help="default: per device")
    train.add_argument("--compile", action="store_true", help="torch.compile the models")
    refit_help = ("a refit run's held-out against reported models on test, and each fusion "
                  "method fitted on validation applied to both")
    refit = sub.add_parser("refit", help=refit_help, description=refit_help)
    refit.prog = f"{parser.prog} refit"
    refit.add_argument("--run", type=Path, required=True,
                       help="a finished refit run folder, e.g. runs/demo-refit")


def run(args: argparse.Namespace) -> int:
    if args.what == "refit":
        from helpers.tools.bench.refit import bench_refit, format_result

        print(format_result(bench_refit(args.run)))
        return 0
    if args.what == "train":
        from helpers.tools.bench.step_bench import bench_train

        return bench_train(steps=args.steps, batch_size=args.batch_size,
                           compile=args.compile)
    from helpers.tools.bench.data import bench_data, format_table

    result = bench_data(source=args.source, splits=args.splits, num_videos=args.videos,
                        num_workers=args.workers, work_dir=args.work_dir, seconds=args.seconds,
                        synth_size=args.synth_size)
    print(f"{result.videos} videos, {result.frames:,} frames at {result.frame_size}: "
          f"{result.source}; {os.cpu_count()} CPUs")
    print(format_table(result))
    missed = [r.measure for r in result.rows if not r.met]
    if missed:
        print(f"missed: {'; '.join(missed)}")
    return 0
