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

The pieces live beside it: `targets` (which stores, at which frame size), `encode` (one
video in a worker), `space` (the disk estimate), `store_report` (the report) and
`helpers.utils.pool` (the process pool that survives a decoder killing its worker).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from helpers.data.encode import (
    EncodeResult,
    EncodeWork,
    Job,
    Size,
    failure_path,
    init_worker,
    part_done,
    part_path,
    write_failure,
)
from helpers.data.sources import SourceVideo, discover
from helpers.data.space import SpaceNeed, check_space, estimate_space
from helpers.data.splits import find_splits_dir, read_class_index
from helpers.data.store import (
    FORMAT_VERSION,
    PartRef,
    VideoStore,
    library_versions,
    load_part,
    parts_dir_for,
    report_path_for,
    store_info,
    write_store,
)
from helpers.data.store_report import (
    DecodeRate,
    StoreReport,
    VideoIssue,
    issues_from_json,
    issues_to_json,
    read_report,
    write_report,
)
from helpers.data.targets import StoreTarget, probe_size, resolve_targets, target_size
from helpers.errors import UserError
from helpers.utils.io import sha256_json, write_json_atomic
from helpers.utils.locking import exclusive
from helpers.utils.pool import default_workers, run_pool
from helpers.utils.progress import bar

DEFAULT_QUALITY = 90
SETTINGS_FILE = "settings.json"
LOCK_FILE = "lock"


@dataclass(frozen=True)
class Request:
    """What one `prepare` call works from: the videos, their classes and split files, and how
    to encode them."""
    videos: list[SourceVideo]
    class_names: list[str]
    splits_dir: Path
    quality: int
    num_workers: int
    started: float  # perf_counter() when the call began: the report's `seconds`


# --- settings and finished stores -------------------------------------------------------------

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



def _rebuilt_report(out: Path, store: VideoStore) -> StoreReport:
    """The report of a store whose run was killed between the store's rename and the report's."""
    totals = store_info(out)["totals"]
    failures = issues_from_json(json.loads(store.attrs.get("failures", "[]")))
    return StoreReport(store=str(out), source=store.attrs.get("source"),
                       videos_total=len(store) + len(failures), videos_ok=len(store),
                       frames=totals["frames"], bytes=totals["jpeg_bytes"], failures=failures,
                       warnings=issues_from_json(json.loads(store.attrs.get("warnings", "[]"))))


def _finished_report(out: Path, settings: dict[str, Any]) -> StoreReport:
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
        report = read_report(report_path)
    else:
        report = _rebuilt_report(out, store)
        write_report(report, report_path)
    shutil.rmtree(parts_dir_for(out), ignore_errors=True)
    return report


# --- the request ------------------------------------------------------------------------------

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
    num_workers = default_workers() if num_workers is None else num_workers
    if num_workers < 1:
        raise UserError(f"--workers must be at least 1, got {num_workers}")
    return source.resolve(), _splits_dir(source, splits), num_workers


def _splits_dir(source: Path, splits: str | os.PathLike | None) -> Path:
    if splits is not None:
        return find_splits_dir(Path(splits).expanduser())
    try:
        return find_splits_dir(source)
    except UserError:
        raise UserError(f"no split files in {source}; pass --splits DIR (the folder "
                        f"holding classInd.txt)") from None


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


def _settings(targets: Sequence[StoreTarget], source: Path, videos: Sequence[SourceVideo],
              quality: int, only: Collection[str] | None) -> dict[Path, dict[str, Any]]:
    """Each store's settings, as its parts folder records them (SETTINGS_FILE)."""
    settings = {t.out: {"format_version": FORMAT_VERSION, "source": str(source),
                        "source_kind": _source_kind(videos), "short_side": t.short_side or 0,
                        "quality": quality} for t in targets}
    if only is not None:  # a store of a subset is another store than one of all videos
        settings = {k: {**v, "videos_sha256": sha256_json(sorted(only))}
                    for k, v in settings.items()}
    return settings


# --- the entry points -------------------------------------------------------------------------

def prepare_stores(source: str | os.PathLike, splits: str | os.PathLike | None,
                   outs: Mapping[int | None, str | os.PathLike], *,
                   num_workers: int | None = None, quality: int = DEFAULT_QUALITY,
                   space_check: bool = True,
                   only: Collection[str] | None = None) -> dict[int | None, StoreReport]:
    """Decode every video under `source` once into each store of `outs` ({short side or None
    for the size as decoded: store path}); return each store's report, keyed like `outs`.

    Resumable: rerun the same call after any interruption. See the module docstring.
    `space_check=False` skips the disk space estimate. `only`: the video names to store
    (e.g. a smoke run's few videos); default every video under `source`.
    """
    started = time.perf_counter()
    source, splits_dir, num_workers = _resolve_inputs(source, splits, quality, list(outs),
                                                      num_workers)
    targets = resolve_targets(outs)
    class_names = read_class_index(splits_dir / "classInd.txt")
    videos = _select(discover(source, class_names), only, source)
    settings = _settings(targets, source, videos, quality, only)
    reports = {t.out: _finished_report(t.out, settings[t.out]) for t in targets if t.out.exists()}
    pending = [t for t in targets if t.out not in reports]
    if pending:
        probed = probe_size(videos)
        if space_check:
            check_space(estimate_space(pending, videos, quality, probed, num_workers))
        request = Request(videos, list(class_names), splits_dir, quality, num_workers, started)
        reports.update(_build(request, pending, settings, probed))
    return {side: reports[t.out] for side, t in zip(outs, targets, strict=True)}


def estimate_stores(source: str | os.PathLike, splits: str | os.PathLike | None,
                    outs: Mapping[int | None, str | os.PathLike], *,
                    num_workers: int | None = None,
                    quality: int = DEFAULT_QUALITY) -> list[SpaceNeed]:
    """What building the stores of `outs` from every video under `source` would take on
    disk, without writing anything (a smoke run's forecast for the full run)."""
    source, splits_dir, num_workers = _resolve_inputs(source, splits, quality, list(outs),
                                                      num_workers)
    targets = resolve_targets(outs)
    videos = discover(source, read_class_index(splits_dir / "classInd.txt"))
    return estimate_space(targets, videos, quality, probe_size(videos), num_workers)


def prepare_store(source: str | os.PathLike, splits: str | os.PathLike | None,
                  out: str | os.PathLike, *, num_workers: int | None = None,
                  short_side: int | None = None, quality: int = DEFAULT_QUALITY,
                  space_check: bool = True) -> StoreReport:
    """Decode every video under `source` into the store `out`; return the report."""
    return prepare_stores(source, splits, {short_side: out}, num_workers=num_workers,
                          quality=quality, space_check=space_check)[short_side]


# --- building: one decode pass, then one assembly per store -----------------------------------

def _make_parts_dirs(targets: Sequence[StoreTarget]) -> None:
    for t in targets:
        try:
            t.parts_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create {t.parts_dir} beside --out ({exc.strerror or exc}); "
                            f"choose a writable location for the store") from None


def _lock(stack: contextlib.ExitStack, target: StoreTarget) -> None:
    """One prepare per store at a time (a second one waits); the OS drops the lock when the
    process dies."""
    parts_dir = target.parts_dir
    # wait: the tasks of an array job share the stores, and the first one builds them
    stack.enter_context(exclusive(parts_dir / LOCK_FILE,
                                  f"another prepare is writing {parts_dir}; wait for it to "
                                  f"finish or stop it", wait=True))
    _remove_stale_temps(parts_dir, target.out)


def _jobs(videos: Sequence[SourceVideo],
          outputs: Sequence[tuple[Path, Size | None]]) -> list[Job]:
    """One job per video that some store still lacks, naming the stores that lack it."""
    jobs = [Job(v, tuple(o for o in outputs if not part_done(o[0], v))) for v in videos]
    return [j for j in jobs if j.outputs]


def _build(request: Request, targets: Sequence[StoreTarget],
           settings: dict[Path, dict[str, Any]], probed: Size | None) -> dict[Path, StoreReport]:
    """Make the parts every target still lacks in one decode pass, then assemble each store."""
    _make_parts_dirs(targets)
    reports: dict[Path, StoreReport] = {}
    errors: list[UserError] = []
    with contextlib.ExitStack() as stack:
        for t in targets:
            _lock(stack, t)
            settings[t.out] = _check_settings(t.parts_dir, settings[t.out], probed)
        jobs = _jobs(request.videos, [(t.parts_dir, _stored_size(settings[t.out]))
                                      for t in targets])
        rate = _decode_all(jobs, request)
        for t in targets:
            processed = sum(t.parts_dir in dict(j.outputs) for j in jobs)
            try:
                reports[t.out] = _finish(request, t, settings[t.out], rate, processed)
            except UserError as exc:  # e.g. no video readable: still assemble the others
                errors.append(exc)
    if errors:
        raise errors[0]
    return reports


def _finish(request: Request, target: StoreTarget, settings: dict[str, Any],
            rate: DecodeRate, processed: int) -> StoreReport:
    """Assemble one store from its parts, write its report, and free its parts' disk."""
    report = _assemble(target, request, settings).with_run(
        rate, resumed=len(request.videos) - processed, processed=processed,
        workers=request.num_workers, seconds=round(time.perf_counter() - request.started, 2))
    write_report(report, report_path_for(target.out))
    shutil.rmtree(target.parts_dir, ignore_errors=True)  # now: frees disk for the next store
    return report


def _stored_size(settings: dict[str, Any]) -> Size | None:
    return (settings["height"], settings["width"]) if settings["height"] else None


class _Progress:
    """The decode pass's progress bar and counts, fed one EncodeResult at a time."""

    def __init__(self, total: int, done: int) -> None:
        self.videos = self.frames = self.failed = 0
        self.start = time.perf_counter()
        self.bar = bar(desc="prepare", total=total, initial=done, unit="video")

    def on_result(self, result: EncodeResult) -> None:
        self.videos += 1
        self.frames += result.frames
        self.failed += not result.ok
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix_str(f"{self.frames / elapsed:,.0f} frames/s, "
                                 f"{self.failed} failed", refresh=False)
        self.bar.update(1)

    def rate(self) -> DecodeRate:
        seconds = max(time.perf_counter() - self.start, 1e-9)
        return DecodeRate(decode_seconds=round(seconds, 2),
                          videos_per_s=round(self.videos / seconds, 2),
                          frames_per_s=round(self.frames / seconds, 1))


def _decode_all(jobs: Sequence[Job], request: Request) -> DecodeRate:
    """Encode `jobs` across processes with a progress bar; return this run's throughput."""
    total = len(request.videos)
    progress = _Progress(total, total - len(jobs))

    def on_crash(job: Job) -> None:
        write_failure(job, "the decoder crashed its worker process (twice, once alone)")
        progress.on_result(EncodeResult(job.video.name, False, 0, 0, 0.0))

    try:
        with progress.bar:
            run_pool(jobs, min(request.num_workers, max(1, len(jobs))),
                     EncodeWork(request.quality), progress.on_result, on_crash,
                     initializer=init_worker)
    except OSError as exc:
        raise UserError(f"writing part files failed ({exc}); fix that and rerun the same "
                        f"command to resume") from None
    return progress.rate()


def _read_parts(parts_dir: Path, videos: Sequence[SourceVideo]
                ) -> tuple[list[PartRef], list[VideoIssue], list[VideoIssue]]:
    """The parts to assemble, the failures and the warnings, in the videos' order."""
    refs: list[PartRef] = []
    failures: list[VideoIssue] = []
    warnings: list[VideoIssue] = []
    for v in videos:
        fail = failure_path(parts_dir, v.name)
        if fail.exists():
            failures.append(VideoIssue.from_json(json.loads(fail.read_text())))
            continue
        path = part_path(parts_dir, v.name)
        try:
            warning = load_part(path, with_jpeg=False).warning
        except Exception as exc:
            path.unlink(missing_ok=True)
            raise UserError(f"the part file of {v.name} was damaged ({exc}) and is removed; "
                            f"rerun the same command to redo that video") from None
        if warning:
            warnings.append(VideoIssue(v.name, str(v.path), warning))
        refs.append(PartRef(v.name, v.class_name, path))
    return refs, failures, warnings


def _assemble(target: StoreTarget, request: Request, settings: dict[str, Any]) -> StoreReport:
    """All parts exist: write the store (temp + rename) and return the report's totals."""
    out, parts_dir = target.out, target.parts_dir
    refs, failures, warnings = _read_parts(parts_dir, request.videos)
    report = StoreReport(
        store=str(out), source=settings["source"], source_kind=settings["source_kind"],
        splits=str(request.splits_dir), videos_total=len(request.videos), videos_ok=len(refs),
        frames=0, bytes=0, failures=tuple(failures), warnings=tuple(warnings),
        height=settings["height"], width=settings["width"],
        short_side=settings["short_side"], quality=settings["quality"])
    if not refs:
        write_report(report, report_path_for(out))
        raise UserError(f"none of the {len(request.videos)} videos could be read; the reasons "
                        f"are in {report_path_for(out)} (delete {parts_dir} to retry them)")
    attrs = {"source": settings["source"], "source_kind": settings["source_kind"],
             "splits": str(request.splits_dir), "short_side": settings["short_side"],
             "quality": settings["quality"],
             "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "failures": json.dumps(issues_to_json(report.failures)),
             "warnings": json.dumps(issues_to_json(report.warnings)), **library_versions()}
    progress = bar(desc="assemble", total=len(refs), unit="video")
    try:
        with progress:
            totals = write_store(out, refs, request.class_names, attrs, progress=progress.update)
    except ValueError as exc:
        raise UserError(f"cannot assemble {out}: {exc}; delete {parts_dir} and rerun") from None
    return dataclasses.replace(report, frames=totals["frames"], bytes=totals["bytes"])
