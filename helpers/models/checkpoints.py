"""Reading pretrained weight files safely and loading them into a backbone with a new head.

Hara's checkpoints come in two formats (see docs/DESIGN.md):
- old (Kinetics-400, `resnet-50-kinetics.pth`): `{'epoch', 'arch', 'state_dict', 'optimizer'}`,
  keys prefixed `module.` (saved from DataParallel), often no `num_batches_tracked`;
- new (`r3d50_K_200ep.pth`: Kinetics-700; `*_KM_*`: 1039 classes, ...): keys without prefix.

They also want different input normalisation, which the file does not record. The rule:
a `module.` prefix or a 400-class head means the old format ("kinetics-old"), anything else
the new one ("kinetics-new"). Pass `norm=` where a file breaks that rule.
"""

from __future__ import annotations

import os
import pickle
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from helpers.errors import UserError
from helpers.models.classifier import get_normalization
from helpers.models.resnet3d import ResNet3DConfig, infer_config
from helpers.paths import REPO_ROOT

PREFIX = "module."
HEAD = ("fc.weight", "fc.bias")
MAX_LISTED = 5


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    num_classes: int  # of the file's own head (fc.weight rows)
    norm: str  # normalisation name the weights expect
    old_format: bool
    arch: str | None  # the file's own 'arch' entry, if any
    config: ResNet3DConfig | None  # what the keys say about the network (3D only)


def resolve_weights_path(path: str | os.PathLike) -> Path:
    """A relative path as given when it exists, else relative to the repository root.

    Profiles name weights like `data/weights/r3d50_K_200ep.pth`; notebooks run in
    `notebooks/` (nbconvert) or wherever the caller stands (papermill), so the repository
    root is the one anchor that works from both.
    """
    path = Path(path).expanduser()
    if path.is_absolute() or path.exists():
        return path
    return REPO_ROOT / path


def read_weights(path: str | os.PathLike) -> object:
    """torch.load with weights_only=True, turning every failure into one clear sentence."""
    path = resolve_weights_path(path)
    if not path.is_file():
        raise UserError(f"Weights file {path} does not exist; check the path.")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:  # a real checkpoint that also pickles objects (e.g. argparse options)
            raise UserError(f"{path} holds more than tensors and plain containers (it "
                            f"pickles {found.group(1)}), so it is not loaded "
                            "(weights_only=True); re-save just its state_dict from code you "
                            "trust.") from None
        raise UserError(f"{path} is not a readable PyTorch weights file{_looks_like(path)}; "
                        "download it again.") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file fails anywhere inside torch.load
        # torch's own message helps for a damaged zip; a KeyError's ("101") does not
        told = isinstance(exc, RuntimeError | OSError | ValueError | EOFError) and str(exc)
        detail = str(exc).splitlines()[0].split(". ")[0].rstrip(".") if told else ""
        raise UserError(f"{path} is not a readable PyTorch weights file"
                        f"{_looks_like(path, detail)}; download it again.") from None


def _looks_like(path: Path, detail: str = "") -> str:
    """What an unreadable weights file seems to be, from its first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(64).lstrip().lower()
    except OSError:
        head = b"?"
    if head.startswith((b"<!doctype html", b"<html", b"<?xml")):
        return " (it is a web page: the download saved an error or login page)"
    if not head:
        return " (it is empty)"
    return f" (it may be truncated{': ' + detail if detail else ''})"


def extract_state_dict(obj: object, path: Path) -> dict[str, torch.Tensor]:
    """The tensor dict inside a checkpoint (wrapped in 'state_dict'/'model' or bare),
    with the DataParallel `module.` prefix stripped."""
    sd = obj
    if isinstance(obj, Mapping):
        for key in ("state_dict", "model"):
            if isinstance(obj.get(key), Mapping):
                sd = obj[key]
                break
    if not isinstance(sd, Mapping) or not sd or \
            not all(isinstance(v, torch.Tensor) for v in sd.values()):
        keys = list(obj)[:8] if isinstance(obj, Mapping) else type(obj).__name__
        raise UserError(f"{path} has no state_dict of tensors (top level: {keys}); pass a "
                        "model weights file.")
    return {(k[len(PREFIX):] if k.startswith(PREFIX) else k): v for k, v in sd.items()}


def load_hara_checkpoint(path: str | os.PathLike, *, norm: str | None = None,
                         ) -> tuple[dict[str, torch.Tensor], CheckpointInfo]:
    """Read a Hara checkpoint (old or new format): (prefix-free state_dict, info)."""
    path = Path(path)
    obj = read_weights(path)
    sd = extract_state_dict(obj, path)
    raw_keys = obj["state_dict"].keys() if isinstance(obj, Mapping) and "state_dict" in obj \
        else sd.keys()
    had_prefix = any(str(k).startswith(PREFIX) for k in raw_keys)
    if "fc.weight" not in sd or sd["fc.weight"].dim() != 2:
        raise UserError(f"{path} has no 2-D fc.weight, so it is not a Hara ResNet "
                        "classification checkpoint.")
    num_classes = int(sd["fc.weight"].shape[0])
    old = had_prefix or num_classes == 400
    norm_name = get_normalization(norm).name if norm else ("kinetics-old" if old else "kinetics-new")
    arch = obj.get("arch") if isinstance(obj, Mapping) else None
    info = CheckpointInfo(path=path, num_classes=num_classes, norm=norm_name, old_format=old,
                          arch=arch if isinstance(arch, str) else None, config=infer_config(sd))
    return sd, info


def _shape(t: torch.Tensor | None) -> str:
    return "absent" if t is None else str(list(t.shape))


def load_backbone(model: nn.Module, state_dict: Mapping[str, torch.Tensor], *, source: str,
                  arch: str, hint: str = "") -> None:
    """Copy every non-head tensor of `state_dict` into `model`; keep the model's own `fc`.

    The file's head may have any number of classes, but its input width must match.
    Missing `num_batches_tracked` entries (old files) become 0. Any other missing,
    unexpected or mis-shaped key is an error that names them.
    """
    own = model.state_dict()
    sd = dict(state_dict)
    for k, v in own.items():
        if k.endswith("num_batches_tracked") and k not in sd:
            sd[k] = torch.zeros_like(v)
    problems: list[str] = []
    for k, v in own.items():
        if k in HEAD:
            continue
        if k not in sd:
            problems.append(f"{k} missing (expected {_shape(v)})")
        elif sd[k].shape != v.shape:
            problems.append(f"{k} is {_shape(sd[k])}, expected {_shape(v)}")
    problems += [f"{k} unexpected ({_shape(sd[k])})" for k in sd if k not in own]
    fc_w = sd.get("fc.weight")
    if fc_w is not None and (fc_w.dim() != 2 or fc_w.shape[1] != own["fc.weight"].shape[1]):
        problems.append(f"fc.weight is {_shape(fc_w)}, expected [*, {own['fc.weight'].shape[1]}]")
    if problems:
        listed = "; ".join(problems[:MAX_LISTED])
        more = f" and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise UserError(f"{source} does not fit {arch}: {listed}{more}"
                        f"{'; ' + hint if hint else ''}.")
    merged = {k: (own[k] if k in HEAD else sd[k]) for k in own}
    model.load_state_dict(merged, strict=True)
