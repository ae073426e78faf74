"""One video's frames: the group's nuisances (background, scale, speed, noise, camera
shake), the class's object drawn over them, and its texture; randomness from (seed, group)
and (seed, class, group, clip) only."""

from __future__ import annotations

import colorsys
import math
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from helpers.data.synthetic.catalogue import ClassSpec
from helpers.data.synthetic.motions import RENDERERS
from helpers.data.synthetic.shapes import Canvas, coverage
from helpers.data.synthetic.textures import DETAIL_CONTRAST, detail_texture, panel_mask


@dataclass(frozen=True)
class GroupLook:
    """Nuisances shared by every video of one group."""

    background: np.ndarray  # float32 [H + 2m, W + 2m, 3] in 0..255, m = margin
    margin: int
    scale: float  # object size multiplier
    speed: float  # motion speed multiplier
    noise: float  # std of per-pixel noise, 0..255 scale
    jitter: float  # camera shake amplitude in pixels
    jitter_freqs: tuple[float, float]  # cycles per frame of the two shake components


def hsv_rgb(h: float, s: float, v: float) -> np.ndarray:
    return np.array(colorsys.hsv_to_rgb(h % 1.0, s, v), dtype=np.float32) * 255


def _resize(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2  # imported here: only the workers need it

    return cv2.resize(img, (width, height), interpolation=cv2.INTER_CUBIC)


@lru_cache(maxsize=32)
def group_look(seed: int, group: int, width: int, height: int) -> GroupLook:
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
    dark = hsv_rgb(hue, rng.uniform(0.05, 0.3), rng.uniform(0.12, 0.32))
    light = hsv_rgb(hue + rng.uniform(-0.1, 0.1), rng.uniform(0.05, 0.3), rng.uniform(0.45, 0.68))
    background = (dark + (light - dark) * tex).astype(np.float32)
    return GroupLook(
        background=background,
        margin=margin,
        scale=float(rng.uniform(0.8, 1.2)),
        speed=float(rng.uniform(0.75, 1.3)),
        noise=float(rng.uniform(1.0, 7.0)),
        jitter=jitter,
        jitter_freqs=(float(rng.uniform(0.03, 0.09)), float(rng.uniform(0.1, 0.2))),
    )


def _video_rng(seed: int, name: str, group: int, clip: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, zlib.crc32(name.encode()), group, clip])


def render_video(spec: ClassSpec, group: int, clip: int, *, seed: int,
                 size: tuple[int, int], num_frames: int) -> np.ndarray:
    """One video as uint8 RGB frames [T, H, W, 3], before encoding."""
    return render_scene(spec, group, clip, seed=seed, size=size, num_frames=num_frames)[0]


def render_scene(spec: ClassSpec, group: int, clip: int, *, seed: int,
                 size: tuple[int, int], num_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """One video's frames and, per frame, its class-defining region ([T, H, W] bool): the
    object (at least half covered) for spatial and temporal classes, the texture's rectangle
    for detail classes (the same rectangle on a plain one, whose evidence is its absence)."""
    width, height = size
    g = group_look(seed, group, width, height)
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
    canvas = Canvas(
        x=xs[None] + dx[:, None, None].astype(np.float32),
        y=ys[None] + dy[:, None, None].astype(np.float32),
        width=width, height=height, unit=height / 60 * g.scale, speed=g.speed,
        t=t[:, None, None],
    )
    drawn = RENDERERS[spec.motion](canvas, rng)
    colour = hsv_rgb(drawn.hue + rng.uniform(-0.02, 0.02), drawn.sat, rng.uniform(*drawn.value))
    texture = detail_texture(spec, drawn, dx, dy, size, rng)
    m = g.margin
    frames = np.stack([g.background[m + y:m + y + height, m + x:m + x + width]
                       for x, y in zip(dx, dy, strict=True)])  # [T, H, W, 3] float32
    alpha = coverage(drawn.sdf).astype(np.float32)[..., None]
    paint = colour if texture is None else colour * (1 + DETAIL_CONTRAST * texture[..., None])
    frames += (paint - frames) * alpha  # background * (1 - alpha) + paint * alpha
    frames += rng.standard_normal(frames.shape, dtype=np.float32) * np.float32(g.noise)
    frames = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    region = panel_mask(drawn, dx, dy, size) if spec.kind == "detail" else None
    mask = alpha[..., 0] >= 0.5 if region is None else region
    if spec.reverse:
        return frames[::-1].copy(), mask[::-1].copy()
    return frames, mask
