"""`python -m helpers fetch` (`make fetch`): on a login node, everything a compute node
without internet needs (argparse wiring only; the work is `helpers.workflow.offline`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.paths import DATA_DIR


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=DATA_DIR / "ucf101",
                        help="where the split files (and videos) go (default: data/ucf101)")
    parser.add_argument("--videos", action="store_true",
                        help="also download UCF-101 itself (6.5 GB, resumable)")
    parser.add_argument("--imagenet", choices=("v1", "v2"), default="v2",
                        help="which torchvision ImageNet ResNet-50 (default: v2, 80.9%% top-1)")
    parser.add_argument("--imagenet-url", metavar="URL", default=None,
                        help="a mirror of torchvision's file (it is checked all the same)")
    parser.add_argument("--kinetics", metavar="URL|PATH", default=None,
                        help="Hara's r3d50_K_200ep.pth from a URL or a file at hand "
                             "(copied to data/weights/)")
    parser.add_argument("--base-url", metavar="URL", default=None,
                        help="a mirror for the UCF-101 files")


def run(args: argparse.Namespace) -> int:
    from helpers.workflow.offline import fetch_all, format_fetched  # torch: not for --help

    done = fetch_all(args.out, videos=args.videos, base_url=args.base_url,
                     imagenet=args.imagenet, imagenet_url=args.imagenet_url,
                     kinetics=args.kinetics)
    print(format_fetched(done))
    return 0
