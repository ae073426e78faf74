"""Report figures, each saved as `figures/<name>.png` (150 dpi) and `.pdf` and returned.

Figures are built as `matplotlib.figure.Figure` objects, not through pyplot: no display or
backend is needed (saving uses Agg), nothing piles up in pyplot's registry, and a notebook
shows a returned figure exactly once (the inline backend's formatter renders Figure objects;
importing this module inside a Jupyter kernel switches that on).
"""

from __future__ import annotations

import io
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
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, NullFormatter

from helpers.data.sampling import spaced
from helpers.errors import UserError
from helpers.evaluation.metrics import best_worst, compare_per_class
from helpers.evaluation.predictions import Predictions
from helpers.evaluation.probes import APPEARANCE, NEEDS_ORDER, UNCLEAR
from helpers.paths import FIGURES_DIR
from helpers.utils.io import atomic_path

DPI = 150

# Every figure is drawn at its printed size, so a font of n points prints at n points: the PDF
# scales a wider figure down to nbconvert's maximum, 0.9 of the 6.5-inch text width of a letter
# page (5.85 in), and the notebook shows (and nbconvert prints) a figure cropped to its content
# plus 0.1 in on each side, so a figure PRINT_WIDTH_IN wide is printed at full size. Text is at
# least 6 points (the confusion matrix's class labels: CONFUSION_FONT, where 101 of them must
# fit), titles larger. Where one confusion label per row (column) does not fit, the
# labels alternate between the two sides of the matrix, which doubles their spacing.
PRINT_WIDTH_IN = 5.7
SMALL_FONT = 6.5  # annotations, legends, captions
TICK_FONT = 7
LABEL_FONT = 8  # axis labels
TITLE_FONT = 9  # a panel's title
SUPTITLE_FONT = 10  # the figure's title
CONFUSION_FONT = 5.5
_CHAR_EM = 0.62  # width of a label character in ems (DejaVu Sans, a generous average)


def _print_figure(height: float) -> Figure:
    """A figure at its printed size: PRINT_WIDTH_IN wide, `height` inches tall."""
    return Figure(figsize=(PRINT_WIDTH_IN, height), layout="constrained", dpi=DPI)


def _print_fonts(ax: Any) -> None:
    """Tick labels at TICK_FONT and short, thin ticks, as suits a figure at its printed size."""
    ax.tick_params(labelsize=TICK_FONT, length=2.5, width=0.6, pad=1.5)


def _enable_notebook_display() -> None:
    """In a Jupyter kernel on its default inline backend, run `%matplotlib inline` once so
    returned Figure objects render (pyplot's figure list stays empty: nothing shows twice),
    shown as the PNG `save_figure` drew when there is one."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is None or getattr(shell, "kernel", None) is None:
        return
    import matplotlib

    if "inline" not in str(matplotlib.get_backend(auto_select=False)):  # leave others alone
        return
    shell.run_line_magic("matplotlib", "inline")
    from matplotlib_inline.backend_inline import InlineBackend

    if set(InlineBackend.instance().figure_formats) != {"png"}:  # retina, svg: draw as asked
        return
    png = shell.display_formatter.formatters["image/png"]
    draw = png.lookup_by_type(Figure)

    def saved_or_drawn(fig: Figure) -> Any:
        return getattr(fig, _SAVED_PNG, None) or draw(fig)

    png.for_type(Figure, saved_or_drawn)


_SAVED_PNG = "_ucf_saved_png"  # the PNG save_figure wrote, kept on the figure until it changes


def _forget_saved_png(fig: Any, stale: bool) -> None:
    if stale and hasattr(fig, _SAVED_PNG):
        delattr(fig, _SAVED_PNG)


_enable_notebook_display()


def save_figure(fig: Figure, name: str, out_dir: str | os.PathLike | None = None) -> Figure:
    """Write `<out_dir>/<name>.png` and `.pdf` atomically; returns the figure. The PNG is
    cropped as the inline display crops it (content plus 0.1 in), so a notebook shows these
    very bytes instead of drawing the figure again, until the figure changes."""
    out = Path(out_dir) if out_dir is not None else FIGURES_DIR
    with atomic_path(out / f"{name}.pdf") as tmp:
        fig.savefig(tmp, format="pdf", dpi=DPI)
    fig.draw_without_rendering()  # constrained layout settles on its third pass: the PNG's
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=DPI, bbox_inches="tight", pad_inches=0.1)
    with atomic_path(out / f"{name}.png") as tmp:
        tmp.write_bytes(png.getvalue())
    if fig.stale_callback in (None, _forget_saved_png):  # never pyplot's own callback
        setattr(fig, _SAVED_PNG, png.getvalue())
        fig.stale_callback = _forget_saved_png
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


def confusion_layout(class_names: Sequence[str]) -> tuple[float, float, bool]:
    """(label font in points, figure height in inches, whether the labels alternate sides)
    for a confusion matrix PRINT_WIDTH_IN wide whose labels are at least CONFUSION_FONT
    points and at least their font size apart."""
    n = max(len(class_names), 1)
    longest = max((len(c) for c in class_names), default=1)
    for both_sides in (False, True):
        label_in = longest * _CHAR_EM * CONFUSION_FONT / 72 + 0.1
        matrix_in = PRINT_WIDTH_IN - label_in * (2 if both_sides else 1) - 0.35
        cell_pt = matrix_in * 72 / n * (2 if both_sides else 1)
        if cell_pt >= 1.1 * CONFUSION_FONT or both_sides:
            font = float(np.clip(cell_pt / 1.1, CONFUSION_FONT, 9))
            label_in = longest * _CHAR_EM * font / 72 + 0.1
            height = matrix_in + label_in * (2 if both_sides else 1) + 1.3
            return font, height, both_sides
    raise AssertionError("unreachable")


def plot_confusion(cm_norm: np.ndarray, class_names: Sequence[str], title: str = "Confusion matrix",
                   *, out_dir: str | os.PathLike | None = None, name: str = "confusion",
                   order: np.ndarray | None = None) -> Figure:
    """Row-normalised confusion heatmap, classes reordered so confusions cluster. A square-root
    colour scale keeps the small off-diagonal rates visible beside the diagonal. Drawn at its
    printed size (`confusion_layout`): every class label is readable on paper, on both sides
    of the matrix in turn when there are too many classes for one."""
    m = np.asarray(cm_norm, dtype=np.float64)
    if m.shape != (len(class_names), len(class_names)):
        raise UserError(f"Confusion matrix {m.shape} does not match {len(class_names)} classes.")
    order = confusion_order(m) if order is None else np.asarray(order)
    n = len(m)
    font, height, both_sides = confusion_layout(class_names)
    fig = Figure(figsize=(PRINT_WIDTH_IN, height), layout="constrained", dpi=DPI)
    ax = fig.add_subplot()
    shown = np.ma.masked_equal(m[np.ix_(order, order)], 0.0)  # never-confused cells stay white
    cmap = colormaps["magma_r"].with_extremes(bad="white")
    im = ax.imshow(shown, cmap=cmap, norm=PowerNorm(0.5, vmin=0, vmax=1),
                   interpolation="nearest")
    names = [class_names[i] for i in order]
    ticks = np.arange(n)
    step = 2 if both_sides else 1
    ax.set_xticks(ticks[::step], names[::step], rotation=90, fontsize=font)
    ax.set_yticks(ticks[::step], names[::step], fontsize=font)
    ax.tick_params(length=2, width=0.4, pad=1)
    if both_sides:  # the other half of the labels on the top and right sides
        top = ax.secondary_xaxis("top")
        top.set_xticks(ticks[1::2], names[1::2], rotation=90, fontsize=font)
        right = ax.secondary_yaxis("right")
        right.set_yticks(ticks[1::2], names[1::2], fontsize=font)
        for side in (top, right):
            side.tick_params(length=2, width=0.4, pad=1)
    ax.set_xlabel("predicted class", fontsize=8)
    ax.set_ylabel("true class", fontsize=8)
    ax.set_title(title, fontsize=10)
    cb = fig.colorbar(im, ax=ax, location="bottom", shrink=0.6, aspect=40, pad=0.01)
    cb.set_label("fraction of the true class's videos (square-root scale)", fontsize=7)
    cb.ax.tick_params(labelsize=6)
    return save_figure(fig, name, out_dir)


# ----------------------------------------------------------------------------- per class

def plot_best_worst(per_class: pd.DataFrame, n: int = 10, title: str = "Per-class accuracy",
                    *, out_dir: str | os.PathLike | None = None,
                    name: str = "best_worst") -> Figure:
    """Horizontal bars: the n best classes above the n worst, labelled correct/support."""
    best, worst = best_worst(per_class, n)
    rows = max(len(best), len(worst), 1)
    fig = _print_figure(2 * (0.17 * rows + 0.45) + 0.5)
    axes = fig.subplots(2, 1, sharex=True)
    for ax, df, label, color in ((axes[0], best, f"best {n}", "tab:green"),
                                 (axes[1], worst, f"worst {n}", "tab:red")):
        y = np.arange(len(df))
        ax.barh(y, df["accuracy"], color=color, alpha=0.8)
        ax.set_yticks(y, list(df["class"]))
        ax.set_ylim(rows - 0.5, -0.5)  # rank 1 on top; both panels' bars equally thick
        for yi, (acc, c, s) in enumerate(zip(df["accuracy"], df["correct"], df["support"],
                                             strict=True)):
            ax.text(min(acc, 1.0) + 0.01, yi, f"{acc:.0%} ({c}/{s})", va="center",
                    fontsize=SMALL_FONT)
        ax.set_xlim(0, 1.2)  # room for the labels right of a full bar
        ax.set_xticks(np.linspace(0, 1, 6))
        ax.set_title(label, fontsize=TITLE_FONT)
        _print_fonts(ax)
    axes[1].set_xlabel("accuracy", fontsize=LABEL_FONT)
    fig.suptitle(title, fontsize=SUPTITLE_FONT)
    return save_figure(fig, name, out_dir)


def plot_2d_vs_3d(per_class_2d: pd.DataFrame, per_class_3d: pd.DataFrame, n_label: int = 8,
                  *, labels: tuple[str, str] = ("2D frame model", "3D clip model"),
                  title: str = "Per-class accuracy: what motion adds",
                  out_dir: str | os.PathLike | None = None, name: str = "2d_vs_3d") -> Figure:
    """Scatter of per-class accuracy (x = 2D, y = 3D) with the diagonal; the n_label classes
    that gain most from temporal information are numbered and listed below the plot."""
    gain = compare_per_class(per_class_2d, per_class_3d).dropna(subset=["gain"])
    top = gain[gain["gain"] > 0].head(n_label)  # only classes that motion actually helps
    list_in = (max(len(top), 1) + 2) * 1.25 * SMALL_FONT / 72 + 0.05
    fig = _print_figure(4.1 + list_in)
    ax, side = fig.subplots(2, 1, height_ratios=[4.1, list_in])
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="equal accuracy")
    size = 6 + 40 * gain["support"] / max(float(gain["support"].max()), 1.0)
    ax.scatter(gain["accuracy_a"], gain["accuracy_b"], s=size, alpha=0.5, color="tab:blue",
               edgecolor="none", label="class (size = test videos)")
    ax.scatter(top["accuracy_a"], top["accuracy_b"], s=40, facecolor="none",
               edgecolor="tab:red", lw=1.2, label=f"largest gain of 3D (top {len(top)})")
    at: dict[tuple[float, float], list[str]] = {}  # classes on one point share a label
    for rank, (x, y) in enumerate(zip(top["accuracy_a"], top["accuracy_b"], strict=True), 1):
        at.setdefault((round(float(x), 6), round(float(y), 6)), []).append(str(rank))
    for (x, y), ranks in at.items():
        ax.annotate(",".join(ranks), (x, y), xytext=(4, -9), textcoords="offset points",
                    fontsize=TICK_FONT, color="tab:red", fontweight="bold")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.set_aspect("equal")
    ax.set_xlabel(f"{labels[0]} accuracy", fontsize=LABEL_FONT)
    ax.set_ylabel(f"{labels[1]} accuracy", fontsize=LABEL_FONT)
    ax.legend(loc="lower right", fontsize=SMALL_FONT)
    _print_fonts(ax)
    above = int((gain["gain"] > 0).sum())
    below = int((gain["gain"] < 0).sum())
    ax.set_title(f"{above} classes above the diagonal, {below} below", fontsize=TITLE_FONT)
    side.axis("off")
    lines = [f"{i}. {c}  {a:.0%} → {b:.0%} ({g * 100:+.0f} pp)"
             for i, (c, a, b, g) in enumerate(zip(top["class"], top["accuracy_a"],
                                                  top["accuracy_b"], top["gain"], strict=True), 1)]
    side.text(0, 1, "Largest gain from motion\n\n" + ("\n".join(lines) or "none: no class is "
                                                     "better with the 3D model"),
              va="top", fontsize=SMALL_FONT, family="monospace", transform=side.transAxes)
    fig.suptitle(title, fontsize=SUPTITLE_FONT)
    return save_figure(fig, name, out_dir)


# ----------------------------------------------------------------------------- training

_CURVE_COLUMNS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds")


def plot_training_curves(metrics_csv_paths: Mapping[str, str | os.PathLike], *,
                         title: str = "Training curves",
                         out_dir: str | os.PathLike | None = None,
                         name: str = "training_curves") -> Figure:
    """Loss, accuracy and learning rate per epoch for each run's `metrics.csv` (train solid,
    validation dashed; epochs without validation are skipped), in two rows: loss and
    accuracy, then the learning rate beside the legend of all three."""
    if not metrics_csv_paths:
        raise UserError("No metrics.csv given to plot; train a model first.")
    fig = _print_figure(4.6)
    (ax_loss, ax_acc), (ax_lr, ax_key) = fig.subplots(2, 2)
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
                    marker="o", ms=2.5, lw=1.2, label=f"{run} train")
            if f"val_{key}" in df.columns:
                val = pd.to_numeric(df[f"val_{key}"], errors="coerce")
                if val.notna().any():
                    ax.plot(df["epoch"][val.notna()], val[val.notna()], color=color, ls="--",
                            marker="s", ms=2.5, lw=1.2, label=f"{run} val")
        if "lr" in df.columns:
            ax_lr.plot(df["epoch"], pd.to_numeric(df["lr"], errors="coerce"), color=color,
                       marker="o", ms=2.5, lw=1.2, label=run)
    for ax, ylabel in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy"),
                       (ax_lr, "learning rate")):
        ax.set_xlabel("epoch", fontsize=LABEL_FONT)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel, fontsize=LABEL_FONT)
        ax.grid(alpha=0.3)
        _print_fonts(ax)
    ax_acc.set_ylim(0, 1)
    if ax_lr.has_data() and np.all(np.concatenate([ln.get_ydata() for ln in ax_lr.lines]) > 0):
        ax_lr.set_yscale("log")
        ax_lr.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no small 10^n
        ax_lr.yaxis.set_minor_formatter(NullFormatter())
    ax_key.axis("off")  # one legend for the three panels: the loss panel has every line
    ax_key.legend(*ax_loss.get_legend_handles_labels(), loc="center", fontsize=TICK_FONT,
                  title="train solid, validation dashed", title_fontsize=TICK_FONT)
    fig.suptitle(title, fontsize=SUPTITLE_FONT)
    return save_figure(fig, name, out_dir)


# ----------------------------------------------------------------------------- frame strips

def plot_frame_strips(store: Any, rows: Sequence[tuple[str, int]], frames_per_row: int = 6, *,
                      title: str = "", out_dir: str | os.PathLike | None = None,
                      name: str = "frame_strips") -> Figure:
    """One row of evenly spaced thumbnails per (row title, store video index); a row title too
    long for one line puts the video's name on a second."""
    if not rows:
        raise UserError("No videos to show in the frame strips.")
    strips = []
    for row_title, index in rows:
        video = store.videos[int(index)]
        frames = spaced(int(video.num_frames), frames_per_row).tolist()
        images = np.asarray(store.read_frames(int(index), frames)) if frames else []
        heading = f"{row_title}  [{video.name}]"
        if len(heading) * _CHAR_EM * LABEL_FONT / 72 > PRINT_WIDTH_IN - 0.2:
            heading = f"{row_title}\n[{video.name}]"
        strips.append((heading, frames, images))
    aspect = next((im.shape[0] / im.shape[1] for _, _, ims in strips for im in ims[:1]), 0.75)
    thumb_in = (PRINT_WIDTH_IN - 0.1) / frames_per_row * aspect
    heights = [thumb_in + 0.25 + (1 + heading.count("\n")) * 1.3 * LABEL_FONT / 72
               for heading, _, _ in strips]
    fig = _print_figure(sum(heights) + (0.3 if title else 0))
    subfigs = np.atleast_1d(fig.subfigures(len(rows), 1, height_ratios=heights))
    for sub, (heading, frames, images) in zip(subfigs, strips, strict=True):
        axes = np.atleast_1d(sub.subplots(1, frames_per_row))
        for j, ax in enumerate(axes):
            ax.axis("off")
            if j < len(images):
                ax.imshow(images[j])
                ax.set_title(f"frame {frames[j]}", fontsize=SMALL_FONT, pad=2)
        sub.suptitle(heading, fontsize=LABEL_FONT, x=0.01, ha="left")
    if title:
        fig.suptitle(title, fontsize=SUPTITLE_FONT)
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
    """Per class: the drop in the clip model's mean true-class probability when its windows
    are `probe`d (x, with the simultaneous interval of `probes.probe_table` as a bar) against
    what the clip model gains over the frame model (y); colour: the class's reading. Classes
    whose bar lies right of zero lose under the probe; high up is where the 3D model wins."""
    col = f"dprob_{probe}"
    if col not in probe_table:
        raise UserError(f"The probe table has no {probe!r} column; run that probe first.")
    merged = probe_table[["class", "support", "reading", col, f"lo_{probe}", f"hi_{probe}"]].merge(
        per_class_gain[["class", "gain"]], on="class").dropna(subset=["gain", col])
    fig = _print_figure(4.2)
    ax = fig.subplots()
    _print_fonts(ax)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axvline(0, color="grey", lw=0.8)
    readings = [r for r in _READING_COLOURS if (merged["reading"] == r).any()]
    for reading in readings:  # seaborn's scatterplot draws no error bars
        part = merged[merged["reading"] == reading]
        err = np.abs(np.vstack([part[col] - part[f"lo_{probe}"], part[f"hi_{probe}"] - part[col]]))
        ax.errorbar(part[col], part["gain"], xerr=np.nan_to_num(err), fmt="none",
                    ecolor=_READING_COLOURS[reading], alpha=0.35, lw=1)
    if readings:  # colour = reading, area = test videos, on one scale for all readings
        import seaborn as sns  # here: its import (scipy.stats) costs a kernel 0.8 s
        sns.scatterplot(data=merged, x=col, y="gain", hue="reading", hue_order=readings,
                        palette=_READING_COLOURS, size="support", sizes=(6, 46),
                        size_norm=(0, max(float(merged["support"].max()), 1.0)), alpha=0.7,
                        edgecolor="none", legend=False, ax=ax)
    ax.legend(handles=[Line2D([], [], ls="", marker="o", ms=5, alpha=0.7,
                              color=_READING_COLOURS[r],
                              label=f"{r} ({int((merged['reading'] == r).sum())})")
                       for r in readings], fontsize=SMALL_FONT, loc="best")
    label = merged.sort_values(col, ascending=False, kind="mergesort").head(n_label)
    for _, row in label.iterrows():
        ax.annotate(str(row["class"]), (row[col], row["gain"]), xytext=(4, 3),
                    textcoords="offset points", fontsize=SMALL_FONT)
    ax.set_xlabel(f"drop in the 3D model's true-class probability on {probe} windows\n"
                  "(bar: simultaneous interval)", fontsize=LABEL_FONT)
    ax.set_ylabel("3D minus 2D accuracy", fontsize=LABEL_FONT)
    ax.set_title(f"Which classes need frame order? ({len(merged)} classes; "
                 "size = test videos)", fontsize=TITLE_FONT)
    return save_figure(fig, name, out_dir)


_READING_COLOURS = {NEEDS_ORDER: "tab:red", APPEARANCE: "tab:blue", UNCLEAR: "tab:grey"}


# ----------------------------------------------------------------------------- sampling

def plot_sampling(video: str, num_frames: int, rows: Sequence[Sequence[int]], *, what: str,
                  out_dir: str | os.PathLike | None = None, name: str = "sampling") -> Figure:
    """Which frames of one video evaluation reads: one row per item (each window of the
    clip model, or the frames the frame model scores), over the video's frame axis."""
    if not rows or num_frames < 1:
        raise UserError("Nothing to show: the video has no frames or no items.")
    fig = _print_figure(1.1 + 0.18 * len(rows))
    ax = fig.subplots()
    counts = np.zeros(num_frames, dtype=int)
    for i, frames in enumerate(rows):
        frames = list(frames)
        np.add.at(counts, frames, 1)
        ax.hlines(i, min(frames), max(frames), color="tab:blue", lw=5, alpha=0.25)
        ax.scatter(frames, [i] * len(frames), s=5, color="tab:blue", zorder=3)
    ax.set_xlim(-1, num_frames)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([f"{what} {i + 1}" for i in range(len(rows))])
    ax.set_xlabel("frame index", fontsize=LABEL_FONT)
    _print_fonts(ax)
    twice = int((counts > 1).sum())
    unread = int((counts == 0).sum())
    ax.set_title(f"{video}: {num_frames} frames, {len(rows)} {what}{'s' if len(rows) > 1 else ''}"
                 f"\n{unread} frames unread, {twice} read more than once", fontsize=TITLE_FONT)
    return save_figure(fig, name, out_dir)
