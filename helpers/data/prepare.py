"""`prepare`: decode every source video into the JPEG-in-HDF5 store, in parallel, resumably.

HDF5 is not crash-safe, so workers never write the store. Each worker writes one part
file per video into `STORE.parts/` (temp file + rename): `<name>.npz` with the JPEG bytes,
or `<name>.fail.json` with the reason it could not be read. A rerun skips every video that
has either. Once all parts exist, one assembly step writes the store to a temp file and
renames it into place, so a file at STORE is always complete; only then is the parts
folder removed. `STORE.report.json` lists totals, failures and warnings.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import multiprocessing
import os
import shutil
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from helpers.data.sources import (
    SourceError,
    SourceVideo,
    check_decoded_count,
    discover,
    iter_frames,
    probe,
)
from helpers.data.splits import find_splits_dir, read_class_index
from helpers.data.store import (
    FORMAT_VERSION,
    Part,
    PartRef,
    VideoStore,
    library_versions,
    load_part,
    parts_dir_for,
    report_path_for,
    save_part,
    store_info,
    write_store,
)
from helpers.errors import UserError
from helpers.io import ensure_writable_dir, write_json_atomic
from helpers.progress import bar

DEFAULT_QUALITY = 90
SETTINGS_FILE = "settings.json"
LOCK_FILE = "lock"
_PROBE_VIDEOS = 8  # videos probed to pick the store's frame size (UCF-101: all 320x240)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def target_size(source_size: tuple[int, int], short_side: int | None) -> tuple[int, int]:
    """(H, W) for the store: the source size, or scaled so the short side is `short_side`,
    keeping the aspect ratio, each side rounded to an even number."""
    h, w = source_size
    if not short_side:
        return h, w
    scale = short_side / min(h, w)
    return _even(h * scale), _even(w * scale)


def _probe_size(videos: Sequence[SourceVideo]) -> tuple[int, int] | None:
    """The most common frame size among a few videos spread over the list."""
    step = max(1, len(videos) // _PROBE_VIDEOS)
    order = list(videos[::step]) + [v for i, v in enumerate(videos) if i % step]
    sizes: list[tuple[int, int]] = []
    for video in order:
        try:
            p = probe(video)
        except Exception:  # a bad video is reported by its worker; keep looking
            continue
        sizes.append((p.height, p.width))
        if len(sizes) == _PROBE_VIDEOS:
            break
    return max(set(sizes), key=sizes.count) if sizes else None


# --- one video (runs in a worker process) ------------------------------------------------------

def encode_video(video: SourceVideo, parts_dir: Path, size: tuple[int, int] | None,
                 quality: int) -> dict[str, Any]:
    """Decode, resize and JPEG-encode one video into its part file; return a summary.

    A problem with the video becomes a failure record; a problem writing the part (disk
    full) raises, because it is not the video's fault and must stop the run.
    """
    import cv2

    start = time.perf_counter()
    chunks: list[np.ndarray] = []
    source_size: tuple[int, int] | None = None
    try:
        declared = probe(video).num_frames
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        for frame in iter_frames(video, bgr=True, threads=1):
            if source_size is None:
                source_size = frame.shape[:2]
                size = size or source_size
            if frame.shape[:2] != size:
                frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
            ok, buf = cv2.imencode(".jpg", frame, params)
            if not ok:
                raise SourceError(f"JPEG encoding failed at frame {len(chunks)}")
            chunks.append(buf.reshape(-1))
        if not chunks:
            raise SourceError("no frames could be decoded")
        warning = check_decoded_count(len(chunks), declared)  # raises when well short
    except Exception as exc:  # the video is at fault: record why, never drop it silently
        reason = str(exc) if isinstance(exc, SourceError) else f"{type(exc).__name__}: {exc}"
        write_json_atomic(parts_dir / f"{video.name}.fail.json",
                          {"name": video.name, "path": str(video.path), "reason": reason})
        return {"name": video.name, "ok": False, "frames": 0, "bytes": 0,
                "seconds": time.perf_counter() - start}
    lengths = np.array([len(c) for c in chunks], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    assert size is not None and source_size is not None
    save_part(parts_dir / f"{video.name}.npz",
              Part(np.concatenate(chunks), offsets, tuple(size), tuple(source_size), warning))
    return {"name": video.name, "ok": True, "frames": len(chunks), "bytes": int(offsets[-1]),
            "seconds": time.perf_counter() - start}


def _init_worker() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; threads would oversubscribe
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the parent, which stops us


# --- the process pool, robust to a decoder that kills its worker -------------------------------

def _run_until_crash(queue: deque, num_workers: int, work: Callable[[Any], Any],
                     on_result: Callable[[Any], None]) -> list:
    """Run `work` over `queue` until it is empty ([]) or a worker dies (the items in flight).

    At most two items per worker are submitted at a time, so on Ctrl-C or a crash only those
    are in flight; the rest stay in `queue`.
    """
    ctx = multiprocessing.get_context("forkserver")  # no fork of a parent holding codec threads
    pool = ProcessPoolExecutor(num_workers, mp_context=ctx, initializer=_init_worker)
    inflight: dict[Any, Any] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < 2 * num_workers:
                item = queue.popleft()
                inflight[pool.submit(work, item)] = item
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            crashed = []
            for fut in done:
                item = inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    crashed.append(item)
                    continue
                on_result(result)
            if crashed:
                return crashed + list(inflight.values())
        return []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_pool(items: Sequence, num_workers: int, work: Callable[[Any], Any],
             on_result: Callable[[Any], None], on_crash: Callable[[Any], None]) -> None:
    """`on_result(work(item))` for every item across processes.

    When a worker process dies (a decoder segfault, the OOM killer), each item that was in
    flight is retried alone; one that kills its worker again goes to `on_crash`.
    """
    queue = deque(items)
    while queue:
        for suspect in _run_until_crash(queue, num_workers, work, on_result):
            if _run_until_crash(deque([suspect]), 1, work, on_result):
                on_crash(suspect)


# --- prepare ----------------------------------------------------------------------------------

@contextlib.contextmanager
def _locked(parts_dir: Path) -> Iterator[None]:
    """One prepare per store at a time; the OS drops the lock when the process dies."""
    with open(parts_dir / LOCK_FILE, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UserError(f"another prepare is writing {parts_dir}; wait for it to finish "
                            f"or stop it") from None
        yield


def _remove_stale_temps(parts_dir: Path, out: Path) -> None:
    """Temp files of a killed run: never renamed, so never part of the result."""
    for tmp in [*parts_dir.glob(".*.tmp"), *out.parent.glob(f".{out.name}.*.tmp")]:
        tmp.unlink(missing_ok=True)


def _check_settings(parts_dir: Path, settings: dict[str, Any],
                    videos: Sequence[SourceVideo], short_side: int | None) -> dict[str, Any]:
    """Settings of this store's parts: written on the first run, enforced on reruns."""
    path = parts_dir / SETTINGS_FILE
    if path.is_file():
        saved = json.loads(path.read_text())
        keys = ("format_version", "source_kind", "short_side", "quality")
        changed = [k for k in keys if saved.get(k) != settings[k]]
        if changed:
            was = ", ".join(f"{k}={saved.get(k)!r} (now {settings[k]!r})" for k in changed)
            raise UserError(f"the unfinished parts in {parts_dir} were made with {was}; rerun "
                            f"with the same settings, or delete {parts_dir} to start over")
        return {**saved, "source": settings["source"]}  # the same videos may have moved
    size = _probe_size(videos)
    settings = {**settings, "height": 0, "width": 0}
    if size is not None:
        settings["height"], settings["width"] = target_size(size, short_side)
    write_json_atomic(path, settings)
    return settings


def _source_kind(videos: Sequence[SourceVideo]) -> str:
    kinds = sorted({v.kind for v in videos})
    return kinds[0] if len(kinds) == 1 else "+".join(kinds)


def _finished_report(out: Path, settings: dict[str, Any]) -> dict[str, Any]:
    """A rerun on a finished store: check it matches the request, tidy up, return its report."""
    try:
        store = VideoStore(out)
    except UserError:
        raise UserError(f"{out} exists but is not a finished store (a finished one is renamed "
                        f"into place whole); delete it or choose another --out") from None
    changed = [k for k in ("source_kind", "short_side", "quality")
               if store.attrs.get(k) != settings[k]]
    if changed:
        was = ", ".join(f"{k}={store.attrs.get(k)!r}" for k in changed)
        raise UserError(f"{out} already holds a store made with {was}; delete it or choose "
                        f"another --out")
    report_path = report_path_for(out)
    if report_path.is_file():
        report = json.loads(report_path.read_text())
    else:  # killed between the store's rename and the report's
        totals = store_info(out)["totals"]
        failures = json.loads(store.attrs.get("failures", "[]"))
        report = {"store": str(out), "source": store.attrs.get("source"),
                  "videos_total": len(store) + len(failures), "videos_ok": len(store),
                  "frames": totals["frames"], "bytes": totals["jpeg_bytes"],
                  "failures": failures, "warnings": json.loads(store.attrs.get("warnings", "[]"))}
        write_json_atomic(report_path, report)
    shutil.rmtree(parts_dir_for(out), ignore_errors=True)
    return report


def _resolve_inputs(source: str | os.PathLike, splits: str | os.PathLike | None,
                    quality: int, short_side: int | None,
                    num_workers: int | None) -> tuple[Path, Path, int]:
    source = Path(source).expanduser()
    if not source.is_dir():
        raise UserError(f"--source {source} is not a folder; point it at the folder holding "
                        f"UCF-101/ or UCF-101-hdf5/")
    if not 1 <= quality <= 100:
        raise UserError(f"--quality must be 1..100, got {quality}")
    if short_side is not None and short_side < 2:
        raise UserError(f"--short-side must be at least 2 pixels, got {short_side}")
    if num_workers is None:
        num_workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    if num_workers < 1:
        raise UserError(f"--workers must be at least 1, got {num_workers}")
    if splits is None:
        try:
            splits_dir = find_splits_dir(source)
        except UserError:
            raise UserError(f"no split files in {source}; pass --splits DIR (the folder "
                            f"holding classInd.txt)") from None
    else:
        splits_dir = find_splits_dir(Path(splits).expanduser())
    return source.resolve(), splits_dir, num_workers


def _check_out_folder(out: Path) -> None:
    """The store's folder must be a folder we can write (it is created if missing): say so
    now, in one sentence, rather than fail on the first part file."""
    ensure_writable_dir(out.parent, what=f"--out {out}")


def prepare_store(source: str | os.PathLike, splits: str | os.PathLike | None,
                  out: str | os.PathLike, *, num_workers: int | None = None,
                  short_side: int | None = None, quality: int = DEFAULT_QUALITY) -> dict[str, Any]:
    """Decode every video under `source` into the store `out`; return the report.

    Resumable: rerun the same call after any interruption. See the module docstring.
    """
    started = time.perf_counter()
    source, splits_dir, num_workers = _resolve_inputs(source, splits, quality, short_side,
                                                      num_workers)
    out = Path(out).expanduser()
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file path such as {out / 'ucf101.h5'}")
    _check_out_folder(out)
    class_names = read_class_index(splits_dir / "classInd.txt")
    videos = discover(source, class_names)
    settings = {"format_version": FORMAT_VERSION, "source": str(source),
                "source_kind": _source_kind(videos), "short_side": short_side or 0,
                "quality": quality}
    if out.exists():
        return _finished_report(out, settings)
    parts_dir = parts_dir_for(out)
    try:
        parts_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"cannot create {parts_dir} beside --out ({exc.strerror or exc}); "
                        f"choose a writable location for the store") from None
    with _locked(parts_dir):
        _remove_stale_temps(parts_dir, out)
        settings = _check_settings(parts_dir, settings, videos, short_side)
        size = (settings["height"], settings["width"]) if settings["height"] else None
        todo = [v for v in videos if not (parts_dir / f"{v.name}.npz").exists()
                and not (parts_dir / f"{v.name}.fail.json").exists()]
        decode = _decode_all(todo, len(videos), parts_dir, size, quality, num_workers)
        report = _assemble(out, parts_dir, videos, class_names, settings, splits_dir)
    report.update(resumed=len(videos) - len(todo), processed=len(todo), workers=num_workers,
                  **decode, seconds=round(time.perf_counter() - started, 2))
    write_json_atomic(report_path_for(out), report)
    shutil.rmtree(parts_dir, ignore_errors=True)
    return report


def _decode_all(todo: Sequence[SourceVideo], total: int, parts_dir: Path,
                size: tuple[int, int] | None, quality: int, num_workers: int) -> dict[str, Any]:
    """Encode `todo` across processes with a progress bar; return this run's throughput."""
    counts = {"videos": 0, "frames": 0, "failed": 0}
    start = time.perf_counter()
    progress = bar(desc="prepare", total=total, initial=total - len(todo), unit="video")

    def on_result(summary: dict[str, Any]) -> None:
        counts["videos"] += 1
        counts["frames"] += summary["frames"]
        counts["failed"] += not summary["ok"]
        elapsed = max(time.perf_counter() - start, 1e-9)
        progress.set_postfix_str(f"{counts['frames'] / elapsed:,.0f} frames/s, "
                                 f"{counts['failed']} failed", refresh=False)
        progress.update(1)

    def on_crash(video: SourceVideo) -> None:
        reason = "the decoder crashed its worker process (twice, once alone)"
        write_json_atomic(parts_dir / f"{video.name}.fail.json",
                          {"name": video.name, "path": str(video.path), "reason": reason})
        on_result({"name": video.name, "ok": False, "frames": 0})

    work = _Work(parts_dir, size, quality)
    try:
        with progress:
            run_pool(todo, min(num_workers, max(1, len(todo))), work, on_result, on_crash)
    except OSError as exc:
        raise UserError(f"writing parts to {parts_dir} failed ({exc}); fix that and rerun the "
                        f"same command to resume") from None
    seconds = max(time.perf_counter() - start, 1e-9)
    return {"decode_seconds": round(seconds, 2),
            "videos_per_s": round(counts["videos"] / seconds, 2),
            "frames_per_s": round(counts["frames"] / seconds, 1)}


class _Work:
    """Picklable `encode_video` with the run's fixed arguments bound."""

    def __init__(self, parts_dir: Path, size: tuple[int, int] | None, quality: int) -> None:
        self.parts_dir, self.size, self.quality = parts_dir, size, quality

    def __call__(self, video: SourceVideo) -> dict[str, Any]:
        return encode_video(video, self.parts_dir, self.size, self.quality)


def _assemble(out: Path, parts_dir: Path, videos: Sequence[SourceVideo],
              class_names: Sequence[str], settings: dict[str, Any],
              splits_dir: Path) -> dict[str, Any]:
    """All parts exist: write the store (temp + rename) and return the report's totals."""
    refs: list[PartRef] = []
    failures: list[dict[str, str]] = []
    warnings: list[dict[str, str]] = []
    for v in videos:
        fail = parts_dir / f"{v.name}.fail.json"
        if fail.exists():
            failures.append(json.loads(fail.read_text()))
            continue
        path = parts_dir / f"{v.name}.npz"
        try:
            warning = load_part(path, with_jpeg=False).warning
        except Exception as exc:
            path.unlink(missing_ok=True)
            raise UserError(f"the part file of {v.name} was damaged ({exc}) and is removed; "
                            f"rerun the same command to redo that video") from None
        if warning:
            warnings.append({"name": v.name, "path": str(v.path), "reason": warning})
        refs.append(PartRef(v.name, v.class_name, path))
    report: dict[str, Any] = {
        "store": str(out), "source": settings["source"], "source_kind": settings["source_kind"],
        "splits": str(splits_dir), "videos_total": len(videos), "videos_ok": len(refs),
        "frames": 0, "bytes": 0, "failures": failures, "warnings": warnings,
        "height": settings["height"], "width": settings["width"],
        "short_side": settings["short_side"], "quality": settings["quality"],
    }
    if not refs:
        write_json_atomic(report_path_for(out), report)
        raise UserError(f"none of the {len(videos)} videos could be read; the reasons are in "
                        f"{report_path_for(out)} (delete {parts_dir} to retry them)")
    attrs = {"source": settings["source"], "source_kind": settings["source_kind"],
             "splits": str(splits_dir), "short_side": settings["short_side"],
             "quality": settings["quality"],
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "failures": json.dumps(failures), "warnings": json.dumps(warnings),
             **library_versions()}
    progress = bar(desc="assemble", total=len(refs), unit="video")
    try:
        with progress:
            totals = write_store(out, refs, class_names, attrs, progress=progress.update)
    except ValueError as exc:
        raise UserError(f"cannot assemble {out}: {exc}; delete {parts_dir} and rerun") from None
    report.update(frames=totals["frames"], bytes=totals["bytes"])
    return report


def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.cli import int_at_least, int_between, positive_int

    parser.add_argument("--source", type=Path, required=True,
                        help="folder holding UCF-101/ (AVIs), UCF-101-hdf5/ (course) or the "
                             "synthetic benchmark")
    parser.add_argument("--splits", type=Path, default=None,
                        help="folder holding classInd.txt (default: SOURCE/ucfTrainTestlist)")
    parser.add_argument("--out", type=Path, required=True, help="the store file to write (.h5)")
    parser.add_argument("--workers", type=positive_int, default=None,
                        help="decoding processes (default: the CPU count)")
    parser.add_argument("--short-side", type=int_at_least(2), default=None,
                        help="resize frames so the short side is this many pixels (e.g. 128 "
                             "for the 3D model); default: keep the size")
    parser.add_argument("--quality", type=int_between(1, 100), default=DEFAULT_QUALITY,
                        help=f"JPEG quality 1-100 (default {DEFAULT_QUALITY})")


def run(args: argparse.Namespace) -> int:
    report = prepare_store(args.source, args.splits, args.out, num_workers=args.workers,
                           short_side=args.short_side, quality=args.quality)
    failures = report["failures"]
    print(f"{args.out}: {report['videos_ok']:,} videos, {report['frames']:,} frames, "
          f"{report['bytes'] / 1e6:,.1f} MB of JPEG; {len(failures)} failed"
          + (f" (reasons in {report_path_for(args.out)})" if failures else ""))
    for failure in failures[:10]:
        print(f"  skipped {failure['name']}: {failure['reason']}")
    return 0
