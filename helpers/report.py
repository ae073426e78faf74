"""`python -m helpers report`: execute notebooks 01-04 with papermill, render the PDF.

Each notebook runs into `<run_dir>/notebooks/<name>.ipynb`; the last one (04_report) is
rendered to `report/report.pdf` through nbconvert + xelatex with the code hidden.
The heavy steps inside the notebooks resume on their own (checkpoints, predictions files
that already exist are skipped), so rerunning after a kill simply re-executes the
notebooks and is cheap where the work is done.

Figures: the notebooks save them into `figures/`; after a run, the ones this run wrote are
also copied into `<run_dir>/figures/` (with a copy of the PDF), so each run keeps its own.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.config import NORMS
from helpers.errors import UserError
from helpers.io import atomic_path, write_bytes_atomic, write_text_atomic
from helpers.paths import FIGURES_DIR, NOTEBOOKS_DIR, REPO_ROOT, REPORT_DIR, RUNS_DIR

if TYPE_CHECKING:
    from helpers.pipeline import Setup

PROFILES = ("demo", "ucf101")
# The four stages, in order; each is the single notebook `notebooks/<prefix>_*.ipynb`.
STAGES = ("01", "02", "03", "04")
REPORT_STAGE = "04"
DEFAULT_TITLE = "Human action recognition: single frames, 3D clips and their fusion"
TEX_PACKAGES = "texlive-xetex texlive-fonts-recommended texlive-plain-generic pandoc"
# Cells with these tags disappear from the PDF (the code of every cell is hidden anyway).
REMOVE_CELL_TAGS = {"remove_cell", "parameters", "injected-parameters"}
REMOVE_INPUT_TAGS = {"remove_input"}
REMOVE_OUTPUT_TAGS = {"remove_output"}


# ----------------------------------------------------------------------------- notebooks
def find_notebooks(only: Sequence[str] | None = None) -> list[Path]:
    """The stage notebooks in order (01..04), or only the stages named in `only`."""
    stages = list(STAGES)
    if only:
        unknown = sorted(set(only) - set(STAGES))
        if unknown:
            raise UserError(f"Unknown stage(s) {', '.join(unknown)} in --only; "
                            f"pick from {','.join(STAGES)}.")
        stages = [s for s in STAGES if s in set(only)]
    found = []
    for stage in stages:
        matches = sorted(NOTEBOOKS_DIR.glob(f"{stage}_*.ipynb"))
        if len(matches) != 1:
            what = "no notebook" if not matches else f"{len(matches)} notebooks"
            raise UserError(f"Found {what} named {stage}_*.ipynb in {NOTEBOOKS_DIR}; "
                            "there must be exactly one per stage.")
        found.append(matches[0])
    return found


def kernel_runs_this_python(argv0: str) -> bool:
    """Whether a kernelspec's interpreter is the one running us (so it sees our packages).

    jupyter_client swaps a bare `python`/`python3` for sys.executable. Paths are compared
    without resolving symlinks: a venv's python is a symlink to the system one.
    """
    if argv0 in {"python", "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}"}:
        return True
    ours = Path(os.path.abspath(sys.executable))
    theirs = Path(os.path.abspath(argv0))
    return theirs.parent == ours.parent and theirs.exists()


def choose_kernel() -> str:
    """`ucf101` (registered by the Makefile) when it runs this interpreter, else `python3`.

    A per-user kernelspec can point at another clone's .venv; running that would silently
    import the other clone's helpers, so we only take a kernel that runs this Python.
    """
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    manager = KernelSpecManager()
    for name in ("ucf101", "python3"):
        try:
            spec = manager.get_kernel_spec(name)
        except NoSuchKernel:
            continue
        if spec.argv and kernel_runs_this_python(spec.argv[0]):
            return name
    print(f"warning: no Jupyter kernel runs {sys.executable}; using 'python3'. "
          "Run `make venv` to register the project's kernel.", file=sys.stderr)
    return "python3"


@contextlib.contextmanager
def _kernel_env() -> Iterator[None]:
    """Let the kernel import `helpers` from this checkout even without `pip install -e .`."""
    old = os.environ.get("PYTHONPATH")
    parts = [str(REPO_ROOT)] + ([old] if old else [])
    os.environ["PYTHONPATH"] = os.pathsep.join(parts)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("PYTHONPATH", None)
        else:
            os.environ["PYTHONPATH"] = old


def _first_line(text: Any) -> str:
    lines = str(text).strip().splitlines()
    return lines[0] if lines else ""


def _ipc_kernel_manager() -> type:
    """A kernel manager that talks to the kernel over Unix sockets in Jupyter's runtime
    folder: local-only, and without ipykernel's warning about unencrypted TCP."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    if os.name != "posix":
        return AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return IPCKernelManager


def execute_notebook(src: Path, dst: Path, *, parameters: dict[str, Any],
                     kernel_name: str) -> None:
    """Run `src` with papermill into `dst`, atomically.

    Execution writes `<name>.running.ipynb` (saved after every cell, so a killed run can
    be inspected); success renames it to `dst`, failure to `<name>.failed.ipynb`.
    """
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from papermill.exceptions import PapermillExecutionError

    dst.parent.mkdir(parents=True, exist_ok=True)
    running = dst.with_name(f"{dst.stem}.running.ipynb")
    failed = dst.with_name(f"{dst.stem}.failed.ipynb")
    try:
        papermill.execute_notebook(
            str(src), str(running), parameters=parameters, kernel_name=kernel_name,
            cwd=str(src.parent), progress_bar=False, log_output=False,
            stdout_file=sys.stdout, stderr_file=sys.stderr,
            kernel_manager_class=_ipc_kernel_manager(),
        )
    except BaseException as exc:
        if running.exists():
            os.replace(running, failed)
        where = f"the partial executed copy is {failed}" if failed.exists() else "no executed copy was saved"
        if isinstance(exc, PapermillExecutionError):
            source = _first_line(exc.source)
            message = _first_line(exc.evalue).rstrip(".")
            # A UserError already says what to do; any other exception is named by its type.
            cause = message if exc.ename == "UserError" else f"{exc.ename}: {message}"
            raise UserError(
                f"Notebook {src.name} stopped in cell In [{exc.exec_count}] "
                f"(`{source}`): {cause}; {where}."
            ) from None
        if isinstance(exc, DeadKernelError):
            raise UserError(f"The kernel died while running {src.name} (out of memory? try a "
                            f"smaller batch_size or num_workers); {where}.") from None
        if isinstance(exc, CellTimeoutError):
            raise UserError(f"A cell of {src.name} timed out; {where}.") from None
        raise
    os.replace(running, dst)
    failed.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- PDF
def check_tex() -> None:
    """Fail early (before minutes of notebook execution) when the PDF toolchain is missing."""
    missing = [tool for tool in ("xelatex", "pandoc") if shutil.which(tool) is None]
    if missing:
        raise UserError(f"{' and '.join(missing)} not found, so the PDF cannot be rendered; "
                        f"install them (Debian/Ubuntu: apt-get install {TEX_PACKAGES}).")


# The PDF's layout, added to nbconvert's LaTeX preamble: a heading that would sit within a
# few lines of the bottom of a page starts the next page instead, so it is never left alone
# there (LaTeX itself keeps a heading with a following paragraph, but not with a table or a
# figure). `\Needspace` decides at once; the lazy `\needspace` can let the page break land
# after a longtable has taken over the output routine, which then prints a stray table
# header above the heading. Level-3 headings (the report's table titles) are not numbered.
LATEX_PREAMBLE = r"""
\IfFileExists{needspace.sty}{\usepackage{needspace}}{\providecommand{\Needspace}[1]{}}
\makeatletter
\let\ucf@section\section
\renewcommand{\section}{\Needspace{10\baselineskip}\ucf@section}
\let\ucf@subsection\subsection
\renewcommand{\subsection}{\Needspace{8\baselineskip}\ucf@subsection}
\let\ucf@subsubsection\subsubsection
\renewcommand{\subsubsection}{\Needspace{6\baselineskip}\ucf@subsubsection}
\makeatother
\setcounter{secnumdepth}{2}
"""
_TEMPLATE_FILE = "ucf101_report.tex.j2"


def _template_loader() -> Any:
    """nbconvert's LaTeX template with LATEX_PREAMBLE appended to its packages."""
    import jinja2

    source = ("((*- extends 'index.tex.j2' -*))\n((* block packages *))\n((( super() )))\n"
              + LATEX_PREAMBLE + "((* endblock packages *))\n")
    return jinja2.DictLoader({_TEMPLATE_FILE: source})


# Table cells in the PDF wrap at spaces only; a long word (a weights path, a file name) would
# run over its column. The PDF's copy of such a word gets a zero-width space after each
# / _ . (pandoc writes it as \hspace{0pt}, a break point), outside links.
ZWSP = "\u200b"
_LONG_WORD = re.compile(r"[^\s|`]{16,}")
_BREAK_AFTER = re.compile(r"([/_.])(?=[^\s|`])")


def _breakable_word(match: re.Match[str]) -> str:
    word = match.group(0)
    if "](" in word or "://" in word or ZWSP in word:
        return word
    return _BREAK_AFTER.sub(lambda m: m.group(1) + ZWSP, word)


def breakable_tables(markdown: str) -> str:
    """`markdown` with break points in the long words of its table rows (see ZWSP)."""
    lines = markdown.split("\n")
    for i, line in enumerate(lines):
        if line.lstrip().startswith("|"):
            lines[i] = _LONG_WORD.sub(_breakable_word, line)
    return "\n".join(lines)


def _breakable_cells(nb: Any) -> None:
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = breakable_tables(cell.source)
        elif cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data", {})
                if "text/markdown" in data:
                    data["text/markdown"] = breakable_tables(data["text/markdown"])


def _drop_stderr(nb: Any) -> None:
    """Progress bars and warnings go to stderr: useful in the executed notebook, noise in a PDF."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", [])
                            if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]


def render_pdf(executed_notebook: str | os.PathLike, pdf_path: str | os.PathLike, *,
               source_dir: str | os.PathLike | None = None, title: str | None = None) -> Path:
    """Render an executed notebook to PDF with xelatex, code and prompts hidden.

    `source_dir` is where relative image paths in markdown resolve (default: the
    notebook's folder). On a LaTeX failure the log is kept as `<notebook>.latex.log`.
    """
    import nbformat
    from nbconvert.exporters import PDFExporter
    from nbconvert.exporters.pdf import LatexFailed
    from traitlets.config import Config

    check_tex()
    executed_notebook, pdf_path = Path(executed_notebook), Path(pdf_path)
    if not executed_notebook.is_file():
        raise UserError(f"{executed_notebook} does not exist; execute the notebook first.")
    nb = nbformat.read(executed_notebook, as_version=4)
    _drop_stderr(nb)
    _breakable_cells(nb)
    if title or not nb.metadata.get("title"):
        nb.metadata["title"] = title or DEFAULT_TITLE

    c = Config()
    c.TemplateExporter.exclude_input = True
    c.TemplateExporter.exclude_input_prompt = True
    c.TemplateExporter.exclude_output_prompt = True
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = REMOVE_CELL_TAGS
    c.TagRemovePreprocessor.remove_input_tags = REMOVE_INPUT_TAGS
    c.TagRemovePreprocessor.remove_all_outputs_tags = REMOVE_OUTPUT_TAGS
    c.CoalesceStreamsPreprocessor.enabled = True  # also collapses "\r" rewrites
    exporter = PDFExporter(config=c, template_file=_TEMPLATE_FILE,
                           extra_loaders=[_template_loader()])
    resources = {"metadata": {"name": executed_notebook.stem,
                              "path": str(Path(source_dir or executed_notebook.parent))}}
    log_path = executed_notebook.with_suffix(".latex.log")
    try:
        pdf_data, _ = exporter.from_notebook_node(nb, resources=resources)
    except LatexFailed as exc:
        write_text_atomic(log_path, exc.output)
        raise UserError(f"xelatex failed to render {executed_notebook.name}; "
                        f"its log is {log_path}.") from None
    write_bytes_atomic(pdf_path, pdf_data)
    log_path.unlink(missing_ok=True)
    return pdf_path


# ----------------------------------------------------------------------------- runner
def collect_figures(run_dir: Path, since: float) -> list[Path]:
    """Copy the figures written since `since` (this run) from figures/ into run_dir/figures."""
    if not FIGURES_DIR.is_dir():
        return []
    copied = []
    for src in sorted(FIGURES_DIR.iterdir()):
        # 2 s slack: some filesystems store mtimes coarsely.
        if src.is_file() and not src.name.startswith(".") and src.stat().st_mtime >= since - 2:
            dst = run_dir / "figures" / src.name
            with atomic_path(dst) as tmp:
                shutil.copyfile(src, tmp)
            copied.append(dst)
    return copied


def resolve_run_dir(setup: Setup) -> Path:
    """An empty run -> the pipeline's default (runs/<profile>[-fast|-smoke][-split<k>]);
    a bare name -> runs/<name>; anything else is a path."""
    from helpers.pipeline import run_paths

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
        from helpers.io import ensure_writable_dir

        changes["stores_dir"] = str(ensure_writable_dir(
            Path(setup.stores_dir).expanduser().absolute(), what="--stores"))
    return setup.replace(**changes)


def run_report(setup: Setup | None = None, *,
               notebooks: Sequence[str | os.PathLike] | None = None,
               kernel_name: str | None = None,
               pdf_path: str | os.PathLike | None = REPORT_DIR / "report.pdf") -> Path:
    """Execute the notebooks in order with `setup` as their parameters, then render the
    last one to `pdf_path`.

    `pdf_path=None` skips rendering. Returns the PDF path, or the run folder when no
    PDF was rendered.
    """
    from helpers.pipeline import Setup, check_weights

    setup = _checked_paths(setup or Setup())
    nb_paths = [Path(p).absolute() for p in notebooks] if notebooks is not None else find_notebooks()
    for path in nb_paths:
        if not path.is_file():
            raise UserError(f"Notebook {path} does not exist.")
    if pdf_path is not None:
        try:
            check_tex()
        except UserError as exc:  # run the notebooks anyway: their work is kept for a rerun
            print(f"warning: {exc} The notebooks run first; rerun once TeX is installed.",
                  file=sys.stderr, flush=True)
    run_path = resolve_run_dir(setup)
    setup = setup.replace(run_dir=str(run_path))
    check_weights(setup)
    kernel_name = kernel_name or choose_kernel()
    parameters = dataclasses.asdict(setup)  # the notebooks' parameters cell, field by field

    started = time.time()
    print(f"report: profile={setup.profile} split={setup.split} run={run_path} "
          f"kernel={kernel_name}{' (smoke run)' if setup.smoke else ''}", flush=True)
    executed = []
    with _kernel_env():
        for i, src in enumerate(nb_paths, 1):
            dst = run_path / "notebooks" / src.name
            print(f"[{i}/{len(nb_paths)}] {src.stem}: running", flush=True)
            t0 = time.time()
            execute_notebook(src, dst, parameters=parameters, kernel_name=kernel_name)
            print(f"[{i}/{len(nb_paths)}] {src.stem}: done in {time.time() - t0:.1f} s -> {dst}",
                  flush=True)
            executed.append((src, dst))

    result = run_path
    if pdf_path is not None and executed:
        src, dst = executed[-1]
        print(f"rendering {dst.name} -> {pdf_path}", flush=True)
        t0 = time.time()
        result = render_pdf(dst, pdf_path, source_dir=src.parent, title=report_title(setup))
        with atomic_path(run_path / Path(pdf_path).name) as tmp:
            shutil.copyfile(result, tmp)
        print(f"rendered in {time.time() - t0:.1f} s", flush=True)
    figures = collect_figures(run_path, started)
    if figures:
        print(f"copied {len(figures)} figure(s) into {run_path / 'figures'}", flush=True)
    summary = results_summary(run_path, setup)
    if summary:
        print(summary, flush=True)
    if setup.smoke:
        from helpers.forecast import forecast, format_forecast

        print(format_forecast(forecast(setup)), flush=True)
    print(f"report: finished in {time.time() - started:.1f} s", flush=True)
    return result


def report_title(setup: Setup) -> str:
    from helpers.pipeline import data_paths

    where = "the synthetic benchmark" if data_paths(setup).synthetic else "UCF-101"
    title = f"Human action recognition on {where}: single frames, 3D clips and their fusion"
    return f"Smoke run (a few steps on a few videos, not results): {title}" if setup.smoke \
        else title


def results_summary(run_dir: Path, setup: Setup | None = None) -> str:
    """The three models' test scores and the fusion verdict, for the console at the end
    of a run (empty while the run has no predictions for both models yet)."""
    from helpers import analysis
    from helpers.pipeline import RunPaths, Setup

    run = RunPaths(run_dir, (setup or Setup()).protocol)
    needed = [run.predictions(k, s) for k in ("frame", "clip") for s in ("val", "test")]
    if not all(p.is_file() for p in needed):
        return ""
    res = analysis.analyze(run)  # the same numbers as the report (fusion fit is cached)
    lines = ["results on the test split (per video):"]
    for name, s in res.summaries.items():
        lines.append(f"  {name:<20} top-1 {s['top1']:6.1%}   top-5 {s['top5']:6.1%}   "
                     f"top-10 {s['top10']:6.1%}")
    lines.append(f"  did combining help? {res.gain['verdict']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=PROFILES, default="demo",
                        help="demo: synthetic data on CPU (default); ucf101: the real assignment")
    parser.add_argument("--data", metavar="DIR", default=None,
                        help="UCF-101 folder or the course's HDF5 tree (default: the synthetic benchmark)")
    parser.add_argument("--splits", metavar="DIR", default=None,
                        help="folder with classInd.txt, trainlist0k.txt, testlist0k.txt "
                             "(default: found inside --data)")
    parser.add_argument("--run", metavar="RUN", default=None,
                        help="run name under runs/ or a folder path (default: runs/<profile>)")
    parser.add_argument("--split", type=int, choices=(1, 2, 3), default=1, help="UCF-101 split")
    parser.add_argument("--smoke", action="store_true",
                        help="check the whole path on a few videos of --data at the real sizes, "
                             "then forecast the full run's disk and time")
    parser.add_argument("--weights", metavar="PATH", default=None,
                        help="the clip model's Kinetics file (default: the profile's, "
                             "data/weights/r3d50_K_200ep.pth)")
    parser.add_argument("--imagenet-weights", metavar="PATH", default=None,
                        help="a torchvision-format ResNet-50 file instead of the hub cache")
    parser.add_argument("--norm", choices=NORMS, default=None,
                        help="the clip model's input normalisation, for a file that breaks the "
                             "detection rule (module. prefix or 400 classes = kinetics-old)")
    parser.add_argument("--stores", metavar="DIR", default=None,
                        help="where the frame stores go (default: data/stores; they need tens "
                             "of GB for UCF-101)")
    parser.add_argument("--download-weights", action="store_true",
                        help="let torchvision download missing ImageNet weights (needs internet)")
    parser.add_argument("--fast", action="store_true", help="tiny test-only configuration")
    parser.add_argument("--only", metavar="01,02,...", default=None,
                        help="run only these stages; the PDF is rendered only when 04 runs")
    parser.add_argument("--kernel", metavar="NAME", default=None,
                        help="Jupyter kernel (default: ucf101 if it runs this Python, else python3)")
    parser.add_argument("--pdf", metavar="PATH", default=None,
                        help="where to write the PDF (default: report/report.pdf; "
                             "report-smoke.pdf or report-fast.pdf for those runs)")


def default_pdf(setup: Setup) -> Path:
    """report/report.pdf, the one `make submission` hands in; a smoke or fast run writes
    beside it so that it never replaces a real report."""
    suffix = "-smoke" if setup.smoke else "-fast" if setup.fast else ""
    return REPORT_DIR / f"report{suffix}.pdf"


def setup_from_args(args: argparse.Namespace) -> Setup:
    from helpers.pipeline import Setup

    return Setup(profile=args.profile, data_dir=args.data or "", splits_dir=args.splits or "",
                 run_dir=args.run or "", split=args.split,
                 download_weights=args.download_weights, fast=args.fast, smoke=args.smoke,
                 weights=args.weights or "", imagenet_weights=args.imagenet_weights or "",
                 norm=args.norm or "", stores_dir=args.stores or "")


def run(args: argparse.Namespace) -> int:
    setup = setup_from_args(args)
    only = [s.strip() for s in args.only.split(",") if s.strip()] if args.only else None
    notebooks = find_notebooks(only)
    render = notebooks[-1].name.startswith(f"{REPORT_STAGE}_")
    if not render:
        print(f"note: stage {REPORT_STAGE} is not selected, so no PDF is rendered.", flush=True)
    pdf = Path(args.pdf) if args.pdf else default_pdf(setup)
    out = run_report(setup, notebooks=notebooks, kernel_name=args.kernel,
                     pdf_path=pdf if render else None)
    print(f"wrote {out}")
    return 0
