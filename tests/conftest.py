"""Shared fixtures. `../shared` is beside the project in CI and dev machines but not in a
user's clone: tests that need it skip cleanly when it is absent."""

from __future__ import annotations

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
