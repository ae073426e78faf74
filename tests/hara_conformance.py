"""The Hara R3D-50 conformance check of `shared/conformance/README.md`.

Every state_dict entry is filled from its own generator seeded with crc32(key), so anyone
can rebuild the same weights from names and shapes alone; the reference logits were
computed with Hara's code. The same rule makes synthetic checkpoints for tests.
"""

from __future__ import annotations

import json
import math
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from helpers.errors import UserError
from helpers.models.resnet3d import infer_config, resnet3d

STATE_DICT_JSON = "r3d50_state_dict.json"
REFERENCE_NPZ = "r3d50_reference_io.npz"


def rule_value(key: str, shape: Sequence[int]) -> torch.Tensor:
    """The tensor the weight rule assigns to `key` (float32; int64 0 for num_batches_tracked)."""
    shape = tuple(int(s) for s in shape)
    rng = np.random.default_rng(zlib.crc32(key.encode()))
    leaf = key.rsplit(".", 1)[-1]
    if leaf == "num_batches_tracked":
        return torch.zeros(shape, dtype=torch.int64)
    if "bn" in key or "downsample.1" in key:  # BatchNorm entries
        if leaf == "weight":
            value = 1 + 0.1 * rng.standard_normal(shape)
        elif leaf in ("bias", "running_mean"):
            value = 0.1 * rng.standard_normal(shape)
        elif leaf == "running_var":
            value = 0.5 + rng.random(shape)
        else:
            raise ValueError(f"no weight rule for BatchNorm entry {key}")
    elif leaf == "weight":  # conv and fc
        value = rng.standard_normal(shape) * math.sqrt(2 / math.prod(shape[1:]))
    elif leaf == "bias":
        value = 0.01 * rng.standard_normal(shape)
    else:
        raise ValueError(f"no weight rule for {key}")
    return torch.from_numpy(np.asarray(value, dtype=np.float32))


def rule_state_dict(entries: Iterable[tuple[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
    """Weight-rule tensors for (key, shape) pairs, in the given order."""
    return {key: rule_value(key, shape) for key, shape in entries}


@dataclass(frozen=True)
class ConformanceResult:
    rel_error: float
    num_parameters: int
    keys_match: bool  # names, order and shapes equal the fixture's list
    dtype: str


def run_conformance(conformance_dir: str | Path, dtype: torch.dtype = torch.float32,
                    ) -> ConformanceResult:
    """Build r3d50 (400 classes), fill it by the rule, run the reference input in eval mode."""
    root = Path(conformance_dir)
    if not (root / STATE_DICT_JSON).is_file() or not (root / REFERENCE_NPZ).is_file():
        raise UserError(f"{root} lacks {STATE_DICT_JSON} or {REFERENCE_NPZ}; point at the "
                        "shared conformance folder.")
    spec = json.loads((root / STATE_DICT_JSON).read_text())
    expected = [(k, list(s)) for k, s in spec["state_dict"]]
    model = resnet3d(50, num_classes=400)
    own = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    model.load_state_dict(rule_state_dict(expected), strict=True)
    model.to(dtype).eval()
    ref = np.load(root / REFERENCE_NPZ)
    x = torch.from_numpy(ref["input"]).to(dtype)
    with torch.inference_mode():
        out = model(x).double().numpy()
    logits = ref["logits"]
    rel = float(np.linalg.norm(out - logits) / np.linalg.norm(logits))
    return ConformanceResult(rel_error=rel,
                             num_parameters=sum(p.numel() for p in model.parameters()),
                             keys_match=own == expected, dtype=str(dtype).removeprefix("torch."))


def save_hara_style(state_dict: dict[str, torch.Tensor], path: str | Path, *,
                    old_format: bool) -> None:
    """Write `state_dict` as Hara's released files are laid out (for tests and demos).

    old: legacy (pre-zip) serialization of {'epoch','arch','state_dict','optimizer'}, keys
    prefixed `module.`, no `num_batches_tracked` (as from PyTorch 0.3 DataParallel);
    new: the zip format, {'epoch','arch','state_dict','optimizer','scheduler'}, no prefix.
    """
    optimizer = {"state": {}, "param_groups": [{"lr": 0.1, "momentum": 0.9, "dampening": 0.9,
                                                "weight_decay": 1e-3, "nesterov": False,
                                                "params": list(range(len(state_dict)))}]}
    cfg = infer_config(state_dict)
    arch = f"resnet-{cfg.depth}" if cfg and cfg.depth else "resnet"
    if old_format:
        sd = {f"module.{k}": v for k, v in state_dict.items()
              if not k.endswith("num_batches_tracked")}
        obj = {"epoch": 200, "arch": arch, "state_dict": sd, "optimizer": optimizer}
        torch.save(obj, path, _use_new_zipfile_serialization=False)
    else:
        scheduler = {"milestones": Counter([50, 100]), "gamma": 0.1, "last_epoch": 200}
        obj = {"epoch": 200, "arch": arch, "state_dict": dict(state_dict),
               "optimizer": optimizer, "scheduler": scheduler}
        torch.save(obj, path)
