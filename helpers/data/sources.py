"""Where `prepare` reads videos from: a UCF-101 AVI tree, the course's HDF5 tree, or the
synthetic benchmark (an AVI tree too).

Layouts, detected under `source_dir`:
- `UCF-101/<Class>/*.avi` (official RAR, and the synthetic benchmark's `DIR/UCF-101/`);
- `UCF-101-hdf5/<Class>/<name>.hdf5`, dataset `video`, uint8 [T, H, W, 3] RGB (course);
- `source_dir` itself holding `<Class>/` folders of either kind.

Every video must sit in a folder named after a classInd class; anything else is a
`UserError`, because a video dropped or filed under the wrong class skews every score.
A problem with one video (empty, truncated, undecodable) is a `SourceError`, which
`prepare` records in its report and goes on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from helpers.data.splits import ClassResolver, parse_video_name
from helpers.errors import UserError
from helpers.utils.io import open_h5

VideoKind = Literal["avi", "hdf5"]
AVI_SUFFIXES = {".avi"}
HDF5_SUFFIXES = {".hdf5", ".h5"}
LAYOUT_DIRS: dict[str, VideoKind] = {"UCF-101": "avi", "UCF-101-hdf5": "hdf5"}
HDF5_DATASET = "video"
_HDF5_CHUNK_FRAMES = 64  # read course files in slices: a whole video is ~40 MB raw


class SourceError(Exception):
    """One video cannot be read; the message is the reason recorded in the report."""


@dataclass(frozen=True)
class SourceVideo:
    name: str  # file stem, e.g. "v_ApplyEyeMakeup_g01_c01"
    class_name: str  # canonical classInd name
    path: Path
    kind: VideoKind


@dataclass(frozen=True)
class VideoProbe:
    height: int
    width: int
    num_frames: int  # as the container declares it; 0 when unknown


def _kind_of(path: Path) -> VideoKind | None:
    suffix = path.suffix.lower()
    if suffix in AVI_SUFFIXES:
        return "avi"
    if suffix in HDF5_SUFFIXES:
        return "hdf5"
    return None


def _layout_root(source_dir: Path) -> Path:
    """The folder whose children are the class folders."""
    found = [source_dir / d for d in LAYOUT_DIRS if (source_dir / d).is_dir()]
    if len(found) > 1:
        raise UserError(f"{source_dir} holds both {found[0].name}/ and {found[1].name}/; pass "
                        f"one of them as --source")
    return found[0] if found else source_dir


def discover(source_dir: str | os.PathLike, class_names: Sequence[str]) -> list[SourceVideo]:
    """Every video under `source_dir`, sorted by name, with its canonical class."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        raise UserError(f"source {source_dir} is not a folder; point --source at the folder "
                        f"holding UCF-101/, UCF-101-hdf5/ or the class folders")
    root = _layout_root(source_dir)
    resolve = ClassResolver(class_names)
    videos: list[SourceVideo] = []
    stray: list[Path] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file():
            if _kind_of(entry) is not None:
                stray.append(entry)
            continue
        files = [f for f in sorted(entry.iterdir()) if f.is_file() and _kind_of(f) is not None]
        if not files:
            continue  # e.g. the synthetic benchmark's ucfTrainTestlist/ beside class folders
        try:
            class_name = class_names[resolve(entry.name)]
        except LookupError:
            raise UserError(f"folder {entry} is not a class in classInd.txt; remove it or use "
                            f"the split files that match this dataset") from None
        for f in files:
            _check_name_matches_class(f, class_name, resolve, class_names)
            videos.append(SourceVideo(f.stem, class_name, f, _kind_of(f)))  # type: ignore[arg-type]
    if stray:
        raise UserError(f"{len(stray)} video(s) in {root} are not in a class folder (e.g. "
                        f"{stray[0].name}); move each into its <Class>/ folder")
    if not videos:
        raise UserError(f"no .avi or .hdf5 videos in class folders under {root}; point --source "
                        f"at the folder holding UCF-101/ or UCF-101-hdf5/")
    _check_unique(videos)
    return sorted(videos, key=lambda v: v.name)


def _check_name_matches_class(path: Path, class_name: str, resolve: ClassResolver,
                              class_names: Sequence[str]) -> None:
    """A UCF-style name whose class disagrees with its folder is misfiled: refuse it."""
    try:
        token = parse_video_name(path.name)[0]
    except ValueError:
        return  # not a UCF-style name: the folder alone says the class
    try:
        named = class_names[resolve(token)]
    except LookupError:
        named = token
    if named != class_name:
        raise UserError(f"{path} is named for class {token!r} but sits in folder "
                        f"{path.parent.name!r}; move it to its class folder")


def _check_unique(videos: list[SourceVideo]) -> None:
    seen: dict[str, Path] = {}
    for v in videos:
        if v.name in seen:
            raise UserError(f"two videos are named {v.name}: {seen[v.name]} and {v.path}; "
                            f"names must be unique across classes")
        seen[v.name] = v.path


def _check_avi_complete(path: Path) -> None:
    """Empty, or shorter than its RIFF header declares: truncated (e.g. an interrupted copy)."""
    size = path.stat().st_size
    if size == 0:
        raise SourceError("empty file (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(12)
    if len(head) == 12 and head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        declared = int.from_bytes(head[4:8], "little") + 8
        if size < declared:
            raise SourceError(f"truncated: the file has {size} bytes but its RIFF header "
                              f"declares {declared}")


# Decoding may stop short of the frame count the container declares. UCF-101 has many AVIs
# whose header is off by a frame or two: those are kept, with a note in the report. A video
# that stops well short (damaged mid-stream) would be stored as a clip that silently lacks
# its end, so it fails instead.
MIN_DECODED_FRACTION = 0.9
TOLERATED_MISSING_FRAMES = 2


def check_decoded_count(decoded: int, declared: int) -> str:
    """A note on a small mismatch between decoded and declared frames ('' when they agree or
    nothing is declared); SourceError when decoding stopped well short of the declared count:
    more than TOLERATED_MISSING_FRAMES missing and fewer than MIN_DECODED_FRACTION decoded."""
    if not declared or decoded == declared:
        return ""
    missing = declared - decoded
    if missing > TOLERATED_MISSING_FRAMES and decoded < MIN_DECODED_FRACTION * declared:
        raise SourceError(f"damaged mid-stream: decoding stopped after {decoded} of the "
                          f"{declared} frames the header declares")
    return f"decoded {decoded} frames; the header declares {declared}"


def probe(video: SourceVideo) -> VideoProbe:
    """Frame size and declared frame count, without decoding the video."""
    if video.kind == "hdf5":
        with _open_hdf5(video.path) as f:
            t, h, w, _ = _hdf5_video(f, video.path).shape
            return VideoProbe(h, w, t)
    _check_avi_complete(video.path)
    import cv2

    cap = cv2.VideoCapture(str(video.path))
    try:
        if cap.isOpened():
            w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            if h > 0 and w > 0:
                return VideoProbe(h, w, max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0))
    finally:
        cap.release()
    container = _open_av(video.path)
    try:
        stream = container.streams.video[0]
        return VideoProbe(stream.codec_context.height, stream.codec_context.width,
                          int(stream.frames or 0))
    finally:
        container.close()


def iter_frames(video: SourceVideo, *, bgr: bool = False,
                threads: int = 0) -> Iterator[np.ndarray]:
    """Decode every frame in order as uint8 [H, W, 3], RGB (or BGR, which cv2 encodes as is).

    AVIs decode sequentially with OpenCV (one keyframe per video: seeking would re-decode
    from frame 0), falling back to PyAV when OpenCV opens nothing. `threads` caps the
    decoder's threads (0: library default); a pool with a process per core wants 1.
    Raises `SourceError`.
    """
    if video.kind == "hdf5":
        yield from _iter_hdf5(video.path, bgr)
        return
    _check_avi_complete(video.path)
    count = 0
    for frame in _iter_cv2(video.path, bgr, threads):
        count += 1
        yield frame
    if count:
        return
    try:
        for frame in _iter_av(video.path, bgr):
            count += 1
            yield frame
    except SourceError:
        raise
    except Exception as exc:  # PyAV raises many types; the reason is what matters
        raise SourceError(f"undecodable: {type(exc).__name__}: {exc}") from exc
    if not count:
        raise SourceError("no frames could be decoded")


def _iter_cv2(path: Path, bgr: bool, threads: int) -> Iterator[np.ndarray]:
    import cv2

    params = [cv2.CAP_PROP_N_THREADS, threads] if threads > 0 else []
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, params)
    try:
        while cap.isOpened():
            ok, frame = cap.read()
            if not ok:
                break
            yield frame if bgr else cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()


def _open_av(path: Path):  # -> av.container.InputContainer
    import av

    try:
        container = av.open(str(path))
    except Exception as exc:
        raise SourceError(f"unreadable: {type(exc).__name__}: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise SourceError("the file holds no video stream")
    return container


def _iter_av(path: Path, bgr: bool) -> Iterator[np.ndarray]:
    container = _open_av(path)
    try:
        fmt = "bgr24" if bgr else "rgb24"
        for frame in container.decode(video=0):
            yield frame.to_ndarray(format=fmt)
    finally:
        container.close()


def _open_hdf5(path: Path):  # -> h5py.File
    try:
        if path.stat().st_size == 0:
            raise SourceError("empty file (0 bytes)")
        return open_h5(path)
    except SourceError:
        raise
    except Exception as exc:
        raise SourceError(f"unreadable HDF5: {type(exc).__name__}: {exc}") from exc


def _hdf5_video(f, path: Path):  # -> h5py.Dataset
    ds = f.get(HDF5_DATASET)
    if ds is None or not hasattr(ds, "shape"):
        raise SourceError(f"no dataset {HDF5_DATASET!r} (keys: {sorted(f.keys())[:5]})")
    if ds.ndim != 4 or ds.shape[-1] != 3 or ds.dtype != np.uint8:
        raise SourceError(f"dataset {HDF5_DATASET!r} is {ds.dtype} {ds.shape}; expected uint8 "
                          f"[T, H, W, 3]")
    if ds.shape[0] == 0:
        raise SourceError("the video has 0 frames")
    return ds


def _iter_hdf5(path: Path, bgr: bool) -> Iterator[np.ndarray]:
    with _open_hdf5(path) as f:
        ds = _hdf5_video(f, path)
        for start in range(0, ds.shape[0], _HDF5_CHUNK_FRAMES):
            try:
                block = ds[start:start + _HDF5_CHUNK_FRAMES]
            except Exception as exc:
                raise SourceError(f"unreadable frames from {start}: {type(exc).__name__}: "
                                  f"{exc}") from exc
            for frame in block:
                yield np.ascontiguousarray(frame[..., ::-1]) if bgr else frame
