"""Is a difference in accuracy real? Cluster-bootstrap intervals and an exact cluster
sign-flip test, overall (`fusion_gain`) and class by class (`class_differences`).

Videos of one UCF-101 group of one class share an actor and a scene, so they are not
independent; pass `groups` (one id per (class, group) cluster, see
`helpers.evaluation.predictions.video_groups`) to resample whole clusters (a cluster bootstrap), which
gives wider, more honest intervals. The cluster is the pair, not the group number: gGG of one
class is unrelated to gGG of another, and the 7 group numbers of a test split would be far too
few units (split 1 has 707 clusters).

The paired test treats clusters the same way: it flips the sign of each cluster's summed
difference (`paired_test`), so a cluster that is right or wrong together counts once; without
clusters it is McNemar's exact test. Per class, the same test runs over that class's
clusters, each class at the test's level on its own (with UCF-101's ~7 clusters per class
the smallest possible p is 1/64, so a correction across 101 classes would call almost no class
however large its difference; the report states how many calls chance alone would make), or
with Benjamini-Hochberg across classes (`control=BH`).

`fusion_gain` and `class_differences` return numbers only (`Gain`, `ClassDiffs`);
`helpers.reporting.prose` words them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from helpers.errors import UserError

_CHUNK = 256  # bootstrap replicates drawn at once (bounds memory at ~CHUNK x units)


def _as_bool(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 1 or x.size == 0:
        raise UserError(f"{name} must be a non-empty 1-D array of per-video outcomes.")
    return x.astype(bool)


def _units(groups: np.ndarray | None, n: int) -> tuple[np.ndarray, int]:
    """Unit index per video (each video alone, or its cluster) and the number of units."""
    if groups is None:
        return np.arange(n), n
    groups = np.asarray(groups)
    if groups.shape != (n,):
        raise UserError(f"groups has shape {groups.shape}, expected ({n},).")
    _, inverse = np.unique(groups, return_inverse=True)
    return inverse, int(inverse.max()) + 1


def cluster_totals(values: np.ndarray, groups: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """Per unit (each video alone, or its cluster, in sorted id order): the total of each
    column of `values` [n, P], [k, P], and the number of videos, [k]."""
    values = np.asarray(values, dtype=np.float64)
    unit, n_units = _units(groups, len(values))
    sums = np.zeros((n_units, values.shape[1]))
    np.add.at(sums, unit, values)
    return sums, np.bincount(unit, minlength=n_units).astype(np.float64)


def cluster_draws(k: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """How often each of k units is drawn in each of m bootstrap resamples, [m, k]."""
    idx = rng.integers(0, k, size=(m, k))
    flat = (np.arange(m)[:, None] * k + idx).ravel()
    return np.bincount(flat, minlength=m * k).reshape(m, k).astype(np.float64)


def stratified_draws(strata: np.ndarray, m: int, rng: np.random.Generator) -> np.ndarray:
    """How often each unit is drawn in each of m resamples, [m, k], drawing within each
    stratum as many units as it holds (`strata`: one stratum id per unit), so every resample
    keeps the strata's sizes: the test split's classes are fixed by design, not sampled."""
    strata = np.asarray(strata)
    out = np.zeros((m, len(strata)))
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        out[:, members] = cluster_draws(len(members), m, rng)
    return out


def unit_strata(groups: np.ndarray | None, strata: np.ndarray | None, n: int) -> np.ndarray | None:
    """The stratum of each unit (`_units` order) from one stratum per video; a unit must lie
    in one stratum (a (class, group) cluster holds one class)."""
    if strata is None:
        return None
    strata = np.asarray(strata)
    if strata.shape != (n,):
        raise UserError(f"strata has shape {strata.shape}, expected ({n},).")
    unit, n_units = _units(groups, n)
    out = np.empty(n_units, dtype=strata.dtype)
    out[unit] = strata
    if not np.array_equal(out[unit], strata):
        raise UserError("A cluster spans two strata; a (class, group) cluster holds one class.")
    return out


def _boot_stats(values: np.ndarray, groups: np.ndarray | None, n_boot: int,
                seed: int, strata: np.ndarray | None = None) -> np.ndarray:
    """Bootstrap replicates [n_boot, K] of the mean of each column of `values` [n, K],
    resampling units with replacement (the same units for every column, so paired), within
    each stratum when `strata` (one per video, e.g. its class) is given."""
    sums, sizes = cluster_totals(values, groups)
    per_unit = unit_strata(groups, strata, len(values))
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, values.shape[1]))
    for start in range(0, n_boot, _CHUNK):
        m = min(_CHUNK, n_boot - start)
        counts = (cluster_draws(len(sizes), m, rng) if per_unit is None
                  else stratified_draws(per_unit, m, rng))
        # ratio of totals handles clusters of unequal size
        out[start:start + len(counts)] = (counts @ sums) / (counts @ sizes)[:, None]
    return out


def bootstrap_means(values: np.ndarray, *, n_boot: int = 2000, alpha: float = 0.05,
                    seed: int = 0, groups: np.ndarray | None = None,
                    strata: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Percentile-bootstrap (1 - alpha) intervals (lo, hi) of the mean of each column of
    `values` [n, P], the columns resampled together (paired) over videos or clusters."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = np.quantile(_boot_stats(values, groups, n_boot, seed, strata),
                         [alpha / 2, 1 - alpha / 2],
                         axis=0)
    return lo, hi


def _interval(reps: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_ci(correct: np.ndarray, *, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0,
                 groups: np.ndarray | None = None,
                 strata: np.ndarray | None = None) -> tuple[float, float, float]:
    """Accuracy and its percentile-bootstrap (1 - alpha) interval: (point, lo, hi).
    Resamples videos, or whole clusters when `groups` (a cluster id per video) is given."""
    c = _as_bool(correct, "correct").astype(np.float64)
    reps = _boot_stats(c[:, None], groups, n_boot, seed, strata)[:, 0]
    return (float(c.mean()), *_interval(reps, alpha))


def paired_bootstrap_diff(correct_a: np.ndarray, correct_b: np.ndarray, *, n_boot: int = 2000,
                          alpha: float = 0.05, seed: int = 0, groups: np.ndarray | None = None,
                          strata: np.ndarray | None = None) -> tuple[float, float, float]:
    """Accuracy of a minus accuracy of b on the same videos, with a paired bootstrap
    interval (the same resampled videos or clusters for both): (diff, lo, hi)."""
    a = _as_bool(correct_a, "correct_a")
    b = _as_bool(correct_b, "correct_b")
    if a.shape != b.shape:
        raise UserError(f"The two outcome arrays differ in length ({a.size} vs {b.size}); "
                        "align the predictions first.")
    d = a.astype(np.float64) - b.astype(np.float64)
    reps = _boot_stats(d[:, None], groups, n_boot, seed, strata)[:, 0]
    return (float(d.mean()), *_interval(reps, alpha))


def _cluster_sums(values: np.ndarray, groups: np.ndarray | None) -> np.ndarray:
    """Per-unit sums of integer `values` (each video alone when `groups` is None)."""
    unit, n_units = _units(groups, len(values))
    return np.bincount(unit, weights=values, minlength=n_units).round().astype(np.int64)


def _null_distribution(mags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The exact sign-flip null of the total of integer magnitudes: |value| and probability
    of each support point."""
    total = int(mags.sum())
    dist = np.zeros(2 * total + 1)
    dist[total] = 1.0
    for v in mags:  # the support stays within +-total, so np.roll never wraps mass around
        dist = 0.5 * (np.roll(dist, int(v)) + np.roll(dist, -int(v)))
    return np.abs(np.arange(-total, total + 1)), dist


def attainable_rate(d: np.ndarray, level: float = 0.05) -> float:
    """The chance that the two-sided sign-flip test on these clusters' magnitudes rejects at
    `level` when the models do not differ: the largest null tail at most `level` (the null is
    discrete, so this is often well below `level`; 0 when no sign pattern can pass).

    >>> attainable_rate([1, 1, 1, 1, 1, 1, 1])  # 7 clusters: only 7-0 passes, 2 / 128
    0.015625
    """
    d = np.asarray(d, dtype=np.int64)
    mags = np.abs(d[d != 0])
    if mags.size == 0:
        return 0.0
    values, dist = _null_distribution(mags)
    tails = [float(dist[values >= t].sum()) for t in np.unique(values)]
    return max([t for t in tails if t <= level], default=0.0)


def sign_flip_p(d: np.ndarray) -> float:
    """Exact two-sided p of the sign-flip test on integer per-cluster differences `d`: the
    chance, when each cluster's difference is flipped in sign at random (as it would be if
    the two models were exchangeable within the cluster), of a total at least as far from
    zero as the observed one. Clusters without a difference carry no information.

    The null distribution of the total is built exactly by convolution (each cluster adds
    +|d| or -|d| with probability 1/2), so there is no Monte Carlo error; its support is at
    most twice the number of videos wide. With k clusters that differ, p >= 2 / 2^k.

    >>> sign_flip_p([1, 1, 1, 1, 1])  # 5 clusters, all one way: 2 / 32
    0.0625
    """
    d = np.asarray(d, dtype=np.int64)
    observed = abs(int(d.sum()))
    mags = np.abs(d[d != 0])
    if mags.size == 0:
        return 1.0
    values, dist = _null_distribution(mags)
    return float(min(1.0, dist[values >= observed].sum()))


@dataclass(frozen=True)
class PairedTest:
    """The exact sign-flip test of a against b on the same videos, with (class, group)
    clusters as the units (videos when no clusters are given): `b` videos only a gets right,
    `c` only b; `clusters` units in all, `informative` of them with a nonzero difference.
    Without clusters it is McNemar's exact test."""

    b: int
    c: int
    n_discordant: int
    clusters: int
    informative: int
    p_value: float
    unit: str = "clusters"  # what `clusters` counts: "clusters" or "videos"

    @property
    def name(self) -> str:
        return f"cluster sign-flip test over {self.clusters} {self.unit}"


def paired_test(correct_a: np.ndarray, correct_b: np.ndarray,
                groups: np.ndarray | None = None) -> PairedTest:
    """Did a and b differ on the same videos? The exact sign-flip test on the per-cluster
    sums of (a right) - (b right): a cluster whose videos are right or wrong together counts
    once, not once per video (see `sign_flip_p`)."""
    a = _as_bool(correct_a, "correct_a")
    bb = _as_bool(correct_b, "correct_b")
    if a.shape != bb.shape:
        raise UserError(f"The two outcome arrays differ in length ({a.size} vs {bb.size}); "
                        "align the predictions first.")
    d = _cluster_sums(a.astype(np.int64) - bb.astype(np.int64), groups)
    b, c = int((a & ~bb).sum()), int((~a & bb).sum())
    return PairedTest(b=b, c=c, n_discordant=b + c, clusters=len(d),
                      informative=int((d != 0).sum()), p_value=sign_flip_p(d),
                      unit="videos" if groups is None else "clusters")


def accuracy_cis(correct_by_model: Mapping[str, np.ndarray], *, n_boot: int = 2000,
                 alpha: float = 0.05, seed: int = 0, groups: np.ndarray | None = None,
                 strata: np.ndarray | None = None) -> pd.DataFrame:
    """One row per model: top1 with its bootstrap interval (lo, hi)."""
    rows = []
    for name, correct in correct_by_model.items():
        point, lo, hi = bootstrap_ci(correct, n_boot=n_boot, alpha=alpha, seed=seed,
                                     groups=groups, strata=strata)
        rows.append({"model": name, "top1": point, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Gain:
    """Fused minus best single model's top-k on the same videos: the difference with its
    paired cluster-bootstrap interval [lo, hi] at level 1 - alpha, and the clustered paired
    test (`PairedTest`)."""

    gain: float
    lo: float
    hi: float
    test: PairedTest
    alpha: float = 0.05
    level: float = 0.05  # significance level of the test
    k: int = 1  # top-k: a video counts as right when its class is among the k best

    @property
    def outcome(self) -> str:
        """"better" or "worse" when the clustered test is significant and the interval
        excludes zero on that side; "not shown" otherwise."""
        significant = self.test.p_value < self.level
        if significant and self.lo > 0:
            return "better"
        if significant and self.hi < 0:
            return "worse"
        return "not shown"


def fusion_gain(correct_fused: np.ndarray, correct_best: np.ndarray, *, n_boot: int = 2000,
                alpha: float = 0.05, seed: int = 0, groups: np.ndarray | None = None,
                level: float = 0.05, k: int = 1, strata: np.ndarray | None = None) -> Gain:
    """Did fusion beat the best single model? The gain with its paired bootstrap interval
    and the clustered sign-flip test (`Gain.outcome` reads them). `correct_*` may be top-k
    hits; `k` only labels them."""
    gain, lo, hi = paired_bootstrap_diff(correct_fused, correct_best, n_boot=n_boot,
                                         alpha=alpha, seed=seed, groups=groups, strata=strata)
    return Gain(gain=gain, lo=lo, hi=hi, test=paired_test(correct_fused, correct_best, groups),
                alpha=alpha, level=level, k=k)


# ----------------------------------------------------------------------------- per class
HIGHER, LOWER, NOISE = "higher", "lower", "not shown beyond noise"
BH = "Benjamini-Hochberg"
PER_CLASS = "per class"  # no adjustment across classes


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (NaN stays NaN and does not count): a class is
    called at false-discovery rate q when its adjusted p is at most q.

    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    if ok.size == 0:
        return out
    order = ok[np.argsort(p[ok], kind="mergesort")]
    scaled = p[order] * ok.size / np.arange(1, ok.size + 1)
    out[order] = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    return out


def min_clusters(level: float) -> int:
    """The fewest differing clusters with which the sign-flip test can reach p <= level
    (with k of them p >= 2 / 2^k).

    >>> min_clusters(0.05)
    6
    """
    k = 1
    while 2.0 ** (1 - k) > level:
        k += 1
    return k


@dataclass(frozen=True)
class ClassDiffs:
    """Model a against model b class by class, on the same videos.

    `table` has one row per class with test videos, in class order: class, accuracy_a,
    accuracy_b, diff (= a - b), lo and hi (paired cluster-bootstrap interval over that
    class's clusters), clusters, informative (clusters with a difference), p_value (exact
    sign-flip test on those clusters), p_adjusted (`control`: the p-value itself with
    `PER_CLASS`, or Benjamini-Hochberg across the classes with at least `min_clusters(level)`
    differing clusters; 1 for the others, which cannot pass) and decision:
    "higher" (a above b beyond noise), "lower", or "within noise". A decision needs both
    the adjusted test at `level` and an interval that excludes zero on that side, so a
    class with fewer than `min_clusters(level)` differing clusters is always within noise.
    """

    table: pd.DataFrame
    alpha: float = 0.05
    level: float = 0.05
    control: str = PER_CLASS

    @property
    def able(self) -> int:
        """Classes whose models differ on enough clusters to be called at all."""
        return int((self.table["informative"] >= min_clusters(self.level)).sum())

    @property
    def chance_calls(self) -> float:
        """How many classes the per-class tests would call when no class truly differs: the
        sum of each class's attainable rejection rate (`attainable_rate`), which with a
        handful of clusters is far below `level`; 0 under Benjamini-Hochberg's control."""
        return float(self.table["attainable"].sum()) if self.control == PER_CLASS else 0.0

    @property
    def smallest_gaps(self) -> pd.Series:
        """Per class that can be called at all, the smallest difference in accuracy that can
        pass: `min_clusters(level)` clusters each one video apart, all one way, over the
        class's videos."""
        ok = self.table[self.table["clusters"] >= min_clusters(self.level)]
        return (min_clusters(self.level) / ok["videos"]).set_axis(ok["class"])

    def decision(self, cls: str) -> str:
        rows = self.table.loc[self.table["class"] == cls, "decision"]
        return str(rows.iloc[0]) if len(rows) else NOISE

    def classes(self, decision: str) -> list[str]:
        """The classes with this decision, in class order."""
        return list(self.table.loc[self.table["decision"] == decision, "class"])


def class_differences(correct_a: np.ndarray, correct_b: np.ndarray, labels: np.ndarray,
                      class_names: list[str], *, groups: np.ndarray | None = None,
                      n_boot: int = 2000, alpha: float = 0.05, level: float = 0.05,
                      seed: int = 0, control: str = PER_CLASS) -> ClassDiffs:
    """Per class: a's and b's accuracy, their difference with a paired cluster-bootstrap
    interval and the exact sign-flip test over that class's clusters, adjusted across classes
    by `control` (`PER_CLASS`: not at all; `BH`), and the decision (see `ClassDiffs`)."""
    if control not in (PER_CLASS, BH):
        raise UserError(f"Unknown control {control!r}; choose {PER_CLASS!r} or {BH!r}.")
    a = _as_bool(correct_a, "correct_a")
    b = _as_bool(correct_b, "correct_b")
    labels = np.asarray(labels)
    if a.shape != b.shape or labels.shape != a.shape:
        raise UserError("Outcomes and labels differ in length; align the predictions first.")
    groups = None if groups is None else np.asarray(groups)
    rows = []
    for k, name in enumerate(class_names):
        idx = np.flatnonzero(labels == k)
        if idx.size == 0:
            continue
        g = None if groups is None else groups[idx]
        d = a[idx].astype(np.int64) - b[idx].astype(np.int64)
        sums = _cluster_sums(d, g)
        diff, lo, hi = paired_bootstrap_diff(a[idx], b[idx], n_boot=n_boot, alpha=alpha,
                                             seed=seed + k, groups=g)
        rows.append({"class": name, "videos": int(idx.size), "accuracy_a": float(a[idx].mean()),
                     "accuracy_b": float(b[idx].mean()), "diff": diff, "lo": lo, "hi": hi,
                     "clusters": len(sums), "informative": int((sums != 0).sum()),
                     "p_value": sign_flip_p(sums), "attainable": attainable_rate(sums, level)})
    table = pd.DataFrame(rows, columns=["class", "videos", "accuracy_a", "accuracy_b", "diff",
                                        "lo", "hi", "clusters", "informative", "p_value",
                                        "attainable"])
    # Independent filtering (Bourgon et al. 2010): a class with too few differing clusters
    # cannot reach the level whatever its signs, and the test conditions on the magnitudes,
    # so leaving it out of the adjustment keeps the false-discovery rate.
    able = (table["informative"] >= min_clusters(level)).to_numpy()
    adjusted = np.ones(len(table))
    p_able = table["p_value"].to_numpy()[able]
    adjusted[able] = benjamini_hochberg(p_able) if control == BH else p_able
    table["p_adjusted"] = adjusted
    called = table["p_adjusted"] <= level
    table["decision"] = np.where(called & (table["lo"] > 0), HIGHER,
                                 np.where(called & (table["hi"] < 0), LOWER, NOISE))
    return ClassDiffs(table=table, alpha=alpha, level=level, control=control)
