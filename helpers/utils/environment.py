"""What a run ran on (device, GPU model and count, torch, CUDA, driver), and the loud check
that a GPU profile has a working GPU.

torch's CUDA wheels need a recent enough NVIDIA driver; on an older one
`torch.cuda.is_available()` is simply false (with a warning), so a GPU job would start on
the CPU and run for days. `check_device` turns that into one sentence naming the reason.

>>> diagnose(cuda_available=False, torch_cuda=None, driver=None)
'this torch build has no CUDA support (a CPU-only wheel)'
>>> diagnose(cuda_available=False, torch_cuda="13.0", driver="535.104.05")
'the NVIDIA driver 535.104.05 is too old for this torch build (CUDA 13.0 needs driver 580 or newer)'
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

import torch

from helpers.errors import UserError

# The oldest Linux driver branch each CUDA major version runs on (NVIDIA's CUDA
# compatibility table; minor-version compatibility within a major version).
MIN_DRIVER = {11: 450, 12: 525, 13: 580}


@dataclass(frozen=True)
class Environment:
    """The hardware and software a step ran on."""

    device: str  # "cuda" or "cpu"
    gpu_name: str  # "" on the CPU
    gpu_count: int  # processes' GPUs (the world size under torchrun); 0 on the CPU
    torch: str
    cuda: str  # the CUDA version torch was built with ("" for a CPU wheel)
    driver: str  # the NVIDIA driver ("" when none is visible)
    host: str

    def describe(self) -> str:
        """One phrase for a report: '2 × NVIDIA H200 (driver 580.65, torch 2.14.1+cu130, CUDA
        13.0)' or 'the CPU (torch 2.14.1, no GPU)'."""
        if self.device == "cuda":
            driver = f"driver {self.driver}, " if self.driver else ""
            return (f"{self.gpu_count} × {self.gpu_name} ({driver}torch {self.torch}, "
                    f"CUDA {self.cuda})")
        return f"the CPU (torch {self.torch}, no GPU)"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Environment:
        return cls(**{k: d.get(k, "") if k != "gpu_count" else int(d.get(k, 0))
                      for k in cls.__dataclass_fields__})


def nvidia_driver() -> str:
    """The NVIDIA driver version from nvidia-smi, or "" when there is none."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return ""
    try:
        out = subprocess.run([exe, "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.strip().splitlines()[0].strip() if out.strip() else ""


def current(device: torch.device | None = None, world_size: int = 1) -> Environment:
    """The environment of this process; `device` the one it computes on."""
    on_gpu = (device.type == "cuda") if device is not None else torch.cuda.is_available()
    name = torch.cuda.get_device_name(device if device is not None else 0) if on_gpu else ""
    return Environment(device="cuda" if on_gpu else "cpu", gpu_name=name,
                       gpu_count=world_size if on_gpu else 0, torch=torch.__version__,
                       cuda=torch.version.cuda or "", driver=nvidia_driver() if on_gpu else "",
                       host=platform.node())


def diagnose(*, cuda_available: bool, torch_cuda: str | None, driver: str | None,
             visible: str | None = None) -> str:
    """Why torch sees no GPU, as a phrase; "" when it sees one."""
    if cuda_available:
        return ""
    if not torch_cuda:
        return "this torch build has no CUDA support (a CPU-only wheel)"
    if visible is not None and visible.strip() in ("", "-1", "none", "NoDevFiles"):
        return f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
    if not driver:
        return ("no NVIDIA GPU or driver is visible on this machine (nvidia-smi is missing or "
                "lists none; a login node, or a job that did not ask for a GPU)")
    need = MIN_DRIVER.get(int(torch_cuda.split(".")[0]))
    try:
        major = int(driver.split(".")[0])
    except ValueError:
        major = None
    if need is not None and major is not None and major < need:
        return (f"the NVIDIA driver {driver} is too old for this torch build (CUDA "
                f"{torch_cuda} needs driver {need} or newer)")
    return (f"torch {torch.__version__} (CUDA {torch_cuda}) cannot use the GPU of driver "
            f"{driver}")


def check_device(profile: str, *, needs_gpu: bool, allow_cpu: bool) -> None:
    """Stop with one sentence when a GPU profile finds no working GPU, unless the CPU was
    asked for on purpose (`--cpu`, `CPU=1`, `cpu = True`)."""
    if not needs_gpu or allow_cpu:
        return
    reason = diagnose(cuda_available=torch.cuda.is_available(), torch_cuda=torch.version.cuda,
                      driver=nvidia_driver(), visible=os.environ.get("CUDA_VISIBLE_DEVICES"))
    if reason:
        raise UserError(
            f"The {profile} profile needs a GPU, but {reason}; run it on a GPU node (see the "
            "README's 'Run it on a GPU cluster', including the torch build for an older "
            "driver), or pass --cpu (CPU=1) to run on the CPU on purpose (days, not hours).")
