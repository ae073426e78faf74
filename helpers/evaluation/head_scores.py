"""The numbers of the temporal head (helpers.training.head_fit), for the report: its test scores
beside the frame model's mean of softmaxes on the same videos, with the cluster-bootstrap
interval and the paired sign-flip test; its own probes (features in reversed and in shuffled
order); the held-out figures of every candidate; and on the synthetic benchmark its accuracy
per kind of class and per temporal pair, with what the features show of each pair's motion.

An extra row of the report: the assignment's three models and the fusion never read it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from helpers.data.sampling import HEAD_PROBES
from helpers.evaluation import metrics, probes, stats
from helpers.evaluation.metrics import ModelSummary
from helpers.evaluation.predictions import Predictions, align, load
from helpers.evaluation.stats import Gain
from helpers.paths import RunPaths

HEAD = "Frames + temporal head"
BASELINE = "headbase"  # predictions kind: the frame model's mean over the head's own frames


@dataclass(frozen=True)
class HeadResult:
    """The head on test against the frame model's mean (`frame`, the same videos)."""

    test: Predictions  # in the frame model's video order
    summary: ModelSummary
    top1_ci: tuple[float, float]  # cluster-bootstrap 95% interval of the head's top-1
    vs_frame: Gain  # head minus its baseline (`like_for_like`), top-1, paired over clusters
    chosen: str  # the candidate chosen on the held-out groups, e.g. "gru, guarded"
    selection: pd.DataFrame  # candidate, guard, val_log_loss, val_top1, train_log_loss
    frame_val_log_loss: float  # the mean of softmaxes on the held-out groups
    probe_overall: pd.DataFrame | None  # per order (normal, reversed, shuffled), `probes.overall`
    pairs: pd.DataFrame | None = None  # synthetic: one row per temporal pair (`pair_table`)
    # True: `vs_frame` is against the frame model's mean softmax over the same frames and crop
    # the head reads (`baseline_top1`); False: only the full frame model was there to compare
    like_for_like: bool = False
    baseline_top1: float = float("nan")
    baseline: ModelSummary | None = None  # the like-for-like baseline's scores
    baseline_ci: tuple[float, float] = (float("nan"), float("nan"))
    vs_full: Gain | None = None  # head minus the full frame model (every frame, its crops)

    @property
    def order_sensitive(self) -> bool:
        """A head whose architecture can read order (not the order-blind `mean`) and whose
        output is shown to depend on it."""
        return not self.chosen.startswith("mean,") and bool(self.learned_order)

    @property
    def learned_order(self) -> bool | None:
        """Whether shuffling the features costs the head true-class probability beyond noise
        (the 95% interval of the drop above zero); None without probes."""
        if self.probe_overall is None:
            return None
        row = self.probe_overall.set_index("windows").loc[probes.ORDER_PROBE]
        return bool(row["dprob_lo"] > 0)


def analyze_head(run: RunPaths, frame_test: Predictions, *, n_boot: int = 2000,
                 partners: dict[str, str] | None = None,
                 features: np.ndarray | None = None) -> HeadResult | None:
    """The head's `HeadResult`, or None when the run has no head predictions. `partners`
    (synthetic benchmark: temporal class -> its partner) and `features` (the test features
    [N, T, D] in the head file's video order) add the per-pair table."""
    path = run.predictions("head", "test")
    if not path.is_file():
        return None
    raw = load(path)
    frame, head = align(frame_test, raw)
    groups, strata = frame.groups, frame.labels
    _, lo, hi = stats.bootstrap_ci(head.correct, n_boot=n_boot, groups=groups, strata=strata)
    base_path = run.predictions(BASELINE, "test")
    base = align(frame, load(base_path))[1] if base_path.is_file() else None
    vs_full = stats.fusion_gain(head.correct, frame.correct, n_boot=n_boot, groups=groups,
                                strata=strata)
    probed = {p: load(run.predictions("head", "test", p)) for p in HEAD_PROBES
              if run.predictions("head", "test", p).is_file()}
    frame_val = run.predictions("frame", "val")
    selection = json.loads((run.root / "head" / "selection.json").read_text())
    rows = pd.DataFrame(selection["rows"])
    chosen = selection["chosen"]
    pairs = None
    if partners and features is not None:
        pos = {v: i for i, v in enumerate(raw.video_ids)}
        pairs = pair_table(frame, head, features[[pos[v] for v in head.video_ids]], partners,
                           probed.get(probes.DIRECTION_PROBE), n_boot=n_boot)
    return HeadResult(
        test=head, summary=metrics.summarize(head), top1_ci=(lo, hi),
        vs_frame=(vs_full if base is None else stats.fusion_gain(
            head.correct, base.correct, n_boot=n_boot, groups=groups, strata=strata)),
        like_for_like=base is not None,
        baseline_top1=float("nan") if base is None else float(base.correct.mean()),
        baseline=None if base is None else metrics.summarize(base),
        baseline_ci=((float("nan"), float("nan")) if base is None else stats.bootstrap_ci(
            base.correct, n_boot=n_boot, groups=groups, strata=strata)[1:]),
        vs_full=vs_full,
        chosen=f"{chosen['name']}, {'guarded' if chosen['guard'] else 'unguarded'}",
        selection=rows,
        frame_val_log_loss=(metrics.log_loss(*_probs_labels(load(frame_val)))
                            if frame_val.is_file() else float("nan")),
        probe_overall=probes.overall(head, probed, n_boot=n_boot) if probed else None,
        pairs=pairs)


def _probs_labels(p: Predictions) -> tuple[np.ndarray, np.ndarray]:
    return p.probs, p.labels


def temporal_share(features: np.ndarray) -> float:
    """How much of the features' spread over a set of videos [N, T, D] lies *within* videos,
    over time: the mean (over videos) of the variance over frames, as a share of the total
    variance over videos and frames, summed over dimensions. Near 0: each video's features
    hardly change from frame to frame, so there is no order for a head to read.

    >>> temporal_share(np.ones((3, 4, 2)))
    0.0
    """
    x = features.astype(np.float64)
    total = x.reshape(-1, x.shape[-1]).var(0).sum()
    within = x.var(1).mean(0).sum()
    return float(within / total) if total > 0 else 0.0


def pair_table(frame: Predictions, head: Predictions, features: np.ndarray,
               partners: dict[str, str], reversed_pred: Predictions | None = None, *,
               n_boot: int = 2000) -> pd.DataFrame:
    """One row per temporal pair (its two classes' test videos): the frame model's and the
    head's top-1, the gain with its interval and paired test (`gain`, `lo`, `hi`, `p_value`,
    `outcome`), the head's top-1 on reversed features, and `temporal_share` of the features."""
    names = list(head.class_names)
    rows, seen = [], set()
    for a, b in partners.items():
        if (b, a) in seen or a not in names or b not in names:
            continue
        seen.add((a, b))
        mask = np.isin(head.labels, [names.index(a), names.index(b)])
        if not mask.any():
            continue
        g = stats.fusion_gain(head.correct[mask], frame.correct[mask], n_boot=n_boot,
                              groups=head.groups[mask], strata=head.labels[mask])
        rows.append({"pair": f"{a} / {b}", "videos": int(mask.sum()),
                     "frame": float(frame.correct[mask].mean()),
                     "head": float(head.correct[mask].mean()),
                     "head_reversed": (float(align(head, reversed_pred)[1].correct[mask].mean())
                                       if reversed_pred is not None else float("nan")),
                     "gain": g.gain, "lo": g.lo, "hi": g.hi, "p_value": g.test.p_value,
                     "outcome": g.outcome, "temporal_share": temporal_share(features[mask])})
    return pd.DataFrame(rows)


def head_features_path(run: RunPaths) -> Path:
    """The cached test features the reported head scored."""
    return run.root / "head" / f"features_{run.model_dir('frame').name}_test.h5"
