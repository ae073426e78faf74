"""`python -m helpers summary`: the splits side by side, `report/summary.pdf`.

Reads finished run folders (one per split; by default where `make report SPLIT=k` puts them),
checks that they may be compared (`split_runs.check_consistent`), executes notebook
`05_three_splits.ipynb` on them and renders it with the report's look. It needs no GPU, no
data and no stores, so it runs on a login node after an array job's three tasks. A missing or
unfinished split is named in one sentence and the summary goes on over the others, saying so
in its title and tables. Beside the PDF, `summary.json` records the run folders and the
`report.json` files read.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from helpers.errors import UserError
from helpers.paths import NOTEBOOKS_DIR, REPORT_DIR
from helpers.utils.io import write_json_atomic
from helpers.workflow.provenance import sha256_file
from helpers.workflow.split_runs import EXPECTED_SPLITS, RunSet, SplitRun, collect

SUMMARY_NOTEBOOK = "05_three_splits.ipynb"


def default_runs(profile: str = "demo", protocol: str = "", fast: bool = False,
                 splits: Sequence[int] = EXPECTED_SPLITS) -> dict[int, Path]:
    """split -> the run folder `make report SPLIT=k` writes for this profile."""
    from helpers.workflow.pipeline import Setup, run_paths

    return {k: run_paths(Setup(profile=profile, protocol=protocol, fast=fast, split=k)).root
            for k in splits}


def find_runs(runs: Sequence[str | Path] = (), *, profile: str = "demo", protocol: str = "",
              fast: bool = False, expected: Sequence[int] = EXPECTED_SPLITS) -> RunSet:
    """The `RunSet` of the given run folders, or of the default ones of the profile; the
    absent splits are printed, one sentence each."""
    defaults = None
    if not runs:
        defaults = default_runs(profile, protocol, fast, expected)
        runs = [p for p in defaults.values() if p.is_dir()]
    found = collect(runs, expected=expected, default_roots=defaults, report_dir=REPORT_DIR)
    for absent in found.absent:
        print(f"warning: {absent.sentence()}", file=sys.stderr, flush=True)
    return found


def synthetic_kinds(run: SplitRun) -> dict[str, str] | None:
    """The synthetic benchmark's class -> kind, when its classes.json is still at hand (else
    None: the summary needs no data)."""
    if not run.synthetic:
        return None
    from helpers.data.synthetic import load_class_meta
    from helpers.workflow.parameters import SETUP_JSON, read_json_object
    from helpers.workflow.pipeline import Setup, data_paths

    try:
        source = data_paths(Setup.from_namespace(read_json_object(run.root / SETUP_JSON))).source
    except UserError:
        return None
    if not (source / "classes.json").is_file():
        return None
    return {c["name"]: c["kind"] for c in load_class_meta(source)}


def record(found: RunSet, pdf: Path | None) -> dict[str, object]:
    """What `summary.json` says: the runs and records read, the splits absent, the PDF."""
    return {
        "splits": found.splits,
        "absent": [{"split": a.split, "sentence": a.sentence()} for a in found.absent],
        "runs": [{"split": r.split, "run": str(r.root),
                  "report_json": str(r.report_json) if r.report_json else None,
                  "code": dataclasses.asdict(r.code) if r.code else None} for r in found.runs],
        "pdf": str(pdf) if pdf else None,
        "pdf_sha256": sha256_file(pdf) if pdf and pdf.is_file() else None,
        "rendered": time.strftime("%Y-%m-%d %H:%M"),
    }


def make_summary(runs: Sequence[str | Path] = (), *, pdf_path: str | Path | None =
                 REPORT_DIR / "summary.pdf", kernel_name: str | None = None,
                 profile: str = "demo", protocol: str = "", fast: bool = False) -> Path:
    """Check the runs, execute notebook 05 on them and render `pdf_path` (None: the executed
    notebook only). Without TeX the notebook still runs and the PDF is left for later.
    Returns the PDF, or the executed notebook when no PDF was rendered."""
    from helpers.reporting.render import check_tex, render_pdf
    from helpers.workflow.notebooks import choose_kernel, execute_notebook, kernel_env
    from helpers.workflow.split_runs import check_consistent

    found = find_runs(runs, profile=profile, protocol=protocol, fast=fast)
    check_consistent(found.runs)  # refuse before starting a kernel
    src = NOTEBOOKS_DIR / SUMMARY_NOTEBOOK
    dst = found.runs[0].root.parent / f"summary-{found.runs[0].root.name}" / SUMMARY_NOTEBOOK
    # the runs as given (empty: the profile's), so the notebook names absent splits alike
    params = {"runs": [str(Path(r).absolute()) for r in runs], "profile": profile,
              "protocol": protocol, "fast": fast}
    t0 = time.time()
    print(f"summary: {found.scope()} from {', '.join(str(r.root) for r in found.runs)}",
          flush=True)
    with kernel_env():
        execute_notebook(src, dst, parameters=params, kernel_name=kernel_name or choose_kernel())
    print(f"summary: notebook done in {time.time() - t0:.1f} s -> {dst}", flush=True)
    if pdf_path is None:
        return dst
    pdf = Path(pdf_path)
    try:
        check_tex()
    except UserError as exc:
        print(f"note: {exc} The summary's notebook ran ({dst}); run `make summary` again on a "
              "machine with TeX to render the PDF.", file=sys.stderr, flush=True)
        return dst
    from helpers.reporting.replicated import title

    render_pdf(dst, pdf, source_dir=src.parent,
               title=title(found, all(r.synthetic for r in found.runs)))
    write_json_atomic(pdf.with_suffix(".json"), record(found, pdf))
    return pdf


def default_summary_pdf(fast: bool = False) -> Path:
    """report/summary.pdf; a --fast summary (tests) writes beside it."""
    return REPORT_DIR / ("summary-fast.pdf" if fast else "summary.pdf")
