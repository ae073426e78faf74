"""The videos `bench data` measures on, in order of preference: `--source` (an AVI tree,
e.g. UCF-101), the real UCF-101 clip in the shared folder replicated under several names
(320x240 XviD: the honest measurement), or a synthetic set (slow to generate at 320x240;
keep it with `--work-dir`). Each is a UCF-style tree of links under the work folder."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.errors import UserError
from helpers.paths import SHARED_DIR
from helpers.utils.files import link

SHARED_CLIP = Path("ucf101/videos/v_ApplyEyeMakeup_g01_c01.avi")
SHARED_SPLITS = Path("ucf101/splits")
SYNTH_FRAMES = 100


@dataclass(frozen=True)
class BenchSource:
    root: Path  # holds UCF-101/<Class>/<name>.avi
    splits: Path  # holds classInd.txt
    description: str


def _fresh(folder: Path) -> Path:
    """An empty folder: links left by an earlier run must not join this one's videos."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _from_tree(source: Path, splits: Path | None, num_videos: int, work: Path) -> BenchSource:
    """`num_videos` videos spread evenly over a user's AVI tree, linked into `work`."""
    from helpers.data.sources import discover
    from helpers.data.splits import find_splits_dir, read_class_index

    if not source.is_dir():
        raise UserError(f"--source {source} is not a folder; point it at the folder holding "
                        "UCF-101/ (or the class folders)")
    try:
        splits_dir = find_splits_dir(splits or source)
    except UserError:
        raise UserError(f"no classInd.txt in {splits or source}; pass --splits DIR") from None
    videos = [v for v in discover(source, read_class_index(splits_dir / "classInd.txt"))
              if v.kind == "avi"]
    if not videos:
        raise UserError(f"{source} holds no .avi videos; bench data measures AVI decoding")
    picks = [videos[int(i)] for i in np.linspace(0, len(videos) - 1, min(num_videos, len(videos)))]
    work = _fresh(work)
    for v in dict.fromkeys(picks):
        link(v.path, work / "UCF-101" / v.class_name / v.path.name)
    return BenchSource(work, splits_dir, f"{len(set(picks))} videos from {source}")


def _from_shared_clip(num_videos: int, work: Path) -> BenchSource:
    """The real clip under `num_videos` UCF-style names (links: no extra disk)."""
    clip = SHARED_DIR / SHARED_CLIP
    work = _fresh(work)
    for i in range(num_videos):
        group, index = i % 25 + 1, i // 25 + 1
        link(clip, work / "UCF-101" / "ApplyEyeMakeup"
             / f"v_ApplyEyeMakeup_g{group:02d}_c{index:02d}.avi")
    return BenchSource(work, SHARED_DIR / SHARED_SPLITS,
                       f"the real UCF-101 clip {clip.name} under {num_videos} names")


def _from_synthetic(num_videos: int, work: Path, size: tuple[int, int]) -> BenchSource:
    from helpers.data.synthetic import SPLIT_DIR, VIDEO_DIR, generate

    synth = work / "synthetic"
    generate(synth, size=size, num_frames=SYNTH_FRAMES, videos_per_group=1)
    picked = _from_tree(synth / VIDEO_DIR, synth / SPLIT_DIR, num_videos, work / "picked")
    return BenchSource(picked.root, picked.splits,
                       f"{num_videos} synthetic {size[0]}x{size[1]} videos")


def bench_source(work: Path, *, source: Path | None = None, splits: Path | None = None,
                 num_videos: int = 16, synth_size: tuple[int, int] = (320, 240)) -> BenchSource:
    """The videos to measure on, linked (or generated) under `work`."""
    if source is not None:
        return _from_tree(source, splits, num_videos, work / "picked")
    if (SHARED_DIR / SHARED_CLIP).is_file() and (SHARED_DIR / SHARED_SPLITS).is_dir():
        return _from_shared_clip(num_videos, work / "shared")
    return _from_synthetic(num_videos, work, synth_size)
