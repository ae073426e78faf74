"""`bench data`: every data figure side by side, in one run on the same videos: store size
against raw frames, prepare against plain decoding, the frame and clip datasets per worker,
and clips straight from the AVIs; each against the goal it should meet."""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from helpers.data.store_report import StoreReport
from helpers.errors import UserError
from helpers.tools.bench.loader_bench import (
    CLIP_CROP,
    CLIP_LEN,
    CLIP_SHORT_SIDE,
    FRAME_CROP,
    clip_rates,
    frame_dataset_fps,
)
from helpers.tools.bench.videos import BenchSource, bench_source


class BenchRow(NamedTuple):
    """One line of the table: what was measured, the figure, the goal, and whether it is met."""
    measure: str
    value: str
    goal: str
    met: bool


@dataclass(frozen=True)
class DataBench:
    """The figures of one `bench data` run and its table rows."""
    source: str
    videos: int
    frames: int
    frame_size: str  # WxH
    workers: int
    store_bytes_per_frame: float
    raw_bytes_per_frame: float
    store_ratio: float
    decode_fps: float
    prepare_fps: float
    prepare_ratio: float
    frame_dataset_fps: float
    clip_dataset_cps: float
    avi_clip_cps: float
    clip_speedup: float
    rows: tuple[BenchRow, ...]


def _init_decoder() -> None:
    import cv2

    cv2.setNumThreads(1)


def _decode_count(video: Any) -> int:
    from helpers.data.sources import iter_frames

    return sum(1 for _ in iter_frames(video, bgr=True))


def decode_only(videos: list[Any], num_workers: int) -> tuple[int, float]:
    """(frames, seconds) of decoding alone, with the process pool `prepare` uses (same
    decoder, same start method, same worker count)."""
    start = time.perf_counter()
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(num_workers, mp_context=ctx, initializer=_init_decoder) as pool:
        frames = sum(pool.map(_decode_count, videos))
    return frames, time.perf_counter() - start


def _store_bytes(path: Path) -> tuple[float, float]:
    from helpers.data.store import VideoStore

    store = VideoStore(path)
    frames = sum(v.num_frames for v in store.videos)
    h, w = store.frame_size
    return path.stat().st_size / frames, float(h * w * 3)


def _prepare(src: BenchSource, out: Path, num_workers: int,
             short_side: int | None) -> tuple[StoreReport, float]:
    from helpers.data.prepare import prepare_store
    from helpers.data.store import remove_store

    remove_store(out)  # never time a resume: start from nothing
    start = time.perf_counter()
    report = prepare_store(src.root, src.splits, out, num_workers=num_workers,
                           short_side=short_side)
    return report, time.perf_counter() - start


def format_table(result: DataBench) -> str:
    lines = ["| measure | value | goal | met? |", "|---|---|---|---|"]
    lines += [f"| {r.measure} | {r.value} | {r.goal} | {'yes' if r.met else 'no'} |"
              for r in result.rows]
    return "\n".join(lines)


def bench_data(*, source: Path | None = None, splits: Path | None = None, num_videos: int = 16,
               num_workers: int = 1, work_dir: Path | None = None, seconds: float = 3.0,
               synth_size: tuple[int, int] = (320, 240)) -> DataBench:
    """Run every data measurement on one set of videos; return figures and table rows."""
    if num_videos < 1 or num_workers < 1 or not 0 < seconds < math.inf:
        raise UserError("--videos and --workers must be at least 1 and --seconds positive.")
    temp = tempfile.TemporaryDirectory(prefix="bench-data-") if work_dir is None else None
    with temp or contextlib.nullcontext():
        work = Path(temp.name if temp else work_dir)  # type: ignore[arg-type]
        work.mkdir(parents=True, exist_ok=True)
        src = bench_source(work, source=source, splits=splits, num_videos=num_videos,
                           synth_size=synth_size)
        return _measure(src, work, num_workers, seconds)


def _rows(r: DataBench) -> tuple[BenchRow, ...]:
    w = f"{r.workers} worker{'s' if r.workers > 1 else ''}"
    return (
        BenchRow(f"store bytes per frame against raw uint8 at {r.frame_size}",
                 f"{r.store_bytes_per_frame / 1e3:.1f} KB / {r.raw_bytes_per_frame / 1e3:.1f} KB"
                 f" = 1/{1 / r.store_ratio:.1f}", "≤ 1/12", r.store_ratio <= 1 / 12),
        BenchRow(f"prepare frames/s against decode-only frames/s ({w})",
                 f"{r.prepare_fps:,.0f} / {r.decode_fps:,.0f} = {r.prepare_ratio:.2f}",
                 "≥ 0.5", r.prepare_ratio >= 0.5),
        BenchRow(f"FrameDataset frames/s per worker at {FRAME_CROP}² with augmentation",
                 f"{r.frame_dataset_fps:,.0f}", "≥ 1,000", r.frame_dataset_fps >= 1000),
        BenchRow(f"ClipDataset clips/s per worker at {CLIP_LEN}×{CLIP_CROP}² against the same "
                 "clips decoded from the AVIs",
                 f"{r.clip_dataset_cps:,.1f} / {r.avi_clip_cps:,.1f} = {r.clip_speedup:.1f}×",
                 "≥ 10×", r.clip_speedup >= 10),
    )


def _measure(src: BenchSource, work: Path, num_workers: int, seconds: float) -> DataBench:
    from helpers.data.sources import discover
    from helpers.data.splits import read_class_index

    videos = discover(src.root, read_class_index(src.splits / "classInd.txt"))
    for v in videos:  # page the files in, so neither decode nor prepare pays a cold read
        v.path.read_bytes()
    # Decode before and after prepare: both share any change in load while prepare runs.
    before = decode_only(videos, num_workers)
    report, prep_seconds = _prepare(src, work / "frames.h5", num_workers, None)
    after = decode_only(videos, num_workers)
    decode_fps = (before[0] + after[0]) / (before[1] + after[1])
    prepare_fps = report.frames / prep_seconds
    if report.failures:
        raise UserError(f"{len(report.failures)} benchmark videos failed to prepare, e.g. "
                        f"{report.failures[0].to_json()}")
    bytes_per_frame, raw_per_frame = _store_bytes(work / "frames.h5")
    _prepare(src, work / "clips.h5", num_workers, CLIP_SHORT_SIDE)
    frame_fps = frame_dataset_fps(work / "frames.h5", seconds)
    clip_cps, avi_cps = clip_rates(work / "clips.h5", {v.name: v.path for v in videos},
                                   seconds)
    result = DataBench(
        source=src.description, videos=report.videos_ok, frames=report.frames,
        frame_size=f"{report.width}x{report.height}", workers=num_workers,
        store_bytes_per_frame=bytes_per_frame, raw_bytes_per_frame=raw_per_frame,
        store_ratio=bytes_per_frame / raw_per_frame, decode_fps=decode_fps,
        prepare_fps=prepare_fps, prepare_ratio=prepare_fps / decode_fps,
        frame_dataset_fps=frame_fps, clip_dataset_cps=clip_cps, avi_clip_cps=avi_cps,
        clip_speedup=clip_cps / avi_cps, rows=())
    return dataclasses.replace(result, rows=_rows(result))
