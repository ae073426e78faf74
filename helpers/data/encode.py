"""One video through `prepare`'s worker: decode it once, resize and JPEG-encode its frames
for each store that lacks it, and write one part file per store (or a failure record).

A problem with the video becomes a failure record (`<name>.fail.json`) in every parts folder;
a problem writing a part (disk full) raises, because it is not the video's fault and must
stop the run.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from helpers.data.sources import SourceError, SourceVideo, check_decoded_count, iter_frames, probe
from helpers.data.store import Part, save_part
from helpers.data.store_report import VideoIssue
from helpers.utils.io import write_json_atomic

Size = tuple[int, int]  # (H, W)


@dataclass(frozen=True)
class Job:
    """One video and the stores that still lack it: (parts folder, frame size) for each, the
    size None meaning the size as decoded."""
    video: SourceVideo
    outputs: tuple[tuple[Path, Size | None], ...]


@dataclass(frozen=True)
class EncodeResult:
    """What a worker did with one video."""
    name: str
    ok: bool
    frames: int  # 0 when the video failed
    bytes: int  # JPEG bytes over all its stores
    seconds: float


def part_path(parts_dir: Path, name: str) -> Path:
    return parts_dir / f"{name}.npz"


def failure_path(parts_dir: Path, name: str) -> Path:
    return parts_dir / f"{name}.fail.json"


def part_done(parts_dir: Path, video: SourceVideo) -> bool:
    """Whether a worker already made this video's part (or its failure record) here."""
    return part_path(parts_dir, video.name).exists() or failure_path(parts_dir, video.name).exists()


def encode_frame(frame: np.ndarray, size: Size, params: list[int]) -> np.ndarray:
    """One BGR frame as JPEG bytes at `size` (H, W)."""
    import cv2

    if frame.shape[:2] != size:
        frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", frame, params)
    if not ok:
        raise SourceError(f"JPEG encoding failed at {size[1]}x{size[0]}")
    return buf.reshape(-1)


def write_failure(job: Job, reason: str) -> None:
    """Record in every output's parts folder that the video could not be stored, and why."""
    issue = VideoIssue(job.video.name, str(job.video.path), reason)
    for parts_dir, _ in job.outputs:
        write_json_atomic(failure_path(parts_dir, job.video.name), issue.to_json())


def _decode_and_encode(job: Job, quality: int) -> tuple[list[list[np.ndarray]], list[Size],
                                                        Size, str]:
    """Every frame JPEG-encoded once per output; also each output's size, the decoded size
    and the frame-count warning. Raises when the video is at fault."""
    import cv2

    chunks: list[list[np.ndarray]] = [[] for _ in job.outputs]
    sizes: list[Size] = []
    source_size: Size | None = None
    declared = probe(job.video).num_frames
    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    for frame in iter_frames(job.video, bgr=True, threads=1):
        if source_size is None:
            source_size = frame.shape[:2]
            sizes = [size or source_size for _, size in job.outputs]
        for out, size in zip(chunks, sizes, strict=True):
            out.append(encode_frame(frame, size, params))
    if source_size is None:
        raise SourceError("no frames could be decoded")
    warning = check_decoded_count(len(chunks[0]), declared)  # raises when well short
    return chunks, sizes, source_size, warning


def encode_video(job: Job, quality: int) -> EncodeResult:
    """Decode one video once; resize and JPEG-encode its frames into a part file per output."""
    start = time.perf_counter()
    name = job.video.name
    try:
        chunks, sizes, source_size, warning = _decode_and_encode(job, quality)
    except Exception as exc:  # the video is at fault: record why, never drop it silently
        write_failure(job, str(exc) if isinstance(exc, SourceError)
                      else f"{type(exc).__name__}: {exc}")
        return EncodeResult(name, False, 0, 0, time.perf_counter() - start)
    total = 0
    for (parts_dir, _), size, out in zip(job.outputs, sizes, chunks, strict=True):
        lengths = np.array([len(c) for c in out], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        save_part(part_path(parts_dir, name),
                  Part(np.concatenate(out), offsets, size, source_size, warning))
        total += int(offsets[-1])
    return EncodeResult(name, True, len(chunks[0]), total, time.perf_counter() - start)


class EncodeWork:
    """Picklable `encode_video` with the run's quality bound: what the pool's workers run."""

    def __init__(self, quality: int) -> None:
        self.quality = quality

    def __call__(self, job: Job) -> EncodeResult:
        return encode_video(job, self.quality)


def init_worker() -> None:
    """Each worker process: one OpenCV thread, and Ctrl-C left to the parent."""
    import cv2

    cv2.setNumThreads(1)  # one process per core already; threads would oversubscribe
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us
