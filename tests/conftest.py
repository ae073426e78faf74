"""Shared fixtures. `../shared` is beside the project in CI and dev machines but not in a
user's clone: tests that need it skip cleanly when it is absent."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from helpers.paths import SHARED_DIR


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED_DIR.is_dir():
        pytest.skip(f"{SHARED_DIR} is absent (it is beside the project in CI, not in a clone)")
    return SHARED_DIR


@pytest.fixture(scope="session")
def ucf_splits_dir(shared_dir: Path) -> Path:
    path = shared_dir / "ucf101" / "splits"
    if not (path / "classInd.txt").is_file():
        pytest.skip(f"{path} has no classInd.txt")
    return path


@pytest.fixture(scope="session")
def ucf_clip(shared_dir: Path) -> Path:
    path = shared_dir / "ucf101" / "videos" / "v_ApplyEyeMakeup_g01_c01.avi"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    return path


@pytest.fixture(scope="session")
def tiny_bench(tmp_path_factory):
    """A small synthetic benchmark (all 25 groups, 1 clip each, 16 frames of 64x48) and its
    store: the same code path as UCF-101, cheap enough for the trainer tests."""
    from helpers.data.prepare import prepare_store
    from helpers.data.synthetic import generate

    root = tmp_path_factory.mktemp("tiny_bench")
    generate(root / "bench", size=(64, 48), num_frames=16, videos_per_group=1)
    store = root / "store.h5"
    prepare_store(root / "bench", root / "bench" / "ucfTrainTestlist", store)
    return {"source": root / "bench", "splits": root / "bench" / "ucfTrainTestlist",
            "store": store}


@dataclass(frozen=True)
class FinishedRun:
    """A finished `report` run: its root (data, runs, figures), environment, PDF and stdout."""

    root: Path
    env: dict[str, str]
    pdf: Path
    run: Path
    stdout: str

    @property
    def splits(self) -> Path:
        """The split files the run read (the synthetic benchmark's)."""
        return next((self.root / "data").rglob("ucfTrainTestlist"))


@pytest.fixture(scope="session")
def fast_run(tmp_path_factory) -> FinishedRun:
    """One `report --fast --protocol refit` run with its PDF, built once per pytest run. The
    notebook, refit, pipeline and PDF tests all read it, so the quick tier (`make test`)
    holds one end-to-end run; a test that must rerun or interrupt a run makes its own."""
    from support import run_report

    root = tmp_path_factory.mktemp("fast_run")
    pdf = root / "report.pdf"
    env, stdout = run_report(root, "--fast", "--protocol", "refit", "--pdf", str(pdf),
                             timeout=1800)
    return FinishedRun(root=root, env=env, pdf=pdf, run=root / "runs" / "demo-refit-fast",
                       stdout=stdout)


@pytest.fixture(scope="session")
def fast_three_splits(tmp_path_factory):
    """One tiny `report --fast --split all` run: three splits (each its own run folder, PDF and
    figures) and the summary over them, under a temporary root (data, runs, figures, PDFs), for
    test_three_splits.py (slow)."""
    from support import run_report

    root = tmp_path_factory.mktemp("three_splits")
    env, out = run_report(root, "--fast", "--split", "all", "--pdf", str(root / "report.pdf"),
                          timeout=3000)
    runs = [root / "runs" / name for name in ("demo-fast", "demo-fast-split2", "demo-fast-split3")]
    return {"root": root, "env": env, "stdout": out, "runs": runs}
