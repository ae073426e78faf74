"""Temporal probes: the per-class table, the overall drop, the ranking and its figure; the
probe predictions files round-trip with their `probe` attribute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from helpers.errors import UserError
from helpers.evaluation import probes
from helpers.evaluation.predictions import Predictions, load
from helpers.reporting.plots import plot_probe_vs_gain

CLASSES = ["Static", "Forward", "Backward"]


def _pred(preds: list[int], labels: list[int], probe: str | None = None) -> Predictions:
    probs = np.full((len(preds), 3), 0.05, dtype=np.float32)
    probs[np.arange(len(preds)), preds] = 0.9
    ids = [f"v_{CLASSES[lab]}_g{i + 1:02d}_c01" for i, lab in enumerate(labels)]
    return Predictions(ids, np.array(labels), probs, CLASSES, {"probe": probe} if probe else {})


LABELS = [0, 0, 1, 1, 2, 2]


def test_probe_table_drop_and_ranking(tmp_path):
    normal = _pred([0, 0, 1, 1, 2, 2], LABELS)
    # reversed: the forward/backward pair swap, the static class survives
    rev = _pred([0, 0, 2, 2, 1, 1], LABELS, "reversed")
    path = rev.save(tmp_path / "clip_test_reversed.h5")
    assert load(path).attrs["probe"] == "reversed"  # round trip
    shuf = _pred([0, 0, 1, 0, 2, 0], LABELS, "shuffled")
    table = probes.probe_table(normal, {"reversed": load(path), "shuffled": shuf})
    assert table["normal"].tolist() == [1.0, 1.0, 1.0]
    assert table["reversed"].tolist() == [1.0, 0.0, 0.0]
    assert table["drop_shuffled"].tolist() == [0.0, 0.5, 0.5]
    most, least = probes.order_dependence(table, "shuffled", n=2)
    assert most["class"].tolist() == ["Backward", "Forward"]  # equal drop: A-Z
    assert least["class"].tolist()[0] == "Static"
    top = probes.overall(normal, {"reversed": rev})
    assert top.set_index("windows")["drop"]["reversed"] == pytest.approx(4 / 6)
    kinds = probes.drop_by_kind(table, {"Static": "spatial", "Forward": "temporal",
                                        "Backward": "temporal"}).set_index("kind")
    assert kinds.loc["temporal (2)", "reversed"] == 0.0
    assert kinds.loc["spatial (1)", "shuffled"] == 1.0


def test_probe_files_must_match_their_name():
    normal = _pred([0, 0, 1, 1, 2, 2], LABELS)
    with pytest.raises(UserError, match="made with probe 'static'"):
        probes.probe_table(normal, {"shuffled": _pred([0] * 6, LABELS, "static")})
    with pytest.raises(UserError, match="No probe predictions"):
        probes.probe_table(normal, {})


def test_probe_figure(tmp_path):
    normal = _pred([0, 0, 1, 1, 2, 2], LABELS)
    table = probes.probe_table(normal, {"shuffled": _pred([0, 0, 1, 0, 2, 0], LABELS)})
    gain = pd.DataFrame({"class": CLASSES, "gain": [0.0, 0.5, 0.5]})
    fig = plot_probe_vs_gain(table, gain, out_dir=tmp_path, name="probe")
    assert (tmp_path / "probe.png").is_file() and fig.axes[0].get_xlabel().startswith("accuracy")
    with pytest.raises(UserError, match="no 'reversed' column"):
        plot_probe_vs_gain(table, gain, probe="reversed", out_dir=tmp_path)
