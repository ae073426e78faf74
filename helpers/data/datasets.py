"""Frame (2D) and clip (3D) datasets over a prepared store.

Both return uint8 tensors; the model wrapper normalises on the device (the right
normalisation belongs to the checkpoint). Items are dicts that collate into batches:

    FrameDataset: {"x": [3, S, S], "label", "video", "frame", "crop"}
    ClipDataset:  {"x": [3, T, S, S], "label", "video", "start", "crop"}

`video` indexes `video_ids`, so eval results can be averaged per video (and
deduplicated after DistributedSampler padding).

Videos that `prepare` could not read are absent from the store (`STORE.report.json` lists
them and why). A dataset leaves such videos out with a warning on stderr, so `video_ids`
may be shorter than the list it was given (`missing_ids` holds the rest); when more than
`MAX_MISSING_SHARE` of the videos (or all of them) are absent the store is the wrong one,
which is an error.

Determinism: every random draw of an item comes from `default_rng([seed, epoch, index])`,
so it depends on neither the worker nor the rank that loads it. The trainer calls
`set_epoch(epoch)` next to `DistributedSampler.set_epoch(epoch)`; with persistent
workers the dataset copies in the workers do not see that call, so use
`persistent_workers=False` (the default) or recreate the loader each epoch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from torch.utils.data import Dataset

from helpers.data.transforms import (
    CLIP_EVAL_RATIO,
    FRAME_EVAL_RATIO,
    EvalTransform,
    TrainTransform,
    clip_tensor,
    eval_short_side,
    frame_tensor,
)
from helpers.errors import UserError

# Above this share of absent videos (or when all are absent) the store is the wrong one.
MAX_MISSING_SHARE = 0.05


def eval_windows(num_frames: int, clip_len: int, stride: int = 1) -> list[list[int]]:
    """Non-overlapping windows of `clip_len` frame indices that together hold every frame
    of the video exactly once; a window short of frames is padded by looping its own frames.

    With `stride` s > 1, each block of `clip_len * s` frames gives s interleaved windows
    (offsets 0..s-1), so every frame is still used once.
    """
    return [_eval_window(num_frames, clip_len, stride, w)
            for w in range(num_eval_windows(num_frames, clip_len, stride))]


def num_eval_windows(num_frames: int, clip_len: int, stride: int = 1) -> int:
    _check_clip(num_frames, clip_len, stride)
    block = clip_len * stride
    full, rest = divmod(num_frames, block)
    return full * stride + min(stride, rest)


def _eval_window(num_frames: int, clip_len: int, stride: int, window: int) -> list[int]:
    block, offset = divmod(window, stride)
    first = block * clip_len * stride + offset
    frames = list(range(first, min(num_frames, first + clip_len * stride), stride))
    return _loop_pad(frames, clip_len)


def _loop_pad(frames: list[int], clip_len: int) -> list[int]:
    reps = -(-clip_len // len(frames))
    return (frames * reps)[:clip_len]


def train_window(rng: np.random.Generator, num_frames: int, clip_len: int,
                 stride: int = 1) -> list[int]:
    """A random window of `clip_len` frames `stride` apart; loops a video that is too short."""
    _check_clip(num_frames, clip_len, stride)
    span = (clip_len - 1) * stride + 1
    start = int(rng.integers(0, max(num_frames - span, 0) + 1))
    return _loop_pad(list(range(start, min(num_frames, start + span), stride)), clip_len)


def _check_clip(num_frames: int, clip_len: int, stride: int) -> None:
    if num_frames < 1 or clip_len < 1 or stride < 1:
        raise ValueError(f"need num_frames, clip_len, stride >= 1, got "
                         f"{num_frames}, {clip_len}, {stride}")


def segment_frame(rng: np.random.Generator, num_frames: int, segments: int, segment: int) -> int:
    """A random frame from segment `segment` of `segments` equal parts (TSN-style), so k
    frames per video spread over the whole video rather than clump."""
    lo = segment * num_frames // segments
    hi = max(lo + 1, (segment + 1) * num_frames // segments)
    return int(rng.integers(min(lo, num_frames - 1), min(hi, num_frames)))


def spaced_frames(num_frames: int, count: int | None) -> np.ndarray:
    """`count` evenly spaced frame indices (segment centres); every frame when None or
    when the video has no more than `count` frames."""
    if count is None or count >= num_frames:
        return np.arange(num_frames)
    return ((np.arange(count) + 0.5) * num_frames / count).astype(np.int64)


def _open_store(store: Any) -> Any:
    if isinstance(store, (str, os.PathLike)):
        from helpers.data.store import VideoStore  # local: a plain store object is enough
        return VideoStore(store)
    return store


def _store_name(store: Any) -> str:
    path = getattr(store, "path", None)
    return f"the store {path}" if path is not None else "the store"


def _report_hint(store: Any) -> str:
    path = getattr(store, "path", None)
    report = f"{os.fspath(path)}.report.json" if path is not None else "STORE.report.json"
    return f"{report} lists why `prepare` skipped them"


def _is_main_process() -> bool:
    try:
        import torch.distributed as dist

        return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0
    except Exception:  # noqa: BLE001 - a warning must never break loading
        return True


def split_missing(store: Any, index: dict[str, int], video_ids: Sequence[str], *,
                  what: str = "videos", max_share: float = MAX_MISSING_SHARE,
                  ) -> tuple[list[int], list[str]]:
    """(positions of the ids the store holds, ids it lacks); `index` maps the store's video
    names to positions. A few absent videos (those `prepare` skipped) are left out with a
    warning on stderr; more than `max_share` of them, or all, is an error: the store was
    prepared from another dataset or split."""
    kept = [i for i, name in enumerate(video_ids) if name in index]
    missing = [name for name in video_ids if name not in index]
    if not missing:
        return kept, missing
    n = len(video_ids)
    shown = ", ".join(missing[:3]) + (", ..." if len(missing) > 3 else "")
    if not kept or len(missing) > max_share * n:
        raise UserError(f"{len(missing)} of {n} {what} are not in {_store_name(store)} "
                        f"({shown}), more than the {max_share:.0%} that `prepare` may skip; "
                        "prepare the store from the same dataset and split files.")
    if _is_main_process():
        sys.stderr.write(f"warning: {len(missing)} of {n} {what} are not in "
                         f"{_store_name(store)} and are left out ({shown}); "
                         f"{_report_hint(store)}.\n")
        sys.stderr.flush()
    return kept, missing


class _StoreDataset(Dataset):
    """Shared part: resolve `video_ids` in the store, hold labels, epoch and seed."""

    def __init__(self, store: Any, video_ids: Sequence[str], labels: Sequence[int], *,
                 train: bool, crop_size: int, seed: int, three_crop: bool,
                 what: str = "videos") -> None:
        self.store = _open_store(store)
        video_ids = list(video_ids)
        if len(labels) != len(video_ids):
            raise UserError(f"Got {len(labels)} labels for {len(video_ids)} videos; "
                            "pass one label per video id.")
        if not video_ids:
            raise UserError("No videos were given; check the split and subset you asked for.")
        if three_crop and train:
            raise ValueError("three_crop applies to evaluation only (train=False)")
        index = {v.name: i for i, v in enumerate(self.store.videos)}
        kept, self.missing_ids = split_missing(self.store, index, video_ids, what=what)
        self.video_ids = [video_ids[i] for i in kept]
        self.labels = np.asarray(labels, dtype=np.int64)[np.asarray(kept, dtype=np.int64)]
        self.train, self.crop_size, self.seed = train, crop_size, seed
        self.num_crops = 3 if three_crop else 1
        self.epoch = 0
        self.store_index = np.array([index[n] for n in self.video_ids], dtype=np.int64)
        self.num_frames = np.array([self.store.videos[i].num_frames for i in self.store_index],
                                   dtype=np.int64)
        if (self.num_frames < 1).any():
            bad = self.video_ids[int(np.argmin(self.num_frames))]
            raise UserError(f"Video {bad} has no frames in the store; re-run prepare.")

    def set_epoch(self, epoch: int) -> None:
        """Draw a new set of random frames/windows/crops; call once per epoch."""
        self.epoch = epoch

    def _rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, index])

    def _read(self, video: int, frames: Sequence[int]) -> np.ndarray:
        """Frames `[n, H, W, 3]` in the given order; each distinct frame is decoded once."""
        wanted = np.asarray(frames, dtype=np.int64)
        unique, inverse = np.unique(wanted, return_inverse=True)
        data = self.store.read_frames(int(self.store_index[video]), unique.tolist())
        return data if len(unique) == len(wanted) else data[inverse]


class FrameDataset(_StoreDataset):
    """Single frames for the 2D model.

    Train: `frames_per_video` items per video each epoch, item j drawn from segment j of
    the video. Eval: every frame (or `eval_frames` evenly spaced) of every video, times
    the number of crops.
    """

    def __init__(self, store: Any, video_ids: Sequence[str], labels: Sequence[int], *,
                 train: bool, crop_size: int = 224, frames_per_video: int = 1,
                 eval_frames: int | None = None, seed: int = 0, three_crop: bool = False,
                 scale: tuple[float, float] = (0.25, 1.0), flip_p: float = 0.5,
                 eval_ratio: float = FRAME_EVAL_RATIO, what: str = "videos") -> None:
        super().__init__(store, video_ids, labels, train=train, crop_size=crop_size,
                         seed=seed, three_crop=three_crop, what=what)
        if frames_per_video < 1 or (eval_frames is not None and eval_frames < 1):
            raise UserError("frames_per_video and eval_frames must be at least 1.")
        self.frames_per_video = frames_per_video
        if train:
            self.train_tf = TrainTransform(crop_size, scale=scale, flip_p=flip_p)
        else:
            self.eval_tf = EvalTransform(crop_size, eval_short_side(crop_size, eval_ratio),
                                         self.num_crops)
            per_video = [spaced_frames(int(n), eval_frames) for n in self.num_frames]
            counts = np.array([len(f) for f in per_video], dtype=np.int64)
            # Flat (video, frame) pairs as int arrays: cheap to pickle into workers.
            self.item_video = np.repeat(np.arange(len(per_video)), counts)
            self.item_frame = np.concatenate(per_video)

    def __len__(self) -> int:
        if self.train:
            return len(self.video_ids) * self.frames_per_video
        return len(self.item_video) * self.num_crops

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self):
            raise IndexError(index)
        if self.train:
            video, segment = divmod(index, self.frames_per_video)
            rng = self._rng(index)
            frame = segment_frame(rng, int(self.num_frames[video]), self.frames_per_video,
                                  segment)
            x, crop = self.train_tf(self._read(video, [frame]), rng), 0
        else:
            pair, crop = divmod(index, self.num_crops)
            video, frame = int(self.item_video[pair]), int(self.item_frame[pair])
            x = self.eval_tf(self._read(video, [frame]), crop)
        return {"x": frame_tensor(x), "label": int(self.labels[video]), "video": video,
                "frame": frame, "crop": crop}


class ClipDataset(_StoreDataset):
    """Clips of `clip_len` frames `stride` apart for the 3D model.

    Train: one random window per video each epoch. Eval: non-overlapping windows that
    together hold every frame (see `eval_windows`), times the number of crops.
    """

    def __init__(self, store: Any, video_ids: Sequence[str], labels: Sequence[int], *,
                 train: bool, clip_len: int = 16, stride: int = 1, crop_size: int = 112,
                 seed: int = 0, three_crop: bool = False,
                 scale: tuple[float, float] = (0.25, 1.0), flip_p: float = 0.5,
                 eval_ratio: float = CLIP_EVAL_RATIO, what: str = "videos") -> None:
        super().__init__(store, video_ids, labels, train=train, crop_size=crop_size,
                         seed=seed, three_crop=three_crop, what=what)
        if clip_len < 1 or stride < 1:
            raise UserError("clip_len and stride must be at least 1.")
        self.clip_len, self.stride = clip_len, stride
        if train:
            self.train_tf = TrainTransform(crop_size, scale=scale, flip_p=flip_p)
        else:
            self.eval_tf = EvalTransform(crop_size, eval_short_side(crop_size, eval_ratio),
                                         self.num_crops)
            counts = np.array([num_eval_windows(int(n), clip_len, stride)
                               for n in self.num_frames], dtype=np.int64)
            self.item_video = np.repeat(np.arange(len(counts)), counts)
            starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
            self.item_window = np.arange(len(self.item_video)) - np.repeat(starts, counts)

    def __len__(self) -> int:
        if self.train:
            return len(self.video_ids)
        return len(self.item_video) * self.num_crops

    def item_frames(self, index: int) -> tuple[int, list[int], int, np.random.Generator]:
        """(video, frame indices, crop, rng) of item `index`; the rng has drawn the window
        and goes on to draw the augmentation. Public so a benchmark can decode the very
        same clips another way."""
        if not 0 <= index < len(self):
            raise IndexError(index)
        rng = self._rng(index)
        if self.train:
            frames = train_window(rng, int(self.num_frames[index]), self.clip_len, self.stride)
            return index, frames, 0, rng
        pair, crop = divmod(index, self.num_crops)
        video = int(self.item_video[pair])
        frames = _eval_window(int(self.num_frames[video]), self.clip_len, self.stride,
                              int(self.item_window[pair]))
        return video, frames, crop, rng

    def transform(self, frames: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
        """Augment (train) or crop (eval) decoded frames `[T, H, W, 3]`."""
        return self.train_tf(frames, rng) if self.train else self.eval_tf(frames, crop)

    def __getitem__(self, index: int) -> dict[str, Any]:
        video, frames, crop, rng = self.item_frames(index)
        x = self.transform(self._read(video, frames), crop, rng)
        return {"x": clip_tensor(x), "label": int(self.labels[video]), "video": video,
                "start": frames[0], "crop": crop}

