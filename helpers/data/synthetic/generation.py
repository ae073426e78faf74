"""Generating the benchmark: check the settings, render and encode every missing video
across processes, write the split files and `classes.json`; rerunning with the same
settings resumes (or verifies), other settings in the same folder are refused.

Randomness comes from (seed, group) and (seed, class, group, clip) only, so the output does
not depend on how the videos are spread across worker processes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data.synthetic.catalogue import CLASSES, class_names
from helpers.data.synthetic.encoding import FPS, encode_avi
from helpers.data.synthetic.layout import (
    NUM_GROUPS,
    SPLIT_DIR,
    VIDEO_DIR,
    split_counts,
    split_files,
    video_path,
)
from helpers.data.synthetic.masks import MASKS_FILE, stored_names, write_masks
from helpers.data.synthetic.scene import render_scene
from helpers.errors import UserError
from helpers.utils.io import atomic_path, write_json_atomic, write_text_atomic
from helpers.utils.locking import exclusive
from helpers.utils.pool import default_workers
from helpers.utils.progress import bar

MIN_SIZE = (32, 24)
MAX_SIZE = (1280, 960)
MIN_FRAMES = 8
MAX_VIDEOS_PER_GROUP = 99  # the clip number is written with two digits (cCC)
# The demo's benchmark (what `make report` generates). The demo profile's 3D model reads a
# store at half this height (helpers.config), where every detail texture averages away.
DEFAULT_SIZE = (80, 60)
DEFAULT_NUM_FRAMES = 32
DEFAULT_VIDEOS_PER_GROUP = 2
META_FILE = "classes.json"
PENDING_FILE = ".synth-pending.json"  # config of a run in progress, so a resume cannot mix settings
LOCK_FILE = ".synth.lock"
FORMAT_VERSION = 2  # 2: twenty classes of three kinds (1: ten, spatial and temporal)


@dataclass(frozen=True)
class _Job:
    root: str
    name: str
    group: int
    clip: int
    seed: int
    size: tuple[int, int]
    num_frames: int
    mask_only: bool = False  # the video exists: render it again for its mask only


def _make_video(job: _Job) -> tuple[str, np.ndarray, tuple[int, ...]]:
    """Worker: render, encode into a temp file, rename. Returns the video's file stem and its
    region mask, bit-packed (`masks`), for the parent to store."""
    spec = next(c for c in CLASSES if c.name == job.name)
    frames, mask = render_scene(spec, job.group, job.clip, seed=job.seed, size=job.size,
                                num_frames=job.num_frames)
    path = Path(job.root) / VIDEO_DIR / video_path(job.name, job.group, job.clip)
    if not job.mask_only:
        with atomic_path(path) as tmp:
            encode_avi(tmp, frames)
    return path.stem, np.packbits(mask), mask.shape


@dataclass(frozen=True)
class SynthSummary:
    out: Path
    classes: list[dict[str, Any]]
    counts: dict[int, dict[str, int]]  # split -> {"train": n, "test": n}
    num_videos: int
    num_written: int  # made by this run; the rest were already complete
    num_bytes: int
    seconds: float

    def format(self) -> str:
        """What `synth` prints: the classes with their kind and partner, the videos per split,
        and the bytes on disk."""
        lines = [f"Synthetic benchmark in {self.out}", "", f"{'label':>5}  {'class':<22}{'kind':<10}partner"]
        for i, c in enumerate(self.classes, 1):
            lines.append(f"{i:>5}  {c['name']:<22}{c['kind']:<10}{c['partner'] or '-'}")
        lines.append("")
        for split, n in self.counts.items():
            lines.append(f"split {split}: {n['train']} train / {n['test']} test videos")
        lines.append(f"{self.num_videos} videos ({self.num_written} written now), "
                     f"{self.num_bytes / 1e6:.1f} MB on disk, {self.seconds:.1f} s")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _benchmark_files(out: Path, videos_per_group: int) -> list[Path]:
    files = [out / VIDEO_DIR / video_path(name, group, clip) for name in class_names()
             for group in range(1, NUM_GROUPS + 1) for clip in range(1, videos_per_group + 1)]
    return files + [out / SPLIT_DIR / n for n in split_files(videos_per_group)] + [
        out / META_FILE, out / MASKS_FILE]


def summarize(root: str | os.PathLike) -> SynthSummary:
    """The summary of a benchmark generated earlier (nothing is written), as `synth` prints it."""
    root = Path(root)
    classes = load_class_meta(root)
    try:
        videos_per_group = int(json.loads((root / META_FILE).read_text())["videos_per_group"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{root / META_FILE} does not say videos_per_group ({exc}); generate "
                        "the benchmark again.") from None
    files = [p for p in _benchmark_files(root, videos_per_group) if p.is_file()]
    return SynthSummary(out=root, classes=classes, counts=split_counts(videos_per_group),
                        num_videos=sum(p.suffix == ".avi" for p in files), num_written=0,
                        num_bytes=sum(p.stat().st_size for p in files), seconds=0.0)


def parse_size(text: str) -> tuple[int, int]:
    """'80x60' -> (80, 60), checked against the limits the codec and the models need."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise UserError(f"{text!r} is not WIDTHxHEIGHT; write it like 80x60.")
    size = (int(match[1]), int(match[2]))
    _check_size(size)
    return size


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise UserError(f"Size {width}x{height} is out of range; use between "
                        f"{MIN_SIZE[0]}x{MIN_SIZE[1]} and {MAX_SIZE[0]}x{MAX_SIZE[1]}, e.g. 80x60.")
    if width % 2 or height % 2:
        raise UserError(f"Size {width}x{height} has an odd side, which MPEG-4 with 4:2:0 "
                        "colour cannot store; use even numbers, e.g. 80x60.")


def generation_config(seed: int, size: tuple[int, int], num_frames: int, videos_per_group: int) -> dict:
    return {"format_version": FORMAT_VERSION, "seed": seed, "size": list(size),
            "num_frames": num_frames, "videos_per_group": videos_per_group, "fps": FPS}


def _class_meta() -> list[dict[str, Any]]:
    by_name = {c.name: c for c in CLASSES}
    return [{"name": n, "kind": by_name[n].kind, "partner": by_name[n].partner,
             "description": by_name[n].description} for n in class_names()]


def _check_existing(out: Path, config: dict) -> None:
    """Refuse to mix videos made with other settings into one benchmark."""
    for marker in (out / META_FILE, out / PENDING_FILE):
        if marker.is_file():
            try:
                found = json.loads(marker.read_text())
                old = {k: found.get(k) for k in config}
            except (json.JSONDecodeError, AttributeError) as exc:
                raise UserError(f"{marker} is not valid JSON ({exc}); delete {out} and run again.") from exc
            if old != config:
                diff = ", ".join(f"{k}={old[k]} (asked {config[k]})" for k in config if old[k] != config[k])
                raise UserError(f"{out} already holds a benchmark made with {diff}; "
                                "pass the same settings to resume, or choose another --out.")
            return
    videos = out / VIDEO_DIR
    if videos.is_dir() and any(videos.iterdir()):
        raise UserError(f"{videos} holds videos this command did not make; choose another --out.")


def _remove_stale_temps(out: Path) -> None:
    """Temp files left by a killed run (a clean failure removes its own)."""
    for name in class_names():
        folder = out / VIDEO_DIR / name
        if folder.is_dir():
            for tmp in folder.glob(".v_*.avi.*.tmp"):
                tmp.unlink(missing_ok=True)


def generate(out: Path, *, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
             num_frames: int = DEFAULT_NUM_FRAMES, videos_per_group: int = DEFAULT_VIDEOS_PER_GROUP,
             num_workers: int | None = None) -> SynthSummary:
    """Write the benchmark under `out`; rerunning with the same settings resumes or verifies."""
    start = time.perf_counter()
    out = Path(out)
    size = (int(size[0]), int(size[1]))
    _check_size(size)
    if seed < 0:
        raise UserError(f"Seed {seed} is negative; use a seed of 0 or more.")
    if num_frames < MIN_FRAMES:
        raise UserError(f"{num_frames} frames is too few to show motion; use at least {MIN_FRAMES}.")
    if not 1 <= videos_per_group <= MAX_VIDEOS_PER_GROUP:
        raise UserError(f"Videos per group must be between 1 and {MAX_VIDEOS_PER_GROUP}, "
                        f"not {videos_per_group}.")
    num_workers = default_workers() if num_workers is None else num_workers
    if num_workers < 1:
        raise UserError(f"Workers must be 1 or more, not {num_workers}.")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory (it is created if missing).")

    config = generation_config(seed, size, num_frames, videos_per_group)
    _check_existing(out, config)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"Cannot create {out} ({exc.strerror}); choose a writable --out.") from exc
    busy = f"Another synth run is writing {out}; wait for it to finish."
    with exclusive(out / LOCK_FILE, busy):  # a second run would delete our temp files
        if not (out / META_FILE).is_file():
            write_json_atomic(out / PENDING_FILE, config)
        _remove_stale_temps(out)

        jobs = [_Job(str(out), name, group, clip, seed, size, num_frames)
                for name in class_names()
                for group in range(1, NUM_GROUPS + 1)
                for clip in range(1, videos_per_group + 1)]
        todo = [j for j in jobs if not (out / VIDEO_DIR / video_path(j.name, j.group, j.clip)).is_file()]
        # Videos made before the masks existed (or by a run killed before it wrote them) are
        # rendered again for their masks only.
        have = stored_names(out)
        todo_set = set(todo)
        todo += [dataclasses.replace(j, mask_only=True) for j in jobs if j not in todo_set
                 and Path(video_path(j.name, j.group, j.clip)).stem not in have]
        masks = _run_jobs(todo, num_workers)
        if masks:
            write_masks(out, masks)

        for name, text in split_files(videos_per_group).items():
            write_text_atomic(out / SPLIT_DIR / name, text)
        meta = {**config, "classes": _class_meta()}
        write_json_atomic(out / META_FILE, meta)
        (out / PENDING_FILE).unlink(missing_ok=True)

    written = _benchmark_files(out, videos_per_group)
    return SynthSummary(out=out, classes=meta["classes"], counts=split_counts(videos_per_group),
                        num_videos=len(jobs), num_written=sum(not j.mask_only for j in todo),
                        num_bytes=sum(p.stat().st_size for p in written),
                        seconds=time.perf_counter() - start)


def _unpack(result: tuple[str, np.ndarray, tuple[int, ...]]) -> tuple[str, np.ndarray]:
    stem, bits, shape = result
    return stem, np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)


def _run_jobs(jobs: list[_Job], num_workers: int) -> dict[str, np.ndarray]:
    """Run the jobs; returns each video's region mask by file stem."""
    masks: dict[str, np.ndarray] = {}
    if not jobs:
        return masks
    progress = bar(total=len(jobs), desc="synth", unit="video")
    try:
        if num_workers == 1 or len(jobs) == 1:
            for job in jobs:
                stem, mask = _unpack(_make_video(job))
                masks[stem] = mask
                progress.update()
            return masks
        # spawn, not fork: safe when the caller already runs threads (torch, a notebook kernel).
        with ProcessPoolExecutor(min(num_workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_make_video, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    stem, mask = _unpack(future.result())
                    masks[stem] = mask
                    progress.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        progress.close()
    return masks


def load_class_meta(root: str | os.PathLike) -> list[dict[str, Any]]:
    """The classes of a generated benchmark, in label order: name, kind, partner, description."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing; generate the benchmark with `python -m helpers synth --out {root}`.")
    try:
        return list(json.loads(path.read_text())["classes"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a benchmark's class list ({exc}); generate it again.") from exc

