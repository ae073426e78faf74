"""The numbers of a run, for notebooks 03 and 04: the three models, fusion, significance (top-1,
top-5 and top-10, each with the clustered test), the per-class comparisons of 2D, 3D and the
combined output with their noise, and the temporal probes, gathered in one `Results`.

`analyze` fits the fusion on the validation predictions once and caches the fit in the run's
fusion/ folder, keyed on those predictions; later calls reload it, so the report notebook
reuses what the analysis notebook computed. A cache written by an older version is fitted
again. The tables of the report are in `helpers.reporting.tables`, its sentences in
`helpers.reporting.prose`; nothing here writes text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.config import TrainConfig
from helpers.data.sampling import PROBES
from helpers.errors import UserError
from helpers.evaluation import fusion, metrics, probes, stats
from helpers.evaluation.fusion import FusionFit
from helpers.evaluation.head_scores import HeadResult, analyze_head, head_features_path
from helpers.evaluation.metrics import ModelSummary
from helpers.evaluation.predictions import Predictions, align, load
from helpers.evaluation.stats import ClassDiffs, Gain
from helpers.paths import DataPaths, RunPaths
from helpers.utils.io import write_json_atomic

FRAME, CLIP, FUSED = "Single frame (2D)", "3D clips", "Combined (mean)"
TOPK = (1, 5, 10)


def chosen_label(method: str) -> str:
    """How the report names the fusion method chosen on validation."""
    return f"Fusion chosen on validation ({method})"


@dataclass(frozen=True)
class HeldOut:
    """What fusion was fitted on: the held-out training groups and their number of videos,
    read from the validation predictions (which the held-out models made)."""

    groups: list[int]
    videos: int


@dataclass(frozen=True)
class ClassTests:
    """Class-by-class comparisons on the same test videos, each a - b with its noise (see
    `stats.ClassDiffs`): 3D against 2D, and the combined output against each single model."""

    clip_vs_frame: ClassDiffs
    fused_vs_frame: ClassDiffs
    fused_vs_clip: ClassDiffs

    def fused_vs(self, model: str) -> ClassDiffs:
        """The combined output against FRAME or CLIP."""
        return {FRAME: self.fused_vs_frame, CLIP: self.fused_vs_clip}[model]


def class_tests(test: dict[str, Predictions], *, n_boot: int = 2000,
                seed: int = 0) -> ClassTests:
    """`ClassTests` of the aligned test predictions of FRAME, CLIP and FUSED."""
    ref = test[FRAME]

    def diff(a: str, b: str) -> ClassDiffs:
        return stats.class_differences(test[a].correct, test[b].correct, ref.labels,
                                       list(ref.class_names), groups=ref.groups,
                                       n_boot=n_boot, seed=seed)

    return ClassTests(clip_vs_frame=diff(CLIP, FRAME), fused_vs_frame=diff(FUSED, FRAME),
                      fused_vs_clip=diff(FUSED, CLIP))


def topk_gains(test: dict[str, Predictions], *, n_boot: int = 2000,
               seed: int = 0) -> dict[int, Gain]:
    """Top-k (k in TOPK) of the combined output against the better single model at that k,
    each with its paired cluster-bootstrap interval and clustered test."""
    hits = {m: {k: metrics.true_class_rank(p.probs, p.labels) < k for k in TOPK}
            for m, p in test.items()}
    groups = test[FRAME].groups
    out = {}
    for k in TOPK:
        best = max((FRAME, CLIP), key=lambda m: float(hits[m][k].mean()))
        out[k] = stats.fusion_gain(hits[FUSED][k], hits[best][k], n_boot=n_boot, seed=seed,
                                   groups=groups, k=k, strata=test[FRAME].labels)
    return out


def per_class_table(summaries: dict[str, ModelSummary], diffs: ClassDiffs) -> pd.DataFrame:
    """2D against 3D per class, sorted by the gain of 3D (`metrics.compare_per_class`), with
    the noise of each difference: lo, hi, clusters, p_value, p_adjusted, decision."""
    table = metrics.compare_per_class(summaries[FRAME].per_class, summaries[CLIP].per_class)
    noise = diffs.table.set_index("class")[["lo", "hi", "clusters", "p_value", "p_adjusted",
                                           "decision"]]
    return table.join(noise, on="class")


@dataclass(frozen=True, kw_only=True)
class Results:
    """Everything the report says about a run, as numbers and tables (see `analyze`)."""

    class_names: list[str]
    test: dict[str, Predictions]  # FRAME, CLIP, FUSED on test, aligned
    summaries: dict[str, ModelSummary]  # the same three models
    fit: FusionFit  # fusion fitted on validation
    fusion_table: pd.DataFrame  # every fusion method on test; which one val chose
    fused: dict[str, Predictions]  # every fusion method's test predictions
    cis: pd.DataFrame  # top-1 with bootstrap 95% intervals (model, top1, lo, hi)
    gain: Gain  # combined (mean) vs best single model, top-1
    gain_chosen: Gain  # the fusion chosen on validation vs best single model
    gains_topk: dict[int, Gain]  # k -> combined vs the better single model at top-k
    per_class: pd.DataFrame  # 2D vs 3D per class, sorted by the gain of 3D, with its noise
    class_tests: ClassTests  # per-class differences between the three models, with noise
    held_out: HeldOut
    kinds: dict[str, str] | None = None  # synthetic benchmark: class -> "spatial", ...
    # temporal probes of the clip model (helpers.evaluation.probes), when the run has them
    probe_table: pd.DataFrame | None = None  # per class: drops with intervals, readings
    probe_overall: pd.DataFrame | None = None  # per windows: top-1 and its drop, intervals
    synthetic: bool | None = None  # the synthetic benchmark; None: not known (no data given)
    # Beyond averaging: the temporal head over the frame model's features, when the run has
    # it; an extra row beside the three models above, never an input of the fusion
    head: HeadResult | None = None

    @property
    def best_single(self) -> str:
        return max((FRAME, CLIP), key=lambda m: self.summaries[m].top1)

    def best_single_at(self, k: int) -> str:
        """The better single model at top-k (k in TOPK)."""
        return max((FRAME, CLIP), key=lambda m: getattr(self.summaries[m], f"top{k}"))

    @property
    def num_clusters(self) -> int:
        """(class, group) clusters of the test videos: the bootstrap's resampling unit."""
        return len(np.unique(self.test[FRAME].groups))

    @property
    def chosen_test(self) -> pd.Series:
        """The test scores (top1, top5, top10, ...) of the fusion chosen on validation."""
        return self.fusion_table.set_index("method").loc[self.fit.chosen]


# ----------------------------------------------------------------------------- analyze
def analyze(run: RunPaths, data: DataPaths | None = None, *, n_boot: int = 2000,
            refit: bool = False) -> Results:
    a_val, b_val = load(run.predictions("frame", "val")), load(run.predictions("clip", "val"))
    a_test, b_test = align(load(run.predictions("frame", "test")),
                           load(run.predictions("clip", "test")))
    for val, test in ((a_val, a_test), (b_val, b_test)):
        fusion.check_disjoint(val, test)
    fit = cached_fit(run, a_val, b_val, refit=refit)
    table, fused = fusion.evaluate_fusion(fit, a_test, b_test)
    for method, pred in fused.items():
        pred.save(run.fusion_dir / f"fused_{method}_test.h5")
    test = {FRAME: a_test, CLIP: b_test, FUSED: fused["mean"]}
    summaries = {name: metrics.summarize(p) for name, p in test.items()}
    correct = {name: p.correct for name, p in test.items()}
    if fit.chosen != "mean":
        correct[chosen_label(fit.chosen)] = fused[fit.chosen].correct
    # The videos of one group of one class share an actor and a scene: resample whole
    # (class, group) clusters (a cluster bootstrap), within each class, whose share of the
    # test split is fixed by design; `groups` holds one id per cluster.
    groups = a_test.groups
    best = max((FRAME, CLIP), key=lambda m: summaries[m].top1)
    tests = class_tests(test, n_boot=n_boot)
    gains = topk_gains(test, n_boot=n_boot)  # top-1 is `gain`: the mean against `best`
    val_cfg = a_val.attrs.get("config") or {}
    probed = {p: load(run.predictions("clip", "test", p)) for p in PROBES
              if run.predictions("clip", "test", p).is_file()}
    return Results(
        class_names=list(a_test.class_names), test=test, summaries=summaries, fit=fit,
        fusion_table=table, fused=fused,
        cis=stats.accuracy_cis(correct, n_boot=n_boot, groups=groups, strata=a_test.labels),
        gain=gains[1],
        gain_chosen=stats.fusion_gain(fused[fit.chosen].correct, correct[best],
                                      n_boot=n_boot, groups=groups, strata=a_test.labels),
        gains_topk=gains,
        per_class=per_class_table(summaries, tests.clip_vs_frame), class_tests=tests,
        held_out=HeldOut(groups=list(val_cfg.get("val_groups") or []),
                         videos=a_val.num_videos),
        kinds=class_kinds(data),
        probe_table=probes.probe_table(b_test, probed) if probed else None,
        probe_overall=probes.overall(b_test, probed, n_boot=n_boot) if probed else None,
        synthetic=None if data is None else data.synthetic,
        head=_head(run, a_test, data, n_boot))


def _head(run: RunPaths, frame_test: Predictions, data: DataPaths | None,
          n_boot: int) -> HeadResult | None:
    """The temporal head's numbers; on the synthetic benchmark with its per-pair table, which
    reads the cached test features."""
    partners = None
    features = None
    if data is not None and data.synthetic and head_features_path(run).is_file():
        from helpers.data.synthetic import load_class_meta
        from helpers.training.features import load_features

        partners = {c["name"]: c["partner"] for c in load_class_meta(data.source)
                    if c["kind"] == "temporal"}
        features = load_features(head_features_path(run)).features
    return analyze_head(run, frame_test, n_boot=n_boot, partners=partners, features=features)


def cached_fit(run: RunPaths, a_val: Predictions, b_val: Predictions, *,
               refit: bool = False) -> FusionFit:
    """The fusion fit of the run's fusion/fusion.json when it was made on these very
    validation predictions by this version of the code; else a new fit, written there."""
    path = run.fusion_dir / "fusion.json"
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p.probs).tobytes()
                                     for p in (a_val, b_val))).hexdigest()
    if path.exists() and not refit:
        try:
            fit = FusionFit.from_json(json.loads(path.read_text()))
        except (UserError, ValueError):  # an older version's fit, or a damaged file
            fit = None
        if fit is not None and fit.val_sha256 == digest:
            return fit
    # validation only: test labels never reach the fit
    fit = dataclasses.replace(fusion.fit_fusion(a_val, b_val), val_sha256=digest)
    write_json_atomic(path, {**fit.to_json(), "fitted_on": {  # the held-out checkpoints
        k: p.made_by(run.root) for k, p in (("frame", a_val), ("clip", b_val))}})
    return fit


def class_kinds(data: DataPaths | None) -> dict[str, str] | None:
    """Synthetic benchmark: class -> its kind ("spatial", "temporal", "detail"); else None."""
    if data is None or not data.synthetic:
        return None
    from helpers.data.synthetic import load_class_meta

    return {c["name"]: c["kind"] for c in load_class_meta(data.source)}


# ----------------------------------------------------------------------------- derived
def kind_accuracy(res: Results) -> pd.DataFrame | None:
    """Synthetic benchmark: each model's accuracy over the videos of each kind of class (the
    benchmark's ground truth about which classes need motion or detail), one row per kind in
    the benchmark's order: kind, num_classes, then one column per model."""
    if not res.kinds:
        return None
    rows = []
    for kind in dict.fromkeys(res.kinds.values()):
        names = [c for c, k in res.kinds.items() if k == kind]
        row: dict[str, Any] = {"kind": kind, "num_classes": len(names)}
        for model, s in res.summaries.items():
            pc = s.per_class.set_index("class")
            row[model] = float(pc.loc[names, "correct"].sum() / pc.loc[names, "support"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def eval_config(res: Results | None, model: str, cfg: TrainConfig) -> TrainConfig:
    """The config the test predictions of `model` were made with (it records choices made at
    evaluation, such as three crops); `cfg` (the model's own) when unknown. Options the
    predictions file does not record are the model's own; a file written by an older version
    whose config this code cannot read (an option since removed, a value now refused) gives
    the model's own config rather than stopping the report."""
    saved = res.test[model].attrs.get("config") if res is not None else None
    if not isinstance(saved, dict) or not saved:
        return cfg
    try:
        return TrainConfig.from_dict({**cfg.to_dict(), **saved})
    except (UserError, TypeError, ValueError):
        return cfg


def confused_pair_set(res: Results, name: str) -> set[tuple[str, str]]:
    """The (true, predicted) pairs among model `name`'s most confused pairs."""
    df = res.summaries[name].confused_pairs
    return set(zip(df["true"], df["predicted"], strict=True))


def notable_pairs(res: Results, n: int = 3) -> pd.DataFrame:
    """The confused pairs worth a look at their frames: shared by both models first, then
    the single-frame model's that the 3D model resolves; columns like `confused_pairs`."""
    df2 = res.summaries[FRAME].confused_pairs
    p3 = confused_pair_set(res, CLIP)
    shared = df2[[(a, b) in p3 for a, b in zip(df2["true"], df2["predicted"], strict=True)]]
    rest = df2.drop(shared.index)
    return pd.concat([shared, rest]).head(n)
