"""Which pretrained weights a file holds, told from its content, not its name.

A course folder may hold the ImageNet ResNet-50 as `resnet50.pth` and the Kinetics R3D-50 as
`r3d50.pth`. torchvision names its files `<arch>-<first 8 hex of the sha256>.pth`, so the
checksum says which published ImageNet file (V1 or V2) a file is, under any name. Hara's
files carry no published checksum: their format (DataParallel `module.` prefix or not), depth
and number of pretraining classes say what they are, and the sha256 pins the exact bytes.

>>> kinetics_name(700)
'Kinetics-700'
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from torchvision import models

from helpers.utils.io import sha256_file

# The published torchvision ResNet files the frame model may start from: the hash prefix in
# each file name -> (arch, weights name).
TORCHVISION = {
    w.url.rsplit("-", 1)[-1].split(".")[0]: (arch, w.name)
    for arch, enum in (("resnet50", models.ResNet50_Weights),
                       ("resnet18", models.ResNet18_Weights))
    for w in enum
}
# Hara's pretraining sets by their number of classes (kenshohara/3D-ResNets-PyTorch README).
KINETICS = {400: "Kinetics-400", 700: "Kinetics-700", 1039: "Kinetics-700 + Moments in Time",
            800: "Kinetics-700 + STAIR-Actions", 1139: "Kinetics-700 + MiT + STAIR-Actions"}


@dataclass(frozen=True)
class WeightsIdentity:
    """What a weights file is: recorded in the run (weights.json) and named in the report."""

    path: str
    sha256: str
    name: str  # e.g. "torchvision resnet50 IMAGENET1K_V2" or "Hara R3D-50, Kinetics-700"
    published: bool  # the sha256 matches a published checksum

    def describe(self) -> str:
        check = "checksum of the published file" if self.published else "sha256"
        return f"{self.name} ({check} {self.sha256[:12]}…)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def kinetics_name(num_classes: int) -> str:
    return KINETICS.get(num_classes, f"{num_classes} pretraining classes")


def torchvision_file(digest: str) -> tuple[str, str] | None:
    """(arch, weights name) of the published torchvision file with this sha256, or None."""
    return TORCHVISION.get(digest[:8])


def identify(path: str | os.PathLike) -> WeightsIdentity:
    """The identity of a 2D (torchvision) or 3D (Hara) weights file; reads it once."""
    from helpers.models.checkpoints import extract_state_dict, load_hara_checkpoint, read_weights

    path = Path(path)
    digest = sha256_file(path)
    published = torchvision_file(digest)
    if published is not None:
        return WeightsIdentity(str(path), digest, f"torchvision {published[0]} {published[1]}",
                               True)
    sd = extract_state_dict(read_weights(path), path)
    conv1 = sd.get("conv1.weight")
    if conv1 is not None and conv1.dim() == 5:
        _, info = load_hara_checkpoint(path)
        depth = f"R3D-{info.config.depth}" if info.config is not None else "3D ResNet"
        form = "old format" if info.old_format else "new format"
        return WeightsIdentity(str(path), digest, f"Hara {depth}, {kinetics_name(info.num_classes)}"
                               f" ({form}, {info.norm} normalisation)", False)
    blocks = "bottleneck" if any(k.startswith("layer1.0.conv3.") for k in sd) else "basic-block"
    classes = sd["fc.weight"].shape[0] if "fc.weight" in sd else "no"
    return WeightsIdentity(str(path), digest, f"a {blocks} 2D ResNet with {classes} classes, "
                           "not a published torchvision file", False)
