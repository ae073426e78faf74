"""The train and eval transforms of a config, built in one place.

Datasets receive a ready transform; nothing forwards crop sizes or scales through them.
"""

from __future__ import annotations

from helpers.config import TrainConfig
from helpers.data.transforms import EvalTransform, TrainTransform

# Eval resize of the short side relative to the crop: the ImageNet convention (256 -> 224)
# for the frame model; Hara's 3D models resize the short side to the crop itself.
FRAME_EVAL_RATIO = 0.875
CLIP_EVAL_RATIO = 1.0


def eval_short_side(crop_size: int, ratio: float) -> int:
    """Short side to resize to before the eval crop: `crop_size / ratio`, rounded."""
    return max(crop_size, round(crop_size / ratio))


def train_transform(cfg: TrainConfig) -> TrainTransform:
    """Random resized crop (area fraction `crop_scale`) and flip (`flip_p`), one draw per item."""
    return TrainTransform(cfg.crop_size, scale=tuple(cfg.crop_scale), flip_p=cfg.flip_p)


def eval_transform(cfg: TrainConfig) -> EvalTransform:
    """Short-side resize, then the centre crop, or three crops along the long side."""
    ratio = FRAME_EVAL_RATIO if cfg.model == "frame" else CLIP_EVAL_RATIO
    return EvalTransform(cfg.crop_size, eval_short_side(cfg.crop_size, ratio),
                         3 if cfg.three_crop else 1)


def transform(cfg: TrainConfig, *, train: bool) -> TrainTransform | EvalTransform:
    return train_transform(cfg) if train else eval_transform(cfg)
