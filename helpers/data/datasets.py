"""Frame (2D) and clip (3D) datasets over a prepared store.

Both return uint8 tensors; the model wrapper normalises on the device (the right
normalisation belongs to the checkpoint). Items are dicts that collate into batches:

    FrameDataset: {"x": [3, S, S], "label", "video", "frame", "crop"}
    ClipDataset:  {"x": [3, T, S, S], "label", "video", "start", "crop"}

`video` indexes `video_ids`, so eval results can be averaged per video. Which frames an
item reads is decided in `helpers.data.sampling`; how they are cropped by the transform the
dataset is given (`helpers.data.presets` builds both from a config). A `TrainTransform`
makes a training dataset, an `EvalTransform` an evaluation one.

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

from helpers.data import sampling
from helpers.data.transforms import EvalTransform, TrainTransform, clip_tensor, frame_tensor
from helpers.errors import UserError

# Above this share of absent videos (or when all are absent) the store is the wrong one.
MAX_MISSING_SHARE = 0.05


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


Transform = TrainTransform | EvalTransform


class _StoreDataset(Dataset):
    """Shared part: resolve `video_ids` in the store, hold labels, transform, epoch and seed."""

    def __init__(self, store: Any, video_ids: Sequence[str], labels: Sequence[int], *,
                 transform: Transform, seed: int, what: str = "videos") -> None:
        self.store = _open_store(store)
        video_ids = list(video_ids)
        if len(labels) != len(video_ids):
            raise UserError(f"Got {len(labels)} labels for {len(video_ids)} videos; "
                            "pass one label per video id.")
        if not video_ids:
            raise UserError("No videos were given; check the split and subset you asked for.")
        if not isinstance(transform, (TrainTransform, EvalTransform)):
            raise TypeError(f"transform must be a TrainTransform or EvalTransform, got "
                            f"{type(transform).__name__}")
        index = {v.name: i for i, v in enumerate(self.store.videos)}
        kept, self.missing_ids = split_missing(self.store, index, video_ids, what=what)
        self.video_ids = [video_ids[i] for i in kept]
        self.labels = np.asarray(labels, dtype=np.int64)[np.asarray(kept, dtype=np.int64)]
        self.transform, self.seed = transform, seed
        self.train = isinstance(transform, TrainTransform)
        self.num_crops = 1 if self.train else transform.num_crops
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
        in_order = len(unique) == len(wanted) and bool((np.diff(wanted) > 0).all())
        return data if in_order else data[inverse]

    def _apply(self, frames: np.ndarray, crop: int, rng: np.random.Generator) -> np.ndarray:
        """Augment (train) or crop number `crop` (eval) of decoded frames `[T, H, W, 3]`."""
        if self.train:
            return self.transform(frames, rng)  # type: ignore[call-arg]
        return self.transform(frames, crop)  # type: ignore[call-arg]


class FrameDataset(_StoreDataset):
    """Single frames for the 2D model.

    Train: `frames_per_video` items per video each epoch (`sampling.train_frame`). Eval:
    the frames `sampling.eval_frames` picks (all, or `eval_frames` evenly spaced) of every
    video, times the number of crops.
    """

    def __init__(self, store: Any, video_ids: Sequence[str], labels: Sequence[int], *,
                 transform: Transform, frames_per_video: int = 1,
                 eval_frames: int | None = None, seed: int = 0, what: str = "videos") -> None:
        super().__init__(store, video_ids, labels, transform=transform, seed=seed, what=what)
        if frames_per_video < 1 or (eval_frames is not None and eval_frames < 1):
            raise UserError("frames_per_video and eval_frames must be at least 1.")
        self.frames_per_video = frames_per_video
        if not self.train:
            per_video = [sampling.eval_frames(int(n), eval_frames) for n in self.num_frames]
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
        rng = self._rng(index)
        if self.train:
            video, segment = divmod(index, self.frames_per_video)
            frame = sampling.train_frame(rng, int(self.num_frames[video]),
                                         self.frames_per_video, segment)
            crop = 0
        else:
            pair, crop = divmod(index, self.num_crops)
            video, frame = int(self.item_video[pair]), int(self.item_frame[pair])
        x = self._apply(self._read(video, [frame]), crop, rng)
        return {"x": frame_tensor(x), "label": int(self.labels[video]), "video": video,
                "frame": frame, "crop": crop}


class ClipDataset(_StoreDataset):
    """Clips of `clip_len` frames `stride` apart for the 3D model.

    Train: one random window per video each epoch (`sampling.train_window`). Eval: the
    windows of `sampling.eval_windows`, which together hold every frame, times the number
    of crops; `probe` rearranges each window (`sampling.probe_window`).
    """

    def __init__(self, store: Any, video_ids: Sequence[str], labels: Sequence[int], *,
                 transform: Transform, clip_len: int = 16, stride: int = 1, seed: int = 0,
                 probe: str | None = None, what: str = "videos") -> None:
        super().__init__(store, video_ids, labels, transform=transform, seed=seed, what=what)
        if clip_len < 1 or stride < 1:
            raise UserError("clip_len and stride must be at least 1.")
        if probe is not None and (self.train or probe not in sampling.PROBES):
            raise UserError(f"A temporal probe applies to evaluation only and is one of "
                            f"{', '.join(sampling.PROBES)}; got {probe!r}.")
        self.clip_len, self.stride, self.probe = clip_len, stride, probe
        if not self.train:
            counts = np.array([sampling.num_eval_windows(int(n), clip_len, stride)
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
            frames = sampling.train_window(rng, int(self.num_frames[index]), self.clip_len,
                                           self.stride)
            return index, frames, 0, rng
        pair, crop = divmod(index, self.num_crops)
        video = int(self.item_video[pair])
        # Windows are cheap to list; a video has a few dozen at most.
        frames = sampling.eval_windows(int(self.num_frames[video]), self.clip_len,
                                       self.stride)[int(self.item_window[pair])]
        return video, sampling.probe_window(frames, self.probe, rng), crop, rng

    def transform_frames(self, frames: np.ndarray, crop: int,
                         rng: np.random.Generator) -> np.ndarray:
        """Augment (train) or crop (eval) decoded frames `[T, H, W, 3]`."""
        return self._apply(frames, crop, rng)

    def __getitem__(self, index: int) -> dict[str, Any]:
        video, frames, crop, rng = self.item_frames(index)
        x = self._apply(self._read(video, frames), crop, rng)
        return {"x": clip_tensor(x), "label": int(self.labels[video]), "video": video,
                "start": frames[0], "crop": crop}


def make_dataset(cfg: Any, store: Any, ids: Sequence[str], labels: Sequence[int], *,
                 train: bool, what: str = "videos",
                 probe: str | None = None) -> FrameDataset | ClipDataset:
    """The frame or clip dataset of a `TrainConfig`, with the transform its preset builds.

    Videos absent from the store (skipped by `prepare`) are left out with a warning, so use
    the dataset's `video_ids` and `labels`, not `ids`."""
    from helpers.data.presets import transform

    tf = transform(cfg, train=train)
    if cfg.model == "frame":
        return FrameDataset(store, ids, labels, transform=tf,
                            frames_per_video=cfg.frames_per_video, eval_frames=cfg.eval_frames,
                            seed=cfg.seed, what=what)
    return ClipDataset(store, ids, labels, transform=tf, clip_len=cfg.clip_len,
                       stride=cfg.stride, seed=cfg.seed, probe=probe, what=what)
