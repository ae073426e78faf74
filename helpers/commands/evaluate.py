"""`python -m helpers evaluate`: whole-video predictions into a predictions file (argparse
wiring only; the scoring is `helpers.evaluation.evaluate`)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from helpers.data.sampling import PROBES
from helpers.errors import UserError
from helpers.evaluation.evaluate import evaluate_to_file
from helpers.training.runs import MODEL
from helpers.utils import distributed as D
from helpers.utils.argtypes import nonnegative_int, positive_int


def _eval_frames(text: str) -> int | None | str:
    """--eval-frames: 'all' (None), 'config' (the run's), or a whole number >= 1."""
    if text in ("all", "config"):
        return None if text == "all" else text
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'all' or a number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 'all' or a number >= 1, got {value}")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    # --run-dir also works under torchrun, whose own parser takes `--run` for its --run-path
    parser.add_argument("--run", "--run-dir", dest="run", required=True, type=Path,
                        help="run folder from `train` (use --run-dir under torchrun)")
    parser.add_argument("--split", type=int, choices=[1, 2, 3], default=None,
                        help="default: the split the run was trained on")
    parser.add_argument("--subset", choices=["test", "val"], default="test",
                        help="val = the held-out training groups (for fusion)")
    parser.add_argument("--out", required=True, type=Path, help="predictions file (.h5)")
    parser.add_argument("--store", type=Path, default=None, help="default: the run's store")
    parser.add_argument("--splits", type=Path, default=None, help="default: the run's splits")
    parser.add_argument("--eval-frames", type=_eval_frames, default="config",
                        help="2D: 'all' or N evenly spaced frames per video (default: the run's)")
    parser.add_argument("--three-crop", action="store_true", help="3 spatial crops per item")
    parser.add_argument("--batch-size", type=positive_int, default=None)
    parser.add_argument("--num-workers", type=nonnegative_int, default=None)
    parser.add_argument("--probe", choices=PROBES, default=None,
                        help="clip model: score every window reversed, shuffled or as one "
                             "repeated frame (what frame order is worth)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")


def run(args: argparse.Namespace) -> int:
    if not (args.run / MODEL).exists():
        raise UserError(f"{args.run} holds no trained model ({MODEL}); run `train` first.")
    eval_frames: int | None | str = args.eval_frames
    evaluate_to_file(args.run, args.out, overwrite=args.overwrite, split=args.split,
                     subset=args.subset, store=args.store, splits=args.splits,
                     eval_frames=eval_frames, three_crop=args.three_crop or None,
                     batch_size=args.batch_size, num_workers=args.num_workers,
                     probe=args.probe)
    if D.is_distributed():
        torch.distributed.destroy_process_group()
    return 0
