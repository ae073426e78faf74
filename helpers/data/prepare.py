"""`prepare`: decode every source video into JPEG-in-HDF5 stores, in parallel, resumably.

One decode pass can fill several stores (e.g. native size and short side 128): each decoded
frame is resized and encoded once per store.

HDF5 is not crash-safe, so workers never write a store. For each store, a worker writes one
part file per video into `STORE.parts/` (temp file + rename): `<name>.npz` with the JPEG
bytes, or `<name>.fail.json` with the reason it could not be read. A rerun decodes only the
videos that some store still lacks. Once all parts exist, one assembly step per store writes
it to a temp file and renames it into place, so a file at STORE is always complete; only then
is its parts folder removed. `STORE.report.json` lists totals, failures and warnings.

Before anything is written, the disk space the run needs at its peak (the parts plus the
stores) is estimated and compared with the free space.
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
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
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
    human_bytes,
    library_versions,
    load_part,
    parts_dir_for,
    report_path_for,
    save_part,
    store_info,
    write_store,
)
from helpers.errors import UserError
from helpers.utils.io import ensure_writable_dir, sha256_json, write_json_atomic
from helpers.utils.progress import bar

DEFAULT_QUALITY = 90
SETTINGS_FILE = "settings.json"
LOCK_FILE = "lock"
_PROBE_VIDEOS = 8  # videos probed to pick the store's frame size (UCF-101: all 320x240)

Size = tuple[int, int]  # (H, W)


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

@dataclass(frozen=True)
class Job:
    """One video and the stores that still lack it: (parts folder, frame size) for each, the
    size None meaning the size as decoded."""
    video: SourceVideo
    outputs: tuple[tuple[Path, Size | None], ...]


def _encode(frame: np.ndarray, size: Size, params: list[int]) -> np.ndarray:
    """One BGR frame as JPEG bytes at `size` (H, W)."""
    import cv2

    if frame.shape[:2] != size:
        frame = cv2.resize(frame, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", frame, params)
    if not ok:
        raise SourceError(f"JPEG encoding failed at {size[1]}x{size[0]}")
    return buf.reshape(-1)


def _write_failure(job: Job, reason: str) -> None:
    for parts_dir, _ in job.outputs:
        write_json_atomic(parts_dir / f"{job.video.name}.fail.json",
                          {"name": job.video.name, "path": str(job.video.path), "reason": reason})


def encode_video(job: Job, quality: int) -> dict[str, Any]:
    """Decode one video once; resize and JPEG-encode its frames into a part file per output;
    return a summary.

    A problem with the video becomes a failure record in every output; a problem writing a
    part (disk full) raises, because it is not the video's fault and must stop the run.
    """
    import cv2

    start = time.perf_counter()
    video = job.video
    chunks: list[list[np.ndarray]] = [[] for _ in job.outputs]
    sizes: list[Size] = []
    source_size: Size | None = None
    try:
        declared = probe(video).num_frames
        params = [cv2.IMWRITE_JPEG_QUALITY, quality]
        for frame in iter_frames(video, bgr=True, threads=1):
            if source_size is None:
                source_size = frame.shape[:2]
                sizes = [size or source_size for _, size in job.outputs]
            for out, size in zip(chunks, sizes, strict=True):
                out.append(_encode(frame, size, params))
        if source_size is None:
            raise SourceError("no frames could be decoded")
        warning = check_decoded_count(len(chunks[0]), declared)  # raises when well short
    except Exception as exc:  # the video is at fault: record why, never drop it silently
        _write_failure(job, str(exc) if isinstance(exc, SourceError)
                       else f"{type(exc).__name__}: {exc}")
        return {"name": video.name, "ok": False, "frames": 0, "bytes": 0,
                "seconds": time.perf_counter() - start}
    assert source_size is not None
    total = 0
    for (parts_dir, _), size, out in zip(job.outputs, sizes, chunks, strict=True):
        lengths = np.array([len(c) for c in out], np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        save_part(parts_dir / f"{video.name}.npz",
                  Part(np.concatenate(out), offsets, size, source_size, warning))
        total += int(offsets[-1])
    return {"name": video.name, "ok": True, "frames": len(chunks[0]), "bytes": total,
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

@dataclass(frozen=True)
class _Target:
    """One store to build: its file and the short side of its frames (None: as decoded)."""
    out: Path
    short_side: int | None

    @property
    def parts_dir(self) -> Path:
        return parts_dir_for(self.out)


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
                    probed: Size | None) -> dict[str, Any]:
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
    settings = {**settings, "height": 0, "width": 0}
    if probed is not None:
        settings["height"], settings["width"] = target_size(probed, settings["short_side"])
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
                    quality: int, short_sides: Sequence[int | None],
                    num_workers: int | None) -> tuple[Path, Path, int]:
    source = Path(source).expanduser()
    if not source.is_dir():
        raise UserError(f"--source {source} is not a folder; point it at the folder holding "
                        f"UCF-101/ or UCF-101-hdf5/")
    if not 1 <= quality <= 100:
        raise UserError(f"--quality must be 1..100, got {quality}")
    for short_side in short_sides:
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


def _resolve_targets(outs: Mapping[int | None, str | os.PathLike]) -> list[_Target]:
    """One target per store, each a distinct file in a folder we can write (created if
    missing): say what is wrong now, in one sentence, rather than fail on the first part."""
    targets = [_Target(Path(out).expanduser(), side or None) for side, out in outs.items()]
    if not targets:
        raise UserError("no store to prepare; give at least one --out")
    if len({t.short_side for t in targets}) < len(targets):
        raise UserError("two of the stores ask for the same --short-side; one store per size")
    if len({t.out.resolve() for t in targets}) < len(targets):
        raise UserError(f"the stores must be different files, got {[str(t.out) for t in targets]}")
    for t in targets:
        if t.out.is_dir():
            raise UserError(f"--out {t.out} is a folder; give a file path such as "
                            f"{t.out / 'ucf101.h5'}")
        ensure_writable_dir(t.out.parent, what=f"--out {t.out}")
    return targets


# --- disk space: estimated before anything is written -----------------------------------------

# A store's size is estimated from the videos' declared frame counts and the JPEG bytes per
# frame measured by encoding the first frames of a few videos at each store's size and quality
# (not a constant: bytes per pixel vary with size, quality and content). Later frames and other
# videos compress differently (UCF-101 at quality 90: the first 16 frames of
# v_ApplyEyeMakeup_g01_c01 take 8% fewer bytes than all 164 at 320x240, 3% at 170x128), hence
# the margin. It is an estimate, not a promise: a disk that fills anyway stops the run, which
# then resumes.
_SAMPLE_VIDEOS = 8
_SAMPLE_FRAMES = 16
_SPACE_MARGIN = 1.15
# Only when no video decodes for the sample: conservative (UCF-101 at quality 90 measures 0.21
# bytes per pixel at 320x240 and 0.35 at 170x128).
_FALLBACK_BYTES_PER_PIXEL = 0.5


@dataclass(frozen=True)
class SpaceNeed:
    """What the stores being built on one filesystem will take, estimated."""
    folder: Path  # where the free space is measured
    stores: list[Path]
    store_bytes: int  # the finished stores
    parts: int  # the part files still to be written
    largest: int  # the largest store, written while its parts still exist

    @property
    def need(self) -> int:
        """The peak of the bytes still to be written: each store's parts go once it is
        assembled, so the peak is all the parts still to write plus the largest store."""
        return self.parts + self.largest


def sample_bytes_per_frame(videos: Sequence[SourceVideo], sizes: Sequence[Size | None],
                           quality: int) -> list[float]:
    """Mean JPEG bytes per frame at each size (None: as decoded), from the first frames of a
    few videos spread over the list; 0.0 when no video decodes."""
    import cv2

    params = [cv2.IMWRITE_JPEG_QUALITY, quality]
    totals = [0] * len(sizes)
    count = 0
    for video in videos[::max(1, len(videos) // _SAMPLE_VIDEOS)][:_SAMPLE_VIDEOS]:
        frames = iter_frames(video, bgr=True, threads=1)
        try:
            for _, frame in zip(range(_SAMPLE_FRAMES), frames, strict=False):
                lengths = [len(_encode(frame, size or frame.shape[:2], params)) for size in sizes]
                totals = [t + n for t, n in zip(totals, lengths, strict=True)]
                count += 1
        except Exception:  # a bad video is reported by its worker; sample the others
            continue
        finally:
            frames.close()
    return [t / count if count else 0.0 for t in totals]


def _declared_frames(videos: Sequence[SourceVideo], num_workers: int) -> dict[str, int]:
    """Each video's declared frame count (0 when it cannot be probed: its worker says why)."""
    def count(video: SourceVideo) -> int:
        try:
            return probe(video).num_frames
        except Exception:
            return 0

    with ThreadPoolExecutor(num_workers) as pool:  # opening files waits on the disk
        return dict(zip((v.name for v in videos), pool.map(count, videos), strict=True))


def _done(parts_dir: Path, video: SourceVideo) -> bool:
    return ((parts_dir / f"{video.name}.npz").exists()
            or (parts_dir / f"{video.name}.fail.json").exists())


def _existing_folder(path: Path) -> Path:
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def estimate_space(targets: Sequence[_Target], videos: Sequence[SourceVideo], quality: int,
                   probed: Size | None, num_workers: int) -> list[SpaceNeed]:
    """The stores' disk needs, per filesystem. Part files already written (a resumed run)
    count as written, not as still to write."""
    sizes = [target_size(probed, t.short_side) if probed else None for t in targets]
    todo = [[v for v in videos if not _done(t.parts_dir, v)] for t in targets]
    frames = _declared_frames(list({v.name: v for vs in todo for v in vs}.values()), num_workers)
    per_frame = sample_bytes_per_frame(videos, sizes, quality) if any(todo) else [0.0] * len(sizes)
    needs: dict[int, SpaceNeed] = {}  # by filesystem
    for target, size, vs, bpf in zip(targets, sizes, todo, per_frame, strict=True):
        if not bpf and size:
            bpf = _FALLBACK_BYTES_PER_PIXEL * size[0] * size[1]
        remaining = int(sum(frames[v.name] for v in vs) * bpf * _SPACE_MARGIN)
        store = remaining + sum(p.stat().st_size for p in target.parts_dir.glob("*.npz"))
        folder = _existing_folder(target.out.parent)
        device = os.stat(folder).st_dev
        n = needs.get(device, SpaceNeed(folder, [], 0, 0, 0))
        needs[device] = SpaceNeed(
            n.folder, [*n.stores, target.out], n.store_bytes + store, n.parts + remaining,
            max(n.largest, store))
    return list(needs.values())


def check_space(needs: Sequence[SpaceNeed]) -> None:
    """Refuse, before writing anything, a run the disk cannot hold."""
    for n in needs:
        free = shutil.disk_usage(n.folder).free
        if n.need > free:
            names = " and ".join(p.name for p in n.stores)
            raise UserError(
                f"not enough disk space for {names}: preparing needs about "
                f"{human_bytes(n.need)} at its peak (the stores, about "
                f"{human_bytes(n.store_bytes)}, plus their part files until each is assembled) "
                f"but {n.folder} has {human_bytes(free)} free; free some space or put the "
                f"stores on a bigger disk (`prepare --out PATH`; for `make report`, "
                f"UCF_DATA_DIR=/big/disk or `report --stores DIR`)")


def prepare_stores(source: str | os.PathLike, splits: str | os.PathLike | None,
                   outs: Mapping[int | None, str | os.PathLike], *,
                   num_workers: int | None = None, quality: int = DEFAULT_QUALITY,
                   space_check: bool = True,
                   only: Collection[str] | None = None) -> dict[int | None, dict[str, Any]]:
    """Decode every video under `source` once into each store of `outs` ({short side or None
    for the size as decoded: store path}); return each store's report, keyed like `outs`.

    Resumable: rerun the same call after any interruption. See the module docstring.
    `space_check=False` skips the disk space estimate. `only`: the video names to store
    (e.g. a smoke run's few videos); default every video under `source`.
    """
    started = time.perf_counter()
    source, splits_dir, num_workers = _resolve_inputs(source, splits, quality, list(outs),
                                                      num_workers)
    targets = _resolve_targets(outs)
    class_names = read_class_index(splits_dir / "classInd.txt")
    videos = _select(discover(source, class_names), only, source)
    settings = {t.out: {"format_version": FORMAT_VERSION, "source": str(source),
                        "source_kind": _source_kind(videos), "short_side": t.short_side or 0,
                        "quality": quality} for t in targets}
    if only is not None:  # a store of a subset is another store than one of all videos
        settings = {k: {**v, "videos_sha256": sha256_json(sorted(only))}
                    for k, v in settings.items()}
    reports = {t.out: _finished_report(t.out, settings[t.out]) for t in targets if t.out.exists()}
    pending = [t for t in targets if t.out not in reports]
    if pending:
        probed = _probe_size(videos)
        if space_check:
            check_space(estimate_space(pending, videos, quality, probed, num_workers))
        reports.update(_build(pending, settings, probed, videos, class_names, splits_dir,
                              quality, num_workers, started))
    return {side: reports[t.out] for side, t in zip(outs, targets, strict=True)}


def _select(videos: list[SourceVideo], only: Collection[str] | None,
            source: Path) -> list[SourceVideo]:
    if only is None:
        return videos
    wanted = set(only)
    kept = [v for v in videos if v.name in wanted]
    absent = sorted(wanted - {v.name for v in kept})
    if absent:
        raise UserError(f"{len(absent)} of the {len(wanted)} videos asked for are not under "
                        f"{source} (e.g. {absent[0]}); check the source folder and the lists.")
    return kept


def estimate_stores(source: str | os.PathLike, splits: str | os.PathLike | None,
                    outs: Mapping[int | None, str | os.PathLike], *,
                    num_workers: int | None = None,
                    quality: int = DEFAULT_QUALITY) -> list[SpaceNeed]:
    """What building the stores of `outs` from every video under `source` would take on
    disk, without writing anything (a smoke run's forecast for the full run)."""
    source, splits_dir, num_workers = _resolve_inputs(source, splits, quality, list(outs),
                                                      num_workers)
    targets = _resolve_targets(outs)
    videos = discover(source, read_class_index(splits_dir / "classInd.txt"))
    return estimate_space(targets, videos, quality, _probe_size(videos), num_workers)


def prepare_store(source: str | os.PathLike, splits: str | os.PathLike | None,
                  out: str | os.PathLike, *, num_workers: int | None = None,
                  short_side: int | None = None, quality: int = DEFAULT_QUALITY,
                  space_check: bool = True) -> dict[str, Any]:
    """Decode every video under `source` into the store `out`; return the report."""
    return prepare_stores(source, splits, {short_side: out}, num_workers=num_workers,
                          quality=quality, space_check=space_check)[short_side]


def _build(targets: Sequence[_Target], settings: dict[Path, dict[str, Any]],
           probed: Size | None, videos: Sequence[SourceVideo], class_names: Sequence[str],
           splits_dir: Path, quality: int, num_workers: int,
           started: float) -> dict[Path, dict[str, Any]]:
    """Make the parts every target still lacks in one decode pass, then assemble each store."""
    for t in targets:
        try:
            t.parts_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create {t.parts_dir} beside --out ({exc.strerror or exc}); "
                            f"choose a writable location for the store") from None
    reports: dict[Path, dict[str, Any]] = {}
    errors: list[UserError] = []
    with contextlib.ExitStack() as stack:
        for t in targets:
            stack.enter_context(_locked(t.parts_dir))
            _remove_stale_temps(t.parts_dir, t.out)
            settings[t.out] = _check_settings(t.parts_dir, settings[t.out], probed)
        outputs = [(t.parts_dir, _stored_size(settings[t.out])) for t in targets]
        jobs = [Job(v, tuple(o for o in outputs if not _done(o[0], v))) for v in videos]
        jobs = [j for j in jobs if j.outputs]
        processed = {t.parts_dir: sum(t.parts_dir in dict(j.outputs) for j in jobs)
                     for t in targets}
        decode = _decode_all(jobs, len(videos), quality, num_workers)
        for t in targets:
            try:
                report = _assemble(t.out, t.parts_dir, videos, class_names, settings[t.out],
                                   splits_dir)
            except UserError as exc:  # e.g. no video readable: still assemble the others
                errors.append(exc)
                continue
            report.update(resumed=len(videos) - processed[t.parts_dir],
                          processed=processed[t.parts_dir], workers=num_workers, **decode,
                          seconds=round(time.perf_counter() - started, 2))
            write_json_atomic(report_path_for(t.out), report)
            shutil.rmtree(t.parts_dir, ignore_errors=True)  # now: frees disk for the next store
            reports[t.out] = report
    if errors:
        raise errors[0]
    return reports


def _stored_size(settings: dict[str, Any]) -> Size | None:
    return (settings["height"], settings["width"]) if settings["height"] else None


def _decode_all(jobs: Sequence[Job], total: int, quality: int,
                num_workers: int) -> dict[str, Any]:
    """Encode `jobs` across processes with a progress bar; return this run's throughput."""
    counts = {"videos": 0, "frames": 0, "failed": 0}
    start = time.perf_counter()
    progress = bar(desc="prepare", total=total, initial=total - len(jobs), unit="video")

    def on_result(summary: dict[str, Any]) -> None:
        counts["videos"] += 1
        counts["frames"] += summary["frames"]
        counts["failed"] += not summary["ok"]
        elapsed = max(time.perf_counter() - start, 1e-9)
        progress.set_postfix_str(f"{counts['frames'] / elapsed:,.0f} frames/s, "
                                 f"{counts['failed']} failed", refresh=False)
        progress.update(1)

    def on_crash(job: Job) -> None:
        _write_failure(job, "the decoder crashed its worker process (twice, once alone)")
        on_result({"name": job.video.name, "ok": False, "frames": 0})

    try:
        with progress:
            run_pool(jobs, min(num_workers, max(1, len(jobs))), _Work(quality), on_result,
                     on_crash)
    except OSError as exc:
        raise UserError(f"writing part files failed ({exc}); fix that and rerun the same "
                        f"command to resume") from None
    seconds = max(time.perf_counter() - start, 1e-9)
    return {"decode_seconds": round(seconds, 2),
            "videos_per_s": round(counts["videos"] / seconds, 2),
            "frames_per_s": round(counts["frames"] / seconds, 1)}


class _Work:
    """Picklable `encode_video` with the run's quality bound."""

    def __init__(self, quality: int) -> None:
        self.quality = quality

    def __call__(self, job: Job) -> dict[str, Any]:
        return encode_video(job, self.quality)


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
    from helpers.utils.argtypes import int_at_least, int_between, positive_int

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
    parser.add_argument("--also-out", type=Path, default=None,
                        help="a second store filled in the same decode pass (with "
                             "--also-short-side)")
    parser.add_argument("--also-short-side", type=int_at_least(2), default=None,
                        help="the short side of the --also-out store's frames")
    parser.add_argument("--quality", type=int_between(1, 100), default=DEFAULT_QUALITY,
                        help=f"JPEG quality 1-100 (default {DEFAULT_QUALITY})")


def _outs(args: argparse.Namespace) -> dict[int | None, Path]:
    if (args.also_out is None) != (args.also_short_side is None):
        raise UserError("--also-out and --also-short-side go together: give both for a second "
                        "store, or neither")
    outs: dict[int | None, Path] = {args.short_side: args.out}
    if args.also_out is not None:
        if args.also_short_side == args.short_side:
            raise UserError(f"--also-short-side {args.also_short_side} is the same as "
                            f"--short-side; the second store needs another size")
        outs[args.also_short_side] = args.also_out
    return outs


def run(args: argparse.Namespace) -> int:
    outs = _outs(args)
    reports = prepare_stores(args.source, args.splits, outs, num_workers=args.workers,
                             quality=args.quality)
    for side, out in outs.items():
        report = reports[side]
        failures = report["failures"]
        print(f"{out}: {report['videos_ok']:,} videos, {report['frames']:,} frames, "
              f"{report['bytes'] / 1e6:,.1f} MB of JPEG; {len(failures)} failed"
              + (f" (reasons in {report_path_for(out)})" if failures else ""))
    for failure in failures[:10]:  # the same videos fail in every store
        print(f"  skipped {failure['name']}: {failure['reason']}")
    return 0
