"""Results of a run, for notebooks 03 and 04: the three models, fusion, significance and the
spatial-against-temporal reading, with every sentence built from computed numbers.

`analyze` fits the fusion on the validation predictions once (cached in the run folder);
later calls reload it, so the report notebook reuses what the analysis notebook computed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers import fusion, metrics, stats
from helpers.io import write_json_atomic
from helpers.pipeline import DataPaths, RunPaths
from helpers.predictions import Predictions, align, load

FRAME, CLIP, FUSED = "Single frame (2D)", "3D clips", "Combined (mean)"


@dataclass
class Results:
    class_names: list[str]
    test: dict[str, Predictions]  # the three models of the assignment, aligned
    summaries: dict[str, dict[str, Any]]
    fit: dict[str, Any]  # fusion fitted on validation
    fusion_table: pd.DataFrame  # every fusion method on test; which one val chose
    fused: dict[str, Predictions]  # every fusion method's test predictions
    cis: pd.DataFrame  # top-1 with bootstrap 95% intervals
    gain: dict[str, Any]  # combined vs best single model: paired CI + McNemar + verdict
    gain_chosen: dict[str, Any]  # the val-chosen fusion vs best single model
    per_class: pd.DataFrame  # 2D vs 3D per class, sorted by the gain of 3D
    kinds: dict[str, str] | None  # synthetic benchmark: class -> "spatial" / "temporal"

    @property
    def best_single(self) -> str:
        return max((FRAME, CLIP), key=lambda m: self.summaries[m]["top1"])


def analyze(run: RunPaths, data: DataPaths | None = None, *, n_boot: int = 2000,
            refit: bool = False) -> Results:
    a_val, b_val = load(run.predictions("frame", "val")), load(run.predictions("clip", "val"))
    a_test, b_test = align(load(run.predictions("frame", "test")),
                           load(run.predictions("clip", "test")))
    for val, test in ((a_val, a_test), (b_val, b_test)):
        fusion.check_disjoint(val, test)
    fit_path = run.fusion_dir / "fusion.json"
    # The cached fit is reused only for the very validation predictions it was fitted on.
    digest = hashlib.sha256(b"".join(np.ascontiguousarray(p.probs).tobytes()
                                     for p in (a_val, b_val))).hexdigest()
    fit = json.loads(fit_path.read_text()) if fit_path.exists() and not refit else None
    if fit is None or fit.get("val_sha256") != digest:
        fit = fusion.fit_fusion(a_val, b_val)  # validation only: test labels never reach it
        fit["val_sha256"] = digest
        write_json_atomic(fit_path, fit)
    table, fused = fusion.evaluate_fusion(fit, a_test, b_test)
    for method, pred in fused.items():
        pred.save(run.fusion_dir / f"fused_{method}_test.h5")
    test = {FRAME: a_test, CLIP: b_test, FUSED: fused["mean"]}
    summaries = {name: metrics.summarize(p) for name, p in test.items()}
    correct = {name: p.correct for name, p in test.items()}
    chosen = fit["chosen"]
    if chosen != "mean":
        correct[f"Fusion chosen on val ({chosen})"] = fused[chosen].correct
    # Videos of one group share actors and scenes: resample whole groups (cluster bootstrap).
    groups = a_test.groups
    cis = stats.accuracy_cis(correct, n_boot=n_boot, groups=groups)
    best = max((FRAME, CLIP), key=lambda m: summaries[m]["top1"])
    gain = stats.fusion_gain(correct[FUSED], correct[best], n_boot=n_boot, groups=groups)
    gain_chosen = stats.fusion_gain(fused[chosen].correct, correct[best], n_boot=n_boot,
                                    groups=groups)
    per_class = metrics.compare_per_class(summaries[FRAME]["per_class"],
                                          summaries[CLIP]["per_class"])
    return Results(list(a_test.class_names), test, summaries, fit, table, fused, cis, gain,
                   gain_chosen, per_class, _class_kinds(data))


def _class_kinds(data: DataPaths | None) -> dict[str, str] | None:
    if data is None or not data.synthetic:
        return None
    from helpers.data.synthetic import load_class_meta

    return {c["name"]: c["kind"] for c in load_class_meta(data.source)}


# ----------------------------------------------------------------------------- tables
def topk_table(res: Results) -> pd.DataFrame:
    rows = []
    for name, s in res.summaries.items():
        unit = ("per-frame" if "frame_accuracy" in s else
                "per-clip" if "clip_accuracy" in s else "")
        rows.append({"model": name, "top-1": s["top1"], "top-5": s["top5"],
                     "top-10": s["top10"],
                     "frame/clip top-1": s.get("frame_accuracy", s.get("clip_accuracy", np.nan)),
                     "unit": unit or "-", "videos": s["num_videos"]})
    return pd.DataFrame(rows)


def ci_table(res: Results) -> pd.DataFrame:
    df = res.cis.rename(columns={"top1": "top-1", "lo": "95% CI low", "hi": "95% CI high"})
    return df


def fusion_methods_table(res: Results) -> pd.DataFrame:
    df = res.fusion_table.rename(columns={"val_top1": "val top-1", "top1": "test top-1",
                                          "top5": "test top-5", "top10": "test top-10",
                                          "chosen_on_val": "chosen on val"})
    return df


def kind_table(res: Results) -> pd.DataFrame | None:
    """Synthetic benchmark: mean per-class accuracy of each model over spatial and temporal
    classes (the benchmark's ground truth about which classes need motion)."""
    if not res.kinds:
        return None
    rows = []
    for kind in ("spatial", "temporal"):
        names = [c for c, k in res.kinds.items() if k == kind]
        row: dict[str, Any] = {"classes": f"{kind} ({len(names)})"}
        for model, s in res.summaries.items():
            pc = s["per_class"].set_index("class")
            row[model] = float(pc.loc[names, "correct"].sum() / pc.loc[names, "support"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def md(df: pd.DataFrame, **kwargs: Any) -> str:
    return metrics.to_markdown(df, **kwargs)


def classes_table(df: pd.DataFrame) -> str:
    return md(df[["class", "accuracy", "correct", "support"]],
              formats={"accuracy": ".1%"})


def pairs_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "No confusions: every test video was given its true class."
    return md(df[["true", "predicted", "rate", "count"]], formats={"rate": ".1%"})


# ----------------------------------------------------------------------------- prose
def _names(items: list[str]) -> str:
    if not items:
        return "none"
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def fusion_text(res: Results) -> str:
    s = res.summaries
    best = res.best_single
    chosen = res.fit["chosen"]
    chosen_row = res.fusion_table.set_index("method").loc[chosen]
    lines = [
        f"The best single model is **{best}** with top-1 {s[best]['top1']:.1%}. Averaging the "
        f"two models' probabilities (the combined output) gives **{s[FUSED]['top1']:.1%}**.",
        f"**Did combining help?** {res.gain['verdict']} Of the test videos, "
        f"{res.gain['b']} are right only when combined and {res.gain['c']} only with {best}.",
        f"On the validation groups the fusion method chosen was **{chosen}** "
        f"(validation top-1 {res.fit['val_scores'][chosen]['top1']:.1%}); on test it reaches "
        f"{chosen_row['top1']:.1%}. Against {best}: {res.gain_chosen['verdict']}",
    ]
    return "\n\n".join(lines)


def spatial_temporal_text(res: Results, n: int = 5, solved: float = 0.95) -> str:
    pc = res.per_class.dropna(subset=["gain"])
    motion = pc[pc["gain"] > 0].head(n)
    one_frame = pc[(pc["accuracy_a"] >= solved)].sort_values(
        ["accuracy_a", "class"], ascending=[False, True], kind="mergesort")
    worse = pc[pc["gain"] < 0].sort_values(["gain", "class"], kind="mergesort").head(n)
    lines = []
    if len(motion):
        lines.append("**Classes that need motion** (largest gain of the 3D model over the "
                     "single-frame model): " + _names(
                         [f"{r['class']} ({r['accuracy_a']:.0%} → {r['accuracy_b']:.0%})"
                          for _, r in motion.iterrows()]) + ".")
    lines.append(f"**Classes solved by one frame** (single-frame accuracy at least {solved:.0%}): "
                 f"{len(one_frame)} of {len(pc)}"
                 + (f", e.g. {_names(list(one_frame['class'].head(n)))}." if len(one_frame)
                    else "."))
    if len(worse):
        lines.append("Classes where the single-frame model is better than 3D: " + _names(
            [f"{r['class']} ({r['accuracy_a']:.0%} vs {r['accuracy_b']:.0%})"
             for _, r in worse.iterrows()]) + ".")
    kt = kind_table(res)
    if kt is not None:
        sp = kt.iloc[0]
        tp = kt.iloc[1]
        lines.append(
            f"On the synthetic benchmark the ground truth is known. Over the spatial classes "
            f"the single-frame model reaches {sp[FRAME]:.1%} and the 3D model {sp[CLIP]:.1%}; "
            f"over the temporal classes, whose two members look alike frame by frame, the "
            f"single-frame model reaches {tp[FRAME]:.1%} (chance within a pair is 50%) and "
            f"the 3D model {tp[CLIP]:.1%}.")
    return "\n\n".join(lines)


def report_intro(data: DataPaths, run: RunPaths, frame_cfg: dict[str, Any],
                 clip_cfg: dict[str, Any], res: Results) -> str:
    n_test = res.summaries[FRAME]["num_videos"]
    what = ("the **synthetic spatial/temporal benchmark** that ships with this repository "
            "(not UCF-101): its classes are built so that some are recognisable from any single "
            "frame and others differ only in how things move" if data.synthetic
            else f"**UCF-101** (videos from `{data.source}`)")
    return (f"This report was computed on {what}, official-format split {frame_cfg['split']}: "
            f"{frame_cfg['num_train']} training videos, {frame_cfg['num_val']} held-out "
            f"training-group videos for validation, and {n_test} test videos in "
            f"{len(res.class_names)} classes. Every number in it is computed from the run in "
            f"`{run.root.name}/`.")


def recipe_text(frame_cfg: dict[str, Any], clip_cfg: dict[str, Any]) -> str:
    def one(name: str, c: dict[str, Any]) -> str:
        cfg = c["config"]
        weights = cfg["weights"] or "random initialisation (trained from scratch)"
        shape = (f"{cfg['crop_size']}×{cfg['crop_size']} frames" if cfg["model"] == "frame"
                 else f"{cfg['clip_len']}×{cfg['crop_size']}×{cfg['crop_size']} clips")
        ev = ("every frame" if cfg.get("eval_frames") in (None, -1)
              else f"{cfg['eval_frames']} evenly spaced frames") if cfg["model"] == "frame" \
            else "non-overlapping windows covering the whole video"
        return (f"| {name} | {cfg['arch']} | {weights} | {shape} | {cfg['optimizer']} lr "
                f"{cfg['lr']:g}, {cfg['schedule']}, {cfg['num_epochs']} epochs, batch "
                f"{cfg['batch_size']} | {ev} |")
    head = ("| model | network | initial weights | input | optimisation | test-time "
            "averaging |\n|:---|:---|:---|:---|:---|:---|")
    return "**Recipes used in this run**\n\n" + "\n".join(
        [head, one("single frame", frame_cfg), one("3D clips", clip_cfg)])


def conclusion_text(res: Results) -> str:
    s = res.summaries
    parts = [f"The single-frame model reaches {s[FRAME]['top1']:.1%} per video "
             f"({s[FRAME].get('frame_accuracy', float('nan')):.1%} per frame), the 3D model "
             f"{s[CLIP]['top1']:.1%} ({s[CLIP].get('clip_accuracy', float('nan')):.1%} per clip) "
             f"and their combination {s[FUSED]['top1']:.1%}."]
    parts.append(res.gain["verdict"])
    pc = res.per_class.dropna(subset=["gain"])
    n_gain = int((pc["gain"] > 0).sum())
    n_loss = int((pc["gain"] < 0).sum())
    parts.append(f"The 3D model is better on {n_gain} classes and worse on {n_loss} of "
                 f"{len(pc)}.")
    won = list(pc.loc[pc["gain"] > 0, "class"])
    if res.kinds and won:
        n_temporal = sum(res.kinds.get(c) == "temporal" for c in won)
        parts.append(f"{n_temporal} of the {len(won)} classes it wins are temporal classes of "
                     "the benchmark, whose single frames look alike within their pair.")
    elif won:
        top = pc[pc["gain"] > 0].head(3)
        parts.append("It gains most on " + _names(
            [f"{r['class']} ({r['accuracy_a']:.0%} → {r['accuracy_b']:.0%})"
             for _, r in top.iterrows()]) + ".")
    return " ".join(parts)


def method_text(frame_cfg: dict[str, Any], clip_cfg: dict[str, Any]) -> str:
    """The evaluation protocol, with the clip length and held-out groups of this run."""
    clip_len = clip_cfg["config"]["clip_len"]
    groups = clip_cfg["config"]["val_groups"]
    held = (f"g{min(groups):02d}–g{max(groups):02d}"
            if groups == list(range(min(groups), max(groups) + 1)) else
            ", ".join(f"g{g:02d}" for g in groups)) if groups else "none"
    return "\n\n".join([
        "**Part 1 — single frames.** A 2D ResNet classifies individual frames. At test time "
        "every evaluated frame of a video is scored and the softmax outputs are **averaged "
        "over the video**. We report both the per-frame and the per-video accuracy.",
        f"**Part 2 — 3D clips.** Hara's 3D ResNet classifies {clip_len}-frame clips. At test "
        f"time a video is cut into **non-overlapping {clip_len}-frame windows that cover every "
        "frame** (the last window is padded by looping the video) and the softmax outputs are "
        "averaged over the windows.",
        "**Combined.** The two models' per-video probabilities are averaged. Other fusion "
        f"methods (weighted mean, product, and stacking: a multinomial logistic regression on "
        f"both models' log-probabilities) are fitted on held-out training groups "
        f"({held}), never on test. All accuracies below are **per video** unless marked "
        "per-frame or per-clip.",
    ])
