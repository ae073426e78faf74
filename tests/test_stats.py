import numpy as np
import pytest
from scipy.stats import binomtest

from helpers.errors import UserError
from helpers.evaluation.predictions import video_groups
from helpers.evaluation.stats import (
    BH,
    HIGHER,
    LOWER,
    NOISE,
    PER_CLASS,
    accuracy_cis,
    benjamini_hochberg,
    bootstrap_ci,
    class_differences,
    fusion_gain,
    min_clusters,
    paired_bootstrap_diff,
    paired_test,
    sign_flip_p,
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
def test_without_clusters_the_sign_flip_test_is_mcnemars_exact_test(b, c, expected):
    # b videos only a gets right, c only b gets right, plus 7 both right and 4 both wrong
    a = np.array([1] * b + [0] * c + [1] * 7 + [0] * 4, bool)
    bb = np.array([0] * b + [1] * c + [1] * 7 + [0] * 4, bool)
    out = paired_test(a, bb)
    assert (out.b, out.c, out.n_discordant) == (b, c, b + c)
    assert (out.clusters, out.informative, out.unit) == (len(a), b + c, "videos")
    assert out.p_value == pytest.approx(expected, rel=1e-12)
    if b + c:
        assert out.p_value == pytest.approx(binomtest(b, b + c, 0.5).pvalue, rel=1e-9)


def test_sign_flip_p_against_enumeration():
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = rng.integers(-3, 4, size=rng.integers(1, 11))
        signs = np.array(np.meshgrid(*[[-1, 1]] * len(d))).reshape(len(d), -1).T
        brute = float(np.mean(np.abs(signs @ d) >= abs(d.sum())))
        assert sign_flip_p(d) == pytest.approx(brute, abs=1e-12), d
    assert sign_flip_p([0, 0]) == 1.0 and sign_flip_p([1] * 6) == pytest.approx(2 / 64)
    assert min_clusters(0.05) == 6 and min_clusters(0.01) == 8


def test_clustered_test_counts_a_cluster_once():
    # 10 clusters of 20 videos: fusion fixes every video of 3 clusters, breaks 1 cluster.
    # Per video that is 60 against 20 (McNemar p ~ 1e-6); per cluster 3 against 1 (p = 0.625)
    groups = np.repeat(np.arange(10), 20)
    best = np.isin(groups, [0, 1, 2, 3, 4])
    fused = np.isin(groups, [0, 1, 2, 4, 5, 6, 7])
    per_video = paired_test(fused, best)
    per_cluster = paired_test(fused, best, groups)
    assert (per_cluster.b, per_cluster.c) == (60, 20) and per_video.p_value < 1e-5
    assert (per_cluster.clusters, per_cluster.informative) == (10, 4)
    assert per_cluster.p_value == pytest.approx(sign_flip_p([20, 20, 20, -20]))
    assert per_cluster.p_value == pytest.approx(0.625)
    assert per_cluster.name == "cluster sign-flip test over 10 clusters"
    assert fusion_gain(fused, best, groups=groups).outcome == "not shown"


def test_paired_difference_and_verdicts():
    rng = np.random.default_rng(1)
    base = rng.random(1000) < 0.7
    assert paired_bootstrap_diff(base, base) == (0.0, 0.0, 0.0)
    better = base.copy()
    better[np.flatnonzero(~base)[:80]] = True  # fixes 80 videos, breaks none
    gain = fusion_gain(better, base)
    assert gain.gain == pytest.approx(0.08) and gain.lo > 0 and gain.test.p_value < 1e-6
    assert gain.outcome == "better" and (gain.test.b, gain.test.c) == (80, 0)
    assert gain.k == 1 and fusion_gain(better, base, k=5).k == 5
    noise = base.copy()
    flip = rng.choice(1000, 6, replace=False)
    noise[flip] = ~noise[flip]
    assert fusion_gain(noise, base).outcome == "not shown"
    assert fusion_gain(base, better).outcome == "worse"
    with pytest.raises(UserError, match="differ in length"):
        paired_test(base, base[:-1])


def test_benjamini_hochberg():
    adj = benjamini_hochberg(np.array([0.01, 0.04, 0.03, np.nan, 0.5]))
    np.testing.assert_allclose(adj[[0, 1, 2, 4]], [0.04, 0.05333333, 0.05333333, 0.5])
    assert np.isnan(adj[3])
    assert np.isnan(benjamini_hochberg(np.array([np.nan]))).all()


def _classes(per_class: list[tuple[int, int]], videos: int = 8, clusters: int = 8):
    """Outcomes of a and b: class k has `videos` videos in `clusters` clusters, of which a
    gets the first per_class[k][0] right and b the first per_class[k][1]."""
    a, b, labels, groups = [], [], [], []
    for k, (ra, rb) in enumerate(per_class):
        for i in range(videos):
            a.append(i < ra)
            b.append(i < rb)
            labels.append(k)
            groups.append(k * 100 + i % clusters)
    return np.array(a), np.array(b), np.array(labels), np.array(groups)


def test_class_differences_decide_only_beyond_noise():
    # 8 of 8 against 0 (p = 2/256), 7 against 0, 6 against 2 (4 clusters differ), equal,
    # and the reverse of the first
    a, b, labels, groups = _classes([(8, 0), (7, 0), (6, 2), (5, 5), (0, 8), (8, 8)])
    names = ["A", "B", "C", "D", "E", "F"]
    diffs = class_differences(a, b, labels, names, groups=groups, n_boot=500)
    t = diffs.table.set_index("class")
    assert t.loc["A", "diff"] == 1.0 and t.loc["A", "p_value"] == pytest.approx(2 / 256)
    assert t.loc["C", "informative"] == 4 and t.loc["C", "p_value"] == pytest.approx(0.125)
    assert t.loc["A", "lo"] > 0 and t.loc["E", "hi"] < 0
    assert diffs.classes(HIGHER) == ["A", "B"] and diffs.classes(LOWER) == ["E"]
    assert diffs.classes(NOISE) == ["C", "D", "F"]
    assert diffs.decision("A") == HIGHER and diffs.decision("missing") == NOISE
    # the same accuracies on 8 videos in 2 clusters: no class can be beyond noise
    a, b, labels, groups = _classes([(8, 0), (7, 0), (0, 8)], clusters=2)
    few = class_differences(a, b, labels, ["A", "B", "E"], groups=groups, n_boot=200)
    assert set(few.table["decision"]) == {NOISE}
    assert (few.table["clusters"] == 2).all()
    # a class without videos is left out; lengths must agree
    empty = class_differences(a, b, labels, ["A", "B", "E", "None"], groups=groups, n_boot=50)
    assert list(empty.table["class"]) == ["A", "B", "E"]
    with pytest.raises(UserError):
        class_differences(a, b[:-1], labels, ["A"], groups=groups)


def test_benjamini_hochberg_holds_back_a_borderline_class_among_many_that_could_pass():
    # class 0: 6 clusters all one way (p = 2/64); classes 1-19: 8 clusters that differ, half
    # each way (p = 1). All 20 can reach 5%, so the adjustment counts them all.
    a, b, labels, groups = _classes([(6, 0)] + [(4, 4)] * 19)
    mixed = labels > 0
    b[mixed] = ~a[mixed]  # b right exactly where a is wrong: every cluster differs
    names = [f"K{i}" for i in range(20)]
    diffs = class_differences(a, b, labels, names, groups=groups, n_boot=200, control=BH)
    assert diffs.table.loc[0, "p_value"] == pytest.approx(2 / 64)
    assert diffs.table.loc[0, "p_adjusted"] == pytest.approx(20 * 2 / 64)
    assert diffs.classes(HIGHER) == [] and diffs.control == "Benjamini-Hochberg"
    assert diffs.chance_calls == 0.0
    # tested class by class (the default), the same class is called, and the table says how
    # many of the 20 able classes chance alone could call
    own = class_differences(a, b, labels, names, groups=groups, n_boot=200)
    assert own.classes(HIGHER) == ["K0"] and own.control == PER_CLASS
    # not 5% x 20 = 1: the discrete nulls reach only 2/64 (6 clusters one video apart) and
    # 2/256 (8 clusters), their largest tails at most 5%
    assert own.able == 20 and own.chance_calls == pytest.approx(2 / 64 + 19 * 2 / 256)
    with pytest.raises(UserError, match="Unknown control"):
        class_differences(a, b, labels, names, groups=groups, control="holm")
    # classes that cannot reach 5% (fewer than 6 differing clusters) are left out of the
    # adjustment (independent filtering): the same class alone among them is called
    a, b, labels, groups = _classes([(6, 0)] + [(4, 4)] * 19)
    alone = class_differences(a, b, labels, names, groups=groups, n_boot=200, control=BH)
    assert alone.table.loc[0, "p_adjusted"] == pytest.approx(2 / 64)
    assert (alone.table.loc[1:, "p_adjusted"] == 1.0).all()
    assert alone.classes(HIGHER) == ["K0"]


def test_accuracy_cis_table():
    rng = np.random.default_rng(2)
    table = accuracy_cis({"2D": rng.random(300) < 0.6, "3D": rng.random(300) < 0.8})
    assert table["model"].tolist() == ["2D", "3D"]
    assert (table["lo"] < table["top1"]).all() and (table["top1"] < table["hi"]).all()


def test_the_class_stratified_bootstrap_keeps_each_classs_clusters_and_is_narrower():
    """Resampling within each class keeps the test split's class composition (fixed by
    design), so a class-driven spread of accuracy no longer widens the interval."""
    from helpers.evaluation.stats import stratified_draws, unit_strata

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(20), 35)  # 20 classes of 7 clusters of 5 videos
    groups = labels * 100 + np.tile(np.repeat(np.arange(7), 5), 20)
    easy = rng.random(20)  # class accuracy from 0 to 1: most of the spread is between classes
    correct = rng.random(len(labels)) < easy[labels]
    strata = unit_strata(groups, labels, len(labels))
    draws = stratified_draws(strata, 50, rng)
    for s in range(20):  # every resample draws 7 clusters of every class
        assert (draws[:, strata == s].sum(axis=1) == 7).all()
    _, lo, hi = bootstrap_ci(correct, groups=groups)
    _, slo, shi = bootstrap_ci(correct, groups=groups, strata=labels)
    assert shi - slo < 0.8 * (hi - lo)
    gain = fusion_gain(correct, ~correct, groups=groups, strata=labels)
    assert gain.lo <= gain.gain <= gain.hi
    with pytest.raises(UserError, match="spans two strata"):
        unit_strata(np.zeros(4, int), np.array([0, 0, 1, 1]), 4)


def test_the_attainable_rate_is_the_largest_null_tail_within_the_level():
    from helpers.evaluation.stats import attainable_rate

    assert attainable_rate([1] * 7) == pytest.approx(2 / 128)  # only 7 of 7 one way
    assert attainable_rate([1] * 5) == 0.0  # 2/32 > 5%: nothing can pass
    assert attainable_rate([0, 0]) == 0.0
    # unequal magnitudes: still at most the level, and an exact tail of the null
    rate = attainable_rate([3, 1, 2, 1, 1, 2, 1, 4])
    assert 0 < rate <= 0.05 and (rate * 256).is_integer()
