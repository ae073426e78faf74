"""What the scheduler's allocation holds on this node: GPUs and CPUs, read from SLURM's and
PBS's variables, `CUDA_VISIBLE_DEVICES` and the CPU affinity mask, so that `GPUS` and the
loader workers follow the allocation instead of being kept in step with it by hand.

>>> allocated_gpus({"SLURM_GPUS_ON_NODE": "4"})
4
>>> allocated_gpus({"CUDA_VISIBLE_DEVICES": "0,2"})
2
>>> loader_workers(8, 4, {"SLURM_CPUS_PER_TASK": "16"})
4
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import UserError

WORKERS_ENV = "UCF_WORKERS"  # WORKERS= in the Makefile and the batch scripts


@dataclass(frozen=True)
class Count:
    """A number read from the allocation, and the variable it came from."""

    value: int
    source: str


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def _devices(text: str) -> int:
    """GPUs in a device list such as `0,1` or `GPU-uuid,...` (`-1` or empty: none)."""
    items = [t for t in text.replace(" ", "").split(",") if t]
    return 0 if items in ([], ["-1"]) else len(items)


def gpu_count(env: Mapping[str, str] = os.environ) -> Count | None:
    """GPUs per node of the allocation, or None when nothing says."""
    if (n := _int(env.get("SLURM_GPUS_ON_NODE"))) is not None:
        return Count(n, "SLURM_GPUS_ON_NODE")
    for name in ("SLURM_STEP_GPUS", "SLURM_JOB_GPUS"):
        if env.get(name):
            return Count(_devices(env[name]), name)
    gpufile = env.get("PBS_GPUFILE")  # Torque: one line per GPU of the job
    if gpufile and Path(gpufile).is_file():
        return Count(sum(1 for line in Path(gpufile).read_text().splitlines() if line.strip()),
                     "PBS_GPUFILE")
    if env.get("PBS_JOBID") and (n := _int(env.get("NGPUS"))) is not None:  # PBS Pro
        return Count(n, "NGPUS")
    if "CUDA_VISIBLE_DEVICES" in env:
        return Count(_devices(env["CUDA_VISIBLE_DEVICES"]), "CUDA_VISIBLE_DEVICES")
    return None


def allocated_gpus(env: Mapping[str, str] = os.environ) -> int | None:
    count = gpu_count(env)
    return None if count is None else count.value


def resolve_gpus(requested: int | None, env: Mapping[str, str] = os.environ) -> int:
    """Processes per node: the request, checked against the allocation, else as many as the
    allocation holds GPUs (at least 1)."""
    count = gpu_count(env)
    if requested is None:
        return max(1, count.value) if count else 1
    if count is not None and count.value > 0 and requested > count.value:
        raise UserError(f"GPUS={requested} asks for {requested} GPUs per node, but the "
                        f"allocation holds {count.value} ({count.source}); use GPUS="
                        f"{count.value}, or ask the scheduler for {requested} (#SBATCH "
                        f"--gres=gpu:{requested}, #PBS ngpus={requested}).")
    return requested


def allocated_cpus(env: Mapping[str, str] = os.environ) -> int:
    """CPUs this task may use: SLURM_CPUS_PER_TASK, PBS's NCPUS, else the affinity mask."""
    for name in ("SLURM_CPUS_PER_TASK", "NCPUS"):
        if (n := _int(env.get(name))) and (name != "NCPUS" or env.get("PBS_JOBID")):
            return n
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def loader_workers(configured: int, processes: int = 1,
                   env: Mapping[str, str] = os.environ) -> int:
    """Data loader workers per process: `WORKERS=` (UCF_WORKERS) when set, else the
    profile's number capped by this process's share of the allocation's CPUs."""
    override = env.get(WORKERS_ENV, "").strip()
    if override:
        if not override.isdigit():
            raise UserError(f"WORKERS={override} must be a whole number of loader workers "
                            "per process (0 or more).")
        return int(override)
    if configured <= 0:
        return configured
    share = allocated_cpus(env) // max(1, processes)
    return max(1, min(configured, share))


def local_processes(env: Mapping[str, str] = os.environ) -> int:
    """Processes on this node: torchrun's LOCAL_WORLD_SIZE (1 outside torchrun)."""
    return _int(env.get("LOCAL_WORLD_SIZE")) or 1
