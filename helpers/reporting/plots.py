"""Report figures, each saved as `figures/<name>.png` (150 dpi) and `.pdf` and returned.

Figures are built as `matplotlib.figure.Figure` objects, not through pyplot: no display or
backend is needed (saving uses Agg), nothing piles up in pyplot's registry, and a notebook
shows a returned figure exactly once (the inline backend's formatter renders Figure objects;
importing this module inside a Jupyter kernel switches that on).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.colors import PowerNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from helpers.data.sampling import spaced
from helpers.errors import UserError
from helpers.evaluation.metrics import best_worst, compare_per_class
from helpers.evaluation.predictions import Predictions
from helpers.paths import FIGURES_DIR
from helpers.utils.io import atomic_path

DPI = 150


def _enable_notebook_display() -> None:
    """In a Jupyter kernel on its default inline backend, run `%matplotlib inline` once so
    returned Figure objects render (pyplot's figure list stays empty: nothing shows twice)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    import matplotlib

    if "inline" in str(matplotlib.get_backend(auto_select=False)):  # leave others alone
        shell.run_line_magic("matplotlib", "inline")


_enable_notebook_display()


def save_figure(fig: Figure, name: str, out_dir: str | os.PathLike | None = None) -> Figure:
    """Write `<out_dir>/<name>.png` and `.pdf` atomically; returns the figure."""
    out = Path(out_dir) if out_dir is not None else FIGURES_DIR
    for ext in ("png", "pdf"):
        with atomic_path(out / f"{name}.{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=DPI)
    return fig


# ----------------------------------------------------------------------------- confusion

def confusion_order(cm_norm: np.ndarray) -> np.ndarray:
    """A permutation of the classes that puts classes confused with each other side by side:
    the leaf order of average-linkage clustering (optimal leaf ordering) with distance
    1 - symmetrised confusion rate. Deterministic for a given matrix."""
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import squareform

    m = np.asarray(cm_norm, dtype=np.float64)
    n = len(m)
    sim = (m + m.T) / 2
    np.fill_diagonal(sim, 0.0)
    if n < 3 or sim.max() <= 0:
        return np.arange(n)
    dist = 1.0 - sim / sim.max()
    np.fill_diagonal(dist, 0.0)
    z = linkage(squareform(dist, checks=False), method="average", optimal_ordering=True)
    return leaves_list(z).astype(np.int64)


def plot_confusion(cm_norm: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix",
                   *, out_dir: str | os.PathLike | None = None, name: str = "confusion",
                   order: np.ndarray | None = None) -> Figure:
    """Row-normalised confusion heatmap, classes reordered so confusions cluster. A square-root
    colour scale keeps the small off-diagonal rates visible beside the diagonal."""
    m = np.asarray(cm_norm, dtype=np.float64)
    if m.shape != (len(class_names), len(class_names)):
        raise UserError(f"Confusion matrix {m.shape} does not match {len(class_names)} classes.")
    order = confusion_order(m) if order is None else np.asarray(order)
    n = len(m)
    size = float(np.clip(0.16 * n + 2.5, 5, 19))
    font = float(np.clip(260 / max(n, 1), 4, 9))
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.add_subplot()
    shown = np.ma.masked_equal(m[np.ix_(order, order)], 0.0)  # never-confused cells stay white
    cmap = colormaps["magma_r"].with_extremes(bad="white")
    im = ax.imshow(shown, cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1),
                   interpolation="nearest")
    names = [class_names[i] for i in order]
    ax.set_xticks(np.arange(n), names, rotation=90, fontsize=font)
    ax.set_yticks(np.arange(n), names, fontsize=font)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    cb = fig.colorbar(im, ax=ax, shrink=0.6)
    cb.set_label("fraction of the true class's videos (square-root scale)")
    return save_figure(fig, name, out_dir)


# ----------------------------------------------------------------------------- per class

def plot_best_worst(per_class: pd.DataFrame, n: int = 10, title: str = "Per-class accuracy",
                    *, out_dir: str | os.PathLike | None = None,
                    name: str = "best_worst") -> Figure:
    """Horizontal bars: the n best and the n worst classes, labelled correct/support."""
    best, worst = best_worst(per_class, n)
    fig = Figure(figsize=(11, 0.32 * max(len(best), len(worst), 1) + 1.6), layout="constrained")
    axes = fig.subplots(1, 2, sharex=True)
    for ax, df, label, color in ((axes[0], best, f"best {n}", "tab:green"),
                                 (axes[1], worst, f"worst {n}", "tab:red")):
        y = np.arange(len(df))
        ax.barh(y, df["accuracy"], color=color, alpha=0.8)
        ax.set_yticks(y, list(df["class"]), fontsize=8)
        ax.invert_yaxis()  # rank 1 on top
        for yi, (acc, c, s) in enumerate(zip(df["accuracy"], df["correct"], df["support"],
                                             strict=True)):
            ax.text(min(acc, 1.0) + 0.01, yi, f"{acc:.0%} ({c}/{s})", va="center", fontsize=7)
        ax.set_xlim(0, 1.25)  # room for the labels right of a full bar
        ax.set_xticks(np.linspace(0, 1, 6))
        ax.set_xlabel("accuracy")
        ax.set_title(label)
    fig.suptitle(title)
    return save_figure(fig, name, out_dir)


def plot_2d_vs_3d(per_class_2d: pd.DataFrame, per_class_3d: pd.DataFrame, n_label: int = 8,
                  *, labels: tuple[str, str] = ("2D frame model", "3D clip model"),
                  title: str = "Per-class accuracy: what motion adds",
                  out_dir: str | os.PathLike | None = None, name: str = "2d_vs_3d") -> Figure:
    """Scatter of per-class accuracy (x = 2D, y = 3D) with the diagonal; the n_label classes
    that gain most from temporal information are numbered and listed beside the plot."""
    gain = compare_per_class(per_class_2d, per_class_3d).dropna(subset=["gain"])
    top = gain[gain["gain"] > 0].head(n_label)  # only classes that motion actually helps
    fig = Figure(figsize=(10, 6.5), layout="constrained")
    ax, side = fig.subplots(1, 2, width_ratios=[2.2, 1])
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="equal accuracy")
    size = 12 + 60 * gain["support"] / max(float(gain["support"].max()), 1.0)
    ax.scatter(gain["accuracy_a"], gain["accuracy_b"], s=size, alpha=0.5, color="tab:blue",
               edgecolor="none", label="class (size = test videos)")
    ax.scatter(top["accuracy_a"], top["accuracy_b"], s=60, facecolor="none",
               edgecolor="tab:red", lw=1.5, label=f"largest gain of 3D (top {len(top)})")
    at: dict[tuple[float, float], list[str]] = {}  # classes on one point share a label
    for rank, (x, y) in enumerate(zip(top["accuracy_a"], top["accuracy_b"], strict=True), 1):
        at.setdefault((round(float(x), 6), round(float(y), 6)), []).append(str(rank))
    for (x, y), ranks in at.items():
        ax.annotate(",".join(ranks), (x, y), xytext=(5, -11), textcoords="offset points",
                    fontsize=8, color="tab:red", fontweight="bold")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{labels[0]} accuracy")
    ax.set_ylabel(f"{labels[1]} accuracy")
    ax.legend(loc="lower right", fontsize=8)
    above = int((gain["gain"] > 0).sum())
    below = int((gain["gain"] < 0).sum())
    ax.set_title(f"{above} classes above the diagonal, {below} below", fontsize=10)
    side.axis("off")
    lines = [f"{i}. {c}  {a:.0%} → {b:.0%} ({g * 100:+.0f} pp)"
             for i, (c, a, b, g) in enumerate(zip(top["class"], top["accuracy_a"],
                                                  top["accuracy_b"], top["gain"], strict=True), 1)]
    side.text(0, 1, "Largest gain from motion\n\n" + ("\n".join(lines) or "none: no class is "
                                                     "better with the 3D model"),
              va="top", fontsize=8.5,
              family="monospace", transform=side.transAxes)
    fig.suptitle(title)
    return save_figure(fig, name, out_dir)


# ----------------------------------------------------------------------------- training

_CURVE_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def plot_training_curves(metrics_csv_paths: Mapping[str, str | os.PathLike], *,
                         title: str = "Training curves",
                         out_dir: str | os.PathLike | None = None,
                         name: str = "training_curves") -> Figure:
    """Loss, accuracy and learning rate per epoch for each run's `metrics.csv` (train solid,
    validation dashed; epochs without validation are skipped)."""
    if not metrics_csv_paths:
        raise UserError("No metrics.csv given to plot; train a model first.")
    fig = Figure(figsize=(14, 4), layout="constrained")
    ax_loss, ax_acc, ax_lr = fig.subplots(1, 3)
    for i, (run, path) in enumerate(metrics_csv_paths.items()):
        path = Path(path)
        if not path.is_file():
            raise UserError(f"{path} does not exist; train the {run} model first.")
        df = pd.read_csv(path)
        if "epoch" not in df.columns or not {"train_loss", "train_acc"} <= set(df.columns):
            raise UserError(f"{path} is not a training metrics file (needs the columns "
                            f"{', '.join(_CURVE_COLUMNS)}).")
        color = f"C{i}"
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            ax.plot(df["epoch"], pd.to_numeric(df[f"train_{key}"], errors="coerce"), color=color,
                    marker="o", ms=3, label=f"{run} train")
            if f"val_{key}" in df.columns:
                val = pd.to_numeric(df[f"val_{key}"], errors="coerce")
                if val.notna().any():
                    ax.plot(df["epoch"][val.notna()], val[val.notna()], color=color, ls="--",
                            marker="s", ms=3, label=f"{run} val")
        if "lr" in df.columns:
            ax_lr.plot(df["epoch"], pd.to_numeric(df["lr"], errors="coerce"), color=color,
                       marker="o", ms=3, label=run)
    for ax, ylabel in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy"),
                       (ax_lr, "learning rate")):
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if ax.has_data():
            ax.legend(fontsize=8)
    ax_acc.set_ylim(0, 1)
    if ax_lr.has_data() and np.all(np.concatenate([ln.get_ydata() for ln in ax_lr.lines]) > 0):
        ax_lr.set_yscale("log")
    fig.suptitle(title)
    return save_figure(fig, name, out_dir)


# ----------------------------------------------------------------------------- frame strips

def plot_frame_strips(store: Any, rows: Sequence[tuple[str, int]], frames_per_row: int = 6, *,
                      title: str = "", out_dir: str | os.PathLike | None = None,
                      name: str = "frame_strips") -> Figure:
    """One row of evenly spaced thumbnails per (row title, store video index)."""
    if not rows:
        raise UserError("No videos to show in the frame strips.")
    fig = Figure(figsize=(1.9 * frames_per_row, 1.75 * len(rows) + (0.4 if title else 0)),
                 layout="constrained")
    subfigs = np.atleast_1d(fig.subfigures(len(rows), 1))
    for sub, (row_title, index) in zip(subfigs, rows, strict=True):
        video = store.videos[int(index)]
        frames = spaced(int(video.num_frames), frames_per_row).tolist()
        images = np.asarray(store.read_frames(int(index), frames)) if frames else []
        axes = np.atleast_1d(sub.subplots(1, frames_per_row))
        for j, ax in enumerate(axes):
            ax.axis("off")
            if j < len(images):
                ax.imshow(images[j])
                ax.set_title(f"frame {frames[j]}", fontsize=6, pad=2)
        sub.suptitle(f"{row_title}  [{video.name}]", fontsize=8, x=0.01, ha="left")
    if title:
        fig.suptitle(title)
    return save_figure(fig, name, out_dir)


def _store_index(store: Any) -> dict[str, int]:
    return {str(v.name): i for i, v in enumerate(store.videos)}


def _pick(pred: Predictions, in_store: dict[str, int], label: int,
          prefer: np.ndarray | None = None) -> int | None:
    """Store index of the first video (by id) of class `label`, preferring rows in `prefer`."""
    candidates = [(not (prefer is not None and prefer[i]), vid)
                  for i, vid in enumerate(pred.video_ids)
                  if pred.labels[i] == label and vid in in_store]
    return in_store[min(candidates)[1]] if candidates else None


def pair_rows(store: Any, pred: Predictions, pairs: pd.DataFrame,
              n_pairs: int = 3) -> list[tuple[str, int]]:
    """Frame-strip rows for the top confused pairs (from `metrics.most_confused_pairs`): a video
    of the true class that the model took for the other class, then a video of that class."""
    in_store = _store_index(store)
    preds = pred.preds
    rows: list[tuple[str, int]] = []
    for t, p, rate in pairs[["true_index", "predicted_index", "rate"]].head(n_pairs).itertuples(
            index=False, name=None):
        t, p = int(t), int(p)
        a = _pick(pred, in_store, t, prefer=preds == p)
        b = _pick(pred, in_store, p, prefer=preds == p)
        if a is None or b is None:
            continue  # the store lacks these classes' videos; the other pairs still show
        names = pred.class_names
        rows.append((f"{names[t]} (true), taken for {names[p]} in {rate:.0%} of its videos", a))
        rows.append((f"{names[p]}", b))
    if not rows:
        raise UserError("None of the confused pairs' videos is in the store; pass the store "
                        "the predictions were made from.")
    return rows


def gain_rows(store: Any, pred_2d: Predictions, pred_3d: Predictions,
              class_indices: Sequence[int]) -> list[tuple[str, int]]:
    """Frame-strip rows for classes where 3D gains most: preferably a video the 3D model gets
    right and the 2D model gets wrong."""
    in_store = _store_index(store)
    pos = {v: i for i, v in enumerate(pred_2d.video_ids)}
    idx = np.array([pos.get(v, -1) for v in pred_3d.video_ids])
    correct_2d = np.where(idx >= 0, pred_2d.correct[np.maximum(idx, 0)], False)
    prefer = pred_3d.correct & ~correct_2d
    row_of = {v: i for i, v in enumerate(pred_3d.video_ids)}
    rows = []
    for c in class_indices:
        i = _pick(pred_3d, in_store, int(c), prefer=prefer)
        if i is not None:
            name = pred_3d.class_names[int(c)]
            shown = prefer[row_of[str(store.videos[i].name)]]
            rows.append((f"{name}: right in 3D, wrong in 2D" if shown else name, i))
    if not rows:
        raise UserError("None of these classes' videos is in the store; pass the store the "
                        "predictions were made from.")
    return rows


# ----------------------------------------------------------------------------- probes

def plot_probe_vs_gain(probe_table: pd.DataFrame, per_class_gain: pd.DataFrame, *,
                       probe: str = "shuffled", n_label: int = 6,
                       out_dir: str | os.PathLike | None = None,
                       name: str = "probe_vs_gain") -> Figure:
    """Per class: the clip model's accuracy drop when its windows are `probe`d (x) against
    what the clip model gains over the frame model (y). Classes right of zero need frame
    order; classes high up are where the 3D model wins; both together is motion at work."""
    col = f"drop_{probe}"
    if col not in probe_table:
        raise UserError(f"The probe table has no {probe!r} column; run that probe first.")
    merged = probe_table[["class", "support", col]].merge(
        per_class_gain[["class", "gain"]], on="class").dropna(subset=["gain", col])
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    ax = fig.subplots()
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    size = 12 + 60 * merged["support"] / max(float(merged["support"].max()), 1.0)
    ax.scatter(merged[col], merged["gain"], s=size, alpha=0.6, color="tab:purple",
               edgecolor="none")
    label = merged.assign(score=merged[col] + merged["gain"]).sort_values(
        ["score", "class"], ascending=[False, True], kind="mergesort").head(n_label)
    for _, row in label.iterrows():
        ax.annotate(str(row["class"]), (row[col], row["gain"]), xytext=(4, 3),
                    textcoords="offset points", fontsize=7.5)
    ax.set_xlabel(f"accuracy lost by the 3D model on {probe} windows")
    ax.set_ylabel("3D minus 2D accuracy")
    ax.set_title(f"Which classes need frame order? ({len(merged)} classes; "
                 "size = test videos)", fontsize=10)
    return save_figure(fig, name, out_dir)


# ----------------------------------------------------------------------------- sampling

def plot_sampling(video: str, num_frames: int, rows: Sequence[Sequence[int]], *, what: str,
                  out_dir: str | os.PathLike | None = None, name: str = "sampling") -> Figure:
    """Which frames of one video evaluation reads: one row per item (each window of the
    clip model, or the frames the frame model scores), over the video's frame axis."""
    if not rows or num_frames < 1:
        raise UserError("Nothing to show: the video has no frames or no items.")
    fig = Figure(figsize=(10, 0.9 + 0.28 * len(rows)), layout="constrained")
    ax = fig.subplots()
    counts = np.zeros(num_frames, dtype=int)
    for i, frames in enumerate(rows):
        frames = list(frames)
        np.add.at(counts, frames, 1)
        ax.hlines(i, min(frames), max(frames), color="tab:blue", lw=6, alpha=0.25)
        ax.scatter(frames, [i] * len(frames), s=9, color="tab:blue", zorder=3)
    ax.set_xlim(-1, num_frames)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{what} {i + 1}" for i in range(len(rows))], fontsize=7)
    ax.set_xlabel("frame index")
    twice = int((counts > 1).sum())
    unread = int((counts == 0).sum())
    ax.set_title(f"{video}: {num_frames} frames, {len(rows)} {what}{'s' if len(rows) > 1 else ''};"
                 f" {unread} frames unread, {twice} read more than once", fontsize=9)
    return save_figure(fig, name, out_dir)
