"""`python -m helpers info STORE`: what a store holds (argparse wiring only; the store is
`helpers.data.store`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from helpers.data.store import VideoStore, format_info, store_info


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("store", type=Path, help="a store written by `prepare`")
    parser.add_argument("--json", action="store_true",
                        help='print {"videos": [{name, label, num_frames}], "totals": {...}}')


def run(args: argparse.Namespace) -> int:
    info = store_info(args.store)
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print(f"store     {args.store}")
        print(format_info(info, VideoStore(args.store).attrs))
    return 0
