"""The JPEG-in-HDF5 video store: every frame of every video as JPEG bytes in one file.

Layout (format_version 1):
- `jpeg`            uint8 [total_bytes]: all frames' JPEG bytes back to back (contiguous,
                    so a clip is one slice read with no chunk index to walk);
- `frame_offsets`   int64 [total_frames + 1]: frame g is `jpeg[off[g]:off[g+1]]`;
- `video_names` (str), `video_labels` (str class name), `video_label_ids` (0-based, per
  classInd), `video_num_frames`, `video_first_frame` (index into frame_offsets),
  `video_source_size` ([H, W] before any resize): one row per video, sorted by name;
- `class_names` (str, classInd order);
- attrs: format_version, source, source_kind, height, width, short_side (0 = not resized),
  quality, created, failures (JSON), and library versions.

The store is written once, to a temporary file renamed into place (see `write_store`), so
a file at the store path is always complete. Readers open it lazily once per process, so a
`VideoStore` can be pickled into DataLoader workers that then read concurrently.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import UserError
from helpers.utils.io import atomic_path, open_h5

FORMAT_VERSION = 1
INDEX_DATASETS = ("video_names", "video_labels", "video_label_ids", "video_num_frames",
                  "video_first_frame", "video_source_size", "class_names")
REQUIRED_DATASETS = ("jpeg", "frame_offsets", *INDEX_DATASETS)


def parts_dir_for(store: str | os.PathLike) -> Path:
    """Where `prepare` keeps one part file per video until the store is assembled."""
    return Path(f"{os.fspath(store)}.parts")


def report_path_for(store: str | os.PathLike) -> Path:
    """Where `prepare` writes the store's report: beside it, `STORE.report.json`."""
    return Path(f"{os.fspath(store)}.report.json")


def remove_store(store: str | os.PathLike) -> None:
    """Delete a store with its report and unfinished parts, so that the next `prepare` starts
    from nothing instead of resuming or reusing it. Missing pieces are fine."""
    import shutil

    Path(store).unlink(missing_ok=True)
    report_path_for(store).unlink(missing_ok=True)
    shutil.rmtree(parts_dir_for(store), ignore_errors=True)


def library_versions() -> dict[str, str]:
    import av
    import cv2
    import h5py

    return {"opencv": cv2.__version__, "h5py": h5py.__version__, "hdf5": h5py.version.hdf5_version,
            "numpy": np.__version__, "av": av.__version__}


# --- part files: one video's encoded frames, written by a prepare worker --------------------

@dataclass(frozen=True)
class Part:
    """One video's frames as JPEG: `jpeg[offsets[i]:offsets[i+1]]` is frame i."""
    jpeg: np.ndarray  # uint8 [bytes]
    offsets: np.ndarray  # int64 [num_frames + 1], offsets[0] == 0
    size: tuple[int, int]  # stored (H, W)
    source_size: tuple[int, int]  # (H, W) as decoded, before any resize
    warning: str = ""  # e.g. the header declared another frame count; kept for the report


def save_part(path: str | os.PathLike, part: Part) -> None:
    """Write atomically: a part file that exists is complete (resume relies on it)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, jpeg=part.jpeg, offsets=part.offsets, size=np.array(part.size, np.int64),
                 source_size=np.array(part.source_size, np.int64), warning=np.str_(part.warning))


def load_part(path: str | os.PathLike, *, with_jpeg: bool = True) -> Part:
    with np.load(path) as z:
        offsets = z["offsets"].astype(np.int64)
        jpeg = z["jpeg"] if with_jpeg else np.empty(0, np.uint8)
        part = Part(jpeg, offsets, tuple(int(x) for x in z["size"]),  # type: ignore[arg-type]
                    tuple(int(x) for x in z["source_size"]),  # type: ignore[arg-type]
                    str(z["warning"]))
    ok = len(offsets) >= 2 and offsets[0] == 0 and bool(np.all(np.diff(offsets) > 0))
    if not ok or (with_jpeg and len(jpeg) != offsets[-1]):
        raise ValueError(f"part {path} has inconsistent offsets")
    return part


@dataclass(frozen=True)
class PartRef:
    name: str
    label: str
    path: Path


def write_store(path: str | os.PathLike, parts: Sequence[PartRef], class_names: Sequence[str],
                attrs: dict[str, Any],
                progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Assemble part files into a store at `path` (temp file, then rename).

    Returns totals {videos, frames, bytes}. Raises ValueError on a damaged part.
    """
    import h5py

    parts = sorted(parts, key=lambda p: p.name)
    label_ids = {name: i for i, name in enumerate(class_names)}
    heads = [load_part(p.path, with_jpeg=False) for p in parts]
    sizes = {h.size for h in heads}
    if len(sizes) > 1:
        raise ValueError(f"parts disagree on the frame size: {sorted(sizes)}")
    num_frames = np.array([len(h.offsets) - 1 for h in heads], np.int64)
    num_bytes = np.array([h.offsets[-1] for h in heads], np.int64)
    first_frame = np.concatenate([[0], np.cumsum(num_frames)[:-1]]).astype(np.int64)
    byte_start = np.concatenate([[0], np.cumsum(num_bytes)[:-1]]).astype(np.int64)
    total_frames, total_bytes = int(num_frames.sum()), int(num_bytes.sum())
    height, width = sizes.pop() if sizes else (0, 0)

    strings = h5py.string_dtype()
    with atomic_path(path) as tmp, open_h5(tmp, "w") as f:
        jpeg = f.create_dataset("jpeg", shape=(total_bytes,), dtype=np.uint8)
        offsets = np.empty(total_frames + 1, np.int64)
        offsets[-1] = total_bytes
        for i, (ref, head) in enumerate(zip(parts, heads, strict=True)):
            part = load_part(ref.path)
            if part.offsets[-1] != head.offsets[-1]:
                raise ValueError(f"part {ref.path} changed while the store was written")
            start = int(byte_start[i])
            jpeg[start:start + len(part.jpeg)] = part.jpeg
            offsets[first_frame[i]:first_frame[i] + num_frames[i]] = start + part.offsets[:-1]
            if progress is not None:
                progress(1)
        f.create_dataset("frame_offsets", data=offsets)
        f.create_dataset("video_names", data=[p.name for p in parts], dtype=strings)
        f.create_dataset("video_labels", data=[p.label for p in parts], dtype=strings)
        f.create_dataset("video_label_ids", data=np.array([label_ids[p.label] for p in parts],
                                                          np.int64))
        f.create_dataset("video_num_frames", data=num_frames)
        f.create_dataset("video_first_frame", data=first_frame)
        f.create_dataset("video_source_size",
                         data=np.array([h.source_size for h in heads], np.int64).reshape(-1, 2))
        f.create_dataset("class_names", data=list(class_names), dtype=strings)
        f.attrs.update({**attrs, "format_version": FORMAT_VERSION, "height": height,
                        "width": width})
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a shared store must be readable
    return {"videos": len(parts), "frames": total_frames, "bytes": total_bytes}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# --- reader ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoredVideo:
    name: str
    label: str
    label_id: int
    num_frames: int


def _plain(value: Any) -> Any:
    """HDF5 attribute -> plain Python (for JSON and equality)."""
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _missing_store_error(path: Path) -> UserError:
    if parts_dir_for(path).is_dir():
        return UserError(f"{path} is not finished: its parts are in {parts_dir_for(path)}; rerun "
                         f"the same `python -m helpers prepare` command to finish it")
    return UserError(f"no store at {path}; create it with `python -m helpers prepare --source "
                     f"DIR --out {path}`")


class VideoStore:
    """Read frames from a store; safe to pickle into DataLoader workers."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise _missing_store_error(self.path)
        try:
            f = open_h5(self.path)
        except OSError as exc:
            raise UserError(f"{self.path} is not a readable HDF5 store ({exc}); recreate it "
                            f"with `python -m helpers prepare`") from None
        with f:
            self.attrs: dict[str, Any] = {k: _plain(v) for k, v in f.attrs.items()}
            version = self.attrs.get("format_version")
            missing = [d for d in REQUIRED_DATASETS if d not in f]
            if version != FORMAT_VERSION or missing:
                raise UserError(f"{self.path} is not a complete video store (format_version "
                                f"{version}, missing {missing}); recreate it with `python -m "
                                f"helpers prepare`")
            names = f["video_names"].asstr()[...].tolist()
            labels = f["video_labels"].asstr()[...].tolist()
            label_ids = f["video_label_ids"][...].tolist()
            num_frames = f["video_num_frames"][...].tolist()
            self._first_frame = f["video_first_frame"][...].astype(np.int64)
            self.class_names: list[str] = f["class_names"].asstr()[...].tolist()
        self.videos = [StoredVideo(n, lab, i, t)
                       for n, lab, i, t in zip(names, labels, label_ids, num_frames, strict=True)]
        self._by_name = {v.name: i for i, v in enumerate(self.videos)}
        self.frame_size: tuple[int, int] = (int(self.attrs["height"]), int(self.attrs["width"]))
        self._reset_handle()

    # one open file per process: HDF5 handles must not cross a fork
    def _reset_handle(self) -> None:
        self._file: Any = None
        self._jpeg: Any = None
        self._offsets: np.ndarray | None = None
        self._pid: int | None = None

    def _open(self) -> tuple[Any, np.ndarray]:
        if self._file is None or self._pid != os.getpid():
            self._file = open_h5(self.path)
            self._jpeg = self._file["jpeg"]
            self._offsets = self._file["frame_offsets"][...]  # 8 B/frame: ~20 MB for UCF-101
            self._pid = os.getpid()
        return self._jpeg, self._offsets  # type: ignore[return-value]

    def close(self) -> None:
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._reset_handle()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(_file=None, _jpeg=None, _offsets=None, _pid=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __len__(self) -> int:
        return len(self.videos)

    def __repr__(self) -> str:
        h, w = self.frame_size
        return f"VideoStore({str(self.path)!r}, videos={len(self)}, frame_size={h}x{w})"

    def index(self, name: str) -> int:
        try:
            return self._by_name[name]
        except KeyError:
            raise UnknownVideoError(f"video {name!r} is not in {self.path}; prepare the store "
                                    f"from the dataset that holds it") from None

    def _global_frames(self, video: int, frames: np.ndarray) -> np.ndarray:
        if not 0 <= video < len(self.videos):
            raise IndexError(f"video {video} is out of range for {len(self.videos)} videos")
        n = self.videos[video].num_frames
        if frames.size and (frames.min() < 0 or frames.max() >= n):
            raise IndexError(f"frames {frames.min()}..{frames.max()} are out of range for "
                             f"{self.videos[video].name}, which has {n} frames")
        return self._first_frame[video] + frames

    def read_jpeg(self, video: int, frame: int) -> bytes:
        jpeg, offsets = self._open()
        g = int(self._global_frames(video, np.array([frame], np.int64))[0])
        return jpeg[offsets[g]:offsets[g + 1]].tobytes()

    def read_frames(self, video: int, frames: Sequence[int]) -> np.ndarray:
        """uint8 [n, H, W, 3] RGB in the order asked; each contiguous run is one slice read."""
        import cv2

        jpeg, offsets = self._open()
        wanted = np.asarray(frames, dtype=np.int64).reshape(-1)
        unique, inverse = np.unique(wanted, return_inverse=True)
        g = self._global_frames(video, unique)
        h, w = self.frame_size
        out = np.empty((len(unique), h, w, 3), np.uint8)
        breaks = np.flatnonzero(np.diff(g) != 1) + 1
        i = 0
        for run in np.split(g, breaks) if len(g) else []:
            lo = int(offsets[run[0]])
            buf = jpeg[lo:int(offsets[run[-1] + 1])]
            for k in run:
                img = cv2.imdecode(buf[offsets[k] - lo:offsets[k + 1] - lo], cv2.IMREAD_COLOR_RGB)
                if img is None or img.shape != (h, w, 3):
                    raise OSError(f"frame {k} of {self.path} is not a {w}x{h} JPEG; the store is "
                                  f"damaged, recreate it with `python -m helpers prepare`")
                out[i] = img
                i += 1
        return out if len(unique) == len(wanted) else out[inverse]


class UnknownVideoError(UserError, KeyError):
    """A name that is not in the store: a UserError for the CLI, a KeyError for lookups."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --- info ----------------------------------------------------------------------------------

def store_info(path: str | os.PathLike) -> dict[str, Any]:
    """What a store holds: {"videos": [{name, label, num_frames}], "totals": {...}}."""
    store = VideoStore(path)
    attrs = store.attrs
    frames = sum(v.num_frames for v in store.videos)
    jpeg_bytes = int(store._open()[1][-1]) if frames else 0
    store.close()
    h, w = store.frame_size
    failures = json.loads(attrs.get("failures", "[]"))
    totals = {
        "videos": len(store), "classes": len({v.label for v in store.videos}),
        "class_names": len(store.class_names), "frames": frames, "height": h, "width": w,
        "jpeg_bytes": jpeg_bytes, "file_bytes": store.path.stat().st_size,
        "bytes_per_frame": round(jpeg_bytes / frames, 1) if frames else 0.0,
        "quality": attrs.get("quality"), "short_side": attrs.get("short_side"),
        "source": attrs.get("source"), "source_kind": attrs.get("source_kind"),
        "created": attrs.get("created"), "failures": len(failures),
    }
    videos = [{"name": v.name, "label": v.label, "num_frames": v.num_frames} for v in store.videos]
    return {"videos": videos, "totals": totals}


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def format_info(info: dict[str, Any], attrs: dict[str, Any]) -> str:
    t = info["totals"]
    per_video = t["frames"] / t["videos"] if t["videos"] else 0.0
    resized = f"resized to short side {t['short_side']}" if t["short_side"] else "original size"
    versions = ", ".join(f"{k} {attrs[k]}" for k in ("opencv", "h5py", "hdf5", "numpy", "av")
                         if k in attrs)
    failures = json.loads(attrs.get("failures", "[]"))
    lines = [
        f"videos    {t['videos']:,} in {t['classes']} of {t['class_names']} classes",
        f"frames    {t['frames']:,} ({per_video:.1f} per video), {t['width']}x{t['height']} "
        f"({resized}), JPEG quality {t['quality']}",
        f"bytes     {human_bytes(t['jpeg_bytes'])} of JPEG, {human_bytes(t['bytes_per_frame'])} "
        f"per frame; file {human_bytes(t['file_bytes'])}",
        f"source    {t['source']} ({t['source_kind']})",
        f"created   {t['created']} with {versions}",
        f"failures  {len(failures)}" + "".join(f"\n  {x['name']}: {x['reason']}"
                                              for x in failures[:20]),
    ]
    if len(failures) > 20:
        lines.append(f"  ... and {len(failures) - 20} more (see the report beside the store)")
    return "\n".join(lines)


def store_sha256(store: VideoStore) -> str:
    """What identifies a store's content: its classes, videos and frame counts, frame size and
    encoding (not its path or creation time, so a moved or identically rebuilt store matches)."""
    from helpers.utils.io import sha256_json

    return sha256_json({
        "classes": list(store.class_names),
        "videos": [[v.name, v.label_id, v.num_frames] for v in store.videos],
        "frame_size": list(store.frame_size),
        "short_side": store.attrs.get("short_side"), "quality": store.attrs.get("quality")})
