"""`VideoClassifier`: a backbone plus the input normalisation its weights expect.

The normalisation belongs to the weights (ImageNet, old or new Kinetics checkpoints), so
it lives inside the model: the data pipeline hands over uint8 pixels and the model turns
them into what the backbone was trained on, on the device. `mean`, `std` and `scale` are
buffers and the normalisation name is extra state, so a saved `state_dict()` rebuilds the
same input pipeline when loaded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from helpers.errors import UserError


@dataclass(frozen=True)
class Normalization:
    """x_model = (x_uint8 * scale - mean) / std, per RGB channel."""

    name: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NORMALIZATIONS: dict[str, Normalization] = {
    # torchvision ImageNet weights
    "imagenet": Normalization("imagenet", (0.485, 0.456, 0.406), (0.229, 0.224, 0.225), 1 / 255),
    # Hara's old Kinetics-400 files (resnet-50-kinetics.pth): raw 0-255 minus the mean, no std
    "kinetics-old": Normalization("kinetics-old", (114.7748, 107.7354, 99.4750), (1.0, 1.0, 1.0), 1.0),
    # Hara's new files (r3d50_K_200ep.pth, K+M, ...): [0, 1] pixels with Kinetics mean and std
    "kinetics-new": Normalization("kinetics-new", (0.4345, 0.4051, 0.3775),
                                  (0.2768, 0.2713, 0.2737), 1 / 255),
}


def get_normalization(name: str) -> Normalization:
    try:
        return NORMALIZATIONS[name]
    except KeyError:
        raise UserError(f"Unknown normalisation {name!r}; choose one of "
                        f"{', '.join(NORMALIZATIONS)}.") from None


class VideoClassifier(nn.Module):
    """Backbone behind an on-device uint8 -> float normalisation.

    `forward(x)` takes uint8 RGB [B, 3, H, W] (kind "2d") or [B, 3, T, H, W] (kind "3d").
    """

    def __init__(self, backbone: nn.Module, *, kind: str, arch: str, norm: str | Normalization,
                 num_classes: int) -> None:
        super().__init__()
        if kind not in ("2d", "3d"):
            raise ValueError(f"kind must be '2d' or '3d', not {kind!r}")
        self.backbone = backbone
        self.kind = kind
        self.arch = arch
        self.num_classes = num_classes
        norm = get_normalization(norm) if isinstance(norm, str) else norm
        self.norm_name = norm.name
        shape = (1, 3, 1, 1) if kind == "2d" else (1, 3, 1, 1, 1)
        self.register_buffer("mean", torch.tensor(norm.mean, dtype=torch.float32).view(shape))
        self.register_buffer("std", torch.tensor(norm.std, dtype=torch.float32).view(shape))
        self.register_buffer("scale", torch.tensor(norm.scale, dtype=torch.float32))

    @property
    def fc(self) -> nn.Linear:
        return self.backbone.fc

    @property
    def feature_dim(self) -> int:
        return self.backbone.fc.in_features

    @property
    def normalization(self) -> Normalization:
        """The normalisation now applied (from the buffers, so it follows load_state_dict);
        the exact named constants when the float32 buffers hold them."""
        now = Normalization(self.norm_name, tuple(self.mean.flatten().tolist()),
                            tuple(self.std.flatten().tolist()), float(self.scale))
        named = NORMALIZATIONS.get(self.norm_name)
        if named is not None:
            ours = [*now.mean, *now.std, now.scale]
            theirs = [*named.mean, *named.std, named.scale]
            if all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(ours, theirs, strict=True)):
                return named
        return now

    # The name travels with state_dict(); the numbers travel as buffers.
    def get_extra_state(self) -> dict[str, str]:
        return {"arch": self.arch, "kind": self.kind, "norm": self.norm_name}

    def set_extra_state(self, state: dict[str, str]) -> None:
        if state.get("kind", self.kind) != self.kind or state.get("arch", self.arch) != self.arch:
            raise UserError(f"These weights belong to a {state.get('arch')} model, not "
                            f"{self.arch}; build the model with the same arch.")
        self.norm_name = state.get("norm", self.norm_name)

    def train(self, mode: bool = True) -> VideoClassifier:
        """Like nn.Module.train, but BN layers whose parameters are all frozen stay in eval
        mode: a frozen layer keeps the running statistics its weights were trained with."""
        super().train(mode)
        if mode:
            for m in self.backbone.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and _all_frozen(m):
                    m.eval()
        return self

    def _input_memory_format(self) -> torch.memory_format:
        w = self.backbone.conv1.weight
        fmt = torch.channels_last if self.kind == "2d" else torch.channels_last_3d
        return fmt if w.is_contiguous(memory_format=fmt) and not w.is_contiguous() else \
            torch.contiguous_format

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 pixels -> float32 backbone input (keeps the backbone's memory format)."""
        ndim = 4 if self.kind == "2d" else 5
        layout = "[B, 3, H, W]" if self.kind == "2d" else "[B, 3, T, H, W]"
        if x.dtype != torch.uint8:
            raise TypeError(f"{self.arch} takes uint8 pixels {layout}, got dtype {x.dtype}; "
                            "the model normalises them itself.")
        if x.dim() != ndim or x.shape[1] != 3:
            raise ValueError(f"{self.arch} takes uint8 RGB {layout}, got shape {tuple(x.shape)}.")
        x = x.contiguous(memory_format=self._input_memory_format())
        return (x.float() * self.scale - self.mean) / self.std

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled backbone features [B, feature_dim] of uint8 input."""
        b = self.backbone
        x = self.normalize(x)
        if hasattr(b, "forward_features"):
            return b.forward_features(x)
        # torchvision ResNet: everything but fc
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        x = b.layer4(b.layer3(b.layer2(b.layer1(x))))
        return torch.flatten(b.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(self.normalize(x))


def _all_frozen(module: nn.Module) -> bool:
    params = list(module.parameters(recurse=False))
    return bool(params) and not any(p.requires_grad for p in params)
