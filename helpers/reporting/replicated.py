"""The summary over splits in words, tables and one figure (notebook 05): every number comes
from a `replication.SplitSummary`; percentages as papers print them, "87.9 ± 0.8" (mean ±
sample standard deviation over the splits, in points)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from helpers.evaluation.replication import CHOSEN, MODELS, RunSet, SplitSummary
from helpers.evaluation.results import CLIP, FRAME, FUSED
from helpers.paths import FIGURES_DIR
from helpers.reporting.plots import (
    LABEL_FONT,
    PRINT_WIDTH_IN,
    SMALL_FONT,
    SUPTITLE_FONT,
    TICK_FONT,
    save_figure,
)
from helpers.reporting.tables import md

SUMMARY_FIGURES = "summary"  # figures/summary/: the summary's figures, apart from any split's


def pct(x: float) -> str:
    return "n/a" if x is None or np.isnan(x) else f"{x * 100:.1f}"


def mean_std(mean: float, std: float) -> str:
    """ "87.9 ± 0.8"; one split has no spread: "87.9 (one split)"."""
    return f"{pct(mean)} ± {pct(std)}" if not np.isnan(std) else f"{pct(mean)} (one split)"


def min_max(lo: float, hi: float) -> str:
    return f"{pct(lo)}–{pct(hi)}"


def _splits_cols(s: SplitSummary) -> list[str]:
    return [f"split{k}" for k in s.runs.splits]


def _mean_header(s: SplitSummary) -> str:
    n, of = s.n, len(s.runs.expected)
    return f"mean ± std ({n} splits)" if n == of else f"mean ± std ({n} of {of} splits only)"


def title(runs: RunSet, synthetic: bool) -> str:
    """The PDF's title; it says when fewer splits than expected are summarised."""
    where = "the synthetic benchmark" if synthetic else "UCF-101"
    return f"Human action recognition on {where}: mean and spread over {runs.scope()}"


def absent_md(s: SplitSummary) -> str:
    """One sentence per absent split, and what the means cover."""
    if s.runs.complete:
        return (f"Every number below is over {s.runs.scope()}; the spread is the sample "
                "standard deviation over them and their range.")
    lines = [f"**Not every split is here.** {a.sentence()}" for a in s.runs.absent]
    lines.append(f"Every mean and spread below is over {s.runs.scope()}, not over all "
                 f"{len(s.runs.expected)}.")
    return "\n\n".join(lines)


def provenance_md(s: SplitSummary) -> str:
    """Which run folders and PDF records were read, and what every split shares."""
    rows = pd.DataFrame([{
        "split": r.split, "run folder": str(r.root),
        "report record": str(r.report_json) if r.report_json else "none (no PDF rendered yet)",
        "test videos": n.num_videos} for r, n in zip(s.runs.runs, s.numbers, strict=True)])
    shared = pd.DataFrame([{"checked to be the same in every split": f.field, "value": f.value}
                           for f in s.shared])
    return md(rows, formats={"test videos": ",d"}) + "\n\n" + md(shared)


def accuracy_md(s: SplitSummary) -> str:
    cols = _splits_cols(s)
    rows = []
    for _, r in s.accuracy.iterrows():
        row = {"model": r["row"], "k": r["metric"]}
        for c in cols:
            row[c.replace("split", "split ")] = pct(r[c]) if c in r and not pd.isna(r[c]) else "n/a"
        row[_mean_header(s)] = mean_std(r["mean"], r["std"])
        row["min–max"] = min_max(r["min"], r["max"])
        if int(r["n"]) < s.n:
            row["model"] += f" ({int(r['n'])} splits)"
        rows.append(row)
    return md(pd.DataFrame(rows))


def choices_md(s: SplitSummary) -> str:
    methods = ", ".join(f"split {n.split}: {n.chosen}" for n in s.numbers)
    heads = [f"split {n.split}: {n.head}" for n in s.numbers if n.head]
    text = f"The row *{CHOSEN}* is the method chosen on each split's validation groups ({methods})."
    if heads:
        text += f" The temporal head's candidate chosen on validation: {', '.join(heads)}."
    return text


def gains_md(s: SplitSummary) -> str:
    df = pd.DataFrame([{
        "split": f"split {r.split}", "better single model": r.best_single,
        "gain (points)": f"{r.gain * 100:+.1f}", "95% interval": f"{r.lo * 100:+.1f} to {r.hi * 100:+.1f}",
        "p (clusters)": f"{r.p_value:.3g} ({r.clusters})", "reading": r.outcome}
        for r in s.gains.itertuples()])
    return md(df)


def gains_verdict(s: SplitSummary) -> str:
    signs = "gains of the same sign" if s.same_sign else "gains of both signs"
    if s.better_everywhere:
        verdict = (f"**Combining helps in every split summarised** ({s.n} of "
                   f"{len(s.runs.expected)}): in each, the gain's interval lies above zero and "
                   "the clustered test is significant at 5%, so the finding is replicated.")
    else:
        held = int((s.gains["outcome"] == "better").sum())
        verdict = (f"**Combining is not shown to help in every split**: the gain is beyond noise "
                   f"in {held} of {s.n} splits, with {signs} over the splits, so the finding is "
                   "not replicated.")
    if s.pooled.p_value is not None:
        pooled = (f"Pooled over the splits, the sign-flip test stratified by split (each of the "
                  f"{s.pooled.clusters} test clusters flipped on its own; no cluster is tested in "
                  f"two splits) gives p = {s.pooled.p_value:.3g}. It is shown beside the per-split "
                  "rule, not instead of it: the models of one split trained on the clusters the "
                  "others test, so the splits are not independent replicates.")
    else:
        pooled = f"No pooled test: {s.pooled.why}; the per-split rule above decides alone."
    if not s.runs.complete:
        pooled += f" Both cover {s.runs.scope()}."
    return verdict + " " + pooled


def best_worst_md(s: SplitSummary, n: int = 10) -> tuple[str, str]:
    """The n best and n worst classes by the combined output's mean accuracy over splits."""
    df = s.per_class.sort_values([f"{FUSED} mean", "class"], ascending=[False, True])
    show = pd.DataFrame({
        "class": df["class"],
        f"{FUSED} {_mean_header(s)}": [mean_std(m, d) for m, d in
                                       zip(df[f"{FUSED} mean"], df[f"{FUSED} std"], strict=True)],
        "min–max": [min_max(a, b) for a, b in zip(df[f"{FUSED} min"], df[f"{FUSED} max"],
                                                  strict=True)],
        "2D mean": [pct(v) for v in df[f"{FRAME} mean"]],
        "3D mean": [pct(v) for v in df[f"{CLIP} mean"]]})
    best = show.head(n)
    worst = show.drop(best.index).tail(n).iloc[::-1]
    return md(best), md(worst)


def order_md(s: SplitSummary) -> str:
    df = s.order_splits
    if df is None:
        return "No split has the temporal probes, so no class is read as needing frame order."
    n = s.n
    groups = [(f"in every split ({n} of {n})", df[df["splits"] == n]),
              ("in two or more splits but not all", df[(df["splits"] >= 2) & (df["splits"] < n)]),
              ("in one split only", df[df["splits"] == 1])]
    lines = []
    for label, part in groups:
        if label.startswith("in two") and n <= 2:
            continue
        if n == 1 and label.startswith("in one"):
            continue
        names = ", ".join(f"{c} ({w})" if not label.startswith("in every") else c
                          for c, w in zip(part["class"], part["which"], strict=True))
        lines.append(f"- **Read as needing frame order {label}** ({len(part)}): {names or 'none'}.")
    return "\n".join(lines) + ("\n\n(in brackets: the splits where the class is read so)"
                               if len(df) and n > 1 else "")


def pairs_md(s: SplitSummary) -> str:
    out = []
    for model in MODELS:
        df = s.shared_pairs[model]
        if df.empty:
            out.append(f"**{model}**: no pair is among its ten most confused in every split.")
            continue
        show = df.rename(columns={c: c.replace("split", "split ") for c in df.columns
                                  if c.startswith("split")})
        out.append(f"**{model}**: {len(df)} pair(s) among its ten most confused in every "
                   f"split (rate: share of the true class's test videos given the other)\n\n"
                   + md(show, floatfmt=".1%"))
    return "\n\n".join(out)


def kinds_md(s: SplitSummary) -> str | None:
    if s.kinds is None:
        return None
    df = s.kinds.rename(columns={c: c.replace("split", "split ") for c in s.kinds.columns
                                 if c.startswith("split")})
    return md(df, floatfmt=".1%")


def replication_rule(s: SplitSummary) -> str:
    return (f"**Replication rule.** A finding counts as replicated when it holds in every one of "
            f"the {s.n} splits summarised: a gain beyond noise on the same side, a class read as "
            "needing frame order, a pair among the same model's ten most confused. A finding in "
            "fewer splits is listed with its count and is not called replicated"
            + ("." if s.runs.complete else
               f"; with {s.runs.scope()}, nothing here is replicated over all "
               f"{len(s.runs.expected)}."))


def plot_per_class_over_splits(s: SplitSummary, *, out_dir: str | os.PathLike | None = None,
                               name: str = "per_class_2d_vs_3d") -> Figure:
    """Per-class accuracy, 2D (x) against 3D (y), each averaged over the splits, with bars
    from each class's lowest to its highest split."""
    df = s.per_class
    fig = Figure(figsize=(PRINT_WIDTH_IN, 4.6), layout="constrained", dpi=150)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="equal accuracy")
    x, y = df[f"{FRAME} mean"].to_numpy(), df[f"{CLIP} mean"].to_numpy()
    xerr = np.vstack([x - df[f"{FRAME} min"], df[f"{FRAME} max"] - x])
    yerr = np.vstack([y - df[f"{CLIP} min"], df[f"{CLIP} max"] - y])
    if s.n > 1:
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="none", ecolor="tab:blue", alpha=0.35,
                    lw=0.8, label="range over the splits")
    ax.scatter(x, y, s=12, color="tab:blue", alpha=0.8, edgecolor="none",
               label=f"class (mean over {s.n} split{'s' if s.n > 1 else ''})")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")
    ax.set_xlabel("2D frame model accuracy", fontsize=LABEL_FONT)
    ax.set_ylabel("3D clip model accuracy", fontsize=LABEL_FONT)
    ax.tick_params(labelsize=TICK_FONT, length=2.5, width=0.6, pad=1.5)
    ax.legend(loc="lower right", fontsize=SMALL_FONT)
    above, below = int((y > x).sum()), int((y < x).sum())
    fig.suptitle(f"Per-class accuracy, mean over {s.runs.scope()}\n{above} classes above "
                 f"the diagonal, {below} below", fontsize=SUPTITLE_FONT)
    return save_figure(fig, name, Path(out_dir) if out_dir else FIGURES_DIR / SUMMARY_FIGURES)
