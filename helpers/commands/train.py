"""`python -m helpers train`: the trainer's command line (argparse wiring only; the trainer
is `helpers.training.train`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from helpers.config import NORMS, OPTIMIZERS, PROFILES, SCHEDULES, TrainConfig, get_profile
from helpers.errors import UserError
from helpers.training.train import train
from helpers.utils import distributed as D
from helpers.utils import stop
from helpers.utils.device import out_of_memory


def _parse_groups(text: str) -> tuple[int, ...]:
    if text.strip().lower() in ("", "none"):  # train on every training video
        return ()
    try:
        groups: list[int] = []
        for part in text.split(","):
            if "-" in part:
                lo, hi = part.split("-")
                groups.extend(range(int(lo), int(hi) + 1))
            elif part.strip():
                groups.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected groups like 22-25 or 22,23, got {text!r}") from None
    if any(g < 1 for g in groups):
        raise argparse.ArgumentTypeError(f"group numbers start at 1, got {text!r}")
    return tuple(groups)


def _option_type(name: str, parse: type) -> Any:
    """An argparse type for TrainConfig field `name`: parses the text and applies the same
    check as TrainConfig, so a wrong value is a usage error (exit code 2) naming the option."""
    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            kind = "a whole number" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        try:
            TrainConfig().replace(**{name: value})  # every default is valid: checks this one
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None
        return value

    convert.__name__ = parse.__name__  # argparse names the type in its messages
    return convert


# CLI option -> TrainConfig field, for the options that override the profile
_OVERRIDES = {"num_epochs": int, "batch_size": int, "lr": float, "weight_decay": float,
              "optimizer": str, "schedule": str, "warmup_epochs": float, "label_smoothing": float,
              "accum_steps": int, "freeze_until": str, "backbone_lr_mult": float, "arch": str,
              "weights": str, "crop_size": int, "clip_len": int, "stride": int,
              "frames_per_video": int, "num_workers": int, "seed": int, "widen_factor": float,
              "flip_p": float, "shortcut_type": str, "norm": str, "dropout": float}
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "shortcut_type": ("A", "B"),
            "norm": NORMS}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=["frame", "clip"],
                        help="frame: 2D ResNet on single frames; clip: 3D ResNet on clips")
    parser.add_argument("--store", required=True, type=Path, help="store from `prepare`")
    parser.add_argument("--splits", required=True, type=Path,
                        help="folder with classInd.txt and the train/test lists")
    parser.add_argument("--split", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--out", required=True, type=Path, help="run folder")
    parser.add_argument("--profile", default="demo", choices=sorted(PROFILES))
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--val-groups", type=_parse_groups, default=None,
                        help="held-out training groups for validation (default 22-25; "
                             "'none' trains on every training video)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--no-amp", action="store_true", help="fp32 on CUDA too")
    parser.add_argument("--download-weights", action="store_true",
                        help="download missing pretrained weights (torchvision ImageNet)")
    for name, typ in _OVERRIDES.items():
        flag = f"--{name.replace('_', '-')}"
        help_ = argparse.SUPPRESS if name in ("seed",) else None
        if name in _CHOICES:
            parser.add_argument(flag, choices=_CHOICES[name], default=None, help=help_)
        elif typ is str:
            parser.add_argument(flag, default=None, help=help_)
        else:
            parser.add_argument(flag, type=_option_type(name, typ), default=None, help=help_)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = get_profile(args.profile).config(args.model)
    changes: dict[str, Any] = {k: getattr(args, k) for k in _OVERRIDES
                               if getattr(args, k, None) is not None}
    if args.val_groups is not None:
        changes["val_groups"] = args.val_groups
    if args.compile:
        changes["compile"] = True
    if args.no_amp:
        changes["amp"] = False
    if args.download_weights:
        changes["download_weights"] = True
    if changes.get("weights") in ("none", "None", "scratch"):
        changes["weights"] = None
    return cfg.replace(**changes)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    for path, what in ((args.store, "store"), (args.splits, "splits folder")):
        if not path.exists():
            raise UserError(f"The {what} {path} does not exist.")
    with stop.handling():  # SIGUSR1/SIGTERM (torchrun passes SIGTERM on): stop and save
        try:
            path = train(cfg, store=args.store, splits=args.splits, split=args.split,
                         out=args.out, resume=args.resume)
        except torch.OutOfMemoryError:
            raise UserError(out_of_memory(cfg.model, cfg.batch_size, cfg.accum_steps,
                                          D.world_size())) from None
    if D.is_main():
        print(f"saved {path}")
    if D.is_distributed():
        torch.distributed.destroy_process_group()
    return 0
