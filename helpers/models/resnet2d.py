"""The single-frame model: torchvision's ResNet-50 (ResNet-18 for the CPU demo).

ImageNet weights come from the torch hub cache (`$TORCH_HOME/hub/checkpoints/`, the file
torchvision itself downloads), from data/weights/ under any name (told by its checksum), or
from a `.pth` file the user names. Nothing is downloaded
unless asked (`allow_download=True`), and a missing file is an error, never a silent
random init. "imagenet" means IMAGENET1K_V2 for ResNet-50 (80.9% top-1, against 76.1% for
V1; the stronger start fine-tunes better) and IMAGENET1K_V1, the only one, for ResNet-18.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torchvision import models
from torchvision.models import WeightsEnum

from helpers.errors import UserError
from helpers.models.checkpoints import extract_state_dict, load_backbone, read_weights
from helpers.paths import DATA_DIR

WEIGHTS_DIR = DATA_DIR / "weights"  # where `make fetch` puts both models' files

ARCHS = {"resnet18": models.resnet18, "resnet50": models.resnet50}

IMAGENET_WEIGHTS: dict[str, dict[str, WeightsEnum]] = {
    "resnet18": {"imagenet": models.ResNet18_Weights.IMAGENET1K_V1,
                 "imagenet1k_v1": models.ResNet18_Weights.IMAGENET1K_V1},
    "resnet50": {"imagenet": models.ResNet50_Weights.IMAGENET1K_V2,
                 "imagenet1k_v1": models.ResNet50_Weights.IMAGENET1K_V1,
                 "imagenet1k_v2": models.ResNet50_Weights.IMAGENET1K_V2},
}


def hub_checkpoint_dir() -> Path:
    """Where torchvision keeps downloaded weights; follows TORCH_HOME at call time."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_weights_file(arch: str, tag: str = "imagenet") -> tuple[Path, str]:
    """(path in the hub cache, download URL) of an ImageNet weights file."""
    url = IMAGENET_WEIGHTS[arch][tag].url
    return hub_checkpoint_dir() / url.rsplit("/", 1)[-1], url


def find_imagenet_file(arch: str, tag: str = "imagenet") -> Path | None:
    """The ImageNet file to load for `tag`, under any name: torchvision's own file in the hub
    cache, else a file in data/weights/ whose checksum is that published file's. Plain
    "imagenet" takes V2 for ResNet-50 and falls back to V1 where only V1 is at hand."""
    from helpers.models.identify import torchvision_file
    from helpers.utils.io import sha256_file

    wanted = [IMAGENET_WEIGHTS[arch][tag]]
    if tag == "imagenet":
        wanted += [w for w in IMAGENET_WEIGHTS[arch].values() if w not in wanted]
    for w in wanted:
        name = w.url.rsplit("/", 1)[-1]
        for candidate in (hub_checkpoint_dir() / name, WEIGHTS_DIR / name):
            if candidate.is_file():
                return candidate
    # another name: its checksum tells (each file hashed once, none loaded)
    files = sorted(WEIGHTS_DIR.iterdir()) if WEIGHTS_DIR.is_dir() else []
    local = {p: torchvision_file(sha256_file(p)) for p in files
             if p.suffix in (".pt", ".pth") and p.is_file() and p.stat().st_size > 1 << 20}
    for w in wanted:
        for candidate, published in local.items():
            if published == (arch, w.name):
                return candidate
    return None


def _load_imagenet_state_dict(arch: str, tag: str, allow_download: bool) -> tuple[dict, str]:
    path, url = imagenet_weights_file(arch, tag)
    found = find_imagenet_file(arch, tag)
    if found is None and allow_download:
        try:
            torch.hub.load_state_dict_from_url(url, model_dir=str(path.parent), progress=True,
                                               check_hash=True, weights_only=True)
        except Exception as exc:  # network, disk or hash failure: say what to do instead
            path.unlink(missing_ok=True)
            raise UserError(f"Downloading the ImageNet weights for {arch} from {url} failed "
                            f"({exc}); download {path.name} by hand into {path.parent} "
                            "(set TORCH_HOME to move it) or pass the file's path as the "
                            "weights.") from None
        found = path
    if found is None:
        raise UserError(f"The ImageNet weights for {arch} ({path.name}) are neither in "
                        f"{path.parent} nor in {WEIGHTS_DIR}: fetch them on a machine with "
                        f"internet (`make fetch`, or download {url} into {WEIGHTS_DIR}), "
                        "name the file (`report --imagenet-weights "
                        "PATH`, `train --weights PATH`), or allow the download "
                        "(--download-weights).")
    if found.name != path.name and tag == "imagenet" and found.name.startswith(arch + "-") \
            and found.parent == path.parent:
        print(f"note: {path.name} is not at hand; using {found.name}", flush=True)
    return extract_state_dict(read_weights(found), found), str(found)


def build_resnet2d(arch: str, num_classes: int, weights: str | Path | None = None, *,
                   allow_download: bool = False) -> nn.Module:
    """torchvision ResNet with a fresh `num_classes` head.

    `weights`: None (random init), "imagenet" / "imagenet1k_v1" / "imagenet1k_v2", or the
    path of a torchvision-format `.pth` (bare state_dict or under 'state_dict'/'model',
    `module.` prefixes allowed, any number of classes in its head).
    """
    if arch not in ARCHS:
        raise UserError(f"Unknown 2D model {arch!r}; choose one of {', '.join(ARCHS)}.")
    model = ARCHS[arch](weights=None, num_classes=num_classes)
    if weights is None:
        return model
    tag = str(weights).lower()
    if tag in IMAGENET_WEIGHTS[arch]:
        sd, source = _load_imagenet_state_dict(arch, tag, allow_download)
    elif tag.startswith("imagenet"):
        raise UserError(f"Unknown ImageNet weights {weights!r} for {arch}; choose one of "
                        f"{', '.join(IMAGENET_WEIGHTS[arch])}.")
    else:
        path = Path(weights)
        sd, source = extract_state_dict(read_weights(path), path), str(path)
    hint = ""
    conv1 = sd.get("conv1.weight")
    if conv1 is not None and conv1.dim() == 5:
        hint = "it holds 3D weights: use them with a 3D model (r3d18, r3d50, ...)"
    elif any(k.startswith("layer1.0.conv3.") for k in sd) != (arch == "resnet50"):
        hint = ("it looks like a basic-block ResNet (resnet18/34)" if arch == "resnet50"
                else "it looks like a bottleneck ResNet (resnet50 or deeper)")
    load_backbone(model, sd, source=source, arch=arch, hint=hint)
    return model
