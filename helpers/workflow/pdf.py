"""`python -m helpers pdf --run DIR` (`make pdf RUN=DIR`): render the PDF of a finished run.

Compute nodes rarely have TeX. `report` therefore records, in `<run>/pdf.json`, what the
PDF needs (the executed notebook 04, the title, where the PDF goes, what `report.json`
says about the run) and, without TeX, ends with the command below instead of failing. The
command reads only that record and the executed notebook: no GPU check, no data, no stores,
no training, so it runs on a login node or on a laptop the run folder was copied to.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from helpers.errors import UserError
from helpers.paths import REPO_ROOT
from helpers.reporting.render import render_pdf
from helpers.utils.io import atomic_path, read_json_object, write_json_atomic
from helpers.workflow import timings
from helpers.workflow.provenance import stamp_path, write_stamp

RECORD = "pdf.json"


@dataclass(frozen=True, kw_only=True)
class PdfJob:
    """What rendering a run's PDF needs; paths inside the repository are kept relative to
    it, so that the run renders from another clone too."""

    notebook: str  # the executed notebook, relative to the run folder
    source_dir: str  # where relative paths in its markdown resolve
    pdf: str
    title: str
    profile: str
    split: int
    synthetic: bool
    smoke: bool
    fast: bool


def _portable(path: Path) -> str:
    path = Path(path).absolute()
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def _local(text: str) -> Path:
    return Path(text) if Path(text).is_absolute() else REPO_ROOT / text


def save_job(run_dir: Path, job: PdfJob) -> None:
    write_json_atomic(run_dir / RECORD, asdict(job))


def make_job(run_dir: Path, executed: Path, source_dir: Path, pdf: Path, **fields: object
             ) -> PdfJob:
    return PdfJob(notebook=str(executed.relative_to(run_dir)), source_dir=_portable(source_dir),
                  pdf=_portable(pdf), **fields)  # type: ignore[arg-type]


def load_job(run_dir: Path) -> PdfJob:
    path = run_dir / RECORD
    if not path.is_file():
        raise UserError(f"{run_dir} has no {RECORD}: it is not a run folder whose report ran "
                        "to notebook 04; pass the run folder that `report` printed (RUN=...).")
    fix = f"rerun `report` for {run_dir} up to notebook 04 to write it again"
    data = read_json_object(path, fix=fix)
    try:
        return PdfJob(**data)
    except TypeError:  # a field missing, or one this version does not know
        names = ", ".join(f.name for f in fields(PdfJob))
        raise UserError(f"{path} does not hold the fields {names}; {fix}.") from None


def render_command(run_dir: Path) -> str:
    return f"make pdf RUN={run_dir}"


def pending_sentence(run_dir: Path, missing: str = "") -> str:
    """The last line of a run whose PDF is left for later: `missing` names the TeX tools
    this machine lacks; empty, the user asked for it (`--no-pdf`)."""
    if missing:
        verb = "are" if " and " in missing else "is"
        why = (f": {missing} {verb} not on this machine, but every result is computed; render "
               "it where TeX is installed (a login node)")
    else:
        why = " (--no-pdf): every result is computed; render it"
    return (f"The PDF is pending{why} with: {render_command(run_dir)}  "
            f"(or python -m helpers pdf --run {run_dir})")


def render_run(run_dir: Path, pdf: Path | None = None) -> Path:
    """Render `run_dir`'s PDF and its report.json record; returns the PDF path."""
    run_dir = run_dir.absolute()
    job = load_job(run_dir)
    executed = run_dir / job.notebook
    out = pdf or _local(job.pdf)
    print(f"rendering {executed.name} -> {out}", flush=True)
    t0 = time.time()
    render_pdf(executed, out, source_dir=_local(job.source_dir), title=job.title)
    try:
        run = run_dir.relative_to(Path.cwd())
    except ValueError:
        run = run_dir
    write_stamp(out, profile=job.profile, split=job.split, run=run, synthetic=job.synthetic,
                smoke=job.smoke, fast=job.fast)
    timings.add(run_dir, "render", time.time() - t0, 1, replace=True)
    for made in (out, stamp_path(out)):  # the run keeps both (the summary over splits reads them)
        with atomic_path(run_dir / made.name) as tmp:
            shutil.copyfile(made, tmp)
    print(f"rendered in {time.time() - t0:.1f} s", flush=True)
    return out
