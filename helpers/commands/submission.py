"""`python -m helpers submission`: the turn-in zip, report.pdf plus the code (argparse
wiring only; the work is `helpers.workflow.submission.build_submission`)."""

from __future__ import annotations

import argparse

from helpers.workflow.submission import DEFAULT_OUT, build_submission


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="ZIP", default=str(DEFAULT_OUT),
                        help="where to write the zip (default: submission/ucf101_submission.zip)")
    parser.add_argument("--split", type=int, choices=(1, 2, 3), default=1,
                        help="whose report to hand in: 1 (default, as the handout asks) "
                             "report/report.pdf, k report/report-split<k>.pdf")
    parser.add_argument("--report", metavar="PDF", default=None,
                        help="the rendered report (default: the one of --split)")
    parser.add_argument("--summary", metavar="PDF", default=None,
                        help="the summary over splits, added when it exists "
                             "(default: summary.pdf beside the report)")
    parser.add_argument("--practice", action="store_true",
                        help="hand in a demo, smoke or fast report (or one without its "
                             "report.json) on purpose")


def run(args: argparse.Namespace) -> int:
    build_submission(args.out, report_pdf=args.report, split=args.split, practice=args.practice,
                     summary_pdf=args.summary)
    return 0
