"""Signed distances of the shapes the benchmark draws (negative inside), on a canvas of
per-frame pixel coordinates, and what a renderer returns (`Drawn`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Canvas:
    """Per-frame pixel coordinates ([T, H, W]) and the scales the renderers work in."""

    x: np.ndarray
    y: np.ndarray
    width: int
    height: int
    unit: float  # one "pixel at 80x60", times the group's object scale
    speed: float
    t: np.ndarray  # frame index, shape [T, 1, 1]


def coverage(sdf: np.ndarray) -> np.ndarray:
    """Anti-aliased coverage from a signed distance (negative inside), one pixel of ramp."""
    return np.clip(0.5 - sdf, 0.0, 1.0)


def disc(c: Canvas, cx, cy, r) -> np.ndarray:
    return np.hypot(c.x - cx, c.y - cy) - r


def segment(c: Canvas, x0, y0, x1, y1, r) -> np.ndarray:
    """Distance to a capsule: the segment (x0,y0)-(x1,y1) thickened by r."""
    dx, dy = x1 - x0, y1 - y0
    h = np.clip(((c.x - x0) * dx + (c.y - y0) * dy) / (dx * dx + dy * dy + 1e-9), 0.0, 1.0)
    return np.hypot(c.x - x0 - h * dx, c.y - y0 - h * dy) - r


def box(c: Canvas, cx, cy, half_w, half_h, angle=0.0) -> np.ndarray:
    cos, sin = math.cos(angle), math.sin(angle)
    u = (c.x - cx) * cos + (c.y - cy) * sin
    v = -(c.x - cx) * sin + (c.y - cy) * cos
    return np.maximum(np.abs(u) - half_w, np.abs(v) - half_h)


def phase(rng: np.random.Generator) -> float:
    return float(rng.uniform())


@dataclass(frozen=True)
class Drawn:
    """What a renderer draws: the object's signed distance [T, H, W] and its colour; a detail
    object also names the rectangle its texture may cover."""

    sdf: np.ndarray
    hue: float
    sat: float
    value: tuple[float, float] = (0.85, 1.0)  # range of the HSV value drawn per video
    # (cx, cy, half_w, half_h), in scene pixels, each a scalar or [T, 1, 1]: an axis-aligned
    # rectangle that the object covers fully (at least one pixel in from its edge).
    panel: tuple[Any, Any, Any, Any] | None = None
