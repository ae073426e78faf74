"""How fast the training datasets feed a model: frames/s of `FrameDataset`, clips/s of
`ClipDataset` (in one process or with DataLoader workers), and the same clips decoded straight
from the AVIs, for comparison. `bench data` and `gpu-check loaders` report these."""

from __future__ import annotations

import contextlib
import itertools
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import UserError

FRAME_CROP = 224
CLIP_LEN, CLIP_CROP, CLIP_SHORT_SIDE = 16, 112, 128


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Per-worker figures: one thread for OpenCV and torch, as in a DataLoader worker."""
    import cv2
    import torch

    cv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(torch_threads)


def rates(steps: list[Callable[[], int]], seconds: float, rounds: int = 3) -> list[float]:
    """Items per second of each `step()` (returns items done), run in turns for `rounds`
    rounds of >= `seconds / rounds` each, so a load change on a shared machine hits all
    of them alike rather than whichever ran when it came."""
    for step in steps:
        step()  # warm-up: opening files, first allocations
    done = [0] * len(steps)
    spent = [0.0] * len(steps)
    for _ in range(rounds):
        for k, step in enumerate(steps):
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / rounds:
                done[k] += step()
            spent[k] += time.perf_counter() - start
    return [d / t for d, t in zip(done, spent, strict=True)]


def decode_avi_frames(path: Path, frames: list[int], size: tuple[int, int]) -> np.ndarray:
    """The given frames as RGB at `size` (H, W), the fastest way one core can: one decoder
    thread, decoding from frame 0 (one keyframe), skipping the colour conversion of the
    frames it does not keep (grab without retrieve)."""
    import cv2

    wanted = set(frames)
    last = max(frames)
    got: dict[int, np.ndarray] = {}
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    try:
        for i in range(last + 1):
            if not cap.grab():
                raise UserError(f"{path} ended at frame {i}, before frame {last}")
            if i in wanted:
                img = cap.retrieve()[1]
                if img.shape[:2] != size:
                    img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                got[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    return np.stack([got[f] for f in frames])


def _all_videos(store: Any) -> tuple[list[str], list[int]]:
    return [v.name for v in store.videos], [v.label_id for v in store.videos]


def _loader(ds: Any, batch_size: int, num_workers: int, num_items: int | None = None) -> Any:
    """A shuffling DataLoader over `ds`, `num_items` items per pass (default: len(ds)). With
    workers they persist across passes, so only the first pass (the warm-up) starts them;
    they then keep the epoch they started with, which changes no cost per item."""
    from torch.utils.data import DataLoader, RandomSampler

    from helpers.utils.device import check_shared_memory

    sampler = RandomSampler(ds, num_samples=num_items)
    extra: dict[str, Any] = {}
    if num_workers:  # the trainer's prefetch, lowered where /dev/shm cannot hold it
        prefetch = check_shared_memory(num_workers, 4, batch_size * ds[0]["x"].nbytes)
        extra = {"persistent_workers": True, "prefetch_factor": prefetch}
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      **extra)


def _items_per_pass(batch_size: int, num_workers: int) -> int:
    """Enough batches per pass that every worker has several to do: the short stall while
    a new pass fills the workers' queues stays small against the pass."""
    return max(4, 8 * num_workers) * batch_size


def _epochs(ds: Any, loader: Any) -> Callable[[], int]:
    """A step for `rates`: one pass of `loader` at the dataset's next epoch; items done."""
    epoch = itertools.count()

    def one_epoch() -> int:
        ds.set_epoch(next(epoch))
        return sum(len(b["x"]) for b in loader)

    return one_epoch


def _loader_rate(ds: Any, loader: Any, seconds: float, num_workers: int) -> float:
    # Workers run as the trainer's do; only the one-process figure is pinned to one thread.
    with single_thread() if num_workers == 0 else contextlib.nullcontext():
        return rates([_epochs(ds, loader)], seconds, rounds=1)[0]


def frame_dataset_fps(store_path: Path, seconds: float, batch_size: int = 32,
                      num_workers: int = 0) -> float:
    """Train frames/s: random frame, random resized crop to 224, flip; in one process
    (`num_workers=0`, one thread) or with that many DataLoader workers."""
    from helpers.data.datasets import FrameDataset
    from helpers.data.store import VideoStore
    from helpers.data.transforms import TrainTransform

    store = VideoStore(store_path)
    ids, labels = _all_videos(store)
    per_video = max(1, math.ceil(_items_per_pass(batch_size, num_workers) / len(ids)))
    ds = FrameDataset(store, ids, labels, transform=TrainTransform(FRAME_CROP),
                      frames_per_video=per_video)
    return _loader_rate(ds, _loader(ds, batch_size, num_workers), seconds, num_workers)


def clip_dataset_cps(store_path: Path, seconds: float, batch_size: int = 8,
                     num_workers: int = 0) -> float:
    """Train clips/s from the store (random 16-frame window, crop to 112, flip) with
    `num_workers` DataLoader workers; passes of several batches per worker, so a store
    with few videos visits each one several times per pass."""
    from helpers.data.datasets import ClipDataset
    from helpers.data.store import VideoStore
    from helpers.data.transforms import TrainTransform

    store = VideoStore(store_path)
    ids, labels = _all_videos(store)
    ds = ClipDataset(store, ids, labels, transform=TrainTransform(CLIP_CROP), clip_len=CLIP_LEN)
    loader = _loader(ds, batch_size, num_workers,
                     max(len(ds), _items_per_pass(batch_size, num_workers)))
    return _loader_rate(ds, loader, seconds, num_workers)


def clip_rates(store_path: Path, avi_paths: dict[str, Path], seconds: float,
               batch_size: int = 8) -> tuple[float, float]:
    """Train clips/s in one process from the store, and the same clips (same windows, same
    crops) decoded straight from the AVIs, resized like the store."""
    from torch.utils.data import DataLoader

    from helpers.data.datasets import ClipDataset
    from helpers.data.store import VideoStore
    from helpers.data.transforms import TrainTransform, clip_tensor

    store = VideoStore(store_path)
    ids, labels = _all_videos(store)
    ds = ClipDataset(store, ids, labels, transform=TrainTransform(CLIP_CROP),
                     clip_len=CLIP_LEN)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=0)
    # The AVI path goes through the same windows; it is slow, so step one clip at a time.
    items = iter((e, i) for e in range(1 << 30) for i in range(len(ds)))

    def avi_clip() -> int:
        epoch, index = next(items)
        ds.set_epoch(epoch)
        video, frames, crop, rng = ds.item_frames(index)
        clip = decode_avi_frames(avi_paths[ids[video]], frames, store.frame_size)
        clip_tensor(ds.transform_frames(clip, crop, rng))
        return 1

    with single_thread():
        from_store, from_avi = rates([_epochs(ds, loader), avi_clip], 2 * seconds)
    return from_store, from_avi
