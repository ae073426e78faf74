"""Is a difference in accuracy real? Bootstrap intervals and McNemar's exact test.

Videos of one UCF-101 group of one class share an actor and a scene, so they are not
independent; pass `groups` (one id per (class, group) cluster, see
`helpers.evaluation.predictions.video_groups`) to resample whole clusters (a cluster bootstrap), which
gives wider, more honest intervals. The cluster is the pair, not the group number: gGG of one
class is unrelated to gGG of another, and the 7 group numbers of a test split would be far too
few units (split 1 has 707 clusters).

`fusion_gain` returns numbers only (a `Gain`); `helpers.reporting.prose.verdict` words them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.stats import binom

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


def _boot_stats(values: np.ndarray, groups: np.ndarray | None, n_boot: int,
                seed: int) -> np.ndarray:
    """Bootstrap replicates [n_boot, K] of the mean of each column of `values` [n, K],
    resampling units with replacement (the same units for every column, so paired)."""
    unit, n_units = _units(groups, len(values))
    sums = np.zeros((n_units, values.shape[1]))
    np.add.at(sums, unit, values)
    sizes = np.bincount(unit, minlength=n_units).astype(np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty((n_boot, values.shape[1]))
    for start in range(0, n_boot, _CHUNK):
        m = min(_CHUNK, n_boot - start)
        idx = rng.integers(0, n_units, size=(m, n_units))
        # How often each unit was drawn; ratio of totals handles clusters of unequal size.
        flat = (np.arange(m)[:, None] * n_units + idx).ravel()
        counts = np.bincount(flat, minlength=m * n_units).reshape(m, n_units).astype(np.float64)
        out[start:start + m] = (counts @ sums) / (counts @ sizes)[:, None]
    return out


def _interval(reps: np.ndarray, alpha: float) -> tuple[float, float]:
    lo, hi = np.quantile(reps, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def bootstrap_ci(correct: np.ndarray, *, n_boot: int = 2000, alpha: float = 0.05, seed: int = 0,
                 groups: np.ndarray | None = None) -> tuple[float, float, float]:
    """Accuracy and its percentile-bootstrap (1 - alpha) interval: (point, lo, hi).
    Resamples videos, or whole clusters when `groups` (a cluster id per video) is given."""
    c = _as_bool(correct, "correct").astype(np.float64)
    reps = _boot_stats(c[:, None], groups, n_boot, seed)[:, 0]
    return (float(c.mean()), *_interval(reps, alpha))


def paired_bootstrap_diff(correct_a: np.ndarray, correct_b: np.ndarray, *, n_boot: int = 2000,
                          alpha: float = 0.05, seed: int = 0,
                          groups: np.ndarray | None = None) -> tuple[float, float, float]:
    """Accuracy of a minus accuracy of b on the same videos, with a paired bootstrap
    interval (the same resampled videos or clusters for both): (diff, lo, hi)."""
    a = _as_bool(correct_a, "correct_a")
    b = _as_bool(correct_b, "correct_b")
    if a.shape != b.shape:
        raise UserError(f"The two outcome arrays differ in length ({a.size} vs {b.size}); "
                        "align the predictions first.")
    d = a.astype(np.float64) - b.astype(np.float64)
    reps = _boot_stats(d[:, None], groups, n_boot, seed)[:, 0]
    return (float(d.mean()), *_interval(reps, alpha))


@dataclass(frozen=True)
class McNemar:
    """McNemar's exact test on paired outcomes: `b` videos only a gets right, `c` only b."""

    b: int
    c: int
    n_discordant: int
    p_value: float


def mcnemar_exact(correct_a: np.ndarray, correct_b: np.ndarray) -> McNemar:
    """McNemar's exact two-sided test on the discordant videos.

    b = videos a gets right and b gets wrong, c = the reverse. Under H0 (equal accuracy)
    b ~ Binomial(b + c, 1/2); p = min(1, 2 P(X <= min(b, c))), and p = 1 when b + c = 0.
    """
    a = _as_bool(correct_a, "correct_a")
    bb = _as_bool(correct_b, "correct_b")
    if a.shape != bb.shape:
        raise UserError(f"The two outcome arrays differ in length ({a.size} vs {bb.size}); "
                        "align the predictions first.")
    b = int((a & ~bb).sum())
    c = int((~a & bb).sum())
    n = b + c
    p = 1.0 if n == 0 else float(min(1.0, 2.0 * binom.cdf(min(b, c), n, 0.5)))
    return McNemar(b=b, c=c, n_discordant=n, p_value=p)


def accuracy_cis(correct_by_model: Mapping[str, np.ndarray], *, n_boot: int = 2000,
                 alpha: float = 0.05, seed: int = 0,
                 groups: np.ndarray | None = None) -> pd.DataFrame:
    """One row per model: top1 with its bootstrap interval (lo, hi)."""
    rows = []
    for name, correct in correct_by_model.items():
        point, lo, hi = bootstrap_ci(correct, n_boot=n_boot, alpha=alpha, seed=seed,
                                     groups=groups)
        rows.append({"model": name, "top1": point, "lo": lo, "hi": hi})
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class Gain:
    """Fused minus best single model's top-1 on the same videos: the difference with its
    paired bootstrap interval [lo, hi] at level 1 - alpha, and McNemar's exact test."""

    gain: float
    lo: float
    hi: float
    test: McNemar
    alpha: float = 0.05
    level: float = 0.05  # significance level of the test

    @property
    def outcome(self) -> str:
        """"better" or "worse" when McNemar's test is significant and the interval excludes
        zero on that side; "not shown" otherwise."""
        significant = self.test.p_value < self.level
        if significant and self.lo > 0:
            return "better"
        if significant and self.hi < 0:
            return "worse"
        return "not shown"


def fusion_gain(correct_fused: np.ndarray, correct_best: np.ndarray, *, n_boot: int = 2000,
                alpha: float = 0.05, seed: int = 0, groups: np.ndarray | None = None,
                level: float = 0.05) -> Gain:
    """Did fusion beat the best single model? The gain with its paired bootstrap interval
    and McNemar's exact test (`Gain.outcome` reads them)."""
    gain, lo, hi = paired_bootstrap_diff(correct_fused, correct_best, n_boot=n_boot,
                                         alpha=alpha, seed=seed, groups=groups)
    return Gain(gain=gain, lo=lo, hi=hi, test=mcnemar_exact(correct_fused, correct_best),
                alpha=alpha, level=level)
