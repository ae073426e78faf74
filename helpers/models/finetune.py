"""Fine-tuning helpers: freeze the early blocks, and give the backbone a lower lr than the head.

Hara fine-tunes UCF-101 from conv5 (`freeze_until(model, "layer4")`). Frozen BatchNorm
layers stay in eval mode (VideoClassifier.train sees to it): their running statistics
keep matching the frozen weights instead of drifting to the new data.
Call both before wrapping the model in DDP and before building the optimizer.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from helpers.errors import UserError

# top-level children of both torchvision's ResNet and Hara's ResNet3D, input to output
BLOCKS = ("conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc")
HEAD_PREFIX = "fc."


def _backbone(model: nn.Module) -> nn.Module:
    model = getattr(model, "module", model)  # DDP / DataParallel
    return getattr(model, "backbone", model)


def freeze_until(model: nn.Module, block_name: str) -> list[str]:
    """Freeze every parameter before `block_name` (one of BLOCKS) and train the rest.

    "none" trains everything. Returns the names of the frozen parameters.
    """
    if block_name not in (*BLOCKS, "none"):
        raise UserError(f"Cannot freeze until {block_name!r}; choose one of "
                        f"{', '.join(('none', *BLOCKS))}.")
    backbone = _backbone(model)
    first = 0 if block_name == "none" else BLOCKS.index(block_name)
    frozen_blocks = set(BLOCKS[:first])
    frozen = []
    for name, p in backbone.named_parameters():
        p.requires_grad_(name.split(".", 1)[0] not in frozen_blocks)
        if not p.requires_grad:
            frozen.append(name)
    root = getattr(model, "module", model)
    root.train(root.training)  # re-apply the mode so frozen BN layers switch to eval now
    return frozen


def param_groups(model: nn.Module, backbone_lr_mult: float = 1.0, *,
                 lr: float | None = None) -> list[dict[str, Any]]:
    """Trainable parameters as optimizer groups: "head" (fc) and "backbone" (the rest).

    Each group carries `lr_mult`; with `lr` given it also carries its own `lr`
    (lr for the head, lr * backbone_lr_mult for the backbone). Empty groups are left out.
    """
    if backbone_lr_mult < 0:
        raise UserError(f"backbone_lr_mult must be >= 0, not {backbone_lr_mult}.")
    head, body = [], []
    for name, p in _backbone(model).named_parameters():
        if p.requires_grad:
            (head if name.startswith(HEAD_PREFIX) else body).append(p)
    groups = []
    for name, params, mult in (("head", head, 1.0), ("backbone", body, backbone_lr_mult)):
        if params:
            group: dict[str, Any] = {"name": name, "params": params, "lr_mult": mult}
            if lr is not None:
                group["lr"] = lr * mult
            groups.append(group)
    if not groups:
        raise UserError("The model has no trainable parameters; freeze less of it.")
    return groups
