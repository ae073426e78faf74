"""The predictions file: one row of class probabilities per whole video.

HDF5 layout (`format` attribute = "ucf101-predictions", `format_version` = 1):

    video_ids    str   [N]     e.g. "v_ApplyEyeMakeup_g01_c01"
    labels       int64 [N]     0-based true class
    probs        f32   [N, C]  per-video class probabilities (rows sum to 1)
    class_names  str   [C]

File attributes carry the provenance; the evaluator writes `model`, `checkpoint_sha256`,
`config` (a dict), `split`, `subset`, and `frame_accuracy` (2D) or `clip_accuracy` (3D),
the accuracy of single frames or clips before they are averaged into videos, and
`num_missing_videos` / `missing_videos`: the subset's videos that were not in the store
(`prepare` could not read them), which the file therefore does not cover.
Scalars are stored as native HDF5 attributes so `h5dump` shows them; dicts, lists and None
are stored as JSON strings and listed in `_json_attrs`, so `load` returns what `save` got.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from helpers.errors import UserError
from helpers.utils.io import atomic_path, open_h5

FORMAT = "ucf101-predictions"
FORMAT_VERSION = 1
_RESERVED = {"format", "format_version", "_json_attrs"}
# A softmax in float32 over ~100 classes sums to 1 within ~1e-6; 1e-3 still catches logits.
_SUM_TOL = 1e-3
# v_Class_gGG_cCC, optionally after a folder and with an extension; the class is captured
# because a UCF-101 group number is only meaningful within its class.
_GROUP_RE = re.compile(r"(?:^|[/\\])v_([^/\\]+?)_g(\d+)_c(\d+)(\.\w+)?$")


@dataclass
class Predictions:
    """Per-video probabilities of one model on one subset; validated on construction."""

    video_ids: list[str]
    labels: np.ndarray
    probs: np.ndarray
    class_names: list[str]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.video_ids = [str(v) for v in self.video_ids]
        self.class_names = [str(c) for c in self.class_names]
        self.labels = np.asarray(self.labels)
        self.probs = np.asarray(self.probs, dtype=np.float32)
        self.attrs = dict(self.attrs)
        self._validate()

    def _validate(self) -> None:
        n, c = len(self.video_ids), len(self.class_names)
        if self.probs.ndim != 2 or self.probs.shape != (n, c):
            raise UserError(f"Predictions are inconsistent: probs has shape {self.probs.shape} "
                            f"but there are {n} videos and {c} classes; regenerate the file.")
        if self.labels.shape != (n,) or not np.issubdtype(self.labels.dtype, np.integer):
            raise UserError(f"Predictions are inconsistent: labels must be {n} integers, got "
                            f"shape {self.labels.shape} of {self.labels.dtype}; regenerate the file.")
        self.labels = self.labels.astype(np.int64)
        if n and (self.labels.min() < 0 or self.labels.max() >= c):
            raise UserError(f"Predictions hold labels outside 0..{c - 1}; the labels must be "
                            "0-based class indices into class_names.")
        if len(set(self.video_ids)) != n:
            dup = sorted(v for v, k in Counter(self.video_ids).items() if k > 1)[:3]
            raise UserError(f"Predictions repeat video ids (e.g. {dup}); deduplicate per video "
                            "(DDP evaluation pads with repeats) and regenerate the file.")
        if len(set(self.class_names)) != c:
            raise UserError("Predictions repeat a class name; class_names must be unique.")
        if not np.isfinite(self.probs).all():
            raise UserError("Predictions hold NaN or infinite probabilities; check the model's "
                            "output (e.g. mixed-precision overflow) and evaluate again.")
        if n and (self.probs.min() < 0 or np.abs(self.probs.sum(axis=1) - 1).max() > _SUM_TOL):
            raise UserError("Prediction rows are not probabilities (negative or not summing to "
                            "1); apply softmax to the logits before saving.")
        for key in self.attrs:
            if key in _RESERVED:
                raise UserError(f"Attribute name {key!r} is reserved by the predictions format.")

    @property
    def num_videos(self) -> int:
        return len(self.video_ids)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def preds(self) -> np.ndarray:
        """Top-1 class per video (ties go to the lower class index, as in `metrics`)."""
        return self.probs.argmax(axis=1)

    @property
    def correct(self) -> np.ndarray:
        return self.preds == self.labels

    @property
    def groups(self) -> np.ndarray:
        return video_groups(self.video_ids)

    def made_by(self, root: str | os.PathLike) -> dict[str, str]:
        """The checkpoint that made these predictions, as `checkpoint_record` gives it."""
        return checkpoint_record(self.attrs.get("checkpoint", ""),
                                 str(self.attrs.get("checkpoint_sha256", "")), root)

    def take(self, indices: np.ndarray | list[int]) -> Predictions:
        """A new Predictions with the given rows, in that order."""
        idx = np.asarray(indices, dtype=np.int64)
        return Predictions([self.video_ids[i] for i in idx], self.labels[idx], self.probs[idx],
                           list(self.class_names), dict(self.attrs))

    def save(self, path: str | os.PathLike) -> Path:
        """Write atomically (temp file, then rename); returns the path."""
        path = Path(path)
        str_dt = h5py.string_dtype("utf-8")
        with atomic_path(path) as tmp, open_h5(tmp, "w") as f:
            f.create_dataset("video_ids", data=np.array(self.video_ids, dtype=object), dtype=str_dt)
            f.create_dataset("labels", data=self.labels.astype(np.int64))
            f.create_dataset("probs", data=self.probs.astype(np.float32))
            f.create_dataset("class_names", data=np.array(self.class_names, dtype=object),
                             dtype=str_dt)
            f.attrs["format"] = FORMAT
            f.attrs["format_version"] = FORMAT_VERSION
            json_keys = []
            for key, value in self.attrs.items():
                value = _plain(value, key)
                if value is None or isinstance(value, (dict, list)):
                    f.attrs[key] = json.dumps(value, sort_keys=True)
                    json_keys.append(key)
                else:
                    f.attrs[key] = value
            f.attrs["_json_attrs"] = json.dumps(json_keys)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Predictions:
        return load(path)


def checkpoint_record(checkpoint: str | os.PathLike, sha256: str,
                      root: str | os.PathLike) -> dict[str, str]:
    """A checkpoint named the way choices.json and fusion.json record what a choice was fitted
    on: its path relative to the run folder `root` (absolute when outside it) and its sha256.

    >>> checkpoint_record("/runs/r/frame-holdout/model.pt", "ab12", "/runs/r")
    {'checkpoint': 'frame-holdout/model.pt', 'sha256': 'ab12'}
    """
    path = Path(checkpoint)
    try:
        path = path.relative_to(root)
    except ValueError:
        pass
    return {"checkpoint": path.as_posix(), "sha256": sha256}


def _plain(value: Any, key: str) -> Any:
    """Convert numpy scalars/arrays to Python; refuse what JSON cannot hold."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, tuple):
        value = list(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    try:
        json.dumps(value)
    except TypeError as exc:
        raise TypeError(f"Predictions attribute {key!r} is not JSON-serialisable: {exc}") from exc
    return value


def load(path: str | os.PathLike) -> Predictions:
    """Read a predictions file written by `Predictions.save`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Predictions file {path} does not exist; run `python -m helpers "
                        "evaluate` (or `fuse`) to create it, or check the path.")
    try:
        with open_h5(path) as f:
            if f.attrs.get("format") != FORMAT:
                raise UserError(f"{path} is not a predictions file (no format={FORMAT!r} "
                                "attribute); pass a file written by `python -m helpers evaluate`.")
            version = int(f.attrs.get("format_version", -1))
            if version > FORMAT_VERSION:
                raise UserError(f"{path} has predictions format version {version}, newer than "
                                f"this code's {FORMAT_VERSION}; update the code.")
            missing = [k for k in ("video_ids", "labels", "probs", "class_names") if k not in f]
            if missing:
                raise UserError(f"{path} lacks the datasets {missing}; regenerate it.")
            video_ids = list(f["video_ids"].asstr()[()])
            class_names = list(f["class_names"].asstr()[()])
            labels = f["labels"][()]
            probs = f["probs"][()]
            json_keys = set(json.loads(f.attrs.get("_json_attrs", "[]")))
            attrs: dict[str, Any] = {}
            for key, value in f.attrs.items():
                if key in _RESERVED:
                    continue
                if key in json_keys:
                    attrs[key] = json.loads(value)
                elif isinstance(value, np.generic):
                    attrs[key] = value.item()
                elif isinstance(value, bytes):
                    attrs[key] = value.decode()
                else:
                    attrs[key] = value
    except OSError as exc:
        raise UserError(f"Cannot read {path} as HDF5 ({exc}); the file is damaged or not a "
                        "predictions file.") from exc
    try:
        return Predictions(video_ids, labels, probs, class_names, attrs)
    except UserError as exc:
        raise UserError(f"{path}: {exc}") from exc


def align(a: Predictions, b: Predictions) -> tuple[Predictions, Predictions]:
    """Return (a, b) with b reordered to a's video order; both must cover the same videos
    with the same labels and class names."""
    if a.class_names != b.class_names:
        raise UserError("The two prediction sets use different class lists; evaluate both "
                        "models with the same classInd.txt.")
    only_a = sorted(set(a.video_ids) - set(b.video_ids))
    only_b = sorted(set(b.video_ids) - set(a.video_ids))
    if only_a or only_b:
        left_out = [p.attrs.get("num_missing_videos") or 0 for p in (a, b)]
        hint = ("evaluate both models on the same split and subset" if not any(left_out) else
                f"their stores lacked different videos ({left_out[0]} and {left_out[1]} left "
                "out; see each store's report.json), so prepare both stores from the same "
                "videos, or evaluate both models on the same split and subset")
        raise UserError(f"The two prediction sets cover different videos ({len(only_a)} only in "
                        f"the first, e.g. {only_a[:2]}; {len(only_b)} only in the second, e.g. "
                        f"{only_b[:2]}); {hint}.")
    pos = {v: i for i, v in enumerate(b.video_ids)}
    b2 = b.take([pos[v] for v in a.video_ids])
    bad = np.flatnonzero(a.labels != b2.labels)
    if bad.size:
        raise UserError(f"The two prediction sets disagree on {bad.size} labels (e.g. "
                        f"{a.video_ids[bad[0]]}); they were made with different split files.")
    return a, b2


def video_groups(video_ids: list[str]) -> np.ndarray:
    """Cluster id (int64) of each `v_Class_gGG_cCC` name (folder and extension allowed): one
    id per (class, group) pair, dense and numbered in sorted (class, group) order.

    Group gGG of one class is unrelated to gGG of another (other actors, other scenes), so
    the pair, not the number, is the unit of dependence. Class names compare
    case-insensitively: the official lists spell one class `HandstandPushups` in classInd.txt
    and `HandStandPushups` in its file names.
    """
    keys = []
    for vid in video_ids:
        m = _GROUP_RE.search(vid)
        if m is None:
            raise UserError(f"Video id {vid!r} does not follow the UCF-101 pattern "
                            "v_Class_gGG_cCC, so its group is unknown; resample by video instead.")
        keys.append((m.group(1).casefold(), int(m.group(2))))
    ids = {key: i for i, key in enumerate(sorted(set(keys)))}
    return np.fromiter((ids[k] for k in keys), dtype=np.int64, count=len(keys))
