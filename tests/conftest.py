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
def fast_three_splits(fast_run: FinishedRun):
    """Three tiny splits and the summary over them, for test_three_splits.py (slow): split 1
    is the shared `fast_run` (`--fast --protocol refit`); `report --split 2` and `--split 3`
    add theirs beside it (each its own run folder and figures, the PDF left pending with
    `--no-pdf`) under the same root, and
    `summary` reads the three default run folders. The wiring of `report --split all` itself
    is tested without training (test_report_with_a_split_list_runs_each_split_then_the_summary).
    """
    from support import run_report

    root = fast_run.root
    for k in (2, 3):  # their PDFs are not what is tested (split 1 has its own)
        run_report(root, "--fast", "--protocol", "refit", "--split", str(k), "--no-pdf",
                   "--pdf", str(root / f"report-split{k}.pdf"), timeout=1800)
    run_report(root, "--fast", "--protocol", "refit", "--pdf", str(root / "summary.pdf"),
               timeout=900, command="summary")
    runs = [fast_run.run.with_name(fast_run.run.name + s) for s in ("", "-split2", "-split3")]
    return {"root": root, "runs": runs}
