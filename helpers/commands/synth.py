"""`python -m helpers synth`: generate the synthetic benchmark and print what it holds."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.data.synthetic.generation import (
    DEFAULT_NUM_FRAMES,
    DEFAULT_SIZE,
    DEFAULT_VIDEOS_PER_GROUP,
    MAX_VIDEOS_PER_GROUP,
    MIN_FRAMES,
    generate,
    parse_size,
)


def frame_size(text: str) -> tuple[int, int]:
    """An argparse type: WIDTHxHEIGHT of a synthetic video, e.g. 80x60 (`parse_size`)."""
    from helpers.utils.argtypes import from_user_check

    return from_user_check(parse_size)(text)


def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.utils.argtypes import int_at_least, int_between, nonnegative_int, positive_int

    parser.add_argument("--out", type=Path, required=True,
                        help="directory to write UCF-101/, ucfTrainTestlist/ and classes.json into")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    width, height = DEFAULT_SIZE
    parser.add_argument("--size", type=frame_size, default=DEFAULT_SIZE, metavar="WxH",
                        help=f"frame size WIDTHxHEIGHT, even sides (default {width}x{height})")
    parser.add_argument("--num-frames", type=int_at_least(MIN_FRAMES), default=DEFAULT_NUM_FRAMES,
                        help=f"frames per video, at least {MIN_FRAMES} (default "
                             f"{DEFAULT_NUM_FRAMES})")
    parser.add_argument("--videos-per-group", type=int_between(1, MAX_VIDEOS_PER_GROUP),
                        default=DEFAULT_VIDEOS_PER_GROUP,
                        help=f"clips per class and group; 25 groups (default "
                             f"{DEFAULT_VIDEOS_PER_GROUP})")
    parser.add_argument("--workers", dest="num_workers", type=positive_int, default=None,
                        help="worker processes (default: the number of CPU cores)")


def run(args: argparse.Namespace) -> int:
    summary = generate(args.out, seed=args.seed, size=args.size,
                       num_frames=args.num_frames, videos_per_group=args.videos_per_group,
                       num_workers=args.num_workers)
    print(summary.format())
    return 0
