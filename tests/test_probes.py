"""Temporal probes: the per-class drop in true-class probability with its exact sign-flip
interval over the class's clusters (not simultaneous; the null simulation checks the chance
rate the report states), the verdicts and readings built on it, the overall drop, the figure; the
probe predictions files round-trip with their `probe` attribute."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from support import true_prob_predictions

from helpers.errors import UserError
from helpers.evaluation import probes
from helpers.evaluation.predictions import Predictions, load
from helpers.evaluation.signflip import (
    attainable_upper,
    sign_flip_interval,
    sign_patterns,
    upper_p,
)
from helpers.reporting.plots import plot_probe_vs_gain

CLASSES = ["Spatial", "Forward", "Backward", "Detail"]
GROUPS = 8  # clusters per class
VIDEOS = 2  # videos per cluster


def _pred(true: dict[str, np.ndarray], probe: str | None = None) -> Predictions:
    """Each class's videos (GROUPS x VIDEOS, cluster-major) with the given true-class
    probabilities (see `support.true_prob_predictions`)."""
    return true_prob_predictions(CLASSES, true, VIDEOS, probe)


def _const(**by_class: float) -> dict[str, np.ndarray]:
    return {c: np.full(GROUPS * VIDEOS, by_class[c]) for c in CLASSES}


NORMAL = _const(Spatial=0.95, Forward=0.9, Backward=0.9, Detail=0.55)
# the detail class swings by cluster: half its clusters lose 15 points, half gain them
SWING = np.repeat(np.where(np.arange(GROUPS) % 2 == 0, -0.15, 0.15), VIDEOS)


def _probed() -> dict[str, Predictions]:
    shuffled = _const(Spatial=0.94, Forward=0.45, Backward=0.45, Detail=0.55)
    shuffled["Detail"] = 0.55 + SWING
    reversed_ = _const(Spatial=0.95, Forward=0.05, Backward=0.05, Detail=0.55)
    static = _const(Spatial=0.93, Forward=0.45, Backward=0.45, Detail=0.5)
    return {"reversed": _pred(reversed_, "reversed"), "shuffled": _pred(shuffled, "shuffled"),
            "static": _pred(static, "static")}


def test_probe_table_reads_each_class_from_its_interval(tmp_path):
    normal = _pred(NORMAL)
    probed = _probed()
    path = probed["reversed"].save(tmp_path / "clip_test_reversed.h5")
    assert load(path).attrs["probe"] == "reversed"  # round trip
    table = probes.probe_table(normal, {**probed, "reversed": load(path)}).set_index("class")
    assert probes.probe_names(table.reset_index()) == ["reversed", "shuffled", "static"]
    assert table["clusters"].tolist() == [GROUPS] * 4
    assert table.loc["Forward", "dprob_shuffled"] == pytest.approx(0.45, abs=1e-6)
    assert table.loc["Forward", "drop_reversed"] == 1.0  # top-1 is kept in the table
    # every video of Forward loses the same: the interval collapses onto the drop
    assert table.loc["Forward", ["lo_shuffled", "hi_shuffled"]].tolist() == pytest.approx(
        [0.45, 0.45], abs=1e-6)
    assert table.loc["Forward", "reading"] == probes.NEEDS_ORDER
    assert table.loc["Spatial", "reading"] == probes.APPEARANCE
    # the detail class's top-1 falls by half under shuffling, its probability does not
    assert table.loc["Detail", "drop_shuffled"] == pytest.approx(0.5)
    assert table.loc["Detail", "dprob_shuffled"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc["Detail", "lo_shuffled"] < 0 < table.loc["Detail", "hi_shuffled"]
    assert table.loc["Detail", "verdict_shuffled"] == probes.UNCLEAR
    assert table.loc["Detail", "reading"] == probes.UNCLEAR
    # ranked by effect size: the largest shuffled drop first, never by name
    assert list(table.index[:2]) == ["Forward", "Backward"] or list(table.index[:2]) == [
        "Backward", "Forward"]
    assert list(table.index[2:]) == ["Spatial", "Detail"]  # 0.01 before 0.0
    assert probes.losing(table.reset_index(), "reversed")["class"].tolist()[0] in (
        "Forward", "Backward")
    kinds = probes.drop_by_kind(table.reset_index(), {
        "Spatial": "spatial", "Forward": "temporal", "Backward": "temporal",
        "Detail": "detail"}).set_index("kind")
    assert kinds.loc["temporal (2)", probes.NEEDS_ORDER] == 2
    assert kinds.loc["detail (1)", probes.UNCLEAR] == 1
    assert kinds.loc["temporal (2)", "reversed"] == 0.0


def test_intervals_are_the_sign_flip_test_inverted():
    """Each class's interval is the set of shifts the exact sign-flip test over its clusters
    does not reject at 2.5% on either side, found here by brute force on a grid."""
    rng = np.random.default_rng(1)
    sizes = np.array([1.0, 2, 3, 1, 2, 3, 2])
    sums = rng.normal(0.2, 0.3, 7) * sizes
    lo, hi, p0 = sign_flip_interval(sums, sizes, 0.05)
    patterns = sign_patterns(7)
    grid = np.linspace(-1, 1, 4001)
    kept = [d for d in grid if upper_p(sums - sizes * d, patterns) > 0.025
            and upper_p(sizes * d - sums, patterns) > 0.025]
    assert lo == pytest.approx(min(kept), abs=1e-3) and hi == pytest.approx(max(kept), abs=1e-3)
    assert p0 == pytest.approx(2 * min(upper_p(sums, patterns), upper_p(-sums, patterns)))


def test_the_stated_chance_rate_holds_under_the_null_at_seven_clusters():
    """No claim of simultaneous coverage: each class's interval is its own. Simulated under
    no effect at UCF-101's 7 clusters per class, the share of classes read as losing stays
    within the attainable rate the report states (the sum of `chance_<probe>` over classes),
    and each interval covers the true shift at least at its stated level."""
    rng = np.random.default_rng(0)
    n, calls, stated, covered = 1500, 0, 0.0, 0
    patterns = sign_patterns(7)
    for _ in range(n):
        sizes = rng.integers(3, 9, 7).astype(float)
        shift = 0.05
        cluster = rng.normal(0, 0.1, 7)  # a cluster effect, symmetric about the shift
        sums = sizes * (shift + cluster) + rng.normal(0, 0.1, 7) * np.sqrt(sizes)
        lo, hi, _ = sign_flip_interval(sums, sizes, 0.05)
        covered += bool(lo <= shift <= hi)
        null = sums - sizes * shift  # no effect beyond the shift
        stated += attainable_upper(null, patterns, 0.025)
        calls += upper_p(null, patterns) <= 0.025
    se = np.sqrt(0.025 * 0.975 / n)
    assert calls / n <= stated / n + 3 * se
    assert stated / n == pytest.approx(3 / 128)  # 7 clusters: 3 of 128 patterns, not 2.5%
    assert covered / n >= 1 - 2 * 3 / 128 - 3 * np.sqrt(0.05 * 0.95 / n)


def test_a_class_that_keeps_its_score_on_one_repeated_frame_is_unclear_not_order():
    """Losing when shuffled but not on one repeated frame is a reaction to unnatural input."""
    probed = _probed()
    static = _const(Spatial=0.93, Forward=0.9, Backward=0.45, Detail=0.5)  # Forward keeps
    table = probes.probe_table(_pred(NORMAL), {**probed, "static": _pred(static, "static")})
    table = table.set_index("class")
    assert table.loc["Forward", "verdict_shuffled"] == probes.LOSES
    assert table.loc["Forward", "verdict_static"] == probes.KEEPS
    assert table.loc["Forward", "reading"] == probes.UNCLEAR
    assert table.loc["Backward", "reading"] == probes.NEEDS_ORDER


@pytest.mark.parametrize("drop, lo, hi, said", [
    (0.30, 0.05, 0.55, probes.LOSES),
    (0.08, 0.02, 0.14, probes.UNCLEAR),  # real, under 10 points, may reach beyond
    (0.06, 0.02, 0.10, probes.KEEPS),  # real, but no more than 10 points
    (0.30, -0.05, 0.60, probes.UNCLEAR),  # across zero
    (0.01, -0.08, 0.09, probes.KEEPS),
    (0.01, -0.08, 0.12, probes.UNCLEAR),  # small but not tight
    (0.0, np.nan, np.nan, probes.UNCLEAR)])  # too few clusters for an interval
def test_verdict(drop, lo, hi, said):
    assert probes.verdict(drop, lo, hi) == said


def test_a_class_with_few_clusters_gets_no_interval():
    normal, probed = _pred(NORMAL), _probed()
    few = [i for i, v in enumerate(normal.video_ids) if "Forward" not in v
           or int(v.split("_g")[1][:2]) <= probes.MIN_CLUSTERS - 1]
    table = probes.probe_table(normal.take(few), {p: pred.take(few) for p, pred in
                                                   probed.items()}).set_index("class")
    assert table.loc["Forward", "clusters"] == probes.MIN_CLUSTERS - 1
    assert np.isnan(table.loc["Forward", "lo_shuffled"])
    assert table.loc["Forward", "reading"] == probes.UNCLEAR
    assert table.loc["Backward", "reading"] == probes.NEEDS_ORDER


def test_a_class_the_model_does_not_recognise_is_not_read():
    # Detail's videos all go to Spatial: Detail has no top-1, Spatial half its precision
    normal = _pred(_const(Spatial=0.9, Forward=0.9, Backward=0.9, Detail=0.3))
    true = _const(Spatial=0.9, Forward=0.9, Backward=0.9, Detail=0.1)
    true["Forward"] = 0.9 + SWING / 7.5  # +-2 points by cluster
    true["Backward"] = 0.9 + SWING / 3  # +-5 points
    table = probes.probe_table(normal, {"shuffled": _pred(true)}).set_index("class")
    assert table.loc["Spatial", "precision"] == 0.5 and table.loc["Spatial", "normal"] == 1.0
    assert table.loc["Spatial", "verdict_shuffled"] == probes.KEEPS
    assert table.loc["Spatial", "reading"] == probes.UNCLEAR
    # Detail loses 20 points on every video, but it had no recognition to lose
    assert table.loc["Detail", "verdict_shuffled"] == probes.LOSES
    assert table.loc["Detail", "reading"] == probes.UNCLEAR
    assert probes.losing(table.reset_index(), "shuffled").empty
    # appearance, the tightest first: by effect size, not by name
    ranked = probes.by_reading(table.reset_index(), probes.APPEARANCE)
    assert ranked["class"].tolist() == ["Forward", "Backward"]


def test_overall_drop_with_its_interval():
    normal, probed = _pred(NORMAL), _probed()
    top = probes.overall(normal, probed, n_boot=300).set_index("windows")
    assert top.loc["normal", "top1"] == 1.0  # Detail too is right at 0.55
    assert top.loc["reversed", "drop"] == pytest.approx(0.5)
    assert top.loc["reversed", "drop_lo"] <= 0.5 <= top.loc["reversed", "drop_hi"]
    assert top.loc["shuffled", "dprob"] == pytest.approx((0.01 + 0.45 + 0.45) / 4)
    assert top.loc["shuffled", "dprob_lo"] < top.loc["shuffled", "dprob"]
    assert top.loc["shuffled", "dprob_hi"] > top.loc["shuffled", "dprob"]


def test_probe_files_must_match_their_name():
    normal = _pred(NORMAL)
    with pytest.raises(UserError, match="made with probe 'static'"):
        probes.probe_table(normal, {"shuffled": _probed()["static"]})
    with pytest.raises(UserError, match="No probe predictions"):
        probes.probe_table(normal, {})


def test_probe_figure(tmp_path):
    table = probes.probe_table(_pred(NORMAL), _probed())
    gain = pd.DataFrame({"class": CLASSES, "gain": [0.0, 0.5, 0.5, -0.1]})
    fig = plot_probe_vs_gain(table, gain, out_dir=tmp_path, name="probe")
    assert (tmp_path / "probe.png").is_file()
    assert fig.axes[0].get_xlabel().startswith("drop in the 3D model's true-class probability")
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert legend == ["needs order (2)", "appearance (1)", "unclear (1)"]
    with pytest.raises(UserError, match="no 'sideways' column"):
        plot_probe_vs_gain(table, gain, probe="sideways", out_dir=tmp_path)
