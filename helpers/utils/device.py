"""Device habits shared by training, evaluation and the benchmark: memory format, moving a
batch, autocast, cuDNN autotune and the shared-memory check for loader workers.

One place, so the trainer, the evaluator and `bench` cannot drift apart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
from typing import Any

import torch
from torch import nn


def memory_format(kind: str, device: torch.device, enabled: bool) -> torch.memory_format | None:
    """channels_last (2D) or channels_last_3d (3D) on CUDA when `enabled`; None elsewhere
    (on the CPU it buys nothing and some kernels fall back to slow paths)."""
    if not enabled or device.type != "cuda":
        return None
    return torch.channels_last if kind == "frame" else torch.channels_last_3d


def place_model(model: nn.Module, kind: str, device: torch.device,
                channels_last: bool) -> torch.memory_format | None:
    """Move `model` to `device` (in place) in its memory format; returns that format for
    `to_device`. Call before building the optimizer, so its state follows the weights."""
    fmt = memory_format(kind, device, channels_last)
    model.to(device)
    if fmt is not None:
        model.to(memory_format=fmt)
    return fmt


def to_device(batch: dict[str, Any], device: torch.device,
              fmt: torch.memory_format | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, labels) of a collated batch on `device`, inputs in `fmt`; non-blocking copies
    from the loader's pinned memory."""
    x = batch["x"].to(device, non_blocking=True)
    if fmt is not None:
        x = x.contiguous(memory_format=fmt)
    return x, batch["label"].to(device, non_blocking=True)


def autocast(device: torch.device, enabled: bool = True) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (no loss scaler needed); plain fp32 on the CPU."""
    on = enabled and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=on)


def enable_autotune(device: torch.device) -> None:
    """Let cuDNN pick the fastest algorithm per input shape; the shapes of a run are fixed,
    and R3D-50's 7x7x7 stem is slow under the default choice."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True


# Bytes a loader worker may hold in /dev/shm per queued batch item (uint8 tensors).
def shm_need(num_workers: int, prefetch: int, batch_bytes: int) -> int:
    return num_workers * prefetch * batch_bytes


def check_shared_memory(num_workers: int, prefetch: int, batch_bytes: int, *,
                        path: str = "/dev/shm") -> int:
    """The prefetch factor the workers can afford in `path` (a Docker default of 64 MB kills
    workers with a bare "Bus error"): lowered with a warning, or a one-sentence error when
    even one batch per worker does not fit. Returns `prefetch` unchanged where `path` does
    not exist (macOS, Windows) or no workers are used."""
    from helpers.errors import UserError

    if num_workers == 0 or not os.path.isdir(path):
        return prefetch
    free = shutil.disk_usage(path).free
    fits = free // max(1, 2 * num_workers * batch_bytes)  # 2x: the batch and its pinned copy
    if fits >= prefetch:
        return prefetch
    need = shm_need(num_workers, 1, batch_bytes) * 2
    if fits < 1:
        raise UserError(
            f"{path} has {free / 2**20:.0f} MiB free but {num_workers} loader workers need about "
            f"{need / 2**20:.0f} MiB; give the container more shared memory (docker run "
            "--shm-size=8g) or pass --num-workers 0.")
    sys.stderr.write(f"warning: {path} has {free / 2**20:.0f} MiB free; loader prefetch lowered "
                     f"from {prefetch} to {fits} batches per worker (docker: --shm-size=8g).\n")
    return int(fits)


def out_of_memory(kind: str, batch_size: int, accum_steps: int, world_size: int = 1) -> str:
    """What to lower when the GPU runs out of memory, as one sentence.

    >>> out_of_memory("clip", 64, 1)[:58]
    'The GPU ran out of memory training the clip model (64 clip'
    """
    micro = batch_size // max(1, world_size * accum_steps)
    unit = "frames" if kind == "frame" else "clips"
    return (f"The GPU ran out of memory training the {kind} model ({micro} {unit} per step on "
            f"each GPU); set ACCUM={2 * accum_steps} (--accum-steps: the same batch of "
            f"{batch_size} in smaller steps, same result) or lower BATCH= (--batch-size, "
            "which changes the recipe); AMP=0 needs more memory, not less.")
