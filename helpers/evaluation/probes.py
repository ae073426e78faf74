"""What frame order is worth, measured: the clip model scored on the same test windows with
their temporal structure destroyed (`evaluate --probe`), class by class.

The measure is the drop in the mean probability the model gives the true class (normal minus
probed windows, on the same videos): unlike per-video top-1, it sees a class at 100% lose
confidence, and it moves by less than a whole video at a time. Each class's drop is tested
on its own with the exact sign-flip test over the class's (class, group) clusters (the
videos of one group share an actor and a scene), and its interval is that test inverted
(`signflip.sign_flip_interval`): with UCF-101's ~7 clusters per class a per-class bootstrap
would be too narrow. Nothing here holds simultaneously over classes: the readings are
exploratory, and `chance_<probe>` gives each class's attainable chance of a loss being
called when it has none, whose sum is the number of losses chance alone would call.

Each (class, probe) is read as `LOSES` (the interval above zero and a drop of at least `SMALL`:
a real but tiny loss is not called order dependence, since probed windows are also unnatural
input), `KEEPS` (the whole interval within +-`SMALL`) or `UNCLEAR`. Only a class the model
recognises on normal windows (top-1 and precision both at least `RECOGNISED`) is read: one it
does not recognise has no recognition for a probe to take away, and its probability only
moves among the classes it is confused with (a class that absorbs its look-alike's videos has
a high top-1 but a low precision). Such a class "needs order" when it loses on shuffled windows, and is "told
apart by appearance" when it keeps under every probe run. A class that keeps its score on
one repeated frame (`static`) yet loses when shuffled reacts to unnatural input, not to
order: it is unclear. Reversed windows separate
direction from order: a recognised class that loses on them needs the direction of motion.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from helpers.errors import UserError
from helpers.evaluation.metrics import confusion_matrix, per_class_accuracy
from helpers.evaluation.predictions import Predictions, align
from helpers.evaluation.signflip import attainable_upper, sign_flip_interval, sign_patterns
from helpers.evaluation.stats import bootstrap_means, cluster_totals

ALPHA = 0.05  # level of each class's own interval (not simultaneous) and of the overall drop
SMALL = 0.10  # a change in true-class probability within +-10 points is "small"
RECOGNISED = 0.8  # normal top-1 and precision a class needs before a probe's effect is read
MIN_CLUSTERS = 4  # fewer clusters cannot show the spread between them: no interval
STATIC_PROBE = "static"
ORDER_PROBE, DIRECTION_PROBE = "shuffled", "reversed"
LOSES, KEEPS, UNCLEAR = "loses", "keeps", "unclear"  # one (class, probe)
NEEDS_ORDER, APPEARANCE = "needs order", "appearance"  # one class (else UNCLEAR)

# The published measurement a repeated frame compares with (UCF-101 runs only): Huang et al.'s
# *naive* removal of motion, which a repeated frame is, not their 6% after removing motion
# without artifacts. Their abstract gives the figure as a percentage without saying whether
# it is of top-1 points or relative to the model's accuracy, so the report gives both of
# this run's figures. (A scene-only model, as in Choi et al., is another input: not compared.)
PUBLISHED = ("Huang et al. (CVPR 2018, \"What makes a video a video\") find that naive ways of "
             "removing motion, of which one repeated frame is one, cost a 3D CNN about 25% on "
             "UCF-101 (about 6% once motion is removed without such artifacts)")
PUBLISHED_NAIVE_COST = 0.25  # Huang et al.'s naive baselines on UCF-101


def _per_class(pred: Predictions) -> pd.DataFrame:
    cm = confusion_matrix(pred.labels, pred.preds, pred.num_classes)
    return per_class_accuracy(cm, list(pred.class_names))


def true_prob(pred: Predictions) -> np.ndarray:
    """The probability each video's prediction gives its true class."""
    return pred.probs[np.arange(pred.num_videos), pred.labels].astype(np.float64)


def probe_names(table: pd.DataFrame) -> list[str]:
    """The probes of a `probe_table`, in its column order."""
    return [c.removeprefix("verdict_") for c in table.columns if c.startswith("verdict_")]


def _checked(normal: Predictions, probed: Mapping[str, Predictions]) -> dict[str, Predictions]:
    """Each probe's predictions in the video order of `normal`, made with that probe."""
    if not probed:
        raise UserError("No probe predictions were given; run `evaluate --probe`.")
    out = {}
    for name, pred in probed.items():
        if pred.attrs.get("probe") not in (None, name):
            raise UserError(f"The predictions given as probe {name!r} were made with probe "
                            f"{pred.attrs.get('probe')!r}; pass the matching files.")
        out[name] = align(normal, pred)[1]
    return out


def verdict(drop: float, lo: float, hi: float, small: float = SMALL) -> str:
    """LOSES, KEEPS or UNCLEAR for one class under one probe (see the module docstring)."""
    if np.isnan(lo) or np.isnan(hi):
        return UNCLEAR
    if lo > 0 and drop >= small:
        return LOSES
    if -small <= lo and hi <= small:
        return KEEPS
    return UNCLEAR


def probe_table(normal: Predictions, probed: Mapping[str, Predictions], *,
                alpha: float = ALPHA, seed: int = 0) -> pd.DataFrame:
    """One row per class with test videos, ranked by the drop on shuffled windows (or the
    first probe): `class`, `support`, `clusters`, `normal` (per-video top-1), `precision` and
    `prob_normal` (mean true-class probability) on normal windows; per probe p its top-1 `p`, the top-1 drop `drop_p`, `prob_p`,
    the drop in true-class probability `dprob_p` with the class's own sign-flip interval
    `lo_p`, `hi_p` (level 1 - alpha, not simultaneous), its two-sided p `p_p`, the attainable
    chance `chance_p` that a loss is called under no effect, and `verdict_p`; then the class's
    `reading` (NEEDS_ORDER, APPEARANCE or UNCLEAR)."""
    probed = _checked(normal, probed)
    table = _per_class(normal)[["class", "support", "accuracy"]].rename(
        columns={"accuracy": "normal"})
    clusters = normal.groups
    p_normal = true_prob(normal)
    diffs = np.stack([p_normal - true_prob(p) for p in probed.values()], axis=1)
    rows = table["support"].to_numpy() > 0
    k = normal.num_classes
    shape = (k, len(probed))
    lo, hi, pv, chance = (np.full(shape, np.nan) for _ in range(4))
    num_clusters = np.zeros(k, dtype=np.int64)
    for c in np.flatnonzero(rows):
        sums, sizes = cluster_totals(diffs[normal.labels == c], clusters[normal.labels == c])
        num_clusters[c] = len(sizes)
        if len(sizes) < MIN_CLUSTERS:
            continue
        patterns = sign_patterns(len(sizes), seed + int(c))
        for j in range(len(probed)):
            lo[c, j], hi[c, j], pv[c, j] = sign_flip_interval(sums[:, j], sizes, alpha,
                                                              seed=seed + int(c))
            chance[c, j] = attainable_upper(sums[:, j], patterns, alpha / 2)
    table.insert(2, "clusters", num_clusters)
    cm = confusion_matrix(normal.labels, normal.preds, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        table["precision"] = np.diag(cm) / cm.sum(axis=0)  # NaN: never predicted
    table["prob_normal"] = _class_mean(p_normal, normal.labels, k)
    for j, (name, pred) in enumerate(probed.items()):
        table[name] = _per_class(pred)["accuracy"].to_numpy()
        table[f"drop_{name}"] = table["normal"] - table[name]
        table[f"prob_{name}"] = _class_mean(true_prob(pred), normal.labels, k)
        table[f"dprob_{name}"] = table["prob_normal"] - table[f"prob_{name}"]
        table[f"lo_{name}"], table[f"hi_{name}"] = lo[:, j], hi[:, j]
        table[f"p_{name}"], table[f"chance_{name}"] = pv[:, j], chance[:, j]
        table[f"verdict_{name}"] = [
            verdict(d, a, b) for d, a, b in zip(table[f"dprob_{name}"], lo[:, j], hi[:, j],
                                                strict=True)]
    table["reading"] = [_reading(r) for _, r in table.iterrows()]
    key = f"dprob_{ORDER_PROBE if ORDER_PROBE in probed else next(iter(probed))}"
    table = table[rows].sort_values(key, ascending=False, kind="mergesort")
    return table.reset_index(drop=True)


def _class_mean(values: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    support = np.bincount(labels, minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.bincount(labels, weights=values, minlength=k) / support


def recognised(row: pd.Series | pd.DataFrame) -> bool | pd.Series:
    """Whether the model recognises a class (a row of `probe_table`, or each row of one) on
    normal windows: top-1 and precision both at least RECOGNISED."""
    return (row["normal"] >= RECOGNISED) & (row["precision"] >= RECOGNISED)


def _reading(row: pd.Series) -> str:
    verdicts = [row[c] for c in row.index if str(c).startswith("verdict_")]
    if not recognised(row):
        return UNCLEAR
    if row.get(f"verdict_{ORDER_PROBE}") == LOSES:
        # keeping its score on one repeated frame yet losing it when shuffled is a reaction
        # to unnatural input, not a need for order
        return UNCLEAR if row.get(f"verdict_{STATIC_PROBE}") == KEEPS else NEEDS_ORDER
    return APPEARANCE if all(v == KEEPS for v in verdicts) else UNCLEAR


def chance_losses(table: pd.DataFrame, probe: str) -> float:
    """How many recognised classes chance alone would read as losing under `probe`, were
    no class affected: the sum of their attainable rates (`chance_<probe>`)."""
    col = f"chance_{probe}"
    if col not in table:
        return 0.0
    return float(table.loc[recognised(table), col].fillna(0.0).sum())


def overall(normal: Predictions, probed: Mapping[str, Predictions], *, alpha: float = ALPHA,
            n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """One row per windows (normal, then each probe): per-video `top1` and its `drop` from
    normal with a paired cluster-bootstrap (1 - alpha) interval `drop_lo`, `drop_hi`; the mean
    true-class probability `prob` and its drop `dprob` with `dprob_lo`, `dprob_hi`."""
    probed = _checked(normal, probed)
    rows = [{"windows": "normal", "top1": float(normal.correct.mean()), "drop": 0.0,
             "drop_lo": 0.0, "drop_hi": 0.0, "prob": float(true_prob(normal).mean()),
             "dprob": 0.0, "dprob_lo": 0.0, "dprob_hi": 0.0}]
    for i, (name, pred) in enumerate(probed.items()):
        diffs = np.stack([normal.correct.astype(np.float64) - pred.correct,
                          true_prob(normal) - true_prob(pred)], axis=1)
        lo, hi = bootstrap_means(diffs, n_boot=n_boot, alpha=alpha, seed=seed + i,
                                 groups=normal.groups, strata=normal.labels)
        rows.append({"windows": name, "top1": float(pred.correct.mean()),
                     "drop": float(diffs[:, 0].mean()), "drop_lo": lo[0], "drop_hi": hi[0],
                     "prob": float(true_prob(pred).mean()), "dprob": float(diffs[:, 1].mean()),
                     "dprob_lo": lo[1], "dprob_hi": hi[1]})
    return pd.DataFrame(rows)


def by_reading(table: pd.DataFrame, reading: str) -> pd.DataFrame:
    """The classes of one reading, ranked by effect size: NEEDS_ORDER by the drop on
    shuffled windows (largest first), APPEARANCE by `reach`, how far its intervals reach from
    zero under any probe (the tightest bound first), UNCLEAR by the shuffled drop."""
    part = table[table["reading"] == reading]
    if reading == APPEARANCE:
        reach = pd.concat([part[f"{e}_{p}"].abs() for p in probe_names(part)
                           for e in ("lo", "hi")], axis=1).max(axis=1)
        part = part.assign(reach=reach).sort_values("reach", kind="mergesort")
        return part.reset_index(drop=True)
    key = f"dprob_{ORDER_PROBE}" if f"dprob_{ORDER_PROBE}" in part else None
    if key is not None:
        part = part.sort_values(key, ascending=False, kind="mergesort")
    return part.reset_index(drop=True)


def losing(table: pd.DataFrame, probe: str) -> pd.DataFrame:
    """The classes the model recognises (see `recognised`) that lose under
    `probe` (interval above zero, drop at least SMALL), largest drop first; empty when the
    probe was not run."""
    if f"verdict_{probe}" not in table:
        return table.iloc[:0]
    part = table[(table[f"verdict_{probe}"] == LOSES) & recognised(table)]
    return part.sort_values(f"dprob_{probe}", ascending=False, kind="mergesort").reset_index(
        drop=True)


def drop_by_kind(table: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Synthetic benchmark, per class kind: support-weighted top-1 on normal windows and
    under each probe, and the classes of each reading."""
    rows = []
    probes = probe_names(table)
    for kind in sorted(set(kinds.values())):
        part = table[table["class"].map(kinds) == kind]
        if part.empty:
            continue
        w = part["support"].to_numpy(dtype=float)
        row = {"kind": f"{kind} ({len(part)})",
               "normal": float(np.average(part["normal"], weights=w))}
        row.update({p: float(np.average(part[p], weights=w)) for p in probes})
        row.update({r: int((part["reading"] == r).sum())
                    for r in (NEEDS_ORDER, APPEARANCE, UNCLEAR)})
        rows.append(row)
    return pd.DataFrame(rows)
