"""The splits of one recipe side by side: the numbers that hold over splits (`summarize`).

Every paper UCF-101 is compared with reports the mean over its three official splits. The
summary reads each split's finished run folder (`helpers.workflow.split_runs`: the runs are
checked to share recipe, protocol, weights and code first) and recomputes each split's
`Results` from its predictions files; it needs no GPU, no data and no stores. Every mean says
over how many splits it is (`RunSet.scope`).

Replication rule: a finding counts as replicated when it holds in every split summarised: a
gain of the combined output whose interval excludes zero on the same side with the clustered
test significant, a class read as needing frame order, a confused pair among the ten most
confused of the same model. Findings in fewer splits are listed with their count.

Pooling the gain's test across splits: the (class, group) clusters are the test's units, and
the three official test lists hold different groups (1-7, 8-14, 15-21), so a cluster is tested
in one split only and the splits' sign-flip statistics can be pooled, each cluster flipped on
its own (a test stratified by split). The models of one split are however trained on the
clusters the others test, so the splits are not independent replicates of one experiment:
the decision is per split (same sign, beyond noise, in every one); the pooled p-value is
shown beside it, and is withheld (with the reason) when any cluster is tested in two splits.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from helpers.errors import UserError
from helpers.evaluation import probes, stats
from helpers.evaluation.head_scores import HEAD
from helpers.evaluation.metrics import ModelSummary
from helpers.evaluation.results import CLIP, FRAME, FUSED, TOPK, Results, analyze, kind_accuracy
from helpers.evaluation.stats import Gain
from helpers.workflow.split_runs import RunSet, SharedField, SplitRun, check_consistent

CHOSEN = "Fusion chosen on validation"
ROWS = (FRAME, CLIP, FUSED, CHOSEN, HEAD)
MODELS = (FRAME, CLIP, FUSED)  # the per-class and confused-pair findings
_CLUSTER = re.compile(r"v_(.+)_g(\d+)_c\d+", re.IGNORECASE)


# ----------------------------------------------------------------------------- one split
@dataclass(frozen=True, kw_only=True)
class SplitNumbers:
    """What the summary takes from one split's `Results`."""

    split: int
    scores: pd.DataFrame  # row, top1, top5, top10 (ROWS; a row the run lacks is left out)
    chosen: str  # the fusion method chosen on validation
    head: str | None  # the temporal head's chosen candidate, None without one
    gain: Gain  # combined (mean) minus the better single model, top-1, clustered
    best_single: str
    cluster_keys: np.ndarray  # "class_gGG" per test cluster, in the gain's cluster order
    cluster_diffs: np.ndarray  # per cluster: videos right only combined - only the best
    per_class: pd.DataFrame  # class, then one accuracy column per model of MODELS
    needs_order: list[str] | None  # classes read as needing frame order; None: no probes
    confused: dict[str, pd.DataFrame]  # model -> its ten most confused pairs
    kinds: pd.DataFrame | None  # synthetic benchmark: accuracy per kind of class
    num_videos: int


def cluster_keys(video_ids: Sequence[str]) -> np.ndarray:
    """`class_gGG` (class name case-folded) of each video."""
    keys = []
    for vid in video_ids:
        m = _CLUSTER.search(Path(vid).name)
        if m is None:
            raise UserError(f"Video id {vid!r} does not follow the UCF-101 pattern v_Class_gGG_cCC.")
        keys.append(f"{m.group(1).casefold()}_g{int(m.group(2)):02d}")
    return np.array(keys)


def _scores(res: Results) -> pd.DataFrame:
    def row(name: str, s: ModelSummary) -> dict[str, Any]:
        return {"row": name, **{f"top{k}": float(getattr(s, f"top{k}")) for k in TOPK}}

    rows = [row(m, res.summaries[m]) for m in MODELS]
    chosen = res.chosen_test
    rows.append({"row": CHOSEN, **{f"top{k}": float(chosen[f"top{k}"]) for k in TOPK}})
    if res.head is not None:
        rows.append(row(HEAD, res.head.summary))
    return pd.DataFrame(rows)


def split_numbers(run: SplitRun, *, n_boot: int = 2000, kinds: dict[str, str] | None = None
                  ) -> SplitNumbers:
    res = analyze(run.paths, n_boot=n_boot)
    if kinds:
        res = dataclasses.replace(res, kinds=kinds)
    test = res.test
    best = res.best_single
    keys = cluster_keys(test[FRAME].video_ids)
    order = np.unique(keys)  # cluster_totals' unit order: sorted ids
    diff = test[FUSED].correct.astype(np.int64) - test[best].correct.astype(np.int64)
    sums, _ = stats.cluster_totals(diff[:, None], keys)
    per_class = res.summaries[FRAME].per_class[["class"]].copy()
    for m in MODELS:
        per_class[m] = res.summaries[m].per_class["accuracy"].to_numpy()
    needs = None
    if res.probe_table is not None:
        needs = list(res.probe_table.loc[res.probe_table["reading"] == probes.NEEDS_ORDER,
                                         "class"])
    return SplitNumbers(
        split=run.split, scores=_scores(res), chosen=res.fit.chosen,
        head=res.head.chosen if res.head is not None else None, gain=res.gain,
        best_single=best, cluster_keys=order, cluster_diffs=sums[:, 0].round().astype(np.int64),
        per_class=per_class, needs_order=needs,
        confused={m: res.summaries[m].confused_pairs for m in MODELS},
        kinds=kind_accuracy(res), num_videos=len(test[FRAME].labels))


# ----------------------------------------------------------------------------- over splits
@dataclass(frozen=True)
class PooledTest:
    """The clustered sign-flip test of the combined output's gain, pooled over the splits
    (each cluster flipped on its own): p, or None with `why` when clusters overlap."""

    p_value: float | None
    clusters: int
    overlapping: int  # clusters tested in more than one split
    why: str = ""


@dataclass(frozen=True, kw_only=True)
class SplitSummary:
    runs: RunSet
    shared: list[SharedField]
    numbers: list[SplitNumbers]
    accuracy: pd.DataFrame  # row, metric, split<k>..., mean, std, min, max, n
    gains: pd.DataFrame  # split, best_single, gain, lo, hi, p_value, outcome
    pooled: PooledTest
    per_class: pd.DataFrame  # class; <model> mean/std/min/max for each model of MODELS
    order_splits: pd.DataFrame | None  # class, splits (how many), which
    shared_pairs: dict[str, pd.DataFrame] = field(default_factory=dict)  # model -> pairs
    kinds: pd.DataFrame | None = None  # kind, model, split<k>..., mean

    @property
    def n(self) -> int:
        return len(self.numbers)

    @property
    def same_sign(self) -> bool:
        return len({np.sign(g) for g in self.gains["gain"]}) == 1 and self.gains["gain"].ne(0).all()

    @property
    def better_everywhere(self) -> bool:
        return bool((self.gains["outcome"] == "better").all())


def spread(values: Sequence[float]) -> dict[str, float]:
    """mean, std (sample, ddof=1; NaN for one value), min, max of a split's numbers."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
            "min": float(v.min()), "max": float(v.max()), "n": len(v)}


def accuracy_table(numbers: Sequence[SplitNumbers]) -> pd.DataFrame:
    rows = []
    for name in ROWS:
        for k in TOPK:
            col = f"top{k}"
            per = {n.split: float(n.scores.set_index("row").loc[name, col])
                   for n in numbers if name in set(n.scores["row"])}
            if not per:
                continue
            rows.append({"row": name, "metric": f"top-{k}",
                         **{f"split{s}": v for s, v in per.items()}, **spread(list(per.values()))})
    return pd.DataFrame(rows)


def pooled_test(numbers: Sequence[SplitNumbers]) -> PooledTest:
    return pool_clusters([n.cluster_keys for n in numbers], [n.cluster_diffs for n in numbers])


def pool_clusters(keys: Sequence[np.ndarray], diffs: Sequence[np.ndarray]) -> PooledTest:
    """The sign-flip test over every split's clusters at once (each flipped on its own), or
    none when a cluster is tested in two splits (its outcomes would count twice).

    >>> a, b = np.array(["x_g01", "y_g01"]), np.array(["x_g02", "y_g02"])
    >>> pool_clusters([a, b], [np.array([1, 1]), np.array([1, 1])]).p_value  # 2 / 2**4
    0.125
    >>> pool_clusters([a, a], [np.array([1, 1]), np.array([1, 1])]).overlapping
    2
    """
    uniq, counts = np.unique(np.concatenate(keys), return_counts=True)
    overlap = int((counts > 1).sum())
    if overlap:
        return PooledTest(None, len(uniq), overlap,
                          f"{overlap} (class, group) clusters are tested in more than one split, "
                          "so their outcomes are not separate units; no pooled p-value is given")
    return PooledTest(stats.sign_flip_p(np.concatenate(diffs)), len(uniq), 0)


def per_class_table(numbers: Sequence[SplitNumbers]) -> pd.DataFrame:
    """Per class, each model's accuracy over the splits: mean, std, min, max."""
    stacked = pd.concat([n.per_class.assign(split=n.split) for n in numbers])
    out = []
    for cls, part in stacked.groupby("class", sort=True):
        row: dict[str, Any] = {"class": cls}
        for m in MODELS:
            values = part[m].dropna().to_numpy()
            for key, v in (spread(values) if len(values) else {}).items():
                if key != "n":
                    row[f"{m} {key}"] = v
        out.append(row)
    return pd.DataFrame(out)


def order_table(numbers: Sequence[SplitNumbers]) -> pd.DataFrame | None:
    """Classes read as needing frame order in at least one split: how many splits, which."""
    with_probes = [n for n in numbers if n.needs_order is not None]
    if not with_probes:
        return None
    seen: dict[str, list[int]] = {}
    for n in with_probes:
        for cls in n.needs_order or []:
            seen.setdefault(cls, []).append(n.split)
    rows = [{"class": c, "splits": len(s), "which": ", ".join(map(str, s))}
            for c, s in seen.items()]
    df = pd.DataFrame(rows, columns=["class", "splits", "which"])
    return df.sort_values(["splits", "class"], ascending=[False, True]).reset_index(drop=True)


def shared_pairs(numbers: Sequence[SplitNumbers], model: str) -> pd.DataFrame:
    """The (true, predicted) pairs among `model`'s ten most confused in every split, with
    their rate in each split and the mean."""
    tables = {n.split: n.confused[model].set_index(["true", "predicted"])["rate"]
              for n in numbers}
    common = set.intersection(*(set(t.index) for t in tables.values()))
    rows = [{"true": t, "predicted": p, **{f"split{s}": float(r.loc[(t, p)])
                                          for s, r in tables.items()}}
            for t, p in common]
    df = pd.DataFrame(rows, columns=["true", "predicted", *(f"split{s}" for s in tables)])
    df["mean"] = df[[f"split{s}" for s in tables]].mean(axis=1)
    return df.sort_values(["mean", "true"], ascending=[False, True]).reset_index(drop=True)


def kinds_table(numbers: Sequence[SplitNumbers]) -> pd.DataFrame | None:
    if any(n.kinds is None for n in numbers):
        return None
    rows = []
    for n in numbers:
        assert n.kinds is not None
        for _, r in n.kinds.iterrows():
            for m in MODELS:
                rows.append({"kind": r["kind"], "model": m, "split": n.split, "acc": r[m]})
    df = pd.DataFrame(rows).pivot_table(index=["kind", "model"], columns="split", values="acc",
                                        sort=False)
    df.columns = [f"split{c}" for c in df.columns]
    df["mean"] = df.mean(axis=1)
    return df.reset_index()


def summarize(runs: RunSet, *, n_boot: int = 2000,
              kinds: dict[str, str] | None = None) -> SplitSummary:
    """Check the runs, then the numbers over splits (`SplitSummary`). `kinds`: the synthetic
    benchmark's class -> kind, when its classes.json is at hand (optional: no data needed)."""
    shared = check_consistent(runs.runs)
    numbers = [split_numbers(r, n_boot=n_boot, kinds=kinds) for r in runs.runs]
    gains = pd.DataFrame([{"split": n.split, "best_single": n.best_single, "gain": n.gain.gain,
                           "lo": n.gain.lo, "hi": n.gain.hi, "p_value": n.gain.test.p_value,
                           "clusters": n.gain.test.clusters, "outcome": n.gain.outcome}
                          for n in numbers])
    return SplitSummary(runs=runs, shared=shared, numbers=numbers,
                        accuracy=accuracy_table(numbers), gains=gains,
                        pooled=pooled_test(numbers), per_class=per_class_table(numbers),
                        order_splits=order_table(numbers),
                        shared_pairs={m: shared_pairs(numbers, m) for m in MODELS},
                        kinds=kinds_table(numbers))
