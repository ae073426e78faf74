"""The embedded default, end to end: `python -m helpers report` with no arguments (what
`make report` runs) on the default synthetic benchmark and the `demo` recipes.

It answers the assignment's question: a single-frame model solves the spatial classes but
sits near chance inside each temporal pair, a 3D model solves both. The same run then serves
the third way of running the notebooks: plain `jupyter nbconvert --execute`, on all four
notebooks unchanged, with their default parameters. The README records this run's figures.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers.data.synthetic import load_class_meta
from helpers.paths import NOTEBOOKS_DIR
from helpers.predictions import Predictions, load

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("demo")
    env = {**os.environ, "UCF_DATA_DIR": str(root / "data"), "UCF_RUNS_DIR": str(root / "runs"),
           "UCF_FIGURES_DIR": str(root / "figures"), "UCF_NO_PROGRESS": "1"}
    out = subprocess.run([sys.executable, "-m", "helpers", "report", "--pdf",
                          str(root / "report.pdf")],
                         env=env, capture_output=True, text=True, timeout=2400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "results on the test split" in out.stdout  # the console says what it did
    assert "Synthetic benchmark in" in out.stdout
    return {"root": root, "env": env, "run": root / "runs" / "demo",
            "bench": root / "data" / "synthetic"}


def _accuracy(pred: Predictions, names: set[str]) -> float:
    rows = [i for i, lab in enumerate(pred.labels) if pred.class_names[lab] in names]
    assert rows
    return float(np.mean(pred.preds[rows] == pred.labels[rows]))


def test_spatial_vs_temporal_pattern(demo_run):
    meta = load_class_meta(demo_run["bench"])
    spatial = {c["name"] for c in meta if c["kind"] == "spatial"}
    temporal = {c["name"] for c in meta if c["kind"] == "temporal"}
    assert len(spatial) >= 4 and len(temporal) >= 6
    frame = load(demo_run["run"] / "predictions" / "frame_test.h5")
    clip = load(demo_run["run"] / "predictions" / "clip_test.h5")
    assert frame.attrs["subset"] == "test" and frame.attrs["split"] == 1
    assert _accuracy(frame, spatial) >= 0.95
    assert _accuracy(frame, temporal) <= 0.65  # near chance inside each pair
    assert _accuracy(clip, temporal) >= 0.90
    assert float(np.mean(clip.correct)) >= 0.90


def test_plain_nbconvert_runs_all_four_notebooks_unchanged(demo_run, tmp_path):
    # Default parameters: profile "demo", runs/demo and data/synthetic, which the run above
    # made (under UCF_RUNS_DIR / UCF_DATA_DIR), so every step finds its work done.
    jupyter = Path(sys.executable).parent / "jupyter"
    notebooks = sorted(NOTEBOOKS_DIR.glob("0*.ipynb"))
    assert [p.name[:2] for p in notebooks] == ["01", "02", "03", "04"]
    for nb in notebooks:
        out = subprocess.run([str(jupyter), "nbconvert", "--to", "notebook", "--execute",
                              str(nb), "--output-dir", str(tmp_path)],
                             env=demo_run["env"], capture_output=True, text=True, timeout=900)
        assert out.returncode == 0, out.stderr[-3000:]
        executed = (tmp_path / nb.name).read_text()
        assert '"output_type": "error"' not in executed
        assert "epoch 1/" not in executed  # nothing was trained again
