"""What frame order is worth, measured: the clip model scored on the same test windows with
their temporal structure destroyed (`evaluate --probe`), class by class.

A class whose accuracy survives shuffled or static windows is recognised from appearance; a
class that collapses needs the order of its frames. Reversed windows separate direction from
order: a class confused with its own time-reversal needs the direction of motion.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from helpers.errors import UserError
from helpers.evaluation.metrics import confusion_matrix, per_class_accuracy
from helpers.evaluation.predictions import Predictions, align

# Published measurements to compare the overall drop with.
PUBLISHED = (
    "Huang et al. (CVPR 2018, \"What makes a video a video\") find that properly removing "
    "motion costs a 3D CNN only about 6 points on UCF-101",
    "Choi et al. (NeurIPS 2019, \"Why can't I dance in the mall?\") reach 59.7% on UCF-101 "
    "from the scene alone",
)


def _per_class(pred: Predictions) -> pd.DataFrame:
    cm = confusion_matrix(pred.labels, pred.preds, pred.num_classes)
    return per_class_accuracy(cm, list(pred.class_names))


def probe_table(normal: Predictions, probed: Mapping[str, Predictions]) -> pd.DataFrame:
    """One row per class with test videos: `class`, `support`, `normal` (per-video accuracy
    on ordinary windows), and per probe its accuracy and `drop_<probe>` (normal - probe)."""
    if not probed:
        raise UserError("No probe predictions were given; run `evaluate --probe`.")
    table = _per_class(normal)[["class", "support", "accuracy"]].rename(
        columns={"accuracy": "normal"})
    for name, pred in probed.items():
        if pred.attrs.get("probe") not in (None, name):
            raise UserError(f"The predictions given as probe {name!r} were made with probe "
                            f"{pred.attrs.get('probe')!r}; pass the matching files.")
        _, pred = align(normal, pred)
        table[name] = _per_class(pred)["accuracy"].to_numpy()
        table[f"drop_{name}"] = table["normal"] - table[name]
    return table[table["support"] > 0].reset_index(drop=True)


def overall(normal: Predictions, probed: Mapping[str, Predictions]) -> pd.DataFrame:
    """Per-video top-1 on normal windows and under each probe, and the drop in points."""
    base = float(normal.correct.mean())
    rows = [{"windows": "normal", "top1": base, "drop": 0.0}]
    for name, pred in probed.items():
        _, pred = align(normal, pred)
        acc = float(pred.correct.mean())
        rows.append({"windows": name, "top1": acc, "drop": base - acc})
    return pd.DataFrame(rows)


def order_dependence(table: pd.DataFrame, probe: str = "shuffled", n: int = 5,
                     min_normal: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(most, least): the n classes that lose most under `probe`, and the n that lose least
    among those the clip model recognises on normal windows (accuracy at least `min_normal`:
    a class it cannot recognise says nothing about frame order). Ties: more test videos,
    then A-Z."""
    col = f"drop_{probe}"
    if col not in table:
        raise UserError(f"No {probe!r} probe in the table; run `evaluate --probe {probe}`.")
    ranked = table.sort_values([col, "support", "class"], ascending=[False, False, True],
                               kind="mergesort")
    most = ranked[ranked[col] > 0].head(n)
    solved = table[table["normal"] >= min_normal]
    least = solved.sort_values([col, "support", "class"], ascending=[True, False, True],
                               kind="mergesort").head(n)
    return most.reset_index(drop=True), least.reset_index(drop=True)


def drop_by_kind(table: pd.DataFrame, kinds: Mapping[str, str]) -> pd.DataFrame:
    """Support-weighted accuracy per class kind (synthetic benchmark) under each probe."""
    rows = []
    probes = [c for c in table.columns
              if c not in ("class", "support", "normal") and not c.startswith("drop_")]
    for kind in sorted(set(kinds.values())):
        part = table[table["class"].map(kinds) == kind]
        if part.empty:
            continue
        w = part["support"].to_numpy(dtype=float)
        row = {"kind": f"{kind} ({len(part)})",
               "normal": float(np.average(part["normal"], weights=w))}
        row.update({p: float(np.average(part[p], weights=w)) for p in probes})
        rows.append(row)
    return pd.DataFrame(rows)
