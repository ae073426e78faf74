"""The disk space `prepare` needs, estimated before anything is written, and the check that
refuses a run the disk cannot hold."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from helpers.data.encode import Size, encode_frame, part_done
from helpers.data.sources import SourceVideo, iter_frames, probe
from helpers.data.store import human_bytes
from helpers.data.targets import StoreTarget, target_size
from helpers.errors import UserError

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
                lengths = [len(encode_frame(frame, size or frame.shape[:2], params)) for size in sizes]
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


def _existing_folder(path: Path) -> Path:
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def estimate_space(targets: Sequence[StoreTarget], videos: Sequence[SourceVideo], quality: int,
                   probed: Size | None, num_workers: int) -> list[SpaceNeed]:
    """The stores' disk needs, per filesystem. Part files already written (a resumed run)
    count as written, not as still to write."""
    sizes = [target_size(probed, t.short_side) if probed else None for t in targets]
    todo = [[v for v in videos if not part_done(t.parts_dir, v)] for t in targets]
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

