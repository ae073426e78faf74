"""Hara's 3D ResNets (3D-ResNets-PyTorch, CVPR 2018), written from the architecture.

The module and parameter names are his, so `state_dict()` keys (`conv1.weight`,
`layer1.0.downsample.0.weight`, `fc.weight`, ...) match his checkpoints one to one.

Architecture: conv1 (t x 7 x 7, stride (t_stride, 2, 2)) + BN + ReLU, MaxPool3d(3, 2, 1),
four stages of Basic or Bottleneck blocks (stride 2 from stage 2 on, on the 3x3x3 conv),
AdaptiveAvgPool3d(1), fc. Shortcut 'B' projects with a 1x1x1 conv + BN where the shape
changes; shortcut 'A' subsamples and zero-pads the channels (parameter-free).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from helpers.errors import UserError

STAGE_WIDTHS = (64, 128, 256, 512)


def conv3x3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv3d:
    return nn.Conv3d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class ZeroPadShortcut(nn.Module):
    """Shortcut 'A': take every `stride`-th voxel and append zero channels up to `planes`.

    Hara's version detaches this path (`out.data`); here gradients flow, as in a plain
    identity shortcut. The forward values are the same.
    """

    def __init__(self, planes: int, stride: int) -> None:
        super().__init__()
        self.planes = planes
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, :: self.stride, :: self.stride, :: self.stride]
        pad = self.planes - x.shape[1]
        # F.pad pads trailing dims first: (W, W, H, H, T, T, C_before, C_after)
        return F.pad(x, (0, 0, 0, 0, 0, 0, 0, pad)) if pad > 0 else x


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm3d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3x3(planes, planes)
        self.bn2 = nn.BatchNorm3d(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_planes: int, planes: int, stride: int = 1,
                 downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv1x1x1(in_planes, planes)
        self.bn1 = nn.BatchNorm3d(planes)
        self.conv2 = conv3x3x3(planes, planes, stride)  # the stride sits here, as in Hara's code
        self.bn2 = nn.BatchNorm3d(planes)
        self.conv3 = conv1x1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm3d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(out + shortcut)


Block = type[BasicBlock] | type[Bottleneck]

# depth -> (block, blocks per stage), Hara's table
DEPTHS: dict[int, tuple[Block, tuple[int, int, int, int]]] = {
    10: (BasicBlock, (1, 1, 1, 1)),
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
    200: (Bottleneck, (3, 24, 36, 3)),
}


class ResNet3D(nn.Module):
    def __init__(self, block: Block, layers: tuple[int, int, int, int], num_classes: int = 400, *,
                 widen_factor: float = 1.0, shortcut_type: str = "B", conv1_t_size: int = 7,
                 conv1_t_stride: int = 1, no_max_pool: bool = False, in_channels: int = 3) -> None:
        super().__init__()
        if shortcut_type not in ("A", "B"):
            raise UserError(f"Unknown shortcut type {shortcut_type!r}; use 'A' or 'B'.")
        widths = [int(w * widen_factor) for w in STAGE_WIDTHS]
        if min(widths) < 1:
            raise UserError(f"widen_factor {widen_factor} leaves a stage with no channels; "
                            "use a value of at least 1/64.")
        self.shortcut_type = shortcut_type
        self.no_max_pool = no_max_pool
        self.in_planes = widths[0]

        self.conv1 = nn.Conv3d(in_channels, self.in_planes, kernel_size=(conv1_t_size, 7, 7),
                               stride=(conv1_t_stride, 2, 2), padding=(conv1_t_size // 2, 3, 3),
                               bias=False)
        self.bn1 = nn.BatchNorm3d(self.in_planes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool3d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0], stride=1)
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool3d(1)
        self.feature_dim = widths[3] * block.expansion
        self.fc = nn.Linear(self.feature_dim, num_classes)

        for m in self.modules():  # Hara's init; fc keeps PyTorch's default
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block: Block, planes: int, num_blocks: int, stride: int) -> nn.Sequential:
        out_planes = planes * block.expansion
        downsample: nn.Module | None = None
        if stride != 1 or self.in_planes != out_planes:
            if self.shortcut_type == "A":
                downsample = ZeroPadShortcut(out_planes, stride)
            else:
                downsample = nn.Sequential(conv1x1x1(self.in_planes, out_planes, stride),
                                           nn.BatchNorm3d(out_planes))
        blocks = [block(self.in_planes, planes, stride, downsample)]
        self.in_planes = out_planes
        blocks += [block(self.in_planes, planes) for _ in range(1, num_blocks)]
        return nn.Sequential(*blocks)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features [B, feature_dim] before the classifier."""
        x = self.relu(self.bn1(self.conv1(x)))
        if not self.no_max_pool:
            x = self.maxpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.forward_features(x))


def resnet3d(depth: int, num_classes: int = 400, **kwargs) -> ResNet3D:
    """Hara's `generate_model(depth, n_classes=num_classes, ...)`; kwargs go to ResNet3D."""
    if depth not in DEPTHS:
        raise UserError(f"No 3D ResNet of depth {depth}; choose one of {sorted(DEPTHS)}.")
    block, layers = DEPTHS[depth]
    return ResNet3D(block, layers, num_classes, **kwargs)


@dataclass(frozen=True)
class ResNet3DConfig:
    """What a state_dict says about the network that wrote it (None where it cannot tell)."""

    depth: int | None
    block: str  # "basic" | "bottleneck"
    layers: tuple[int, ...]
    shortcut_type: str  # "A" | "B"
    widen_factor: float | None
    conv1_t_size: int | None

    def describe(self) -> str:
        name = f"r3d{self.depth}" if self.depth else f"a 3D ResNet with stages {list(self.layers)}"
        width = "" if self.widen_factor in (None, 1.0) else f", widen_factor {self.widen_factor:g}"
        return f"{name} ({self.block} blocks, shortcut {self.shortcut_type}{width})"


def infer_config(state_dict: Mapping[str, torch.Tensor]) -> ResNet3DConfig | None:
    """Guess depth, block type, shortcut type and width from a (prefix-free) state_dict."""
    conv1 = state_dict.get("conv1.weight")
    if conv1 is None or conv1.dim() != 5:
        return None
    counts = []
    for stage in range(1, 5):
        idx = {int(k.split(".")[1]) for k in state_dict if k.startswith(f"layer{stage}.")
               and k.split(".")[1].isdigit()}
        counts.append(max(idx) + 1 if idx else 0)
    bottleneck = any(k.startswith("layer1.0.conv3.") for k in state_dict)
    block = Bottleneck if bottleneck else BasicBlock
    depth = next((d for d, (b, lay) in DEPTHS.items() if b is block and list(lay) == counts), None)
    shortcut = "B" if any(".downsample." in k for k in state_dict) else "A"
    return ResNet3DConfig(depth=depth, block="bottleneck" if bottleneck else "basic",
                          layers=tuple(counts), shortcut_type=shortcut,
                          widen_factor=conv1.shape[0] / STAGE_WIDTHS[0],
                          conv1_t_size=int(conv1.shape[2]))
