"""The exact sign-flip test on real-valued cluster totals, inverted into an interval, and
what each class's discrete null can reach (its attainable rejection rate).

With UCF-101's ~7 (class, group) clusters per class a percentile bootstrap per class is too
narrow (it shrinks to about the range of the cluster means); the sign-flip test needs only
that each cluster's centred total is symmetric about zero, and with k clusters its 2^k sign
patterns give the null exactly. Its interval for the mean difference delta is the set of
delta the test does not reject: the statistic is sum_c (S_c - n_c delta) over clusters c with
total S_c over n_c videos (the ratio-of-totals mean, as the bootstrap uses).

Beyond `EXACT_MAX` clusters the patterns are drawn at random (`MC_PATTERNS`, a fixed seed),
with the observed pattern counted, so the p-value stays valid.

>>> lo, hi, p = sign_flip_interval(np.array([1., 2., 3., 2., 1., 2., 3.]), np.ones(7))
>>> round(p, 4), lo > 0
(0.0156, True)
"""

from __future__ import annotations

import numpy as np

EXACT_MAX = 12  # 4096 patterns
MC_PATTERNS = 4096


def sign_patterns(k: int, seed: int = 0) -> np.ndarray:
    """Every +-1 pattern over k clusters [2^k, k], or MC_PATTERNS random ones (the first all
    +1, the observed) beyond EXACT_MAX."""
    if k <= EXACT_MAX:
        bits = (np.arange(2 ** k)[:, None] >> np.arange(k)) & 1
        return 1.0 - 2.0 * bits
    rng = np.random.default_rng(seed)
    out = rng.choice([-1.0, 1.0], size=(MC_PATTERNS, k))
    out[0] = 1.0
    return out


def upper_p(x: np.ndarray, patterns: np.ndarray) -> float:
    """One-sided p of the total of `x` [k] being this large: the share of sign patterns
    whose total is at least the observed one (ties count, so the test stays valid)."""
    t = patterns @ np.abs(x)
    observed = float(x.sum())
    return float(np.mean(t >= observed - 1e-12 * (1 + abs(observed))))


def attainable_upper(x: np.ndarray, patterns: np.ndarray, tail: float) -> float:
    """The chance, under the null with these magnitudes |x|, that the one-sided test rejects
    at `tail`: the share of sign patterns whose own p is at most `tail`. It is at most
    `tail` and often well below it (the null is discrete)."""
    t = np.sort(patterns @ np.abs(x))
    n = len(t)
    # p of a pattern with total t_i = share of totals >= t_i
    at_least = n - np.searchsorted(t, t - 1e-12 * (1 + np.abs(t)), side="left")
    return float(np.mean(at_least / n <= tail))


def sign_flip_interval(sums: np.ndarray, sizes: np.ndarray, alpha: float = 0.05, *,
                       seed: int = 0, iters: int = 40) -> tuple[float, float, float]:
    """The (1 - alpha) interval (lo, hi) for the mean difference sum(sums) / sum(sizes) by
    inverting the one-sided sign-flip tests at alpha / 2 each, and the two-sided p at zero.
    An end the clusters cannot bound (too few of them) is NaN."""
    sums, sizes = np.asarray(sums, np.float64), np.asarray(sizes, np.float64)
    patterns = sign_patterns(len(sums), seed)
    means = sums / sizes
    p0 = min(1.0, 2 * min(upper_p(sums, patterns), upper_p(-sums, patterns)))

    def bound(sign: float) -> float:
        # lo: the smallest delta with p_upper(delta) > alpha/2; p rises with delta
        def rejected(d: float) -> bool:
            return upper_p(sign * (sums - sizes * d), patterns) <= alpha / 2

        # beyond every cluster's mean, all centred totals share one sign: p = 1 / 2^k
        a = float(means.min() - 1.0 if sign > 0 else means.max() + 1.0)
        if not rejected(a):
            return float("nan")
        b = float(sums.sum() / sizes.sum())  # the estimate itself is never rejected
        for _ in range(iters):
            mid = (a + b) / 2
            a, b = (mid, b) if rejected(mid) else (a, mid)
        return (a + b) / 2

    return bound(1.0), bound(-1.0), p0
