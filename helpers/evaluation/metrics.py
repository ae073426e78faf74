"""Video-level metrics: top-k accuracy, confusion matrices, per-class tables, confused pairs.

Tie rules (so every table is reproducible):
- Scores: classes are ranked by descending probability, equal probabilities by ascending
  class index (a stable sort of -probs). `argmax` follows the same rule.
- Classes: best = highest accuracy, worst = lowest accuracy; in both, equal accuracy goes to
  the class with more test videos (more evidence), then to the class name A-Z. When the
  classes tied at the n-th place do not all fit in n places, `rank_classes` names the whole
  tie instead of letting that order pick some of them (34 classes at 100% are 34, not 10).
  A class at the top accuracy is never among the worst, and `class_ends` keeps the two
  lists disjoint (with fewer than 2n classes each list gets half of them): when ties leave
  fewer than n classes for the worst list, it holds those few.
- Confused pairs: highest row-normalised rate, then higher count, then true and predicted
  class names A-Z.
Rows are true classes and columns predicted classes throughout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from helpers.errors import UserError
from helpers.evaluation.predictions import Predictions


def true_class_rank(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """0-based rank of the true class in each row under the tie rule above (0 = top-1)."""
    probs = np.asarray(probs)
    labels = np.asarray(labels, dtype=np.int64)
    true = probs[np.arange(len(labels)), labels][:, None]
    higher = (probs > true).sum(axis=1)
    # Equal scores at a lower class index rank first, as in a stable sort of -probs.
    earlier_ties = ((probs == true) & (np.arange(probs.shape[1]) < labels[:, None])).sum(axis=1)
    return higher + earlier_ties


def topk_classes(probs: np.ndarray, k: int) -> np.ndarray:
    """The k best classes per row [N, k] under the tie rule above."""
    return np.argsort(-np.asarray(probs), axis=1, kind="stable")[:, :k]


def topk_accuracy(probs: np.ndarray, labels: np.ndarray,
                  ks: Iterable[int] = (1, 5, 10)) -> dict[int, float]:
    """Fraction of rows whose true class is among the k best; k above the number of classes
    counts every row as a hit."""
    probs = np.asarray(probs)
    labels = np.asarray(labels)
    if probs.ndim != 2 or len(labels) != len(probs):
        raise UserError(f"probs {probs.shape} and labels {labels.shape} do not match.")
    if len(labels) == 0:
        raise UserError("No videos to score; the predictions are empty.")
    rank = true_class_rank(probs, labels)
    return {int(k): float((rank < k).mean()) for k in ks}


def log_loss(probs: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-probability of the true class (as fusion scores it), floored at 1e-12.

    >>> round(log_loss(np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([0, 0])), 4)
    0.3993
    """
    probs = np.asarray(probs, dtype=np.float64)
    labels = np.asarray(labels)
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, None)).mean())


def confusion_matrix(labels: np.ndarray, preds: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts [C, C] (int64): row = true class, column = predicted class."""
    labels = np.asarray(labels, dtype=np.int64)
    preds = np.asarray(preds, dtype=np.int64)
    if labels.shape != preds.shape:
        raise UserError(f"labels {labels.shape} and preds {preds.shape} differ in shape.")
    for name, arr in (("labels", labels), ("preds", preds)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise UserError(f"{name} hold values outside 0..{num_classes - 1}.")
    flat = np.bincount(labels * num_classes + preds, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes)


def row_normalize(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its sum; rows with no videos stay zero (no NaN, no warning)."""
    cm = np.asarray(cm, dtype=np.float64)
    support = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, support, out=np.zeros_like(cm), where=support > 0)


def per_class_accuracy(cm: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """One row per class (index = class index): class, accuracy, support, correct.
    Accuracy is NaN for a class with no videos, which `best_worst` leaves out."""
    cm = np.asarray(cm)
    if cm.shape != (len(class_names), len(class_names)):
        raise UserError(f"Confusion matrix {cm.shape} does not match {len(class_names)} classes.")
    support = cm.sum(axis=1).astype(np.int64)
    correct = np.diag(cm).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = np.where(support > 0, correct / np.maximum(support, 1), np.nan)
    return pd.DataFrame({"class": list(class_names), "accuracy": acc,
                         "support": support, "correct": correct})


def _ranking(per_class: pd.DataFrame, best: bool) -> pd.DataFrame:
    scored = per_class[per_class["accuracy"].notna()]
    return scored.sort_values(["accuracy", "support", "class"], ascending=[not best, False, True],
                              kind="mergesort")


def best_worst(per_class: pd.DataFrame, n: int = 10) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The first places of each end under the tie rule, cut at their places without naming
    a tie (see `class_ends` for the places and for the lists a report prints): disjoint, and
    no class at the top accuracy among the worst."""
    places = _places(per_class, n)
    best = _ranking(per_class, True).head(places)
    worst = _ranking(per_class, False)
    worst = worst[(worst["accuracy"] < worst["accuracy"].max())
                  & ~worst["class"].isin(list(best["class"]))]
    return best, worst.head(places)


def _places(per_class: pd.DataFrame, n: int) -> int:
    """Places per list: n, or half the scored classes when there are fewer than 2n (so the
    best and the worst list need not share a class); at least one for the best."""
    return max(1, min(n, int(per_class["accuracy"].notna().sum()) // 2))


@dataclass(frozen=True)
class RankedClasses:
    """One end of the per-class ranking with the tie at its last place made explicit.

    `ranked` holds the classes that earn a place outright, in rank order. `tied` holds every
    class whose accuracy equals that of place n when they do not all fit in the n places
    (then `ranked` holds only the classes ahead of the tie, and `ranked` + `tied` can exceed
    n); otherwise it is empty and `ranked` is the first n.

    `eligible` classes could take a place: for the worst end, those below the top accuracy
    (`top_accuracy`; `below_top` of them) and not already among the best. When fewer than n
    are eligible, the list holds all of them.
    """

    ranked: pd.DataFrame
    tied: pd.DataFrame
    n: int
    eligible: int = -1
    below_top: int = -1
    top_accuracy: float = float("nan")

    @property
    def tie_accuracy(self) -> float:
        return float(self.tied["accuracy"].iloc[0]) if len(self.tied) else float("nan")

    @property
    def first_tied_place(self) -> int:
        """1-based place where the tie starts (one past `ranked`)."""
        return len(self.ranked) + 1

    @property
    def classes(self) -> list[str]:
        """Every class this end names: the ranked ones, then the tie."""
        return list(self.ranked["class"]) + list(self.tied["class"])

    @property
    def short(self) -> bool:
        """Fewer classes could take a place than there are places (ties at the top)."""
        return 0 <= self.eligible < self.n


def rank_classes(per_class: pd.DataFrame, n: int = 10, *, best: bool = True,
                 exclude: Iterable[str] = ()) -> RankedClasses:
    """The n best (or worst) classes, naming the whole tie at place n when it spills past n.
    The worst end leaves out every class at the top accuracy, and both ends the classes in
    `exclude` (see `class_ends`)."""
    scored = per_class[per_class["accuracy"].notna()]
    top = float(scored["accuracy"].max()) if len(scored) else float("nan")
    below = int((scored["accuracy"] < top).sum())
    order = _ranking(scored[~scored["class"].isin(list(exclude))], best)
    if not best:
        order = order[order["accuracy"] < top]
    facts = {"eligible": len(order), "below_top": below, "top_accuracy": top}
    if len(order) <= n:
        return RankedClasses(order, order.iloc[:0], n, **facts)
    acc = order["accuracy"].to_numpy()
    tie = acc == acc[n - 1]
    if not tie[n:].any():  # the tie at place n ends within the n places
        return RankedClasses(order.head(n), order.iloc[:0], n, **facts)
    first = int(np.argmax(tie))
    return RankedClasses(order.iloc[:first], order[tie], n, **facts)


def class_ends(per_class: pd.DataFrame, n: int = 10) -> tuple[RankedClasses, RankedClasses]:
    """The best and the worst classes as two disjoint lists: with fewer than 2n classes each
    end gets half of them (at least one place for the best); the worst end leaves out the
    classes at the top accuracy and those the best end names (a tie may make it longer)."""
    places = _places(per_class, n)
    best = rank_classes(per_class, places, best=True)
    return best, rank_classes(per_class, places, best=False, exclude=best.classes)


def most_confused_pairs(cm: np.ndarray, class_names: list[str], n: int = 10) -> pd.DataFrame:
    """The n largest off-diagonal entries of the row-normalised matrix (pairs never confused
    are left out): true, predicted, rate, count, true_index, predicted_index."""
    cm = np.asarray(cm)
    norm = row_normalize(cm)
    t, p = np.nonzero((cm > 0) & ~np.eye(len(cm), dtype=bool))
    df = pd.DataFrame({"true": [class_names[i] for i in t],
                       "predicted": [class_names[j] for j in p],
                       "rate": norm[t, p], "count": cm[t, p].astype(np.int64),
                       "true_index": t, "predicted_index": p})
    df = df.sort_values(["rate", "count", "true", "predicted"],
                        ascending=[False, False, True, True], kind="mergesort")
    return df.head(n).reset_index(drop=True)


def mutual_confusions(cm: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """Pairs of classes confused in both directions (A -> B and B -> A both counted at least
    once), one row per pair: a, b, count_ab, count_ba, with a -> b the more frequent direction
    (equal counts: a is the name A-Z first). Sorted by total count, then by names."""
    cm = np.asarray(cm)
    rows = []
    for i, j in zip(*np.nonzero(np.triu((cm > 0) & (cm.T > 0), k=1)), strict=True):
        if (cm[j, i], class_names[i]) > (cm[i, j], class_names[j]):
            i, j = j, i
        rows.append({"a": class_names[i], "b": class_names[j],
                     "count_ab": int(cm[i, j]), "count_ba": int(cm[j, i])})
    df = pd.DataFrame(rows, columns=["a", "b", "count_ab", "count_ba"])
    df["total"] = df["count_ab"] + df["count_ba"]
    df = df.sort_values(["total", "a", "b"], ascending=[False, True, True], kind="mergesort")
    return df.drop(columns="total").reset_index(drop=True)


def compare_per_class(per_class_a: pd.DataFrame, per_class_b: pd.DataFrame) -> pd.DataFrame:
    """Per-class accuracy of two models side by side, sorted by gain = b - a (largest first,
    then class name A-Z). With a = 2D and b = 3D, the top rows gain most from motion."""
    if list(per_class_a["class"]) != list(per_class_b["class"]):
        raise UserError("The two per-class tables list different classes.")
    df = pd.DataFrame({"class": per_class_a["class"].to_numpy(),
                       "accuracy_a": per_class_a["accuracy"].to_numpy(),
                       "accuracy_b": per_class_b["accuracy"].to_numpy(),
                       "support": per_class_a["support"].to_numpy()},
                      index=per_class_a.index)
    df["gain"] = df["accuracy_b"] - df["accuracy_a"]
    return df.sort_values(["gain", "class"], ascending=[False, True], kind="mergesort",
                          na_position="last")


@dataclass(frozen=True)
class ModelSummary:
    """Every video-level metric of one predictions set (see `summarize`).

    `best`/`worst` are the first n classes under the tie rule; `best_ranked`/`worst_ranked`
    name the whole tie at place n and never share a class (see `class_ends`), which is what
    a report should print.
    `frame_accuracy` (2D) or `clip_accuracy` (3D) is the accuracy of single frames or clips
    before they are averaged into videos, when the predictions file records it.
    """

    model: str | None
    split: int | str | None
    subset: str | None
    num_videos: int
    num_classes: int
    top1: float
    top5: float
    top10: float
    confusion: np.ndarray  # counts [C, C], rows = true classes
    confusion_norm: np.ndarray  # each row divided by its sum
    per_class: pd.DataFrame  # see `per_class_accuracy`
    best: pd.DataFrame
    worst: pd.DataFrame
    best_ranked: RankedClasses
    worst_ranked: RankedClasses
    confused_pairs: pd.DataFrame  # see `most_confused_pairs`
    mutual_confusions: pd.DataFrame  # see `mutual_confusions`
    frame_accuracy: float | None = None
    clip_accuracy: float | None = None

    @property
    def unit(self) -> str | None:
        """"frame" or "clip": what the model scores before averaging; None when unknown."""
        return ("frame" if self.frame_accuracy is not None else
                "clip" if self.clip_accuracy is not None else None)

    @property
    def unit_accuracy(self) -> float:
        """The frame- or clip-level accuracy, NaN when the file does not record it."""
        value = self.frame_accuracy if self.frame_accuracy is not None else self.clip_accuracy
        return float("nan") if value is None else value


def summarize(pred: Predictions, n: int = 10) -> ModelSummary:
    """Every video-level metric of one predictions set, plus its frame/clip accuracy."""
    topk = topk_accuracy(pred.probs, pred.labels, ks=(1, 5, 10))
    cm = confusion_matrix(pred.labels, pred.preds, pred.num_classes)
    per_class = per_class_accuracy(cm, pred.class_names)
    best, worst = best_worst(per_class, n)
    ends = class_ends(per_class, n)
    unit = {key: float(pred.attrs[key]) for key in ("frame_accuracy", "clip_accuracy")
            if pred.attrs.get(key) is not None}
    return ModelSummary(
        model=pred.attrs.get("model"), split=pred.attrs.get("split"),
        subset=pred.attrs.get("subset"), num_videos=pred.num_videos,
        num_classes=pred.num_classes, top1=topk[1], top5=topk[5], top10=topk[10],
        confusion=cm, confusion_norm=row_normalize(cm), per_class=per_class,
        best=best, worst=worst,
        best_ranked=ends[0], worst_ranked=ends[1],
        confused_pairs=most_confused_pairs(cm, pred.class_names, n),
        mutual_confusions=mutual_confusions(cm, pred.class_names), **unit)


def comparison_table(summaries: Mapping[str, ModelSummary]) -> pd.DataFrame:
    """One row per model: the frame- or clip-level accuracy beside the per-video top-k."""
    rows = [{"model": name, "unit": s.unit or "-", "unit_accuracy": s.unit_accuracy,
             "top1": s.top1, "top5": s.top5, "top10": s.top10, "num_videos": s.num_videos}
            for name, s in summaries.items()]
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame, floatfmt: str = ".1%", formats: Mapping[str, str] | None = None,
                index: bool = False, proportional: bool = False) -> str:
    """A GitHub Markdown table (pandas' own needs `tabulate`). Floats use `floatfmt` unless
    `formats` names a format for their column; NaN prints as "n/a", booleans as yes/no.

    `proportional`: the dashes under each header grow with what the column needs: room for
    its longest word (up to 15 characters; longer ones get break points in the PDF) and for
    half of its longest cell. Pandoc sizes the columns of a wide table (a line longer than 72
    characters) by those dashes, so long cells wrap inside their column; the dashes line
    itself stays within 72 characters, so it never makes a narrow table wide."""
    formats = dict(formats or {})
    if index:
        df = df.reset_index()
    cols = [str(c) for c in df.columns]

    def cell(col: str, v: Any) -> str:
        if isinstance(v, (bool, np.bool_)):
            return "yes" if v else "no"
        if isinstance(v, (float, np.floating)):
            return "n/a" if np.isnan(v) else format(float(v), formats.get(col, floatfmt))
        if isinstance(v, (int, np.integer)) and col in formats:
            return format(int(v), formats[col])
        return str(v).replace("|", "\\|").replace("\n", " ")

    body = [[cell(c, v) for c, v in zip(cols, row, strict=True)]
            for row in df.itertuples(index=False, name=None)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
               for c in df.columns]
    dashes = [3] * len(cols)
    if proportional:
        need = []
        for i, c in enumerate(cols):
            texts = [c, *(r[i] for r in body)]
            word = max(min(len(w), 15) for t in texts for w in t.split() or [""])
            need.append(max(word + 1, max(len(t) for t in texts) / 2, 1))
        budget = 72 - 2 * len(cols) - 1  # the dashes line's colons and pipes
        dashes = [max(3, int(budget * w / sum(need))) for w in need]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("-" * d + ":" if num else ":" + "-" * d
                            for num, d in zip(numeric, dashes, strict=True)) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    return "\n".join(lines)
