"""Models: torchvision ResNet-50 (2D) and Hara's 3D ResNets, behind one `build_model`.

`build_model` returns a `VideoClassifier`: the backbone with a fresh `num_classes` head and
the input normalisation its weights expect, applied on the device to uint8 input.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from helpers.errors import UserError
from helpers.models.checkpoints import (
    CheckpointInfo,
    load_backbone,
    load_hara_checkpoint,
    resolve_weights_path,
)
from helpers.models.classifier import NORMALIZATIONS, Normalization, VideoClassifier
from helpers.models.resnet2d import build_resnet2d
from helpers.models.resnet3d import DEPTHS, ResNet3D, infer_config, resnet3d

ARCHS_2D = ("resnet18", "resnet50")
ARCHS_3D = tuple(f"r3d{d}" for d in DEPTHS)
ARCHS = ARCHS_2D + ARCHS_3D
NO_WEIGHTS = ("none", "scratch")

__all__ = ["ARCHS", "ARCHS_2D", "ARCHS_3D", "NORMALIZATIONS", "CheckpointInfo", "Normalization",
           "ResNet3D", "VideoClassifier", "build_model", "infer_config", "load_hara_checkpoint",
           "model_kind"]


def model_kind(name: str) -> str:
    """"2d" or "3d" for an arch name."""
    if name in ARCHS_2D:
        return "2d"
    if name in ARCHS_3D:
        return "3d"
    raise UserError(f"Unknown model {name!r}; choose one of {', '.join(ARCHS)}.")


def build_model(name: str, num_classes: int, weights: str | Path | None = None, *,
                widen_factor: float = 1.0, allow_download: bool = False,
                norm: str | None = None, shortcut_type: str = "B",
                dropout: float = 0.0) -> VideoClassifier:
    """Build `name` with a fresh `num_classes` head.

    weights:
      None (or "none"/"scratch") - random init; normalisation ImageNet (2D) or new-Kinetics
        (3D) stats, which only fix the input scale when training from scratch;
      "imagenet" (2D) - torchvision's ImageNet weights from the hub cache, downloaded only
        with `allow_download`;
      a path - a torchvision-format .pth (2D) or a Hara checkpoint, old or new format (3D).
    norm: override the normalisation the weights imply (a key of NORMALIZATIONS).
    shortcut_type, widen_factor: Hara's 3D options ('B' and 1.0 for his released files).
    dropout: probability of dropping the pooled features before the new head (training only;
      the head's weights keep their names, so a saved model loads without it).
    """
    model = _build(name, num_classes, weights, widen_factor=widen_factor,
                   allow_download=allow_download, norm=norm, shortcut_type=shortcut_type)
    if dropout:
        model.backbone.fc = DropoutLinear.from_linear(model.backbone.fc, dropout)
    return model


class DropoutLinear(nn.Linear):
    """A linear head that drops its input features first; same parameters as nn.Linear."""

    def __init__(self, in_features: int, out_features: int, p: float) -> None:
        super().__init__(in_features, out_features)
        self.dropout = nn.Dropout(p)

    @classmethod
    def from_linear(cls, fc: nn.Linear, p: float) -> DropoutLinear:
        head = cls(fc.in_features, fc.out_features, p)
        head.load_state_dict(fc.state_dict())
        return head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(self.dropout(x))


def _build(name: str, num_classes: int, weights: str | Path | None, *, widen_factor: float,
           allow_download: bool, norm: str | None, shortcut_type: str) -> VideoClassifier:
    kind = model_kind(name)
    if int(num_classes) != num_classes or num_classes < 1:
        raise UserError(f"num_classes must be a positive integer, not {num_classes!r}.")
    if weights is not None and str(weights).lower() in NO_WEIGHTS:
        weights = None
    if kind == "2d":
        if widen_factor != 1.0:
            raise UserError(f"widen_factor applies to the 3D models only, not {name}.")
        backbone = build_resnet2d(name, num_classes, weights, allow_download=allow_download)
        return VideoClassifier(backbone, kind="2d", arch=name, norm=norm or "imagenet",
                               num_classes=num_classes)

    depth = int(name[3:])
    backbone = resnet3d(depth, num_classes, widen_factor=widen_factor, shortcut_type=shortcut_type)
    if weights is None:
        return VideoClassifier(backbone, kind="3d", arch=name, norm=norm or "kinetics-new",
                               num_classes=num_classes)
    if str(weights).lower().startswith("imagenet"):
        raise UserError(f"ImageNet weights exist for the 2D models only; give {name} a Hara "
                        "Kinetics checkpoint (e.g. r3d50_K_200ep.pth) or no weights.")
    weights = resolve_weights_path(weights)
    if not weights.is_file():
        raise UserError(f"The Kinetics weights file {weights} does not exist; download "
                        f"{weights.name} from the pretrained-models link in the README of "
                        "kenshohara/3D-ResNets-PyTorch and put it there, or name it with "
                        "--weights PATH (Make: WEIGHTS=; see README.md, 'Real UCF-101 on a GPU "
                        "node').")
    state_dict, info = load_hara_checkpoint(weights, norm=norm)
    load_backbone(backbone, state_dict, source=str(weights), arch=name,
                  hint=_mismatch_hint(info, depth, shortcut_type, widen_factor))
    return VideoClassifier(backbone, kind="3d", arch=name, norm=info.norm, num_classes=num_classes)


def _mismatch_hint(info: CheckpointInfo, depth: int, shortcut_type: str, widen: float) -> str:
    cfg = info.config
    if cfg is None:
        return "it does not hold 3D ResNet weights (no 5-D conv1.weight)"
    fixes = []
    if cfg.depth != depth:
        fixes.append(f"--arch r3d{cfg.depth}" if cfg.depth else "a matching depth")
    if cfg.shortcut_type != shortcut_type:
        fixes.append(f"shortcut_type '{cfg.shortcut_type}'")
    if cfg.widen_factor is not None and abs(cfg.widen_factor - widen) > 1e-9:
        fixes.append(f"--widen-factor {cfg.widen_factor:g}")
    if not fixes:
        return ""
    return (f"it looks like {cfg.describe()}, not r3d{depth}: pass an r3d{depth} file "
            f"(e.g. r3d{depth}_K_200ep.pth), or train this one with {', '.join(fixes)}")

