"""The feature cache of the temporal head: the frame model's pooled features (the input of
its last linear layer) for a fixed number of evenly spaced frames of every video
(`sampling.head_frames`), in float16, one HDF5 file per (model, subset) in <run>/head/.

HDF5 layout (`format` attribute = "ucf101-features"):

    video_ids    str     [N]
    labels       int64   [N]
    features     float16 [N, T, D]   T frames per video, D = the network's feature width
    class_names  str     [C]

with the attributes `checkpoint` (the frame model's, relative to the run), `checkpoint_sha256`,
`subset`, `split` and `frames`. A file made by another checkpoint is made again.

Resumable: a pass over a subset writes one part file per chunk of videos (atomically) and
skips the chunks already written; the file is assembled once every part is there, atomically,
and the parts are removed. One pass reads each video once and feeds its frames through every
model that needs them (under `refit`, both the held-out and the reported frame model), so no
video is decoded twice.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from helpers.config import TrainConfig
from helpers.data import sampling
from helpers.data.datasets import FrameDataset
from helpers.data.presets import transform
from helpers.data.store import VideoStore
from helpers.errors import UserError
from helpers.evaluation.predictions import checkpoint_record
from helpers.training.runs import MODEL, load_trained
from helpers.utils.allocation import loader_workers, local_processes
from helpers.utils.device import autocast, place_model, to_device
from helpers.utils.io import atomic_path, open_h5, sha256_file
from helpers.utils.progress import bar

FORMAT = "ucf101-features"
CHUNK_VIDEOS = 256  # videos per part file: a killed pass loses at most this many


@dataclass(frozen=True)
class FeatureSet:
    """The cached features of one subset under one frame model."""

    video_ids: list[str]
    labels: np.ndarray  # [N] int64
    features: np.ndarray  # [N, T, D] float16
    class_names: list[str]
    checkpoint: str  # the frame model's, relative to the run folder
    checkpoint_sha256: str

    @property
    def frames(self) -> int:
        return int(self.features.shape[1])

    @property
    def feature_dim(self) -> int:
        return int(self.features.shape[2])

    def joined(self, other: FeatureSet) -> FeatureSet:
        """These videos followed by `other`'s, under the same model (the refit's training set:
        the training videos and the held-out groups)."""
        if other.checkpoint_sha256 != self.checkpoint_sha256:
            raise UserError("Features of two different frame models cannot be joined.")
        return FeatureSet(self.video_ids + other.video_ids,
                          np.concatenate([self.labels, other.labels]),
                          np.concatenate([self.features, other.features]),
                          self.class_names, self.checkpoint, self.checkpoint_sha256)


@dataclass(frozen=True)
class FeatureJob:
    """A subset's videos and the frame models (run folders) whose features it needs."""

    subset: str
    video_ids: list[str]
    labels: list[int]
    models: list[Path]


def cache_path(out_dir: Path, model_dir: Path, subset: str) -> Path:
    """<run>/head/features_<model folder>_<subset>.h5, e.g. features_frame-holdout_train.h5."""
    return out_dir / f"features_{model_dir.name}_{subset}.h5"


class _HeadFrames(FrameDataset):
    """Evaluation frames at `sampling.head_frames`: exactly `frames` per video, centre crop."""

    def __init__(self, store: Any, ids: Sequence[str], labels: Sequence[int], *,
                 cfg: TrainConfig, frames: int) -> None:
        super().__init__(store, ids, labels, transform=transform(cfg.replace(three_crop=False),
                                                                 train=False),
                         eval_frames=1, seed=cfg.seed, what="videos for the head's features")
        self.item_video = np.repeat(np.arange(len(self.video_ids)), frames)
        self.item_frame = np.concatenate([sampling.head_frames(int(n), frames)
                                          for n in self.num_frames])


def cache_features(jobs: Sequence[FeatureJob], *, store: Path, out_dir: Path, frames: int,
                   split: int, class_names: list[str], run_root: Path,
                   device: torch.device, batch_size: int | None = None,
                   num_workers: int | None = None) -> dict[tuple[Path, str], Path]:
    """Make the missing cache files of `jobs`; returns {(model folder, subset): file}."""
    out: dict[tuple[Path, str], Path] = {}
    for job in jobs:
        shas = {m: sha256_file(m / MODEL) for m in job.models}
        todo = [m for m in job.models if not _current(cache_path(out_dir, m, job.subset), shas[m])]
        out.update({(m, job.subset): cache_path(out_dir, m, job.subset) for m in job.models})
        if not todo:
            continue
        models = {m: load_trained(m, device) for m in todo}
        cfg = TrainConfig.from_dict(next(iter(models.values()))[1]["config"])
        ds = _HeadFrames(VideoStore(store), job.video_ids, job.labels, cfg=cfg, frames=frames)
        parts = {m: out_dir / "parts" / f"{m.name}_{job.subset}_{shas[m][:12]}" for m in todo}
        fmt = None
        for net, _ in models.values():
            fmt = place_model(net, "frame", device, cfg.channels_last)
        chunks = range(0, len(ds.video_ids), CHUNK_VIDEOS)
        for c in bar(chunks, desc=f"head features {job.subset}", unit="chunk"):
            wanted = [m for m in todo if not (parts[m] / f"{c:08d}.npy").is_file()]
            if not wanted:
                continue
            stop = min(c + CHUNK_VIDEOS, len(ds.video_ids))
            feats = pooled_features(ds, range(c * frames, stop * frames), {m: models[m][0]
                              for m in wanted}, cfg, device, fmt, batch_size, num_workers)
            for m, f in feats.items():
                with atomic_path(parts[m] / f"{c:08d}.npy") as tmp, open(tmp, "wb") as fh:
                    np.save(fh, f.reshape(stop - c, frames, -1))
        for m in todo:
            record = checkpoint_record(m / MODEL, shas[m], run_root)
            feats = np.concatenate([np.load(parts[m] / f"{c:08d}.npy") for c in chunks])
            _save(cache_path(out_dir, m, job.subset), ds, feats, class_names, record,
                  job.subset, split)
            shutil.rmtree(parts[m])
    if (out_dir / "parts").is_dir() and not any((out_dir / "parts").iterdir()):
        (out_dir / "parts").rmdir()
    return out


def pooled_features(ds: FrameDataset, items: range, models: dict[Path, torch.nn.Module],
              cfg: TrainConfig, device: torch.device, fmt: Any, batch_size: int | None,
              num_workers: int | None) -> dict[Path, np.ndarray]:
    """Pooled features [items, D] (float16) of each model, the frames decoded once."""
    loader = DataLoader(Subset(ds, list(items)), batch_size=batch_size or cfg.eval_batch_size,
                        num_workers=loader_workers(cfg.num_workers, local_processes())
                        if num_workers is None else num_workers,
                        pin_memory=device.type == "cuda")
    out: dict[Path, list[np.ndarray]] = {m: [] for m in models}
    with torch.no_grad():
        for batch in loader:
            x, _ = to_device(batch, device, fmt)
            for m, net in models.items():
                with autocast(device, cfg.amp):
                    f = net.forward_features(x)
                out[m].append(f.to(torch.float16).cpu().numpy())
    return {m: np.concatenate(v) for m, v in out.items()}


def _save(path: Path, ds: FrameDataset, feats: np.ndarray, class_names: list[str],
          record: dict[str, str], subset: str, split: int) -> None:
    str_dt = h5py.string_dtype("utf-8")
    with atomic_path(path) as tmp, open_h5(tmp, "w") as f:
        f.create_dataset("video_ids", data=np.array(ds.video_ids, dtype=object), dtype=str_dt)
        f.create_dataset("labels", data=ds.labels.astype(np.int64))
        f.create_dataset("features", data=feats.astype(np.float16))
        f.create_dataset("class_names", data=np.array(class_names, dtype=object), dtype=str_dt)
        f.attrs.update({"format": FORMAT, "checkpoint": record["checkpoint"],
                        "checkpoint_sha256": record["sha256"], "subset": subset,
                        "split": split, "frames": feats.shape[1]})


def _current(path: Path, sha256: str) -> bool:
    """Whether the cache file exists and was made by the checkpoint with this hash."""
    if not path.is_file():
        return False
    try:
        with open_h5(path) as f:
            return f.attrs.get("format") == FORMAT and f.attrs.get("checkpoint_sha256") == sha256
    except OSError:
        return False


def load_features(path: Path) -> FeatureSet:
    """A cache file written by `cache_features`."""
    if not path.is_file():
        raise UserError(f"{path} does not exist; run the temporal head step (notebook 01).")
    with open_h5(path) as f:
        if f.attrs.get("format") != FORMAT:
            raise UserError(f"{path} is not a feature cache; delete it and run again.")
        return FeatureSet(list(f["video_ids"].asstr()[()]), f["labels"][()],
                          f["features"][()], list(f["class_names"].asstr()[()]),
                          str(f.attrs["checkpoint"]), str(f.attrs["checkpoint_sha256"]))


def cache_bytes(num_videos: int, frames: int, feature_dim: int) -> int:
    """Bytes of the features of `num_videos` videos in float16 (the files' index is tiny).

    >>> cache_bytes(13_320, 32, 2048) / 1e9
    1.74587904
    """
    return num_videos * frames * feature_dim * 2
