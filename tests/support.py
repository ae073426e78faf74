"""Builders several test files share (not fixtures: plain functions, imported by name)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np


def write_grey_tree(root: Path, counts: dict[str, int], size: tuple[int, int] = (64, 48)) -> Path:
    """A UCF-style AVI tree with its classInd under `root`: frame f of each video is a flat
    grey of 6*f, which survives the codec, so a test can tell which frame it read."""
    from helpers.data.synthetic import encode_avi

    classes = sorted({n.split("_")[1] for n in counts})
    (root / "splits").mkdir(parents=True)
    (root / "splits" / "classInd.txt").write_text(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)))
    w, h = size
    for name, n in counts.items():
        folder = root / "UCF-101" / name.split("_")[1]
        folder.mkdir(parents=True, exist_ok=True)
        encode_avi(folder / f"{name}.avi",
                   np.stack([np.full((h, w, 3), 6 * f, np.uint8) for f in range(n)]))
    return root


def run_report(root: Path, *flags: str, timeout: int) -> tuple[dict[str, str], str]:
    """`python -m helpers report FLAGS` with its data, runs and figures under `root`, as a
    user runs it; fails the test with the end of its output unless it exits 0. Returns the
    environment it ran in and its stdout."""
    env = {**os.environ, "UCF_DATA_DIR": str(root / "data"), "UCF_RUNS_DIR": str(root / "runs"),
           "UCF_FIGURES_DIR": str(root / "figures"), "UCF_NO_PROGRESS": "1"}
    out = subprocess.run([sys.executable, "-m", "helpers", "report", *flags], env=env,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return env, out.stdout
