"""Results of a run, for notebooks 03 and 04: the three models, fusion, significance and the
spatial-against-temporal reading.

The fixed prose of the report lives in the notebooks' markdown cells; the functions here
return only tables and the sentences whose content depends on computed numbers or on the
run (its data, configs and results).

`analyze` fits the fusion on the validation predictions once (cached in the run folder);
later calls reload it, so the report notebook reuses what the analysis notebook computed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from helpers.data.sampling import PROBES
from helpers.evaluation import fusion, metrics, probes, stats
from helpers.evaluation.predictions import Predictions, align, load
from helpers.paths import DataPaths, RunPaths
from helpers.utils.io import write_json_atomic

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
    # what fusion was fitted on: the held-out groups and their number of videos, read from
    # the validation predictions (which the held-out models made)
    held_out: dict[str, Any] = field(default_factory=dict)
    # temporal probes of the clip model (helpers.evaluation.probes), when the run has them
    probe_table: pd.DataFrame | None = None
    probe_overall: pd.DataFrame | None = None

    @property
    def best_single(self) -> str:
        return max((FRAME, CLIP), key=lambda m: self.summaries[m]["top1"])

    @property
    def num_clusters(self) -> int:
        """(class, group) clusters of the test videos: the bootstrap's resampling unit."""
        return len(np.unique(self.test[FRAME].groups))


def chosen_label(method: str) -> str:
    """How the report names the fusion method chosen on validation."""
    return f"Fusion chosen on validation ({method})"


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
        correct[chosen_label(chosen)] = fused[chosen].correct
    # The videos of one group of one class share an actor and a scene: resample whole
    # (class, group) clusters (a cluster bootstrap); `groups` holds one id per cluster.
    groups = a_test.groups
    cis = stats.accuracy_cis(correct, n_boot=n_boot, groups=groups)
    best = max((FRAME, CLIP), key=lambda m: summaries[m]["top1"])
    gain = stats.fusion_gain(correct[FUSED], correct[best], n_boot=n_boot, groups=groups)
    gain_chosen = stats.fusion_gain(fused[chosen].correct, correct[best], n_boot=n_boot,
                                    groups=groups)
    per_class = metrics.compare_per_class(summaries[FRAME]["per_class"],
                                          summaries[CLIP]["per_class"])
    val_cfg = a_val.attrs.get("config") or {}
    held_out = {"groups": list(val_cfg.get("val_groups") or []), "videos": a_val.num_videos}
    probed = {p: load(run.predictions("clip", "test", p)) for p in PROBES
              if run.predictions("clip", "test", p).is_file()}
    return Results(list(a_test.class_names), test, summaries, fit, table, fused, cis, gain,
                   gain_chosen, per_class, _class_kinds(data), held_out,
                   probes.probe_table(b_test, probed) if probed else None,
                   probes.overall(b_test, probed) if probed else None)


def _class_kinds(data: DataPaths | None) -> dict[str, str] | None:
    if data is None or not data.synthetic:
        return None
    from helpers.data.synthetic import load_class_meta

    return {c["name"]: c["kind"] for c in load_class_meta(data.source)}


# ----------------------------------------------------------------------------- tables
def topk_table(res: Results) -> pd.DataFrame:
    """Top-1/5/10 on test of the three models of the assignment and, when it is not the
    mean itself, the fusion chosen on validation."""
    rows = []
    for name, s in res.summaries.items():
        unit = ("per-frame" if "frame_accuracy" in s else
                "per-clip" if "clip_accuracy" in s else "")
        rows.append({"model": name, "top-1": s["top1"], "top-5": s["top5"],
                     "top-10": s["top10"],
                     "frame/clip top-1": s.get("frame_accuracy", s.get("clip_accuracy", np.nan)),
                     "unit": unit or "-", "videos": s["num_videos"]})
    chosen = res.fit["chosen"]
    if chosen != "mean":
        row = res.fusion_table.set_index("method").loc[chosen]
        rows.append({"model": chosen_label(chosen), "top-1": row["top1"], "top-5": row["top5"],
                     "top-10": row["top10"], "frame/clip top-1": np.nan, "unit": "-",
                     "videos": res.summaries[FUSED]["num_videos"]})
    return pd.DataFrame(rows)


def ci_table(res: Results) -> pd.DataFrame:
    return res.cis.rename(columns={"top1": "top-1", "lo": "95% CI low", "hi": "95% CI high"})


def fusion_methods_table(res: Results) -> pd.DataFrame:
    return res.fusion_table.rename(columns={
        "val_top1": "val top-1", "val_nll": "val log-loss", "top1": "test top-1",
        "top5": "test top-5", "top10": "test top-10", "chosen_on_val": "chosen on val"})


def fusion_methods_md(res: Results) -> str:
    return md(fusion_methods_table(res), formats={"val log-loss": ".3f"})


def kind_table(res: Results) -> pd.DataFrame | None:
    """Synthetic benchmark: accuracy of each model over the videos of each kind of class
    (the benchmark's ground truth about which classes need motion or detail)."""
    if not res.kinds:
        return None
    rows = []
    for kind in dict.fromkeys(res.kinds.values()):  # the benchmark's order of kinds
        names = [c for c, k in res.kinds.items() if k == kind]
        row: dict[str, Any] = {"classes": f"{kind} ({len(names)})"}
        for model, s in res.summaries.items():
            pc = s["per_class"].set_index("class")
            row[model] = float(pc.loc[names, "correct"].sum() / pc.loc[names, "support"].sum())
        rows.append(row)
    return pd.DataFrame(rows)


def probe_md(res: Results) -> str:
    """The clip model's per-video top-1 on normal and probed windows (and per kind of class
    on the synthetic benchmark)."""
    if res.probe_overall is None or res.probe_table is None:
        return "This run has no temporal probes (`evaluate --probe`)."
    overall = res.probe_overall.rename(columns={"top1": "top-1", "drop": "drop (points)"})
    overall["drop (points)"] = overall["drop (points)"] * 100
    text = md(overall, formats={"drop (points)": "+.1f"})
    if res.kinds:
        text += "\n\n" + md(probes.drop_by_kind(res.probe_table, res.kinds))
    return text


def md(df: pd.DataFrame, **kwargs: Any) -> str:
    """A markdown table whose columns, when it is too wide to set as is, get room in
    proportion to their longest cell (see `metrics.to_markdown`)."""
    return metrics.to_markdown(df, **{"proportional": True, **kwargs})


def classes_table(df: pd.DataFrame) -> str:
    return md(df[["class", "accuracy", "correct", "support"]],
              formats={"accuracy": ".1%"})


def ranked_classes_md(r: metrics.RankedClasses) -> str:
    """A best or worst list: a tie too large for its places named in one sentence, then the
    classes ranked ahead of it as a table."""
    parts = []
    if len(r.tied):
        where = (f", more than the {r.n} places" if r.first_tied_place == 1 else
                 f" for the last {r.n - len(r.ranked)} of the {r.n} places")
        parts.append(f"**{len(r.tied)} classes tie at {r.tie_accuracy:.1%}**{where}, so all "
                     f"are named: {name_list(list(r.tied['class']))}.")
        if len(r.ranked):
            ahead = "The class" if len(r.ranked) == 1 else f"The {len(r.ranked)} classes"
            parts.append(f"{ahead} ranked ahead of them:")
    if len(r.ranked):
        parts.append(classes_table(r.ranked))
    return "\n\n".join(parts)


def pairs_table(df: pd.DataFrame) -> str:
    if df.empty:
        return "No confusions: every test video was given its true class."
    return md(df[["true", "predicted", "rate", "count"]], formats={"rate": ".1%"})


def mutual_text(df: pd.DataFrame) -> str:
    """One line naming the pairs confused in both directions (`metrics.mutual_confusions`)."""
    if df.empty:
        return "No two classes are confused in both directions."
    return "**Confused in both directions** (videos each way): " + "; ".join(
        f"{r.a} → {r.b} ({r.count_ab}, back {r.count_ba})" for r in df.itertuples()) + "."


def classes_md(name: str, s: dict[str, Any]) -> str:
    """One model's best and worst classes and most confused pairs, under its own heading."""
    n = s["best_ranked"].n
    return "\n\n".join([
        f"## {name}",
        f"### {n} best classes", ranked_classes_md(s["best_ranked"]),
        f"### {n} worst classes", ranked_classes_md(s["worst_ranked"]),
        f"### {n} most confused pairs", pairs_table(s["confused_pairs"]),
        mutual_text(s["mutual_confusions"]),
    ])


def _eval_config(res: Results | None, model: str, cfg: dict[str, Any]) -> dict[str, Any]:
    """The config the test predictions were made with (it records choices made at
    evaluation, such as three crops); the model's own config when unknown."""
    if res is None:
        return cfg
    return res.test[model].attrs.get("config") or cfg


def recipe_table(frame_cfg: dict[str, Any], clip_cfg: dict[str, Any],
                 res: Results | None = None) -> str:
    """Each model's network, initial weights, input, optimisation and test-time averaging,
    read from the run's saved configs (and the test predictions' own, with `res`)."""
    def row(name: str, c: dict[str, Any], model: str) -> dict[str, str]:
        cfg = c["config"]
        shape = (f"{cfg['crop_size']}×{cfg['crop_size']} frames" if cfg["model"] == "frame"
                 else f"{cfg['clip_len']}×{cfg['crop_size']}×{cfg['crop_size']} clips")
        return {"model": name, "network": cfg["arch"],
                "initial weights": cfg["weights"] or "random (trained from scratch)",
                "input": shape,
                "optimisation": f"{cfg['optimizer']} lr {cfg['lr']:g}, {cfg['schedule']}, "
                                f"{cfg['num_epochs']} epochs, batch {cfg['batch_size']}",
                "test-time averaging": _scored(_eval_config(res, model, cfg))}
    df = pd.DataFrame([row("single frame", frame_cfg, FRAME), row("3D clips", clip_cfg, CLIP)])
    return md(df)


# ----------------------------------------------------------------------------- sentences
def name_list(items: list[str]) -> str:
    if not items:
        return "none"
    return ", ".join(items[:-1]) + (" and " if len(items) > 1 else "") + items[-1]


def _held(groups: list[int]) -> str:
    if not groups:
        return "none"
    if list(groups) == list(range(min(groups), max(groups) + 1)) and len(groups) > 1:
        return f"g{min(groups):02d}–g{max(groups):02d}"
    return name_list([f"g{g:02d}" for g in groups])


def _scored(cfg: dict[str, Any]) -> str:
    """What a test video is scored on, from a model's config."""
    crops = ", three crops each" if cfg.get("three_crop") else ""
    if cfg["model"] == "frame":
        frames = ("every frame" if cfg.get("eval_frames") in (None, -1)
                  else f"{cfg['eval_frames']} evenly spaced frames")
        return frames + crops
    stride = f" of every {cfg['stride']}th frame" if cfg.get("stride", 1) > 1 else ""
    return f"{cfg['clip_len']}-frame windows{stride} covering the whole video{crops}"


def _held_out_text(res: Results) -> str:
    groups = res.held_out.get("groups") or []
    return (f"the held-out training groups {_held(groups)}" if groups
            else "the held-out training groups")


def report_intro(data: DataPaths, run: RunPaths, frame_cfg: dict[str, Any],
                 clip_cfg: dict[str, Any], res: Results) -> str:
    """What this run was computed on: the data, the split and its sizes, the run folder."""
    what = ("the **synthetic spatial/temporal benchmark** that ships with this repository, "
            "not UCF-101: some of its classes can be told from any single frame, others "
            "only by how things move" if data.synthetic
            else f"**UCF-101** (videos from `{data.source}`)")
    return (f"This report was computed on {what}, official-format split "
            f"{frame_cfg['split']}: {frame_cfg['num_train']} training videos for the reported "
            f"models, {res.held_out.get('videos', frame_cfg['num_val'])} videos of "
            f"{_held_out_text(res)} for validation, and "
            f"{res.summaries[FRAME]['num_videos']} test videos in {len(res.class_names)} "
            f"classes. The run's folder is `{run.root.name}/`.")


def method_facts(frame_cfg: dict[str, Any], clip_cfg: dict[str, Any],
                 res: Results | None = None) -> str:
    """The sampling and held-out groups of this run, from the reported models' saved configs
    and (for what fusion was fitted on) the validation predictions."""
    f, c = frame_cfg["config"], clip_cfg["config"]
    k = f["frames_per_video"]
    text = (f"**In this run** the frame model trains on {k} frame{'s' if k != 1 else ''} per "
            f"video per epoch and scores {_scored(_eval_config(res, FRAME, f))} of each test "
            f"video; the clip model trains on one random {c['clip_len']}-frame window per "
            f"video per epoch and scores {_scored(_eval_config(res, CLIP, c))}.")
    if c["val_groups"]:
        held = _held(c["val_groups"])
        return text + (f" The reported models were trained without the held-out groups {held} "
                       f"({clip_cfg['num_val']} training videos), whose predictions fitted "
                       "the fusion: this profile keeps the held-out models as the reported "
                       "ones (the `holdout` protocol, which fits the CPU demo's time budget); "
                       "the `ucf101` profile trains them again on every training video.")
    fitted = (f" ({res.held_out.get('videos')} videos of {_held_out_text(res)})"
              if res is not None else "")
    return text + (f" The reported models were trained on all {clip_cfg['num_train']} "
                   "training videos, after the fusion had been fitted on the validation "
                   f"predictions{fitted} of models trained without those groups.")


def ci_text(res: Results) -> str:
    n = res.summaries[FRAME]["num_videos"]
    return (f"The intervals resample the {res.num_clusters} (class, group) clusters of the "
            f"{n} test videos.")


def fusion_text(res: Results) -> str:
    s = res.summaries
    best = res.best_single
    chosen = res.fit["chosen"]
    nll = {m: v["nll"] for m, v in res.fit["val_scores"].items()}
    lines = [
        f"The best single model is **{best}** with top-1 {s[best]['top1']:.1%}. The mean of "
        f"the two models' probabilities (the combined output) gives **{s[FUSED]['top1']:.1%}**.",
        f"**Did combining help?** {res.gain['verdict']} Of the test videos, "
        f"{res.gain['b']} are right only when combined and {res.gain['c']} only with {best}.",
    ]
    if chosen == "mean":
        lines.append(f"On the held-out groups the mean also has the lowest log-loss of the "
                     f"{len(nll)} fusion methods ({nll['mean']:.3f}), so the fusion chosen on "
                     "validation is the combined output itself.")
    else:
        top1 = res.fusion_table.set_index("method").loc[chosen, "top1"]
        lines.append(
            f"On the held-out groups **{chosen}** has the lowest log-loss of the {len(nll)} "
            f"fusion methods ({nll[chosen]:.3f}, against {nll['mean']:.3f} for the mean); on "
            f"test it reaches {top1:.1%}. Against {best}: {res.gain_chosen['verdict']}")
    return "\n\n".join(lines)


def spatial_temporal_text(res: Results, n: int = 5, solved: float = 0.95) -> str:
    pc = res.per_class.dropna(subset=["gain"])
    motion = pc[pc["gain"] > 0].head(n)
    one_frame = pc[(pc["accuracy_a"] >= solved)].sort_values(
        ["accuracy_a", "class"], ascending=[False, True], kind="mergesort")
    worse = pc[pc["gain"] < 0].sort_values(["gain", "class"], kind="mergesort").head(n)
    lines = []
    if len(motion):
        lines.append("**Largest gains of the 3D model:** " + name_list(
            [f"{r['class']} ({r['accuracy_a']:.0%} → {r['accuracy_b']:.0%})"
             for _, r in motion.iterrows()]) + ".")
    lines.append(f"**Solved by one frame** (single-frame accuracy at least {solved:.0%}): "
                 f"{len(one_frame)} of {len(pc)} classes"
                 + (f", e.g. {name_list(list(one_frame['class'].head(n)))}." if len(one_frame)
                    else "."))
    if len(worse):
        lines.append("**Better with one frame than with 3D:** " + name_list(
            [f"{r['class']} ({r['accuracy_a']:.0%} vs {r['accuracy_b']:.0%})"
             for _, r in worse.iterrows()]) + ".")
    kt = kind_table(res)
    if kt is not None:
        rows = {r["classes"].split(" ")[0]: r for _, r in kt.iterrows()}
        said = {"spatial": "the spatial classes",
                "temporal": "the temporal classes, whose two members look alike frame by "
                            "frame (chance within a pair is 50%),",
                "detail": "the detail classes, told apart by a detail the 3D model's smaller "
                          "input loses,"}
        parts = [f"over {said.get(k, k)} the single-frame model reaches {r[FRAME]:.1%} and "
                 f"the 3D model {r[CLIP]:.1%}" for k, r in rows.items()]
        lines.append("On the synthetic benchmark the ground truth is known: "
                     + "; ".join(parts) + ".")
    return "\n\n".join(lines)


def conclusion_text(res: Results) -> str:
    s = res.summaries
    chosen = res.fit["chosen"]
    parts = [f"The single-frame model reaches {s[FRAME]['top1']:.1%} per video "
             f"({s[FRAME].get('frame_accuracy', float('nan')):.1%} per frame), the 3D model "
             f"{s[CLIP]['top1']:.1%} ({s[CLIP].get('clip_accuracy', float('nan')):.1%} per clip) "
             f"and their combination {s[FUSED]['top1']:.1%}"
             + (f" ({res.fusion_table.set_index('method').loc[chosen, 'top1']:.1%} with "
                f"{chosen}, the fusion chosen on validation)." if chosen != "mean" else ".")]
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
        parts.append("It gains most on " + name_list(
            [f"{r['class']} ({r['accuracy_a']:.0%} → {r['accuracy_b']:.0%})"
             for _, r in top.iterrows()]) + ".")
    return " ".join(parts)
