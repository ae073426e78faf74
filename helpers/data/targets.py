"""The stores one `prepare` call builds: each store's file, the short side of its frames,
and the frame size that follows from the source videos.

>>> target_size((240, 320), 128)
(128, 170)
>>> target_size((240, 320), None)
(240, 320)
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.data.sources import SourceVideo, probe
from helpers.data.store import parts_dir_for
from helpers.errors import UserError
from helpers.utils.io import ensure_writable_dir

Size = tuple[int, int]  # (H, W)
_PROBE_VIDEOS = 8  # videos probed to pick the store's frame size (UCF-101: all 320x240)


def _even(x: float) -> int:
    return max(2, int(round(x / 2)) * 2)


def target_size(source_size: Size, short_side: int | None) -> Size:
    """(H, W) for the store: the source size, or scaled so the short side is `short_side`,
    keeping the aspect ratio, each side rounded to an even number."""
    h, w = source_size
    if not short_side:
        return h, w
    scale = short_side / min(h, w)
    return _even(h * scale), _even(w * scale)


def probe_size(videos: Sequence[SourceVideo]) -> Size | None:
    """The most common frame size among a few videos spread over the list."""
    step = max(1, len(videos) // _PROBE_VIDEOS)
    order = list(videos[::step]) + [v for i, v in enumerate(videos) if i % step]
    sizes: list[Size] = []
    for video in order:
        try:
            p = probe(video)
        except Exception:  # a bad video is reported by its worker; keep looking
            continue
        sizes.append((p.height, p.width))
        if len(sizes) == _PROBE_VIDEOS:
            break
    return max(set(sizes), key=sizes.count) if sizes else None


@dataclass(frozen=True)
class StoreTarget:
    """One store to build: its file and the short side of its frames (None: as decoded)."""
    out: Path
    short_side: int | None

    @property
    def parts_dir(self) -> Path:
        return parts_dir_for(self.out)


def resolve_targets(outs: Mapping[int | None, str | os.PathLike]) -> list[StoreTarget]:
    """One target per store, each a distinct file in a folder we can write (created if
    missing): say what is wrong now, in one sentence, rather than fail on the first part."""
    targets = [StoreTarget(Path(out).expanduser(), side or None) for side, out in outs.items()]
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
