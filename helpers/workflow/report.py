"""`python -m helpers report`: execute notebooks 01-04 with papermill, render the PDF.

Each notebook runs into `<run_dir>/notebooks/<name>.ipynb`; the last one (04_report) is
rendered to `report/report.pdf` through nbconvert + xelatex with the code hidden.
The heavy steps inside the notebooks resume on their own (checkpoints, predictions files
that already exist are skipped), so rerunning after a kill simply re-executes the
notebooks and is cheap where the work is done.

Stopping before a time limit (`helpers.utils.stop`): SIGUSR1 or SIGTERM to this process,
or the stop file (`UCF_STOP_FILE`, by default `<run_dir>/STOP`, which a signal creates and
a new run removes), asks the kernel's trainer or evaluator to stop at its next step
boundary; no new notebook is begun, and the command exits with `STOPPED_EXIT` (75) so that
a batch job (scripts/cluster/) requeues itself; the same command resumes.

Figures: the notebooks save them into `figures/` (split k != 1: `figures/split<k>/`); after a
run, the ones this run wrote are also copied into `<run_dir>/figures/` (with a copy of the PDF
and its record), so each run keeps its own. `--split all` (or a list such as 1,3) runs each
split into its own run folder, then the summary over them (`helpers.workflow.multisplit`).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.config import get_profile
from helpers.errors import Preempted, UserError
from helpers.paths import FIGURES_DIR, REPORT_DIR, RUNS_DIR
from helpers.reporting.render import check_tex
from helpers.utils import stop
from helpers.utils.environment import check_device
from helpers.utils.io import atomic_path
from helpers.workflow import launch, pdf, timings
from helpers.workflow.multisplit import (
    split_figures_dir,
    split_pdf,
    split_run_name,
    split_suffix,
    summary_pdf,
)
from helpers.workflow.notebooks import (
    REPORT_STAGE,
    choose_kernel,
    execute_notebook,
    find_notebooks,
    kernel_env,
)
from helpers.workflow.parameters import record
from helpers.workflow.provenance import write_code_version

if TYPE_CHECKING:
    from helpers.workflow.pipeline import Setup


# ----------------------------------------------------------------------------- runner
def collect_figures(run_dir: Path, since: float, figures_dir: Path | None = None) -> list[Path]:
    """Copy the figures written since `since` (this run) from `figures_dir` (default
    figures/) into run_dir/figures."""
    figures_dir = FIGURES_DIR if figures_dir is None else figures_dir
    if not figures_dir.is_dir():
        return []
    copied = []
    for src in sorted(figures_dir.iterdir()):
        # 2 s slack: some filesystems store mtimes coarsely.
        if src.is_file() and not src.name.startswith(".") and src.stat().st_mtime >= since - 2:
            dst = run_dir / "figures" / src.name
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
            copied.append(dst)
    return copied


def resolve_run_dir(setup: Setup) -> Path:
    """An empty run -> the pipeline's default
    (runs/<profile>[-<protocol>][-fast|-smoke][-split<k>]); a bare name -> runs/<name>;
    anything else is a path."""
    from helpers.workflow.pipeline import run_paths

    if setup.run_dir:
        run = Path(setup.run_dir)
        if len(run.parts) == 1 and not run.is_absolute():
            return (RUNS_DIR / run).absolute()
    return run_paths(setup).root.absolute()


def _checked_paths(setup: Setup) -> Setup:
    """Absolute paths, each checked up front with one sentence, before hours of work."""
    changes: dict[str, str] = {}
    for field, what, need_dir in (("data_dir", "data folder", True),
                                  ("splits_dir", "split-file folder", True),
                                  ("weights", "Kinetics weights file", False),
                                  ("imagenet_weights", "ImageNet weights file", False)):
        value = getattr(setup, field)
        if not value:
            continue
        path = Path(value).expanduser().absolute()
        ok = path.is_dir() if need_dir else path.is_file()
        if not ok:
            kind = "folder" if need_dir else "file"
            raise UserError(f"The {what} {path} does not exist or is not a {kind}; check the "
                            "path.")
        changes[field] = str(path)
    if setup.stores_dir:
        from helpers.utils.io import ensure_writable_dir

        changes["stores_dir"] = str(ensure_writable_dir(
            Path(setup.stores_dir).expanduser().absolute(), what="--stores"))
    return setup.replace(**changes)


def run_report(setup: Setup | None = None, *,
               notebooks: Sequence[str | os.PathLike] | None = None,
               kernel_name: str | None = None,
               pdf_path: str | os.PathLike | None = REPORT_DIR / "report.pdf",
               render: bool = True) -> Path:
    """Execute the notebooks in order with `setup` as their parameters, then render the
    last one to `pdf_path`.

    `pdf_path=None` skips rendering. Without TeX, or with `render=False`, every notebook
    still runs, and the PDF is left pending (`<run>/pdf.json`, rendered by `make pdf`) with
    one sentence saying how.
    Returns the PDF path, or the run folder when no PDF was rendered.
    """
    from helpers.workflow.pipeline import Setup, check_weights, data_paths

    setup = _checked_paths(setup or Setup())
    data_paths(setup)  # the data folder and the profile agree (one sentence, before any kernel)
    nb_paths = [Path(p).absolute() for p in notebooks] if notebooks is not None else find_notebooks()
    for path in nb_paths:
        if not path.is_file():
            raise UserError(f"Notebook {path} does not exist.")
    no_tex = ""
    if pdf_path is not None and render:
        try:
            check_tex()
        except UserError as exc:  # compute nodes seldom have TeX: compute all, render later
            no_tex = " and ".join(t for t in ("xelatex", "pandoc") if shutil.which(t) is None)
            print(f"note: {exc} Every notebook runs all the same; the PDF is rendered "
                  "afterwards with `make pdf`.", file=sys.stderr, flush=True)
    run_path = resolve_run_dir(setup)
    setup = setup.replace(run_dir=str(run_path))
    check_device(setup.profile, needs_gpu=get_profile(setup.profile).needs_gpu,
                 allow_cpu=setup.cpu)
    check_weights(setup)
    if launch.needed(setup.gpus):
        launch.check_gpus(setup.gpus)
    kernel_name = kernel_name or choose_kernel()

    started = time.time()
    print(f"report: profile={setup.profile} protocol={setup.protocol} split={setup.split} "
          f"run={run_path} "
          + (f"processes={setup.gpus} per node x {launch.num_nodes()} nodes "
             if launch.needed(setup.gpus) else "")
          + f"kernel={kernel_name}{' (smoke run)' if setup.smoke else ''}", flush=True)
    executed = []
    stop_path = stop.stop_file()
    if stop_path is None:  # ours: a request left by a run that stopped is not this run's
        stop_path = run_path / "STOP"
        stop_path.unlink(missing_ok=True)
    # --cpu: the kernels compute on the CPU even where a GPU is visible; each split saves its
    # figures into its own folder, so that concurrent splits never overwrite each other's
    figures_dir = split_figures_dir(setup.split, FIGURES_DIR)
    env = {"UCF_FIGURES_DIR": str(figures_dir), **({"CUDA_VISIBLE_DEVICES": ""} if setup.cpu else {})}
    # Recorded before any kernel: notebooks 02-04 read the run's setup from it, and a folder
    # set up with other run-deciding parameters is refused now, not after notebook 01
    record(dataclasses.asdict(setup), run_path)
    with kernel_env(env), stop.handling(stop_path):
        for i, src in enumerate(nb_paths, 1):
            dst = run_path / "notebooks" / src.name
            if stop.requested():
                raise Preempted(f"{stop.reason()}: stopped before notebook {src.stem}")
            print(f"[{i}/{len(nb_paths)}] {src.stem}: running", flush=True)
            t0 = time.time()
            execute_notebook(src, dst, parameters=notebook_parameters(src, setup),
                             kernel_name=kernel_name)
            timings.add(run_path, f"notebook {src.stem}", time.time() - t0, 1, replace=True)
            print(f"[{i}/{len(nb_paths)}] {src.stem}: done in {time.time() - t0:.1f} s -> {dst}",
                  flush=True)
            executed.append((src, dst))
    if executed:  # the code that computed this run, which the summary over splits compares
        write_code_version(run_path)

    result, pending = run_path, ""
    if pdf_path is not None and executed:
        src, dst = executed[-1]
        pdf.save_job(run_path, pdf.make_job(
            run_path, dst, src.parent, Path(pdf_path), title=report_title(setup),
            profile=setup.profile, split=setup.split, synthetic=data_paths(setup).synthetic,
            smoke=setup.smoke, fast=setup.fast))
        if no_tex or not render:
            pending = pdf.pending_sentence(run_path, no_tex)
        else:
            result = pdf.render_run(run_path, Path(pdf_path))
    figures = collect_figures(run_path, started, figures_dir)
    if figures:
        print(f"copied {len(figures)} figure(s) into {run_path / 'figures'}", flush=True)
    summary = results_summary(run_path, setup)
    if summary:
        print(summary, flush=True)
    if setup.smoke:
        from helpers.workflow.forecast import forecast, format_forecast

        print(format_forecast(forecast(setup)), flush=True)
    print(f"report: finished in {time.time() - started:.1f} s", flush=True)
    if pending:
        print(pending, flush=True)
    return result


def notebook_parameters(notebook: Path, setup: Setup) -> dict[str, Any]:
    """What papermill passes `notebook`: the fields of `setup` that its parameters cell
    declares (all of them for notebook 01; the run folder and an override or two for 02-04,
    which read the rest from the run's setup.json). An undeclared one would only be warned
    about and injected unused."""
    import papermill

    fields = dataclasses.asdict(setup)
    return {name: fields[name] for name in papermill.inspect_notebook(str(notebook))
            if name in fields}


def report_title(setup: Setup) -> str:
    from helpers.workflow.pipeline import data_paths

    where = "the synthetic benchmark" if data_paths(setup).synthetic else "UCF-101"
    title = f"Human action recognition on {where}: single frames, 3D clips and their fusion"
    return f"Smoke run (a few steps on a few videos, not results): {title}" if setup.smoke \
        else title


def results_summary(run_dir: Path, setup: Setup | None = None) -> str:
    """The three models' test scores and the fusion verdict, for the console at the end
    of a run (empty while the run has no predictions for both models yet)."""
    from helpers.evaluation.head_scores import HEAD
    from helpers.evaluation.results import analyze
    from helpers.reporting.prose import verdict
    from helpers.workflow.pipeline import RunPaths, Setup

    run = RunPaths(run_dir, (setup or Setup()).protocol)
    needed = [run.predictions(k, s) for k in ("frame", "clip") for s in ("val", "test")]
    if not all(p.is_file() for p in needed):
        return ""
    res = analyze(run)  # the same numbers as the report (fusion fit is cached)
    lines = ["results on the test split (per video):"]
    for name, s in res.summaries.items():
        lines.append(f"  {name:<20} top-1 {s.top1:6.1%}   top-5 {s.top5:6.1%}   "
                     f"top-10 {s.top10:6.1%}")
    lines.append(f"  did combining help? {verdict(res.gain)}")
    if res.head is not None:  # beyond the assignment: not one of its three models
        h = res.head
        lines.append(f"  beyond averaging: {HEAD} ({h.chosen}) top-1 {h.summary.top1:.1%}, "
                     f"{h.vs_frame.gain * 100:+.1f} points over the frame mean "
                     f"(p = {h.vs_frame.test.p_value:.3g})")
    return "\n".join(lines)


def default_pdf(setup: Setup) -> Path:
    """report/report.pdf, the one `make submission` hands in; a smoke or fast run writes
    beside it so that it never replaces a real report, and split k != 1 to
    report-split<k>.pdf."""
    suffix = "-smoke" if setup.smoke else "-fast" if setup.fast else ""
    return REPORT_DIR / f"report{suffix}{split_suffix(setup.split)}.pdf"


def build_report(setup: Setup, *, only: Sequence[str] | None = None, pdf: Path | None = None,
                 kernel_name: str | None = None, render: bool = True) -> Path:
    """Run the notebooks (`only`: these stages; default all) for one split and render `pdf`
    (default: `default_pdf`) when stage 04 runs. Returns the PDF, or the run folder when
    no PDF is rendered."""
    notebooks = find_notebooks(list(only) if only else None)
    stage_04 = notebooks[-1].name.startswith(f"{REPORT_STAGE}_")
    if not stage_04:
        print(f"note: stage {REPORT_STAGE} is not selected, so no PDF is rendered.", flush=True)
    return run_report(setup, notebooks=notebooks, kernel_name=kernel_name,
                      pdf_path=(pdf or default_pdf(setup)) if stage_04 else None, render=render)


def report_splits(base: Setup, splits: Sequence[int], *, pdf: Path | None = None,
                  kernel_name: str | None = None, render: bool = True) -> Path:
    """`report --split all` (or a list): each split into its own run folder, one after the
    other (the stores are built once and reused), then the summary over them. A split that
    fails stops the command with the finished ones kept: the same command resumes. `pdf`
    names split 1's file, the others' are derived from it (default: `default_pdf`)."""
    from helpers.workflow.summary import make_summary

    runs = []
    for i, split in enumerate(splits, 1):
        setup = base.replace(split=split, run_dir=split_run_name(base.run_dir, split))
        out = split_pdf(pdf, split) if pdf else default_pdf(setup)
        print(f"=== split {split} ({i} of {len(splits)}) ===", flush=True)
        run_report(setup, kernel_name=kernel_name, pdf_path=out, render=render)
        runs.append(resolve_run_dir(setup))
    print(f"=== summary of splits {', '.join(map(str, splits))} ===", flush=True)
    return make_summary(runs, pdf_path=summary_pdf(pdf or default_pdf(base.replace(split=1))),
                        kernel_name=kernel_name)
