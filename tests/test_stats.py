import numpy as np
import pytest
from scipy.stats import binomtest

from helpers.errors import UserError
from helpers.evaluation.predictions import video_groups
from helpers.evaluation.stats import (
    accuracy_cis,
    bootstrap_ci,
    fusion_gain,
    mcnemar_exact,
    paired_bootstrap_diff,
)


def test_bootstrap_interval_covers_the_true_accuracy_in_most_repeats():
    rng = np.random.default_rng(0)
    p, n, repeats = 0.8, 200, 200
    hits = 0
    for r in range(repeats):
        correct = rng.random(n) < p
        _, lo, hi = bootstrap_ci(correct, n_boot=1000, seed=r)
        hits += lo <= p <= hi
    assert 0.88 <= hits / repeats <= 0.99


def test_bootstrap_basics():
    correct = np.array([1, 1, 1, 0] * 25, dtype=bool)
    point, lo, hi = bootstrap_ci(correct)
    assert point == 0.75 and lo < 0.75 < hi
    assert 0.05 < hi - lo < 0.25  # ~ 2 * 1.96 * sqrt(.75 * .25 / 100) = 0.17
    assert bootstrap_ci(correct) == (point, lo, hi)  # seeded
    assert bootstrap_ci(np.ones(30, bool)) == (1.0, 1.0, 1.0)
    with pytest.raises(UserError):
        bootstrap_ci(np.array([], bool))


def test_group_bootstrap_is_wider_when_outcomes_cluster_by_group():
    # 10 groups of 20 videos: a group is either all right or all wrong
    groups = np.repeat(np.arange(10), 20)
    correct = np.isin(groups, [0, 1, 2, 3, 4, 5, 6])
    _, lo_v, hi_v = bootstrap_ci(correct, groups=None)
    point, lo_g, hi_g = bootstrap_ci(correct, groups=groups)
    assert point == pytest.approx(0.7)
    assert (hi_g - lo_g) > 2.5 * (hi_v - lo_v)


def _coverage_by_unit(repeats: int = 200, n_boot: int = 400) -> dict[str, float]:
    """Share of repeats whose 95% interval covers the true accuracy, per resampling unit.

    A UCF-like test set: 40 classes x 7 group numbers, 4-7 clips per (class, group). Each
    repeat draws a per-cluster accuracy p ~ Beta(2, 0.5) (true accuracy 0.8, intra-cluster
    correlation ~0.3); gGG of one class is independent of gGG of another, as in UCF-101."""
    rng = np.random.default_rng(0)
    n_classes, n_numbers = 40, 7
    sizes = rng.integers(4, 8, size=(n_classes, n_numbers))
    ids = [f"Class{c}/v_Class{c}_g{g + 1:02d}_c{k + 1:02d}.avi"
           for c in range(n_classes) for g in range(n_numbers) for k in range(sizes[c, g])]
    cluster = np.repeat(np.arange(sizes.size), sizes.ravel())  # row-major, as the ids
    units = {"video_groups": video_groups(ids), "group_number": cluster % n_numbers,
             "video": None}
    truth = 2 / 2.5
    hits = dict.fromkeys(units, 0)
    for r in range(repeats):
        p = rng.beta(2, 0.5, size=sizes.size)
        correct = rng.random(cluster.size) < p[cluster]
        for name, groups in units.items():
            _, lo, hi = bootstrap_ci(correct, groups=groups, n_boot=n_boot, seed=r)
            hits[name] += lo <= truth <= hi
    return {name: h / repeats for name, h in hits.items()}


def test_cluster_bootstrap_on_class_group_pairs_covers_the_true_accuracy():
    cov = _coverage_by_unit()
    assert cov["video_groups"] >= 0.90
    # The same data resampled by the wrong unit under-covers: 7 group numbers are too few
    # units, and single videos ignore the correlation within a cluster.
    assert cov["group_number"] <= cov["video_groups"] - 0.03
    assert cov["video"] < 0.85


@pytest.mark.parametrize("b, c, expected", [
    (0, 0, 1.0),
    (5, 0, 2 * 0.5 ** 5),                  # 0.0625
    (1, 1, 1.0),                           # 2 * P(X <= 1 | 2) = 1.5, capped
    (8, 2, 2 * (1 + 10 + 45) / 1024),      # 0.109375
    (2, 8, 2 * (1 + 10 + 45) / 1024),
])
def test_mcnemar_exact_against_hand_computed_cases(b, c, expected):
    # b videos only a gets right, c only b gets right, plus 7 both right and 4 both wrong
    a = np.array([1] * b + [0] * c + [1] * 7 + [0] * 4, bool)
    bb = np.array([0] * b + [1] * c + [1] * 7 + [0] * 4, bool)
    out = mcnemar_exact(a, bb)
    assert (out.b, out.c, out.n_discordant) == (b, c, b + c)
    assert out.p_value == pytest.approx(expected, rel=1e-12)
    if b + c:
        assert out.p_value == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_paired_difference_and_verdicts():
    rng = np.random.default_rng(1)
    base = rng.random(1000) < 0.7
    assert paired_bootstrap_diff(base, base) == (0.0, 0.0, 0.0)
    better = base.copy()
    better[np.flatnonzero(~base)[:80]] = True  # fixes 80 videos, breaks none
    gain = fusion_gain(better, base)
    assert gain.gain == pytest.approx(0.08) and gain.lo > 0 and gain.test.p_value < 1e-6
    assert gain.outcome == "better" and (gain.test.b, gain.test.c) == (80, 0)
    noise = base.copy()
    flip = rng.choice(1000, 6, replace=False)
    noise[flip] = ~noise[flip]
    assert fusion_gain(noise, base).outcome == "not shown"
    assert fusion_gain(base, better).outcome == "worse"
    with pytest.raises(UserError, match="differ in length"):
        mcnemar_exact(base, base[:-1])


def test_accuracy_cis_table():
    rng = np.random.default_rng(2)
    table = accuracy_cis({"2D": rng.random(300) < 0.6, "3D": rng.random(300) < 0.8})
    assert table["model"].tolist() == ["2D", "3D"]
    assert (table["lo"] < table["top1"]).all() and (table["top1"] < table["hi"]).all()
