"""The detail classes' fine textures: pinstripes across or down, a checkerboard, or none,
built to average away exactly when a frame is shrunk to half size."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from helpers.data.synthetic.catalogue import ClassSpec
from helpers.data.synthetic.shapes import Drawn

# Detail textures, +-1 per image pixel. Each is built from 2x2 blocks whose four pixels sum
# to zero (aligned to even image coordinates), times a random sign per block row, per block
# column or per block: so the light and dark lines are one or two pixels wide, and every
# aligned 2x2 block averages to the plain colour. Arguments: the pixel's row and column
# offsets from the rectangle's even corner, and the video's random block signs.
_Pattern = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def _alternate(k: np.ndarray) -> np.ndarray:
    return 1 - 2 * (k % 2)  # +1, -1, +1, ...


PATTERNS: dict[str, _Pattern | None] = {
    "plain": None,
    # light and dark rows: horizontal pinstripes
    "stripes_across": lambda di, dj, signs: signs[di // 2, 0] * _alternate(di) + 0 * dj,
    # light and dark columns: vertical pinstripes
    "stripes_down": lambda di, dj, signs: signs[0, dj // 2] * _alternate(dj) + 0 * di,
    # a one-pixel checkerboard whose phase flips from block to block
    "checker": lambda di, dj, signs: signs[di // 2, dj // 2] * _alternate(di + dj),
}
DETAIL_CONTRAST = 0.5  # the texture scales the object's colour by 1 +- this


def detail_texture(spec: ClassSpec, drawn: Drawn, dx: np.ndarray, dy: np.ndarray,
             size: tuple[int, int], rng: np.random.Generator) -> np.ndarray | None:
    """[T, H, W] texture of a detail class (+-1 on its rectangle, 0 elsewhere), or None.

    The rectangle goes from scene to image coordinates (the camera shifted the view by
    (dx, dy)) and shrinks to even pixel bounds, so it is a union of aligned 2x2 blocks. The
    texture moves with it (offsets from its corner); its block signs are drawn per video.
    Every detail class draws them, plain ones too, so both classes of a pair use the same
    random stream."""
    if spec.pattern is None:
        return None
    if spec.pattern not in PATTERNS:
        raise ValueError(f"unknown detail pattern {spec.pattern!r}")
    width, height = size
    signs = 2 * rng.integers(0, 2, size=(height // 2 + 1, width // 2 + 1)) - 1
    pattern = PATTERNS[spec.pattern]
    if pattern is None or drawn.panel is None:
        return None
    inside, i0, j0 = _panel(drawn, dx, dy, size)
    rows = np.arange(height)[None, :, None]
    cols = np.arange(width)[None, None, :]
    # Offsets from the corner, wrapped into the sign table outside the rectangle (masked).
    di = (rows - i0).astype(np.int64) % (2 * signs.shape[0])
    dj = (cols - j0).astype(np.int64) % (2 * signs.shape[1])
    return (pattern(di, dj, signs) * inside).astype(np.float32)


def _panel(drawn: Drawn, dx: np.ndarray, dy: np.ndarray, size: tuple[int, int]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The texture's rectangle per frame, [T, H, W] bool, and its even top-left corner."""
    assert drawn.panel is not None
    width, height = size
    cx, cy, half_w, half_h = (np.broadcast_to(np.asarray(v, dtype=np.float64),
                                              (len(dx), 1, 1)) for v in drawn.panel)
    shift_x, shift_y = dx[:, None, None], dy[:, None, None]
    # Pixel j covers [j, j + 1) in image coordinates; keep the columns j0 <= j < j1.
    j0 = 2 * np.ceil((cx - half_w - shift_x) / 2)
    j1 = 2 * np.floor((cx + half_w - shift_x) / 2)
    i0 = 2 * np.ceil((cy - half_h - shift_y) / 2)
    i1 = 2 * np.floor((cy + half_h - shift_y) / 2)
    rows = np.arange(height)[None, :, None]
    cols = np.arange(width)[None, None, :]
    return (cols >= j0) & (cols < j1) & (rows >= i0) & (rows < i1), i0, j0


def panel_mask(drawn: Drawn, dx: np.ndarray, dy: np.ndarray,
               size: tuple[int, int]) -> np.ndarray | None:
    """[T, H, W] bool: where a detail class's texture lies (or would lie, on a plain one)."""
    return None if drawn.panel is None else _panel(drawn, dx, dy, size)[0]
