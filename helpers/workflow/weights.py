"""Which pretrained files a run starts from, identified by their content and recorded in the
run folder (`weights.json`, a `helpers.training.weights_record.WeightsRecord`); the report names
them."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from helpers.training.weights_record import WEIGHTS_JSON, RecordedWeights, WeightsRecord

if TYPE_CHECKING:
    from helpers.config import TrainConfig
    from helpers.paths import RunPaths

__all__ = ["record_weights"]


def record_weights(configs: Mapping[str, TrainConfig], run: RunPaths) -> WeightsRecord:
    """Identify each model's pretrained file by its content and record it in the run
    (`weights.json`: path, sha256, what it is); the report names them. A file already
    identified (same path, size and time) is not read again. `configs`: the frame and clip
    models' recipes."""
    from helpers.models.identify import identify
    from helpers.models.resnet2d import IMAGENET_WEIGHTS, find_imagenet_file
    from helpers.utils.io import file_stamp

    saved = WeightsRecord.read(run.root)
    out: dict[str, RecordedWeights | None] = {}
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
        old = saved.get(kind)
        stamp = file_stamp(file)
        if old is not None and old.path == str(file) and old.stamp == tuple(stamp):
            out[kind] = old
        else:
            out[kind] = RecordedWeights.of(identify(file), stamp)
    record = WeightsRecord(**out)
    if record != saved or not (run.root / WEIGHTS_JSON).is_file():
        record.write(run.root)
    return record
