"""`python -m helpers pdf --run DIR` (`make pdf RUN=DIR`): render the PDF of a finished run
folder (argparse wiring only; the work is `helpers.workflow.pdf.render_run`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.errors import UserError
from helpers.workflow.pdf import render_run


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", metavar="DIR", required=True,
                        help="the run folder `report` printed (with pdf.json and notebooks/)")
    parser.add_argument("--pdf", metavar="PATH", default=None,
                        help="where to write the PDF (default: where `report` would have)")


def run(args: argparse.Namespace) -> int:
    run_dir = Path(args.run).expanduser()
    if not run_dir.is_dir():
        raise UserError(f"The run folder {run_dir} does not exist; pass the folder `report` "
                        "printed (RUN=...).")
    print(f"wrote {render_run(run_dir, Path(args.pdf) if args.pdf else None)}")
    return 0
