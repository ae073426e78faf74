"""`python -m helpers submission`: the turn-in zip, `report.pdf` plus the code.

`--split K` (`make submission SPLIT=K`, default 1 as the handout asks) hands in that split's
report (`report/report.pdf` for split 1, `report/report-split<K>.pdf` otherwise) and says
which; the summary over the splits (`report/summary.pdf`, with `summary.json`) goes in beside
it when it exists.

The report is identified by the record `report` writes beside it (`report/report.json`, see
`helpers.workflow.provenance`): the zip names its profile, split and run, and a practice report
(the synthetic demo, a smoke or a fast run, or a PDF with no record) is refused unless
`--practice` says it is handed in on purpose.

Members: `report.pdf` and `report.json` at the root, then (repo-relative) `helpers/**/*.py`,
`notebooks/*.ipynb` with outputs stripped, `tests/**/*.py`, README.md, requirements.txt,
pyproject.toml, Makefile, `.ci/run`, the scripts (`*.sh`, `*.slurm`, `*.pbs`), `docs/*.md`
and `data_manifest/**`. In a git checkout only
tracked files are taken, so ignored or untracked junk never slips in; untracked files
(or ignored) files that would match are named so they are not lost silently. Models, checkpoints,
predictions, stores, videos and runs are refused whatever their path.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path, PurePosixPath

from helpers.errors import UserError
from helpers.paths import REPO_ROOT, REPORT_DIR
from helpers.utils.io import atomic_path
from helpers.workflow.provenance import ReportStamp, read_stamp, stamp_path

DEFAULT_OUT = REPO_ROOT / "submission" / "ucf101_submission.zip"
INCLUDE_FILES = {"README.md", "requirements.txt", "pyproject.toml", "Makefile", ".ci/run"}
# (top folder, file pattern); the pattern applies to the name at any depth below the folder
INCLUDE_TREES = (("helpers", "*.py"), ("tests", "*.py"), ("data_manifest", "*"),
                 ("scripts", "*.sh"), ("scripts", "*.slurm"), ("scripts", "*.pbs"),
                 ("docs", "*.md"))  # every script a reader needs to reproduce the run
INCLUDE_FLAT = (("notebooks", "*.ipynb"),)  # directly inside the folder only
REFUSED_SUFFIXES = {".pt", ".pth", ".ckpt", ".h5", ".hdf5", ".avi", ".mp4", ".npz", ".zip"}
REFUSED_TOP = {"runs", "data", "submission", "figures", "report", ".venv"}
REFUSED_ANYWHERE = {"__pycache__", ".ipynb_checkpoints"}


def refused(rel: str) -> bool:
    """Heavy or generated files that never belong in the zip (`data/` is the top-level store
    folder; the code package `helpers/data/` is fine)."""
    path = PurePosixPath(rel)
    return (path.suffix.lower() in REFUSED_SUFFIXES or path.parts[0] in REFUSED_TOP
            or any(part in REFUSED_ANYWHERE for part in path.parts))


def wanted(rel: str) -> bool:
    """Whether a repo-relative posix path is part of the submission's code."""
    if refused(rel):
        return False
    if rel in INCLUDE_FILES:
        return True
    path = PurePosixPath(rel)
    if len(path.parts) < 2:
        return False
    top = path.parts[0]
    if any(top == t and fnmatchcase(path.name, pat) for t, pat in INCLUDE_TREES):
        return True
    return len(path.parts) == 2 and any(top == t and fnmatchcase(path.name, pat)
                                        for t, pat in INCLUDE_FLAT)


def _git_files(root: Path, *extra: str) -> list[str] | None:
    try:
        out = subprocess.run(["git", "ls-files", "-z", *extra], cwd=root, capture_output=True,
                             check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return [f for f in out.stdout.decode().split("\0") if f]


def candidate_files(root: Path) -> tuple[list[str], list[str]]:
    """(files to include, untracked files that match but are left out), repo-relative."""
    tracked = _git_files(root)
    if tracked is None:  # not a git checkout: walk the tree, pruning refused folders
        found = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = Path(dirpath).relative_to(root).as_posix()
            dirnames[:] = sorted(d for d in dirnames
                                 if not refused(d if rel_dir == "." else f"{rel_dir}/{d}")
                                 and d != ".git")
            for name in filenames:
                found.append(name if rel_dir == "." else f"{rel_dir}/{name}")
        return sorted(f for f in found if wanted(f)), []
    # Untracked (ignored or not) files that would belong: say so rather than drop them silently.
    tops = sorted({t for t, _ in INCLUDE_TREES + INCLUDE_FLAT} | INCLUDE_FILES)
    untracked = _git_files(root, "--others", "--", *tops) or []
    include = sorted(f for f in tracked if wanted(f) and (root / f).is_file())
    return include, sorted(f for f in untracked if wanted(f))


def stripped_notebook(path: Path) -> bytes:
    """The notebook without outputs, execution counts or run metadata (the repo file is untouched)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for key in ("execution", "papermill", "collapsed", "scrolled"):
            cell.metadata.pop(key, None)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    for key in ("papermill", "widgets"):
        nb.metadata.pop(key, None)
    return nbformat.writes(nb).encode()


def _info(arcname: str, src: Path) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=time.localtime(max(src.stat().st_mtime, 315619200))[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    mode = src.stat().st_mode
    info.external_attr = ((stat.S_IFREG | (0o755 if mode & stat.S_IXUSR else 0o644)) << 16)
    return info


def _print_listing(members: Iterable[tuple[str, int]], out: Path) -> None:
    total = 0
    for name, size in members:
        total += size
        print(f"{size:>12,d}  {name}")
    print(f"{total:>12,d}  (uncompressed)")
    print(f"wrote {out}: {out.stat().st_size:,d} bytes")


def identify_report(report_pdf: Path, *, practice: bool = False) -> ReportStamp | None:
    """The report's record, printed; a practice or unidentified report is refused in one
    sentence unless `practice` says it is handed in on purpose."""
    stamp = read_stamp(report_pdf)
    if stamp is None:
        why = (f"{report_pdf} has no record of the run it was rendered from ({stamp_path(report_pdf).name} "
               "is missing or describes another PDF)")
    elif stamp.practice is not None:
        why = f"{report_pdf} is {stamp.practice}: {stamp.describe()}"
    else:
        print(f"report: {report_pdf} ({stamp.describe()})")
        return stamp
    if not practice:
        raise UserError(f"{why}; render the real one with `make report PROFILE=ucf101 DATA=...`, "
                        "or pass --practice (make submission PRACTICE=1) to hand this one in "
                        "on purpose.")
    print(f"note: {why}; handed in on purpose (--practice).", file=sys.stderr)
    return stamp


def split_report(split: int = 1, report_dir: Path | None = None) -> Path:
    """The report of `split`: report/report.pdf for split 1, report/report-split<k>.pdf else."""
    return (report_dir or REPORT_DIR) / f"report{'' if split == 1 else f'-split{split}'}.pdf"


def summary_member(summary_pdf: Path | None) -> list[tuple[str, Path]]:
    """(name in the zip, file) of the summary over splits and its record, when it exists; the
    splits it covers are printed."""
    if summary_pdf is None or not summary_pdf.is_file():
        return []
    import json

    record = summary_pdf.with_suffix(".json")
    try:
        covered = json.loads(record.read_text()).get("splits")
    except (OSError, ValueError):
        covered = None
    what = f"splits {', '.join(map(str, covered))}" if covered else "no record of its splits"
    print(f"summary: {summary_pdf} ({what}) goes in beside the report")
    return [("summary.pdf", summary_pdf)] + ([("summary.json", record)] if record.is_file() else [])


def build_submission(out: str | os.PathLike = DEFAULT_OUT, *,
                     report_pdf: str | os.PathLike | None = None, split: int = 1,
                     root: str | os.PathLike = REPO_ROOT, practice: bool = False,
                     summary_pdf: str | os.PathLike | None = None,
                     report_dir: Path | None = None) -> Path:
    """Write the turn-in zip atomically and print its members, their sizes and the zip's size.
    `report_pdf` defaults to the report of `split` (a report given by path is handed in as the
    split its record names); `summary_pdf` (default: summary.pdf beside the report) goes in
    when it exists."""
    out, root = Path(out), Path(root)
    chosen = report_pdf is None
    report_pdf = split_report(split, report_dir) if report_pdf is None else Path(report_pdf)
    summary_pdf = Path(summary_pdf) if summary_pdf else report_pdf.with_name("summary.pdf")
    if not report_pdf.is_file():
        raise UserError(f"{report_pdf} does not exist; run `make report"
                        f"{'' if split == 1 else f' SPLIT={split}'}` first.")
    with open(report_pdf, "rb") as f:
        if f.read(5) != b"%PDF-":
            raise UserError(f"{report_pdf} is not a PDF; rerun `make report`.")
    stamp = identify_report(report_pdf, practice=practice)
    if stamp is not None and stamp.split != split and chosen:
        raise UserError(f"{report_pdf} is the report of split {stamp.split}, not split {split}; "
                        f"render split {split} with `make report SPLIT={split}`.")
    split = stamp.split if stamp is not None else split
    print(f"handing in split {split}: {report_pdf}")
    extra = summary_member(summary_pdf)
    files, left_out = candidate_files(root)
    if not any(f.startswith("helpers/") for f in files):
        raise UserError(f"No code found under {root}/helpers; run this from the project checkout.")

    members: list[tuple[str, int]] = []
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr(_info("report.pdf", report_pdf), report_pdf.read_bytes())
        members.append(("report.pdf", report_pdf.stat().st_size))
        if stamp is not None:  # which run the PDF describes, for whoever grades it
            record = stamp_path(report_pdf)
            zf.writestr(_info("report.json", record), record.read_bytes())
            members.append(("report.json", record.stat().st_size))
        for name, src in extra:
            zf.writestr(_info(name, src), src.read_bytes())
            members.append((name, src.stat().st_size))
        for rel in files:
            src = root / rel
            data = stripped_notebook(src) if rel.endswith(".ipynb") else src.read_bytes()
            zf.writestr(_info(rel, src), data)
            members.append((rel, len(data)))
    _print_listing(members, out)
    if left_out:
        print(f"note: {len(left_out)} matching file(s) are not tracked by git, so they are left "
              f"out (`git add` them, and check .gitignore): {', '.join(left_out)}", file=sys.stderr)
    return out
