"""`python -m helpers torch-build --cuda auto [--run]`: the torch build for this node's
driver (argparse wiring only; the work is `helpers.utils.torchbuild`). Standard library
alone, like its library: it runs before the venv has anything else."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.utils.torchbuild import REQUIREMENTS, install


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--cuda", default="", help="auto, cu126, cu128, cu130 or cpu")
    parser.add_argument("--requirements", default=str(REQUIREMENTS))
    parser.add_argument("--run", action="store_true", help="run pip (else print its command)")


def run(args: argparse.Namespace) -> int:
    return install(args.cuda, Path(args.requirements), run=args.run)
