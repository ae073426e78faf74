"""Which pretrained files a run starts from, identified by their content and recorded in the
run folder (`weights.json`); the report names them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers.utils.io import write_json_atomic
from helpers.workflow.parameters import read_json_object

if TYPE_CHECKING:
    from helpers.config import TrainConfig
    from helpers.paths import RunPaths

WEIGHTS_JSON = "weights.json"  # in the run folder: what each model's pretrained file is


def record_weights(configs: Mapping[str, TrainConfig], run: RunPaths) -> dict[str, Any]:
    """Identify each model's pretrained file by its content and record it in the run
    (`weights.json`: path, sha256, what it is); the report names them. A file already
    identified (same path, size and time) is not read again. `configs`: the frame and clip
    models' recipes."""
    from helpers.models.identify import identify
    from helpers.models.resnet2d import IMAGENET_WEIGHTS, find_imagenet_file
    from helpers.utils.io import file_stamp

    path = run.root / WEIGHTS_JSON
    saved = read_json_object(path) if path.is_file() else {}
    out: dict[str, Any] = {}
    for kind, cfg in configs.items():
        file: Path | None = None
        if cfg.weights is not None:
            tag = str(cfg.weights).lower()
            if tag in IMAGENET_WEIGHTS.get(cfg.arch, {}):
                file = find_imagenet_file(cfg.arch, tag)
            else:
                from helpers.models.checkpoints import resolve_weights_path
                file = resolve_weights_path(cfg.weights)
        if file is None or not file.is_file():
            out[kind] = None
            continue
        old = saved.get(kind) or {}
        if old.get("path") == str(file) and old.get("stamp") == file_stamp(file):
            out[kind] = old
        else:
            out[kind] = {**identify(file).to_dict(), "stamp": file_stamp(file)}
    if out != saved:
        write_json_atomic(path, out)
    return out
