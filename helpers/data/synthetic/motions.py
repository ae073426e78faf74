"""How each class's object moves: one renderer per motion, keyed by `ClassSpec.motion`.

Spatial motions are symmetric in time; temporal ones (slide, ripples, spinner) are
stationary processes with a random phase, so reversing time changes no frame's
distribution; detail objects name the rectangle their texture may cover."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from helpers.data.synthetic.shapes import Canvas, Drawn, box, disc, phase, segment


def _render_ball(c: Canvas, rng: np.random.Generator) -> Drawn:
    r = 7 * c.unit
    cx = rng.uniform(0.3, 0.7) * c.width
    floor = rng.uniform(0.62, 0.72) * c.height
    height = rng.uniform(0.2, 0.3) * c.height
    period = rng.uniform(18, 30) / c.speed
    cy = floor - height * np.abs(np.sin(np.pi * (c.t / period + phase(rng))))
    return Drawn(disc(c, cx, cy, r), 0.0, 0.82)


def _oscillating(c: Canvas, rng: np.random.Generator, x: tuple[float, float],
                 y: tuple[float, float], amp: tuple[float, float], period: tuple[float, float],
                 axis: str) -> tuple[Any, Any]:
    """A centre drawn in the fractions `x` and `y` of the frame that swings along `axis`
    ("x" or "y") by an amplitude drawn in `amp` (a fraction of that side), with a period
    drawn in `period` (frames at speed 1) and a random phase; each coordinate a scalar or
    [T, 1, 1]. The draws' order is the benchmark's: changing it changes every video."""
    x0 = rng.uniform(*x) * c.width
    y0 = rng.uniform(*y) * c.height
    swing = rng.uniform(*amp) * (c.width if axis == "x" else c.height)
    frames = rng.uniform(*period) / c.speed
    swing = swing * np.sin(2 * np.pi * (c.t / frames + phase(rng)))
    return (x0 + swing, y0) if axis == "x" else (x0, y0 + swing)


def _render_box(c: Canvas, rng: np.random.Generator) -> Drawn:
    half = 6.5 * c.unit
    cx, cy = _oscillating(c, rng, (0.35, 0.65), (0.35, 0.65), (0.08, 0.15), (24, 40), "x")
    return Drawn(box(c, cx, cy, half, half, rng.uniform(-0.3, 0.3)), 0.62, 0.82)


def _render_triangle(c: Canvas, rng: np.random.Generator) -> Drawn:
    r = 6 * c.unit  # inradius of an upward equilateral triangle
    cx, cy = _oscillating(c, rng, (0.35, 0.65), (0.4, 0.6), (0.08, 0.15), (24, 40), "y")
    dx, dy = c.x - cx, c.y - cy
    sdf = np.maximum.reduce([dy - r,  # bottom edge
                             -0.5 * dy + 0.866 * dx - r,  # right edge
                             -0.5 * dy - 0.866 * dx - r])  # left edge
    return Drawn(sdf, 0.33, 0.8)


def _render_cross(c: Canvas, rng: np.random.Generator) -> Drawn:
    cx = rng.uniform(0.35, 0.65) * c.width
    cy = rng.uniform(0.35, 0.65) * c.height
    period = rng.uniform(24, 40) / c.speed
    arm = 8 * c.unit * (1 + 0.25 * np.sin(2 * np.pi * (c.t / period + phase(rng))))
    thick = 2.5 * c.unit
    sdf = np.minimum(box(c, cx, cy, arm, thick), box(c, cx, cy, thick, arm))
    return Drawn(sdf, 0.15, 0.85)


def _render_diamond(c: Canvas, rng: np.random.Generator) -> Drawn:
    # A square on its corner, rocking about that pose: a pendulum looks the same backwards.
    half = 6 * c.unit
    cx = rng.uniform(0.35, 0.65) * c.width
    cy = rng.uniform(0.4, 0.6) * c.height
    period = rng.uniform(24, 40) / c.speed
    angle = np.pi / 4 + 0.35 * np.sin(2 * np.pi * (c.t / period + phase(rng)))
    cos, sin = np.cos(angle), np.sin(angle)
    u = (c.x - cx) * cos + (c.y - cy) * sin
    v = -(c.x - cx) * sin + (c.y - cy) * cos
    return Drawn(np.maximum(np.abs(u), np.abs(v)) - half, 0.24, 0.85)


def _render_ring(c: Canvas, rng: np.random.Generator) -> Drawn:
    radius, thick = 7.5 * c.unit, 2.0 * c.unit
    x0 = rng.uniform(0.4, 0.6) * c.width
    y0 = rng.uniform(0.4, 0.6) * c.height
    amp = rng.uniform(0.06, 0.12) * c.height
    period = rng.uniform(24, 40) / c.speed
    swing = amp * np.sin(2 * np.pi * (c.t / period + phase(rng)))
    sdf = np.abs(np.hypot(c.x - x0 - swing, c.y - y0 - swing) - radius) - thick / 2
    return Drawn(sdf, 0.94, 0.55)


def _render_slide(c: Canvas, rng: np.random.Generator) -> Drawn:
    half_len, r = 6 * c.unit, 4 * c.unit
    cy = rng.uniform(0.3, 0.7) * c.height
    step = 0.02 * c.width * c.speed  # pixels per frame, rightwards
    cx = (rng.uniform(0, c.width) + step * c.t) % c.width
    # The frame is a torus horizontally: draw the copies one width left and right too, so the
    # object is always whole and its position is uniform over the width.
    sdf = np.minimum.reduce([segment(c, cx + s - half_len, cy, cx + s + half_len, cy, r)
                             for s in (-c.width, 0, c.width)])
    return Drawn(sdf, 0.5, 0.8)


def _render_ripples(c: Canvas, rng: np.random.Generator) -> Drawn:
    # Concentric ripples: rings born at the centre grow and vanish at the rim, so the motion
    # fills the disc and never stops (a single growing ring is easy to miss).
    # Coarse enough to stay visible at the 3D model's half resolution.
    spacing, rim, thick = 10 * c.unit, 19.5 * c.unit, 2 * c.unit
    cx = rng.uniform(0.5 * c.width - 0.12 * c.width, 0.5 * c.width + 0.12 * c.width)
    cy = rng.uniform(max(rim + 1, 0.4 * c.height), min(c.height - rim - 1, 0.6 * c.height))
    step = 1.25 * c.unit * c.speed  # outward pixels per frame
    rho = np.hypot(c.x - cx, c.y - cy)
    wave = (rho - step * c.t) / spacing - phase(rng)
    sdf = spacing * np.abs(wave - np.floor(wave) - 0.5) - thick
    return Drawn(np.maximum(sdf, rho - rim), 0.85, 0.78)


def _render_spinner(c: Canvas, rng: np.random.Generator) -> Drawn:
    length = 13 * c.unit
    cx = rng.uniform(0.4, 0.6) * c.width
    cy = rng.uniform(0.45, 0.55) * c.height
    period = 36 / c.speed  # frames per turn
    # Angle grows with time; with y pointing down that turns clockwise on screen.
    angle = 2 * np.pi * (phase(rng) + c.t / period)
    parts = [disc(c, cx, cy, 2.6 * c.unit)]
    for k in range(3):  # three arms, each with a ball at its tip
        tx = cx + length * np.cos(angle + 2 * np.pi * k / 3)
        ty = cy + length * np.sin(angle + 2 * np.pi * k / 3)
        parts += [segment(c, cx, cy, tx, ty, 1.4 * c.unit), disc(c, tx, ty, 2.8 * c.unit)]
    return Drawn(np.minimum.reduce(parts), 0.07, 0.9)


# Detail objects: middling colours (HSV value about 0.55, saturation 0.55), so that with the
# texture's contrast and the noise no channel clips at 0 or 255, which would break the exact
# 2x2 averages.
DETAIL_VALUE = (0.5, 0.58)


def _render_flag(c: Canvas, rng: np.random.Generator) -> Drawn:
    half_w, half_h = 12 * c.unit, 8.5 * c.unit
    cx, cy = _oscillating(c, rng, (0.4, 0.6), (0.35, 0.5), (0.04, 0.08), (30, 45), "x")
    pole = segment(c, cx - half_w, cy - half_h, cx - half_w, cy + half_h + 10 * c.unit,
                    1.0 * c.unit)
    sdf = np.minimum(box(c, cx, cy, half_w, half_h), pole)
    return Drawn(sdf, 0.76, 0.55, DETAIL_VALUE, (cx, cy, half_w - 1, half_h - 1))


def _detail_box(c: Canvas, half_w: float, half_h: float, hue: float,
                centre: tuple[Any, Any]) -> Drawn:
    """An oscillating box of a detail class, its texture's rectangle one pixel inside it."""
    cx, cy = centre
    return Drawn(box(c, cx, cy, half_w, half_h), hue, 0.55, DETAIL_VALUE,
                 (cx, cy, half_w - 1, half_h - 1))


def _render_tile(c: Canvas, rng: np.random.Generator) -> Drawn:
    half = 10 * c.unit
    return _detail_box(c, half, half, 0.45, _oscillating(
        c, rng, (0.35, 0.65), (0.4, 0.6), (0.06, 0.12), (24, 40), "y"))


def _render_board(c: Canvas, rng: np.random.Generator) -> Drawn:
    return _detail_box(c, 8 * c.unit, 13 * c.unit, 0.6, _oscillating(
        c, rng, (0.35, 0.65), (0.45, 0.55), (0.08, 0.14), (30, 45), "x"))


def _render_shield(c: Canvas, rng: np.random.Generator) -> Drawn:
    r = 12 * c.unit
    x0 = rng.uniform(0.4, 0.6) * c.width
    y0 = rng.uniform(0.4, 0.6) * c.height
    amp = rng.uniform(0.05, 0.1) * c.width
    period = rng.uniform(24, 40) / c.speed
    swing = np.sin(2 * np.pi * (c.t / period + phase(rng)))
    cx, cy = x0 + amp * swing, y0 - 0.4 * amp * swing
    inner = (r - 1) / math.sqrt(2)  # the square inscribed in the disc, one pixel in
    return Drawn(disc(c, cx, cy, r), 0.3, 0.55, DETAIL_VALUE, (cx, cy, inner, inner))


RENDERERS: dict[str, Callable[[Canvas, np.random.Generator], Drawn]] = {
    "ball": _render_ball, "box": _render_box, "triangle": _render_triangle,
    "cross": _render_cross, "diamond": _render_diamond, "ring": _render_ring,
    "slide": _render_slide, "ripples": _render_ripples, "spinner": _render_spinner,
    "flag": _render_flag, "tile": _render_tile, "board": _render_board,
    "shield": _render_shield,
}
