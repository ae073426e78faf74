"""Spatial augmentation on uint8 numpy frames, identical across the frames of a clip.

Frames come in as uint8 RGB `[T, H, W, 3]` (a single frame is T = 1) and leave as a
contiguous uint8 torch tensor: `[3, S, S]` for a frame, `[3, T, S, S]` for a clip.
Normalisation is not done here: it depends on the checkpoint, so the model wrapper
applies it on the device.

Train: one random resized crop box and one flip decision per item, applied to every
frame, so motion across a clip is not torn apart by per-frame jitter.
Eval: resize the short side to `short_side`, then take `crop_size` squares: the centre
one, or three along the long side (start, centre, end). We never materialise the resized
frame: each box is mapped back to source pixels and resized straight to the output,
which is the same picture for a fraction of the work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

# (y, x, h, w) in source pixels.
Box = tuple[int, int, int, int]


def random_resized_crop_box(rng: np.random.Generator, height: int, width: int,
                            scale: tuple[float, float] = (0.25, 1.0),
                            ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Box:
    """A box covering `scale` of the frame's area with aspect ratio (w/h) in `ratio`.

    Same scheme as torchvision's RandomResizedCrop: area uniform, log-ratio uniform,
    ten tries, then fall back to the largest centred box with a clamped ratio.
    """
    area = height * width
    log_lo, log_hi = math.log(ratio[0]), math.log(ratio[1])
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = math.exp(rng.uniform(log_lo, log_hi))
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            y = int(rng.integers(0, height - h + 1))
            x = int(rng.integers(0, width - w + 1))
            return y, x, h, w
    in_ratio = width / height
    if in_ratio < ratio[0]:
        w, h = width, round(width / ratio[0])
    elif in_ratio > ratio[1]:
        h, w = height, round(height * ratio[1])
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def eval_boxes(height: int, width: int, *, crop_size: int, short_side: int,
               num_crops: int = 1) -> list[Box]:
    """Boxes in source pixels equal to resizing the short side to `short_side` and then
    cropping `crop_size` squares: centred (1 crop) or start/centre/end of the long side (3)."""
    if num_crops not in (1, 3):
        raise ValueError(f"num_crops must be 1 or 3, got {num_crops}")
    if short_side < crop_size:
        raise ValueError(f"short_side {short_side} is smaller than crop_size {crop_size}")
    side = min(crop_size * min(height, width) / short_side, height, width)
    s = max(1, round(side))
    cy, cx = (height - s) // 2, (width - s) // 2
    if num_crops == 1:
        return [(cy, cx, s, s)]
    if width >= height:
        return [(cy, x, s, s) for x in (0, cx, width - s)]
    return [(y, cx, s, s) for y in (0, cy, height - s)]


def crop_resize(frames: np.ndarray, box: Box, size: int, *, flip: bool = False) -> np.ndarray:
    """Crop `box` from every frame of `[T, H, W, 3]` and resize it to `[T, size, size, 3]`.

    The flip is returned as a view (negative stride); the tensor conversion copies anyway.
    """
    y, x, h, w = box
    out = np.empty((frames.shape[0], size, size, frames.shape[3]), dtype=np.uint8)
    # Bilinear is 2-3x faster than INTER_AREA and aliases little below a 1.5x shrink (the
    # usual case: crops from a store sized for the model); shrink more and INTER_AREA it is.
    interp = cv2.INTER_AREA if min(h, w) >= 1.5 * size else cv2.INTER_LINEAR
    for t in range(frames.shape[0]):
        region = frames[t, y:y + h, x:x + w]
        if h == size and w == size:
            out[t] = region
        else:
            cv2.resize(region, (size, size), dst=out[t], interpolation=interp)
    return out[:, :, ::-1] if flip else out


def frame_tensor(frames: np.ndarray) -> torch.Tensor:
    """`[1, H, W, 3]` (or `[H, W, 3]`) uint8 -> contiguous `[3, H, W]` uint8 tensor."""
    img = frames[0] if frames.ndim == 4 else frames
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))


def clip_tensor(frames: np.ndarray) -> torch.Tensor:
    """`[T, H, W, 3]` uint8 -> contiguous `[3, T, H, W]` uint8 tensor."""
    return torch.from_numpy(np.ascontiguousarray(frames.transpose(3, 0, 1, 2)))


@dataclass(frozen=True)
class TrainTransform:
    """Random resized crop + horizontal flip, drawn once and applied to all frames."""

    crop_size: int
    scale: tuple[float, float] = (0.25, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5

    def __call__(self, frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        _, height, width, _ = frames.shape
        box = random_resized_crop_box(rng, height, width, self.scale, self.ratio)
        flip = bool(rng.random() < self.flip_p)
        return crop_resize(frames, box, self.crop_size, flip=flip)


@dataclass(frozen=True)
class EvalTransform:
    """Resize the short side to `short_side`, take crop number `crop` of `num_crops`."""

    crop_size: int
    short_side: int
    num_crops: int = 1

    def __call__(self, frames: np.ndarray, crop: int = 0) -> np.ndarray:
        _, height, width, _ = frames.shape
        boxes = eval_boxes(height, width, crop_size=self.crop_size,
                           short_side=self.short_side, num_crops=self.num_crops)
        return crop_resize(frames, boxes[crop], self.crop_size)

