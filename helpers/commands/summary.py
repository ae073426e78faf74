"""`python -m helpers summary`: the splits side by side, report/summary.pdf, from finished
run folders (argparse wiring only; the work is `helpers.workflow.summary.make_summary`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.config import PROTOCOLS
from helpers.workflow.summary import default_summary_pdf, make_summary


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", metavar="DIR", nargs="+", default=[],
                        help="the run folders, one per split (default: where `make report "
                             "SPLIT=k` puts them for --profile/--protocol)")
    parser.add_argument("--profile", choices=("demo", "ucf101"), default="demo",
                        help="whose default run folders to read (default: demo)")
    parser.add_argument("--protocol", choices=PROTOCOLS, default=None,
                        help="whose default run folders to read (default: the profile's)")
    parser.add_argument("--fast", action="store_true", help="the --fast runs (tests)")
    parser.add_argument("--pdf", metavar="PATH", default=None,
                        help="where to write the PDF (default: report/summary.pdf)")
    parser.add_argument("--kernel", metavar="NAME", default=None, help="Jupyter kernel")


def run(args: argparse.Namespace) -> int:
    pdf = Path(args.pdf) if args.pdf else default_summary_pdf(args.fast)
    out = make_summary(args.runs, pdf_path=pdf, kernel_name=args.kernel, profile=args.profile,
                       protocol=args.protocol or "", fast=args.fast)
    print(f"wrote {out}")
    return 0
