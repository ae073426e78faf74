"""The assignment's question answered on the synthetic benchmark: a single-frame model solves
the spatial classes but sits near chance inside each temporal pair, a 3D model solves both.

The default benchmark and the `demo` profile's recipes, reduced to what the assertions need:
a smaller per-epoch validation and 8 instead of 16 frames per test video for the 2D model. The full
demo's figures are in the README."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.config import get_profile
from helpers.data.prepare import prepare_store
from helpers.data.synthetic import generate, load_class_meta
from helpers.evaluate import evaluate
from helpers.train import train

pytestmark = pytest.mark.slow


def _accuracy(pred, names: set[str]) -> float:
    rows = [i for i, lab in enumerate(pred.labels) if pred.class_names[lab] in names]
    return float(np.mean(pred.preds[rows] == pred.labels[rows]))


def test_spatial_vs_temporal_pattern(tmp_path):
    bench = tmp_path / "bench"
    generate(bench)
    store = tmp_path / "store.h5"
    prepare_store(bench, bench / "ucfTrainTestlist", store)
    meta = load_class_meta(bench)
    spatial = {c["name"] for c in meta if c["kind"] == "spatial"}
    temporal = {c["name"] for c in meta if c["kind"] == "temporal"}
    assert len(spatial) >= 4 and len(temporal) >= 6

    demo = get_profile("demo")
    runs = {kind: demo.config(kind).replace(val_max_items=40, eval_frames=8)
            for kind in ("frame", "clip")}
    preds = {}
    for kind, cfg in runs.items():
        train(cfg, store=store, splits=bench / "ucfTrainTestlist", split=1, out=tmp_path / kind)
        preds[kind] = evaluate(tmp_path / kind, subset="test")
    frame, clip = preds["frame"], preds["clip"]
    assert _accuracy(frame, spatial) >= 0.95
    assert _accuracy(frame, temporal) <= 0.65  # near chance inside each pair
    assert _accuracy(clip, temporal) >= 0.90
    assert float(np.mean(clip.preds == clip.labels)) >= 0.90
