"""The synthetic spatial/temporal/detail benchmark: a tiny UCF-101 look-alike that answers, on
a laptop CPU, the assignment's questions "which classes need temporal information?" and "what
does the single-frame model see that the 3D model misses?".

It writes exactly what UCF-101 ships (an AVI tree with 25 groups, XviD at 25 fps, and the
official CRLF split files), so every real code path downstream runs unchanged, plus
`classes.json`, which gives each class its kind (spatial, temporal or detail) and, for the
last two, its partner. One deliberate difference: every frame is a keyframe (see `encode_avi`).

- Spatial classes differ in appearance (shape and colour) that survives any resolution, so
  any single frame names them, for both models. They may move, but their motion is symmetric
  in time.
- Temporal pairs share one stationary random process with a uniform random phase (positions,
  sizes and angles that wrap around). One class plays it forward, its partner plays it with
  the frame order reversed. Every frame then has the same marginal distribution in both
  classes: a single frame cannot tell them apart, but the direction of motion can.
- Detail pairs share one object and motion (a flag, a tile, a board, a shield); they differ
  only in a fine texture on it (pinstripes across or down, a checkerboard, or none) whose
  light and dark lines are one or two pixels wide, so a frame at full resolution shows it.
  The textures are built to vanish exactly when a frame is shrunk to half its size by area
  averaging, as the 3D model's store is (the demo's analogue of 224 against 112 pixels): each
  lies on a rectangle snapped to even pixel coordinates, wholly inside the object, and every
  aligned 2x2 block of it averages to the plain colour. Which lines are the light ones is
  random per video, so even at full resolution both classes have the same mean image: the
  local contrast energy, not the pixel values, tells them apart. Rendered from the same
  random stream and shrunk to half size, the two classes of a pair give the same video up to
  rounding.
- Each group (g01-g25) has its own nuisances, as UCF-101 groups share actors and scenes:
  background texture and palette, object scale and speed, noise level and camera jitter.

Randomness comes from (seed, group) and (seed, class, group, clip) only, so the output does
not depend on how the videos are spread across worker processes.
"""

from __future__ import annotations

import argparse
import colorsys
import contextlib
import json
import math
import os
import re
import time
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import UserError
from helpers.utils.io import atomic_path, write_json_atomic, write_text_atomic
from helpers.utils.progress import bar

FPS = 25
NUM_GROUPS = 25
TEST_GROUPS_PER_SPLIT = 7  # split k tests on groups 7(k-1)+1 ... 7k; g22-g25 are always train
SPLITS = (1, 2, 3)
QUANTIZER = 2  # fixed MPEG-4 quantizer (1 best .. 31 worst): constant quality, byte-deterministic
MIN_SIZE = (32, 24)
MAX_SIZE = (1280, 960)
MIN_FRAMES = 8
MAX_VIDEOS_PER_GROUP = 99  # the clip number is written with two digits (cCC)
# The demo's benchmark (what `make report` generates). The demo profile's 3D model reads a
# store at half this height (helpers.config), where every detail texture averages away.
DEFAULT_SIZE = (80, 60)
DEFAULT_NUM_FRAMES = 32
DEFAULT_VIDEOS_PER_GROUP = 2
VIDEO_DIR = "UCF-101"
SPLIT_DIR = "ucfTrainTestlist"
META_FILE = "classes.json"
PENDING_FILE = ".synth-pending.json"  # config of a run in progress, so a resume cannot mix settings
LOCK_FILE = ".synth.lock"
FORMAT_VERSION = 2  # 2: twenty classes of three kinds (1: ten, spatial and temporal)


KINDS = ("spatial", "temporal", "detail")


@dataclass(frozen=True)
class ClassSpec:
    name: str
    kind: str  # one of KINDS
    partner: str | None  # the other class of a temporal or detail pair
    motion: str  # key into _RENDERERS
    reverse: bool  # play the motion's process backwards in time
    description: str
    pattern: str | None = None  # detail classes: key into PATTERNS, the texture on the object


CLASSES: tuple[ClassSpec, ...] = (
    ClassSpec("RedBallBounce", "spatial", None, "ball", False,
              "a red ball bouncing in place; bouncing looks the same played backwards"),
    ClassSpec("BlueBoxSway", "spatial", None, "box", False,
              "a blue square swaying left and right"),
    ClassSpec("GreenTriangleFloat", "spatial", None, "triangle", False,
              "a green triangle bobbing up and down"),
    ClassSpec("YellowCrossPulse", "spatial", None, "cross", False,
              "a yellow plus sign pulsing in size"),
    ClassSpec("LimeDiamondRock", "spatial", None, "diamond", False,
              "a lime diamond rocking from side to side"),
    ClassSpec("PinkRingDrift", "spatial", None, "ring", False,
              "a pink ring drifting back and forth along a diagonal"),
    ClassSpec("SlideRight", "temporal", "SlideLeft", "slide", False,
              "a cyan capsule gliding right, wrapping around the frame"),
    ClassSpec("SlideLeft", "temporal", "SlideRight", "slide", True,
              "SlideRight with time reversed: the capsule glides left"),
    ClassSpec("Grow", "temporal", "Shrink", "ripples", False,
              "magenta ripples: rings born at the centre grow outwards and vanish at the rim"),
    ClassSpec("Shrink", "temporal", "Grow", "ripples", True,
              "Grow with time reversed: rings born at the rim shrink into the centre"),
    ClassSpec("SpinClockwise", "temporal", "SpinCounterClockwise", "spinner", False,
              "an orange three-armed spinner turning clockwise"),
    ClassSpec("SpinCounterClockwise", "temporal", "SpinClockwise", "spinner", True,
              "SpinClockwise with time reversed: the spinner turns counter-clockwise"),
    ClassSpec("FlagStripesAcross", "detail", "FlagStripesDown", "flag", False,
              "a violet flag swaying on its pole, with fine horizontal pinstripes",
              pattern="stripes_across"),
    ClassSpec("FlagStripesDown", "detail", "FlagStripesAcross", "flag", False,
              "FlagStripesAcross with the pinstripes turned vertical", pattern="stripes_down"),
    ClassSpec("TileCheckered", "detail", "TilePlain", "tile", False,
              "a teal tile bobbing up and down, covered in a fine checkerboard",
              pattern="checker"),
    ClassSpec("TilePlain", "detail", "TileCheckered", "tile", False,
              "TileCheckered without the checkerboard: the plain tile", pattern="plain"),
    ClassSpec("BoardCheckered", "detail", "BoardStriped", "board", False,
              "a navy board sliding back and forth, covered in a fine checkerboard",
              pattern="checker"),
    ClassSpec("BoardStriped", "detail", "BoardCheckered", "board", False,
              "BoardCheckered with fine vertical pinstripes instead", pattern="stripes_down"),
    ClassSpec("ShieldStriped", "detail", "ShieldPlain", "shield", False,
              "a moss-green round shield swinging, with a square of fine horizontal pinstripes",
              pattern="stripes_across"),
    ClassSpec("ShieldPlain", "detail", "ShieldStriped", "shield", False,
              "ShieldStriped without the pinstripes: the plain shield", pattern="plain"),
)


# ---------------------------------------------------------------- names and split files

def class_names() -> list[str]:
    """Class names in label order (alphabetical, like UCF-101's classInd)."""
    return sorted(c.name for c in CLASSES)


def video_name(name: str, group: int, clip: int) -> str:
    return f"v_{name}_g{group:02d}_c{clip:02d}.avi"


def video_path(name: str, group: int, clip: int) -> str:
    """Path relative to the video root, as the split files write it."""
    return f"{name}/{video_name(name, group, clip)}"


def test_groups(split: int) -> range:
    return range(TEST_GROUPS_PER_SPLIT * (split - 1) + 1, TEST_GROUPS_PER_SPLIT * split + 1)


def split_files(videos_per_group: int) -> dict[str, str]:
    """The official split files' names and contents (CRLF, 1-based labels)."""
    names = class_names()
    crlf = "\r\n"
    files = {"classInd.txt": "".join(f"{i} {n}{crlf}" for i, n in enumerate(names, 1))}
    for split in SPLITS:
        train, test = [], []
        for label, name in enumerate(names, 1):
            for group in range(1, NUM_GROUPS + 1):
                for clip in range(1, videos_per_group + 1):
                    path = video_path(name, group, clip)
                    if group in test_groups(split):
                        test.append(f"{path}{crlf}")
                    else:
                        train.append(f"{path} {label}{crlf}")
        files[f"trainlist{split:02d}.txt"] = "".join(train)
        files[f"testlist{split:02d}.txt"] = "".join(test)
    return files


# ---------------------------------------------------------------- rendering

@dataclass(frozen=True)
class _Group:
    """Nuisances shared by every video of one group."""

    background: np.ndarray  # float32 [H + 2m, W + 2m, 3] in 0..255, m = margin
    margin: int
    scale: float  # object size multiplier
    speed: float  # motion speed multiplier
    noise: float  # std of per-pixel noise, 0..255 scale
    jitter: float  # camera shake amplitude in pixels
    jitter_freqs: tuple[float, float]  # cycles per frame of the two shake components


def _rgb(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2  # imported here: only the workers need it

    return cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)


@lru_cache(maxsize=32)
def _group(seed: int, group: int, width: int, height: int) -> _Group:
    rng = np.random.default_rng([seed, 0, group])
    jitter = float(rng.uniform(0.0, 0.03 * height))
    margin = math.ceil(jitter) + 1
    bh, bw = height + 2 * margin, width + 2 * margin
    # Texture: smooth blobs plus a grating of random orientation and period, all low contrast
    # and low saturation, so the saturated objects stand out on every background.
    blobs = _resize(rng.random((4, 5)).astype(np.float32), bw, bh)
    blobs = (blobs - blobs.min()) / max(float(np.ptp(blobs)), 1e-6)
    yy, xx = np.mgrid[0:bh, 0:bw].astype(np.float32)
    angle, period = rng.uniform(0, np.pi), rng.uniform(5.0, 14.0) * height / 60
    phase = rng.uniform(0, 2 * np.pi)
    grating = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period + phase)
    mix = rng.uniform(0.15, 0.45)
    tex = (1 - mix) * blobs + mix * grating + rng.normal(0, 0.04, (bh, bw))
    tex = np.clip(tex, 0, 1)[..., None]
    hue = rng.uniform()
    dark = _rgb(hue, rng.uniform(0.05, 0.3), rng.uniform(0.12, 0.32))
    light = _rgb(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.05, 0.3), rng.uniform(0.45, 0.68))
    background = (dark + (light - dark) * tex).astype(np.float32)
    return _Group(
        background=background,
        margin=margin,
        scale=float(rng.uniform(0.8, 1.2)),
        speed=float(rng.uniform(0.75, 1.3)),
        noise=float(rng.uniform(1.0, 7.0)),
        jitter=jitter,
        jitter_freqs=(float(rng.uniform(0.03, 0.09)), float(rng.uniform(0.1, 0.2))),
    )


@dataclass(frozen=True)
class _Canvas:
    """Per-frame pixel coordinates ([T, H, W]) and the scales the renderers work in."""

    x: np.ndarray
    y: np.ndarray
    width: int
    height: int
    unit: float  # one "pixel at 80x60", times the group's object scale
    speed: float
    t: np.ndarray  # frame index, shape [T, 1, 1]


def _alpha(sdf: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (negative inside), one pixel of ramp."""
    return np.clip(0.5 - sdf, 0.0, 1.0)


def _disc(c: _Canvas, cx, cy, r) -> np.ndarray:
    return np.hypot(c.x - cx, c.y - cy) - r


def _segment(c: _Canvas, x0, y0, x1, y1, r) -> np.ndarray:
    """Distance to a capsule: the segment (x0,y0)-(x1,y1) thickened by r."""
    dx, dy = x1 - x0, y1 - y0
    h = np.clip(((c.x - x0) * dx + (c.y - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0.0, 1.0)
    return np.hypot(c.x - x0 - h * dx, c.y - y0 - h * dy) - r


def _box(c: _Canvas, cx, cy, half_w, half_h, angle=0.0) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    u = (c.x - cx) * cos + (c.y - cy) * sin
    v = -(c.x - cx) * sin + (c.y - cy) * cos
    return np.maximum(np.abs(u) - half_w, np.abs(v) - half_h)


def _phase(rng: np.random.Generator) -> float:
    return float(rng.uniform())


@dataclass(frozen=True)
class _Drawn:
    """What a renderer draws: the object's signed distance [T, H, W] and its colour; a detail
    object also names the rectangle its texture may cover."""

    sdf: np.ndarray
    hue: float
    sat: float
    value: tuple[float, float] = (0.85, 1.0)  # range of the HSV value drawn per video
    # (cx, cy, half_w, half_h), in scene pixels, each a scalar or [T, 1, 1]: an axis-aligned
    # rectangle that the object covers fully (at least one pixel in from its edge).
    panel: tuple[Any, Any, Any, Any] | None = None


def _render_ball(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    r = 7 * c.unit
    cx = rng.uniform(0.3, 0.7) * c.width
    floor = rng.uniform(0.62, 0.72) * c.height
    height = rng.uniform(0.2, 0.3) * c.height
    period = rng.uniform(18, 30) / c.speed
    cy = floor - height * np.abs(np.sin(np.pi * (c.t / period + _phase(rng))))
    return _Drawn(_disc(c, cx, cy, r), 0.0, 0.82)


def _render_box(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    half = 6.5 * c.unit
    x0 = rng.uniform(0.35, 0.65) * c.width
    cy = rng.uniform(0.35, 0.65) * c.height
    amp = rng.uniform(0.08, 0.15) * c.width
    period = rng.uniform(24, 40) / c.speed
    cx = x0 + amp * np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    return _Drawn(_box(c, cx, cy, half, half, rng.uniform(-0.3, 0.3)), 0.62, 0.82)


def _render_triangle(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    r = 6 * c.unit  # inradius of an upward equilateral triangle
    cx = rng.uniform(0.35, 0.65) * c.width
    y0 = rng.uniform(0.4, 0.6) * c.height
    amp = rng.uniform(0.08, 0.15) * c.height
    period = rng.uniform(24, 40) / c.speed
    cy = y0 + amp * np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    dx, dy = c.x - cx, c.y - cy
    sdf = np.maximum.reduce([dy - r,  # bottom edge
                             -0.5 * dy + 0.866 * dx - r,  # right edge
                             -0.5 * dy - 0.866 * dx - r])  # left edge
    return _Drawn(sdf, 0.33, 0.8)


def _render_cross(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    cx = rng.uniform(0.35, 0.65) * c.width
    cy = rng.uniform(0.35, 0.65) * c.height
    period = rng.uniform(24, 40) / c.speed
    arm = 8 * c.unit * (1 + 0.25 * np.sin(2 * np.pi * (c.t / period + _phase(rng))))
    thick = 2.5 * c.unit
    sdf = np.minimum(_box(c, cx, cy, arm, thick), _box(c, cx, cy, thick, arm))
    return _Drawn(sdf, 0.15, 0.85)


def _render_diamond(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    # A square on its corner, rocking about that pose: a pendulum looks the same backwards.
    half = 6 * c.unit
    cx = rng.uniform(0.35, 0.65) * c.width
    cy = rng.uniform(0.4, 0.6) * c.height
    period = rng.uniform(24, 40) / c.speed
    angle = np.pi / 4 + 0.35 * np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    cos, sin = np.cos(angle), np.sin(angle)
    u = (c.x - cx) * cos + (c.y - cy) * sin
    v = -(c.x - cx) * sin + (c.y - cy) * cos
    return _Drawn(np.maximum(np.abs(u), np.abs(v)) - half, 0.24, 0.85)


def _render_ring(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    radius, thick = 7.5 * c.unit, 2.0 * c.unit
    x0 = rng.uniform(0.4, 0.6) * c.width
    y0 = rng.uniform(0.4, 0.6) * c.height
    amp = rng.uniform(0.06, 0.12) * c.height
    period = rng.uniform(24, 40) / c.speed
    swing = amp * np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    sdf = np.abs(np.hypot(c.x - x0 - swing, c.y - y0 - swing) - radius) - thick / 2
    return _Drawn(sdf, 0.94, 0.55)


def _render_slide(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    half_len, r = 6 * c.unit, 4 * c.unit
    cy = rng.uniform(0.3, 0.7) * c.height
    step = 0.02 * c.width * c.speed  # pixels per frame, rightwards
    cx = (rng.uniform(0, c.width) + step * c.t) % c.width
    # The frame is a torus horizontally: draw the copies one width left and right too, so the
    # object is always whole and its position is uniform over the width.
    sdf = np.minimum.reduce([_segment(c, cx + s - half_len, cy, cx + s + half_len, cy, r)
                             for s in (-c.width, 0, c.width)])
    return _Drawn(sdf, 0.5, 0.8)


def _render_ripples(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    # Concentric ripples: rings born at the centre grow and vanish at the rim, so the motion
    # fills the disc and never stops (a single growing ring is easy to miss).
    # Coarse enough to stay visible at the 3D model's half resolution.
    spacing, rim, thick = 10 * c.unit, 19.5 * c.unit, 2 * c.unit
    cx = rng.uniform(0.5 * c.width - 0.12 * c.width, 0.5 * c.width + 0.12 * c.width)
    cy = rng.uniform(max(rim + 1, 0.4 * c.height), min(c.height - rim - 1, 0.6 * c.height))
    step = 1.25 * c.unit * c.speed  # outward pixels per frame
    rho = np.hypot(c.x - cx, c.y - cy)
    wave = (rho - step * c.t) / spacing - _phase(rng)
    sdf = spacing * np.abs(wave - np.floor(wave) - 0.5) - thick
    return _Drawn(np.maximum(sdf, rho - rim), 0.85, 0.78)


def _render_spinner(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    length = 13 * c.unit
    cx = rng.uniform(0.4, 0.6) * c.width
    cy = rng.uniform(0.45, 0.55) * c.height
    period = 36 / c.speed  # frames per turn
    # Angle grows with time; with y pointing down that turns clockwise on screen.
    angle = 2 * np.pi * (_phase(rng) + c.t / period)
    parts = [_disc(c, cx, cy, 2.6 * c.unit)]
    for k in range(3):  # three arms, each with a ball at its tip
        tx = cx + length * np.cos(angle + 2 * np.pi * k / 3)
        ty = cy + length * np.sin(angle + 2 * np.pi * k / 3)
        parts += [_segment(c, cx, cy, tx, ty, 1.4 * c.unit), _disc(c, tx, ty, 2.8 * c.unit)]
    return _Drawn(np.minimum.reduce(parts), 0.07, 0.9)


# Detail objects: middling colours (HSV value about 0.55, saturation 0.55), so that with the
# texture's contrast and the noise no channel clips at 0 or 255, which would break the exact
# 2x2 averages.
DETAIL_VALUE = (0.5, 0.58)


def _render_flag(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    half_w, half_h = 12 * c.unit, 8.5 * c.unit
    x0 = rng.uniform(0.4, 0.6) * c.width
    cy = rng.uniform(0.35, 0.5) * c.height
    amp = rng.uniform(0.04, 0.08) * c.width
    period = rng.uniform(30, 45) / c.speed
    cx = x0 + amp * np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    pole = _segment(c, cx - half_w, cy - half_h, cx - half_w, cy + half_h + 10 * c.unit,
                    1.0 * c.unit)
    sdf = np.minimum(_box(c, cx, cy, half_w, half_h), pole)
    return _Drawn(sdf, 0.76, 0.55, DETAIL_VALUE, (cx, cy, half_w - 1, half_h - 1))


def _render_tile(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    half = 10 * c.unit
    cx = rng.uniform(0.35, 0.65) * c.width
    y0 = rng.uniform(0.4, 0.6) * c.height
    amp = rng.uniform(0.06, 0.12) * c.height
    period = rng.uniform(24, 40) / c.speed
    cy = y0 + amp * np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    return _Drawn(_box(c, cx, cy, half, half), 0.45, 0.55, DETAIL_VALUE,
                  (cx, cy, half - 1, half - 1))


def _render_board(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    half_w, half_h = 8 * c.unit, 13 * c.unit
    x0 = rng.uniform(0.35, 0.65) * c.width
    cy = rng.uniform(0.45, 0.55) * c.height
    amp = rng.uniform(0.08, 0.14) * c.width
    period = rng.uniform(30, 45) / c.speed
    cx = x0 + amp * np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    return _Drawn(_box(c, cx, cy, half_w, half_h), 0.6, 0.55, DETAIL_VALUE,
                  (cx, cy, half_w - 1, half_h - 1))


def _render_shield(c: _Canvas, rng: np.random.Generator) -> _Drawn:
    r = 12 * c.unit
    x0 = rng.uniform(0.4, 0.6) * c.width
    y0 = rng.uniform(0.4, 0.6) * c.height
    amp = rng.uniform(0.05, 0.1) * c.width
    period = rng.uniform(24, 40) / c.speed
    swing = np.sin(2 * np.pi * (c.t / period + _phase(rng)))
    cx, cy = x0 + amp * swing, y0 - 0.4 * amp * swing
    inner = (r - 1) / math.sqrt(2)  # the square inscribed in the disc, one pixel in
    return _Drawn(_disc(c, cx, cy, r), 0.3, 0.55, DETAIL_VALUE, (cx, cy, inner, inner))


_RENDERERS: dict[str, Callable[[_Canvas, np.random.Generator], _Drawn]] = {
    "ball": _render_ball, "box": _render_box, "triangle": _render_triangle,
    "cross": _render_cross, "diamond": _render_diamond, "ring": _render_ring,
    "slide": _render_slide, "ripples": _render_ripples, "spinner": _render_spinner,
    "flag": _render_flag, "tile": _render_tile, "board": _render_board,
    "shield": _render_shield,
}

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


def _texture(spec: ClassSpec, drawn: _Drawn, dx: np.ndarray, dy: np.ndarray,
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
    inside = (cols >= j0) & (cols < j1) & (rows >= i0) & (rows < i1)
    # Offsets from the corner, wrapped into the sign table outside the rectangle (masked).
    di = (rows - i0).astype(np.int64) % (2 * signs.shape[0])
    dj = (cols - j0).astype(np.int64) % (2 * signs.shape[1])
    return (pattern(di, dj, signs) * inside).astype(np.float32)


def _video_rng(seed: int, name: str, group: int, clip: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, zlib.crc32(name.encode()), group, clip])


def render_video(spec: ClassSpec, group: int, clip: int, *, seed: int,
                 size: tuple[int, int], num_frames: int) -> np.ndarray:
    """One video as uint8 RGB frames [T, H, W, 3], before encoding."""
    width, height = size
    g = _group(seed, group, width, height)
    rng = _video_rng(seed, spec.name, group, clip)
    t = np.arange(num_frames, dtype=np.float32)
    # Camera shake: two sinusoids with random phases, a stationary process like everything
    # else here, so reversing time does not change any frame's distribution.
    shake = [g.jitter * (0.6 * np.sin(2 * np.pi * (g.jitter_freqs[0] * t + rng.uniform()))
                         + 0.4 * np.sin(2 * np.pi * (g.jitter_freqs[1] * t + rng.uniform())))
             for _ in range(2)]
    dx, dy = (np.rint(s).astype(int) for s in shake)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    # Objects live in scene coordinates; the camera shifts the view by (dx, dy).
    canvas = _Canvas(
        x=xs[None] + dx[:, None, None].astype(np.float32),
        y=ys[None] + dy[:, None, None].astype(np.float32),
        width=width, height=height, unit=height / 60 * g.scale, speed=g.speed,
        t=t[:, None, None],
    )
    drawn = _RENDERERS[spec.motion](canvas, rng)
    colour = _rgb(drawn.hue + rng.uniform(-0.02, 0.02), drawn.sat, rng.uniform(*drawn.value))
    texture = _texture(spec, drawn, dx, dy, size, rng)
    m = g.margin
    frames = np.stack([g.background[m + y:m + y + height, m + x:m + x + width]
                       for x, y in zip(dx, dy, strict=True)])  # [T, H, W, 3] float32
    alpha = _alpha(drawn.sdf).astype(np.float32)[..., None]
    paint = colour if texture is None else colour * (1 + DETAIL_CONTRAST * texture[..., None])
    frames += (paint - frames) * alpha  # background * (1 - alpha) + paint * alpha
    frames += rng.standard_normal(frames.shape, dtype=np.float32) * np.float32(g.noise)
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    return frames[::-1].copy() if spec.reverse else frames


def encode_avi(path: Path, frames: np.ndarray) -> None:
    """Write frames [T, H, W, 3] uint8 RGB as an XviD-tagged MPEG-4 Part 2 AVI, intra only."""
    import av

    with av.open(str(path), "w", format="avi", container_options={"fflags": "+bitexact"}) as out:
        stream = out.add_stream("mpeg4", rate=FPS)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        ctx = stream.codec_context
        ctx.codec_tag = "XVID"
        # Every frame a keyframe, unlike UCF-101's single one: a P-frame's compression artefacts
        # depend on the motion before it, which leaks the direction of time into single frames
        # (measured: a moment statistic told SlideLeft from SlideRight frames at p = 0.001).
        ctx.gop_size = 1
        ctx.thread_count = 1  # one thread and a fixed quantizer: byte-identical output
        ctx.qmin = ctx.qmax = QUANTIZER
        ctx.flags |= av.codec.context.Flags.bitexact
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)


@dataclass(frozen=True)
class _Job:
    root: str
    name: str
    group: int
    clip: int
    seed: int
    size: tuple[int, int]
    num_frames: int


def _make_video(job: _Job) -> int:
    """Worker: render, encode into a temp file, rename. Returns the AVI's size in bytes."""
    spec = next(c for c in CLASSES if c.name == job.name)
    frames = render_video(spec, job.group, job.clip, seed=job.seed, size=job.size,
                          num_frames=job.num_frames)
    path = Path(job.root) / VIDEO_DIR / video_path(job.name, job.group, job.clip)
    with atomic_path(path) as tmp:
        encode_avi(tmp, frames)
    return path.stat().st_size


# ---------------------------------------------------------------- generation

@dataclass(frozen=True)
class SynthSummary:
    out: Path
    classes: list[dict[str, Any]]
    counts: dict[int, dict[str, int]]  # split -> {"train": n, "test": n}
    num_videos: int
    num_written: int  # made by this run; the rest were already complete
    num_bytes: int
    seconds: float

    def format(self) -> str:
        """What `synth` prints: the classes with their kind and partner, the videos per split,
        and the bytes on disk."""
        lines = [f"Synthetic benchmark in {self.out}", "", f"{'label':>5}  {'class':<22}{'kind':<10}partner"]
        for i, c in enumerate(self.classes, 1):
            lines.append(f"{i:>5}  {c['name']:<22}{c['kind']:<10}{c['partner'] or '-'}")
        lines.append("")
        for split, n in self.counts.items():
            lines.append(f"split {split}: {n['train']} train / {n['test']} test videos")
        lines.append(f"{self.num_videos} videos ({self.num_written} written now), "
                     f"{self.num_bytes / 1e6:.1f} MB on disk, {self.seconds:.1f} s")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def _split_counts(videos_per_group: int) -> dict[int, dict[str, int]]:
    per_split = NUM_GROUPS * videos_per_group * len(CLASSES)
    test = len(test_groups(1)) * videos_per_group * len(CLASSES)
    return {s: {"train": per_split - test, "test": test} for s in SPLITS}


def _benchmark_files(out: Path, videos_per_group: int) -> list[Path]:
    files = [out / VIDEO_DIR / video_path(name, group, clip) for name in class_names()
             for group in range(1, NUM_GROUPS + 1) for clip in range(1, videos_per_group + 1)]
    return files + [out / SPLIT_DIR / n for n in split_files(videos_per_group)] + [out / META_FILE]


def summarize(root: str | os.PathLike) -> SynthSummary:
    """The summary of a benchmark generated earlier (nothing is written), as `synth` prints it."""
    root = Path(root)
    classes = load_class_meta(root)
    try:
        videos_per_group = int(json.loads((root / META_FILE).read_text())["videos_per_group"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(f"{root / META_FILE} does not say videos_per_group ({exc}); generate "
                        "the benchmark again.") from None
    files = [p for p in _benchmark_files(root, videos_per_group) if p.is_file()]
    return SynthSummary(out=root, classes=classes, counts=_split_counts(videos_per_group),
                        num_videos=sum(p.suffix == ".avi" for p in files), num_written=0,
                        num_bytes=sum(p.stat().st_size for p in files), seconds=0.0)


def parse_size(text: str) -> tuple[int, int]:
    """'80x60' -> (80, 60), checked against the limits the codec and the models need."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", text)
    if not match:
        raise UserError(f"{text!r} is not WIDTHxHEIGHT; write it like 80x60.")
    size = (int(match[1]), int(match[2]))
    _check_size(size)
    return size


def _check_size(size: tuple[int, int]) -> None:
    width, height = size
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise UserError(f"Size {width}x{height} is out of range; use between "
                        f"{MIN_SIZE[0]}x{MIN_SIZE[1]} and {MAX_SIZE[0]}x{MAX_SIZE[1]}, e.g. 80x60.")
    if width % 2 or height % 2:
        raise UserError(f"Size {width}x{height} has an odd side, which MPEG-4 with 4:2:0 "
                        "colour cannot store; use even numbers, e.g. 80x60.")


def generation_config(seed: int, size: tuple[int, int], num_frames: int, videos_per_group: int) -> dict:
    return {"format_version": FORMAT_VERSION, "seed": seed, "size": list(size),
            "num_frames": num_frames, "videos_per_group": videos_per_group, "fps": FPS}


def _class_meta() -> list[dict[str, Any]]:
    by_name = {c.name: c for c in CLASSES}
    return [{"name": n, "kind": by_name[n].kind, "partner": by_name[n].partner,
             "description": by_name[n].description} for n in class_names()]


def _check_existing(out: Path, config: dict) -> None:
    """Refuse to mix videos made with other settings into one benchmark."""
    for marker in (out / META_FILE, out / PENDING_FILE):
        if marker.is_file():
            try:
                found = json.loads(marker.read_text())
                old = {k: found.get(k) for k in config}
            except (json.JSONDecodeError, AttributeError) as exc:
                raise UserError(f"{marker} is not valid JSON ({exc}); delete {out} and run again.") from exc
            if old != config:
                diff = ", ".join(f"{k}={old[k]} (asked {config[k]})" for k in config if old[k] != config[k])
                raise UserError(f"{out} already holds a benchmark made with {diff}; "
                                "pass the same settings to resume, or choose another --out.")
            return
    videos = out / VIDEO_DIR
    if videos.is_dir() and any(videos.iterdir()):
        raise UserError(f"{videos} holds videos this command did not make; choose another --out.")


def _remove_stale_temps(out: Path) -> None:
    """Temp files left by a killed run (a clean failure removes its own)."""
    for name in class_names():
        folder = out / VIDEO_DIR / name
        if folder.is_dir():
            for tmp in folder.glob(".v_*.avi.*.tmp"):
                tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def _exclusive(out: Path) -> Iterator[None]:
    """One run per directory: a second one would delete the first one's temp files."""
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks, run unguarded
        yield
        return
    with open(out / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise UserError(f"Another synth run is writing {out}; wait for it to finish.") from exc
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def generate(out: Path, *, seed: int = 0, size: tuple[int, int] = DEFAULT_SIZE,
             num_frames: int = DEFAULT_NUM_FRAMES, videos_per_group: int = DEFAULT_VIDEOS_PER_GROUP,
             num_workers: int | None = None) -> SynthSummary:
    """Write the benchmark under `out`; rerunning with the same settings resumes or verifies."""
    start = time.perf_counter()
    out = Path(out)
    size = (int(size[0]), int(size[1]))
    _check_size(size)
    if seed < 0:
        raise UserError(f"Seed {seed} is negative; use a seed of 0 or more.")
    if num_frames < MIN_FRAMES:
        raise UserError(f"{num_frames} frames is too few to show motion; use at least {MIN_FRAMES}.")
    if not 1 <= videos_per_group <= MAX_VIDEOS_PER_GROUP:
        raise UserError(f"Videos per group must be between 1 and {MAX_VIDEOS_PER_GROUP}, "
                        f"not {videos_per_group}.")
    num_workers = default_workers() if num_workers is None else num_workers
    if num_workers < 1:
        raise UserError(f"Workers must be 1 or more, not {num_workers}.")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file; give a directory (it is created if missing).")

    config = generation_config(seed, size, num_frames, videos_per_group)
    _check_existing(out, config)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"Cannot create {out} ({exc.strerror}); choose a writable --out.") from exc
    with _exclusive(out):
        if not (out / META_FILE).is_file():
            write_json_atomic(out / PENDING_FILE, config)
        _remove_stale_temps(out)

        jobs = [_Job(str(out), name, group, clip, seed, size, num_frames)
                for name in class_names()
                for group in range(1, NUM_GROUPS + 1)
                for clip in range(1, videos_per_group + 1)]
        todo = [j for j in jobs if not (out / VIDEO_DIR / video_path(j.name, j.group, j.clip)).is_file()]
        _run_jobs(todo, num_workers)

        for name, text in split_files(videos_per_group).items():
            write_text_atomic(out / SPLIT_DIR / name, text)
        meta = {**config, "classes": _class_meta()}
        write_json_atomic(out / META_FILE, meta)
        (out / PENDING_FILE).unlink(missing_ok=True)

    written = _benchmark_files(out, videos_per_group)
    return SynthSummary(out=out, classes=meta["classes"], counts=_split_counts(videos_per_group),
                        num_videos=len(jobs), num_written=len(todo),
                        num_bytes=sum(p.stat().st_size for p in written),
                        seconds=time.perf_counter() - start)


def _run_jobs(jobs: list[_Job], num_workers: int) -> None:
    if not jobs:
        return
    progress = bar(total=len(jobs), desc="synth", unit="video")
    try:
        if num_workers == 1 or len(jobs) == 1:
            for job in jobs:
                _make_video(job)
                progress.update()
            return
        # spawn, not fork: safe when the caller already runs threads (torch, a notebook kernel).
        with ProcessPoolExecutor(min(num_workers, len(jobs)), mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_make_video, job) for job in jobs]
            try:
                for future in as_completed(futures):
                    future.result()
                    progress.update()
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
    finally:
        progress.close()


def load_class_meta(root: str | os.PathLike) -> list[dict[str, Any]]:
    """The classes of a generated benchmark, in label order: name, kind, partner, description."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing; generate the benchmark with `python -m helpers synth --out {root}`.")
    try:
        return list(json.loads(path.read_text())["classes"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a benchmark's class list ({exc}); generate it again.") from exc


# ---------------------------------------------------------------- CLI

def frame_size(text: str) -> tuple[int, int]:
    """An argparse type: WIDTHxHEIGHT of a synthetic video, e.g. 80x60 (`parse_size`)."""
    from helpers.utils.argtypes import from_user_check

    return from_user_check(parse_size)(text)


def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.utils.argtypes import int_at_least, int_between, nonnegative_int, positive_int

    parser.add_argument("--out", type=Path, required=True,
                        help="directory to write UCF-101/, ucfTrainTestlist/ and classes.json into")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="random seed (default 0)")
    width, height = DEFAULT_SIZE
    parser.add_argument("--size", type=frame_size, default=DEFAULT_SIZE, metavar="WxH",
                        help=f"frame size WIDTHxHEIGHT, even sides (default {width}x{height})")
    parser.add_argument("--num-frames", type=int_at_least(MIN_FRAMES), default=DEFAULT_NUM_FRAMES,
                        help=f"frames per video, at least {MIN_FRAMES} (default "
                             f"{DEFAULT_NUM_FRAMES})")
    parser.add_argument("--videos-per-group", type=int_between(1, MAX_VIDEOS_PER_GROUP),
                        default=DEFAULT_VIDEOS_PER_GROUP,
                        help=f"clips per class and group; 25 groups (default "
                             f"{DEFAULT_VIDEOS_PER_GROUP})")
    parser.add_argument("--workers", dest="num_workers", type=positive_int, default=None,
                        help="worker processes (default: the number of CPU cores)")


def run(args: argparse.Namespace) -> int:
    summary = generate(args.out, seed=args.seed, size=args.size,
                       num_frames=args.num_frames, videos_per_group=args.videos_per_group,
                       num_workers=args.num_workers)
    print(summary.format())
    return 0
