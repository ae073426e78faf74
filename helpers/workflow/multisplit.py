"""Several UCF-101 splits in one command (`report --split all`, `--split 1,3`), and where each
split's outputs go, so that splits run one after another or as concurrent array tasks never
write the same file.

Split 1 keeps the handout's names; split k != 1 gets its own:

| output | split 1 | split k |
|---|---|---|
| run folder | runs/<profile>[-<protocol>][-fast] | the same name + `-split<k>` |
| PDF and its record | report/report.pdf, report.json | report/report-split<k>.pdf, .json |
| figures | figures/ | figures/split<k>/ |

The stores hold every video of the data folder, so all splits read the same stores: the
first split builds them, the others reuse them. After the last split, the summary over the
splits runs (`helpers.workflow.summary`); `helpers.workflow.report.report_splits` drives both.
"""

from __future__ import annotations

from pathlib import Path

from helpers.errors import UserError
from helpers.paths import FIGURES_DIR, REPORT_DIR

ALL_SPLITS = (1, 2, 3)


def parse_splits(text: str | int) -> tuple[int, ...]:
    """`all`, one split or a comma-separated list, in increasing order without repeats.

    >>> parse_splits("all"), parse_splits("3,1"), parse_splits(2)
    ((1, 2, 3), (1, 3), (2,))
    """
    text = str(text).strip().lower()
    if text == "all":
        return ALL_SPLITS
    try:
        splits = {int(part) for part in text.split(",") if part.strip()}
    except ValueError:
        splits = set()
    if not splits or not splits <= set(ALL_SPLITS):
        raise UserError(f"Split {text!r} is not 1, 2, 3, a list such as 1,3, or all.")
    return tuple(sorted(splits))


def split_suffix(split: int) -> str:
    return "" if split == 1 else f"-split{split}"


def split_pdf(pdf: str | Path, split: int) -> Path:
    """The PDF of `split` for a PDF path named for split 1: report.pdf -> report-split2.pdf."""
    pdf = Path(pdf)
    return pdf if split == 1 else pdf.with_name(f"{pdf.stem}{split_suffix(split)}{pdf.suffix}")


def split_figures_dir(split: int, base: Path | None = None) -> Path:
    """figures/ for split 1, figures/split<k>/ for the others."""
    base = FIGURES_DIR if base is None else base
    return base if split == 1 else base / f"split{split}"


def split_run_name(run: str, split: int) -> str:
    """A run named with --run holds split 1; the other splits go beside it, `<run>-split<k>`."""
    return run if split == 1 or not run else f"{run.rstrip('/')}{split_suffix(split)}"


def summary_pdf(report_pdf: str | Path | None = None) -> Path:
    """Where the summary goes: beside the reports, summary.pdf (summary-fast.pdf and
    summary-smoke.pdf beside report-fast.pdf and report-smoke.pdf)."""
    pdf = Path(report_pdf) if report_pdf else REPORT_DIR / "report.pdf"
    suffix = pdf.stem[len("report"):] if pdf.stem.startswith("report") else ""
    return pdf.with_name(f"summary{suffix}{pdf.suffix}")
