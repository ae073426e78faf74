"""The report's markdown tables, built from a run's `Results`: top-k, intervals, fusion
methods, accuracy per kind of class, temporal probes, best and worst classes with their
confused pairs, and the training recipes. The sentences around them come from
`helpers.reporting.prose`.

Every table goes through `md`, which gives the columns of a wide table room in proportion to
their longest cell so that pandoc wraps long cells inside their column in the PDF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from helpers.evaluation import probes
from helpers.evaluation.head_scores import HEAD
from helpers.evaluation.metrics import ModelSummary, RankedClasses, to_markdown
from helpers.evaluation.results import (
    CLIP,
    FRAME,
    FUSED,
    Results,
    chosen_label,
    eval_config,
    kind_accuracy,
)
from helpers.reporting import prose

if TYPE_CHECKING:  # its module imports torch (the environment record), which tables need not
    from helpers.training.records import RunRecord


def md(df: pd.DataFrame, **kwargs: Any) -> str:
    """A markdown table whose columns, when it is too wide to set as is, get room in
    proportion to their longest cell (see `metrics.to_markdown`)."""
    return to_markdown(df, **{"proportional": True, **kwargs})


# ----------------------------------------------------------------------------- models
def topk_table(res: Results) -> pd.DataFrame:
    """Top-1/5/10 on test of the three models of the assignment and, when it is not the
    mean itself, the fusion chosen on validation."""
    rows = []
    for name, s in res.summaries.items():
        rows.append({"model": name, "top-1": s.top1, "top-5": s.top5, "top-10": s.top10,
                     "frame/clip top-1": s.unit_accuracy,
                     "unit": f"per-{s.unit}" if s.unit else "-", "videos": s.num_videos})
    if res.fit.chosen != "mean":
        row = res.chosen_test
        rows.append({"model": chosen_label(res.fit.chosen), "top-1": row["top1"],
                     "top-5": row["top5"], "top-10": row["top10"], "frame/clip top-1": np.nan,
                     "unit": "-", "videos": res.summaries[FUSED].num_videos})
    if res.head is not None:  # beyond the assignment: an extra row, never one of the three
        h = res.head.summary
        rows.append({"model": HEAD, "top-1": h.top1, "top-5": h.top5, "top-10": h.top10,
                     "frame/clip top-1": np.nan, "unit": "-", "videos": h.num_videos})
    return pd.DataFrame(rows)


def topk_md(res: Results) -> str:
    return md(topk_table(res), formats={"videos": "d"})


def ci_table(res: Results) -> pd.DataFrame:
    return res.cis.rename(columns={"top1": "top-1", "lo": "95% CI low", "hi": "95% CI high"})


def ci_md(res: Results) -> str:
    return md(ci_table(res))


def fusion_methods_table(res: Results) -> pd.DataFrame:
    return res.fusion_table.rename(columns={
        "val_top1": "val top-1", "val_nll": "val log-loss", "top1": "test top-1",
        "top5": "test top-5", "top10": "test top-10", "chosen_on_val": "chosen on val"})


def fusion_methods_md(res: Results) -> str:
    return md(fusion_methods_table(res), formats={"val log-loss": ".3f"})


# ----------------------------------------------------------------------------- kinds, probes
def kind_table(res: Results) -> pd.DataFrame | None:
    """Synthetic benchmark: accuracy of each model over the videos of each kind of class,
    the kind labelled with its number of classes ("temporal (12)"); None elsewhere."""
    kinds = kind_accuracy(res)
    if kinds is None:
        return None
    label = [f"{k} ({n})" for k, n in zip(kinds["kind"], kinds["num_classes"], strict=True)]
    return kinds.drop(columns=["kind", "num_classes"]).assign(classes=label)[
        ["classes", *res.summaries]]


def probe_md(res: Results) -> str:
    """The clip model on normal and probed windows: overall, its top-1 and mean true-class
    probability with the drop of each and 95% intervals; per class (ranked by the drop on
    shuffled windows), top-1 under each probe, the drop in true-class probability with the
    class's own sign-flip interval, and the reading; per kind of class on the synthetic benchmark."""
    if res.probe_overall is None or res.probe_table is None:
        return prose.NO_PROBES
    text = overall_md(res.probe_overall, "windows")
    table, run = res.probe_table, probes.probe_names(res.probe_table)
    text += ("\n\n" + f"Per class: top-1 in % on normal windows, then under each probe; the "
             f"drop in the mean true-class probability under each probe, in points, with "
             f"each class's own {1 - probes.ALPHA:.0%} sign-flip interval (not simultaneous "
             f"over the {len(table) * len(run)} class–probe pairs: exploratory). One table "
             "per reading, ranked by effect size.")
    for reading, title in ((probes.NEEDS_ORDER, "Need frame order"),
                           (probes.APPEARANCE, "Told apart by appearance")):
        part = probes.by_reading(table, reading)
        if part.empty:
            text += f"\n\n**{title}:** no class."
            continue
        rows = pd.DataFrame({"class": part["class"], "top-1 " + " / ".join(["normal", *run]): [
            " / ".join(f"{r[c] * 100:.0f}" for c in ["normal", *run]) for _, r in part.iterrows()]})
        for p in run:
            rows[p] = [_points(*r) for r in zip(part[f"dprob_{p}"], part[f"lo_{p}"],
                                                part[f"hi_{p}"], strict=True)]
        text += f"\n\n**{title}** ({len(part)}):\n\n" + md(rows)
    unclear = int((table["reading"] == probes.UNCLEAR).sum())
    if unclear:
        text += (f"\n\nThe other {unclear} classes are unclear and not listed; notebook 03 "
                 "writes every class's row to `probes.csv` in the run folder.")
    if res.kinds:
        text += "\n\n" + md(probes.drop_by_kind(res.probe_table, res.kinds),
                            formats={r: "d" for r in (probes.NEEDS_ORDER, probes.APPEARANCE,
                                                      probes.UNCLEAR)})
    return text


def overall_md(ov: pd.DataFrame, what: str) -> str:
    """`probes.overall` as a table: per input (`what`: "windows", "features"), top-1 and the
    mean true-class probability, each with its drop from normal and a 95% interval."""
    overall = pd.DataFrame({
        what: ov["windows"], "top-1": ov["top1"],
        "top-1 drop, points (95% CI)": [_points(*r) for r in zip(
            ov["drop"], ov["drop_lo"], ov["drop_hi"], strict=True)],
        "true-class probability": ov["prob"],
        "its drop, points (95% CI)": [_points(*r) for r in zip(
            ov["dprob"], ov["dprob_lo"], ov["dprob_hi"], strict=True)]})
    overall.iloc[0, [2, 4]] = "–"
    return md(overall, formats={"true-class probability": ".3f"})


def _points(drop: float, lo: float, hi: float) -> str:
    """A drop and its interval in whole points: "+45 (+30 to +60)"; no interval: "+45 (n/a)"
    (rounded to integers first, so that a tiny negative number never prints as "-0")."""
    ci = "n/a" if np.isnan(lo) else f"{round(lo * 100):+d} to {round(hi * 100):+d}"
    return f"{round(drop * 100):+d} ({ci})"


# ----------------------------------------------------------------------------- classes
def classes_table(df: pd.DataFrame) -> str:
    return md(df[["class", "accuracy", "correct", "support"]], formats={"accuracy": ".1%"})


def ranked_classes_md(r: RankedClasses) -> str:
    """A best or worst list: when ties at the top leave the worst list short, how many classes
    it can hold; a tie too large for its places named in one sentence, then the classes ranked
    ahead of it as a table."""
    parts = [prose.below_top(r)] if r.short else []
    if len(r.tied):
        parts.append(prose.tie(r))
        if len(r.ranked):
            parts.append(prose.ranked_ahead(r))
    if len(r.ranked):
        parts.append(classes_table(r.ranked))
    return "\n\n".join(parts)


def pairs_table(df: pd.DataFrame) -> str:
    if df.empty:
        return prose.NO_CONFUSIONS
    return md(df[["true", "predicted", "rate", "count"]], formats={"rate": ".1%"})


def classes_md(name: str, s: ModelSummary) -> str:
    """One model's best and worst classes and most confused pairs, under its own heading."""
    n = s.best_ranked.n
    return "\n\n".join([
        f"## {name}",
        f"### {n} best classes", ranked_classes_md(s.best_ranked),
        f"### {n} worst classes", ranked_classes_md(s.worst_ranked),
        f"### {n} most confused pairs", pairs_table(s.confused_pairs),
        prose.mutual_pairs(s.mutual_confusions),
    ])


# ----------------------------------------------------------------------------- recipes
def recipe_table(frame: RunRecord, clip: RunRecord, res: Results | None = None) -> str:
    """Each model's network, initial weights, input, optimisation and test-time averaging,
    read from the run's saved configs (and the test predictions' own, with `res`)."""
    def row(name: str, rec: RunRecord, model: str) -> dict[str, str]:
        cfg = rec.config
        shape = (f"{cfg.crop_size}×{cfg.crop_size} frames" if cfg.model == "frame"
                 else f"{cfg.clip_len}×{cfg.crop_size}×{cfg.crop_size} clips")
        return {"model": name, "network": cfg.arch,
                "initial weights": cfg.weights or "random (trained from scratch)",
                "input": shape,
                "optimisation": f"{cfg.optimizer} lr {cfg.lr:g}, {cfg.schedule}, "
                                f"{cfg.num_epochs} epochs, batch {cfg.batch_size}",
                "test-time averaging": prose.scored(eval_config(res, model, cfg))}
    df = pd.DataFrame([row("single frame", frame, FRAME), row("3D clips", clip, CLIP)])
    return md(df)


# ----------------------------------------------------------------------------- temporal head
def head_md(res: Results) -> str:
    """Beyond averaging: the head against the frame model's mean of softmaxes on test (top-k,
    95% cluster-bootstrap interval), the candidates on the held-out groups, the head's order
    probes, and on the synthetic benchmark its accuracy per kind of class and per temporal
    pair. Empty when the run has no head."""
    h = res.head
    if h is None:
        return prose.NO_HEAD
    frame = res.summaries[FRAME]
    ci = res.cis.set_index("model").loc[FRAME]
    base = []
    if h.like_for_like:  # the baseline the head is judged against: the same frames and crop
        b = h.baseline
        base.append({"model": f"{FRAME}: mean over the head's frames", "top-1": b.top1,
                     "95% CI low": h.baseline_ci[0], "95% CI high": h.baseline_ci[1],
                     "top-5": b.top5, "top-10": b.top10})
    scores = pd.DataFrame([
        *base,
        {"model": f"{FRAME}: full model (its own frames and crops)", "top-1": frame.top1,
         "95% CI low": ci["lo"], "95% CI high": ci["hi"], "top-5": frame.top5,
         "top-10": frame.top10},
        {"model": f"{HEAD} ({h.chosen})", "top-1": h.summary.top1,
         "95% CI low": h.top1_ci[0], "95% CI high": h.top1_ci[1], "top-5": h.summary.top5,
         "top-10": h.summary.top10}])
    parts = [md(scores), prose.head_result(res)]
    sel = h.selection.assign(guard=h.selection["guard"].map({True: "on", False: "off"}))
    parts.append(md(sel.rename(columns={
        "val_log_loss": "held-out log-loss", "val_top1": "held-out top-1",
        "train_log_loss": "training log-loss", "seconds": "training s"}),
        formats={"held-out log-loss": ".3f", "training log-loss": ".3f", "training s": ".1f"}))
    parts.append(prose.head_guard(res))
    if h.probe_overall is not None:
        parts += [overall_md(h.probe_overall, "features"), prose.head_order(res)]
    if res.kinds:
        parts.append(md(head_kind_table(res)))
    if h.pairs is not None and not h.pairs.empty:
        pairs = h.pairs.assign(gain=[_points(*r) for r in zip(
            h.pairs["gain"], h.pairs["lo"], h.pairs["hi"], strict=True)])
        parts += [md(pairs[["pair", "videos", "frame", "head", "head_reversed", "gain",
                            "p_value", "temporal_share"]].rename(columns={
                                "frame": "frame mean", "head_reversed": "head, reversed",
                                "gain": "gain, points (95% CI)", "p_value": "p",
                                "temporal_share": "change over time"}),
                     formats={"p": ".2g", "change over time": ".1%", "videos": "d"}),
                  prose.head_pairs(res)]
    return "\n\n".join(p for p in parts if p)


def head_kind_table(res: Results) -> pd.DataFrame | None:
    """Synthetic benchmark: the frame model's mean and the head over each kind of class."""
    if res.head is None or not res.kinds:
        return None
    kinds = kind_accuracy(res)
    assert kinds is not None
    pc = res.head.summary.per_class.set_index("class")
    head = [float(pc.loc[names, "correct"].sum() / pc.loc[names, "support"].sum())
            for names in ([c for c, k in res.kinds.items() if k == kind]
                          for kind in kinds["kind"])]
    label = [f"{k} ({n})" for k, n in zip(kinds["kind"], kinds["num_classes"], strict=True)]
    return pd.DataFrame({"classes": label, f"{FRAME}: mean": kinds[FRAME], HEAD: head})
