"""Which run a rendered report describes: a small record written beside the PDF.

`report` writes `report/report.json` next to `report/report.pdf` (same stem) with the
profile, split, run folder and the PDF's SHA-256; `submission` reads it to name what it
hands in and to refuse a practice report (the synthetic demo, a smoke or a fast run) that
was not meant to be handed in. A PDF whose bytes no longer match its record is treated as
unidentified.

>>> stamp = ReportStamp(profile="demo", split=1, run="runs/demo", synthetic=True,
...                     smoke=False, fast=False, pdf_sha256="0" * 64, rendered="2026-01-01 12:00")
>>> stamp.practice
'a demo report (the synthetic benchmark, not UCF-101)'
>>> stamp.describe()
'profile demo, split 1, run runs/demo, rendered 2026-01-01 12:00'
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path

from helpers.paths import NOTEBOOKS_DIR, REPO_ROOT
from helpers.utils.io import write_json_atomic

CODE_JSON = "code.json"  # in a run folder: the code version that computed it


@dataclass(frozen=True, kw_only=True)
class ReportStamp:
    """What one rendered PDF was computed from."""

    profile: str
    split: int
    run: str
    synthetic: bool
    smoke: bool
    fast: bool
    pdf_sha256: str
    rendered: str  # local time, for people

    @property
    def practice(self) -> str | None:
        """Why this report is not one to hand in, as a phrase; None for a full UCF-101 run."""
        if self.smoke:
            return "a smoke run's report (a few steps on a few videos, not results)"
        if self.fast:
            return "a --fast run's report (a tiny test configuration, not results)"
        if self.synthetic or self.profile == "demo":
            return "a demo report (the synthetic benchmark, not UCF-101)"
        return None

    def describe(self) -> str:
        return (f"profile {self.profile}, split {self.split}, run {self.run}, "
                f"rendered {self.rendered}")


def stamp_path(pdf: str | Path) -> Path:
    """The record beside a PDF: report/report.pdf -> report/report.json."""
    return Path(pdf).with_suffix(".json")


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_stamp(pdf: str | Path, *, profile: str, split: int, run: str | Path,
                synthetic: bool, smoke: bool, fast: bool) -> ReportStamp:
    """Record what `pdf` (already rendered) describes, atomically, beside it."""
    stamp = ReportStamp(profile=profile, split=int(split), run=str(run), synthetic=synthetic,
                        smoke=smoke, fast=fast, pdf_sha256=sha256_file(pdf),
                        rendered=time.strftime("%Y-%m-%d %H:%M"))
    write_json_atomic(stamp_path(pdf), dataclasses.asdict(stamp))
    return stamp


def read_stamp(pdf: str | Path) -> ReportStamp | None:
    """The record of `pdf`, or None when there is none, it is unreadable, or it describes
    other bytes than the PDF now holds (a report rendered or copied since)."""
    try:
        raw = json.loads(stamp_path(pdf).read_text())
        stamp = ReportStamp(**{f.name: raw[f.name] for f in dataclasses.fields(ReportStamp)})
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return stamp if stamp.pdf_sha256 == sha256_file(pdf) else None


# ----------------------------------------------------------------------------- code version
@dataclass(frozen=True)
class CodeVersion:
    """Which code computed a run: the SHA-256 of the package's sources and the stage
    notebooks (what the summary compares: it needs no git), and the git commit for people."""

    source_sha256: str
    git_commit: str | None = None
    git_dirty: bool | None = None

    def describe(self) -> str:
        commit = f"commit {self.git_commit[:10]}{' with local changes' if self.git_dirty else ''}" \
            if self.git_commit else "no git commit"
        return f"sources {self.source_sha256[:12]} ({commit})"


def source_files(root: Path = REPO_ROOT) -> list[Path]:
    """The files whose content makes the code version: helpers/**/*.py and notebooks 01-04."""
    package = sorted(p for p in (root / "helpers").rglob("*.py") if "__pycache__" not in p.parts)
    notebooks = sorted((root / NOTEBOOKS_DIR.name).glob("0[1-4]_*.ipynb"))
    return package + notebooks


def code_version(root: Path = REPO_ROOT) -> CodeVersion:
    import subprocess

    digest = hashlib.sha256()
    for path in source_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    commit, dirty = None, None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True,
                                text=True, check=True).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain", "--", "helpers", "notebooks"],
                                    cwd=root, capture_output=True, text=True,
                                    check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):  # not a git checkout: the hash still holds
        pass
    return CodeVersion(source_sha256=digest.hexdigest(), git_commit=commit, git_dirty=dirty)


def write_code_version(run_root: Path) -> CodeVersion:
    """Record in the run folder the code version that ran its notebooks (`code.json`)."""
    version = code_version()
    write_json_atomic(Path(run_root) / CODE_JSON, dataclasses.asdict(version))
    return version


def read_code_version(run_root: Path) -> CodeVersion | None:
    try:
        raw = json.loads((Path(run_root) / CODE_JSON).read_text())
        return CodeVersion(**{f.name: raw[f.name] for f in dataclasses.fields(CodeVersion)})
    except (OSError, ValueError, KeyError, TypeError):
        return None
