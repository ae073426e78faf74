"""Where things live: folders anchored to the repository root (so papermill, run from the
caller's cwd, and nbconvert, run from the notebook's, resolve the same files), and the layout
of a data folder (`DataPaths`) and of a run folder (`RunPaths`)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("UCF_DATA_DIR", REPO_ROOT / "data"))
RUNS_DIR = Path(os.environ.get("UCF_RUNS_DIR", REPO_ROOT / "runs"))
FIGURES_DIR = Path(os.environ.get("UCF_FIGURES_DIR", REPO_ROOT / "figures"))
REPORT_DIR = REPO_ROOT / "report"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
MANIFEST_DIR = REPO_ROOT / "data_manifest"
SHARED_DIR = Path(os.environ.get("UCF_SHARED_DIR", REPO_ROOT.parent / "shared"))

STAGES = ("holdout", "reported")  # the held-out model, and the one the report scores


@dataclass(frozen=True)
class DataPaths:
    source: Path  # videos (AVI tree, course HDF5 tree or synthetic benchmark)
    splits: Path  # folder with classInd.txt, trainlist0k.txt, testlist0k.txt
    frame_store: Path
    clip_store: Path
    synthetic: bool
    full_splits: Path | None = None  # a smoke run: the split files of the whole dataset


@dataclass(frozen=True)
class RunPaths:
    root: Path
    protocol: str = "holdout"

    def model_dir(self, kind: str, stage: str = "reported") -> Path:
        """The reported model in <run>/<kind>; under `refit` the held-out one beside it."""
        if stage not in STAGES:
            raise UserError(f"Unknown stage {stage!r}; choose one of {', '.join(STAGES)}.")
        if stage == "holdout" and self.protocol == "refit":
            return self.root / f"{kind}-holdout"
        return self.root / kind

    def predictions(self, kind: str, subset: str, probe: str | None = None) -> Path:
        suffix = f"_{probe}" if probe else ""
        return self.root / "predictions" / f"{kind}_{subset}{suffix}.h5"

    @property
    def fusion_dir(self) -> Path:
        return self.root / "fusion"

    @property
    def choices(self) -> Path:
        """What validation decided (epochs, three crops), per model."""
        return self.root / "choices.json"
