"""Paths anchored to the repository root, so papermill (caller's cwd) and nbconvert
(notebook's cwd) resolve the same files."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("UCF_DATA_DIR", REPO_ROOT / "data"))
RUNS_DIR = Path(os.environ.get("UCF_RUNS_DIR", REPO_ROOT / "runs"))
FIGURES_DIR = Path(os.environ.get("UCF_FIGURES_DIR", REPO_ROOT / "figures"))
REPORT_DIR = REPO_ROOT / "report"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
MANIFEST_DIR = REPO_ROOT / "data_manifest"
SHARED_DIR = Path(os.environ.get("UCF_SHARED_DIR", REPO_ROOT.parent / "shared"))
