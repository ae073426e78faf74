"""`python -m helpers prepare`: decode videos into compact JPEG-in-HDF5 stores (argparse
wiring only; the work is `helpers.data.prepare.prepare_stores`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.data.prepare import DEFAULT_QUALITY, prepare_stores
from helpers.data.store import report_path_for
from helpers.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.utils.argtypes import int_at_least, int_between, positive_int

    parser.add_argument("--source", type=Path, required=True,
                        help="folder holding UCF-101/ (AVIs), UCF-101-hdf5/ (course) or the "
                             "synthetic benchmark")
    parser.add_argument("--splits", type=Path, default=None,
                        help="folder holding classInd.txt (default: SOURCE/ucfTrainTestlist)")
    parser.add_argument("--out", type=Path, required=True, help="the store file to write (.h5)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="decoding processes (default: the CPU count)")
    parser.add_argument("--short-side", type=int_at_least(2), default=None,
                        help="resize frames so the short side is this many pixels (e.g. 128 "
                             "for the 3D model); default: keep the size")
    parser.add_argument("--also-out", type=Path, default=None,
                        help="a second store filled in the same decode pass (with "
                             "--also-short-side)")
    parser.add_argument("--also-short-side", type=int_at_least(2), default=None,
                        help="the short side of the --also-out store's frames")
    parser.add_argument("--quality", type=int_between(1, 100), default=DEFAULT_QUALITY,
                        help=f"JPEG quality 1-100 (default {DEFAULT_QUALITY})")


def _outs(args: argparse.Namespace) -> dict[int | None, Path]:
    """{short side or None: store path} from --out/--short-side and --also-out/-short-side."""
    if (args.also_out is None) != (args.also_short_side is None):
        raise UserError("--also-out and --also-short-side go together: give both for a second "
                        "store, or neither")
    outs: dict[int | None, Path] = {args.short_side: args.out}
    if args.also_out is not None:
        if args.also_short_side == args.short_side:
            raise UserError(f"--also-short-side {args.also_short_side} is the same as "
                            f"--short-side; the second store needs another size")
        outs[args.also_short_side] = args.also_out
    return outs


def run(args: argparse.Namespace) -> int:
    outs = _outs(args)
    reports = prepare_stores(args.source, args.splits, outs, num_workers=args.workers,
                             quality=args.quality)
    for side, out in outs.items():
        report = reports[side]
        failures = report.failures
        print(f"{out}: {report.videos_ok:,} videos, {report.frames:,} frames, "
              f"{report.bytes / 1e6:,.1f} MB of JPEG; {len(failures)} failed"
              + (f" (reasons in {report_path_for(out)})" if failures else ""))
    for failure in failures[:10]:  # the same videos fail in every store
        print(f"  skipped {failure.name}: {failure.reason}")
    return 0
