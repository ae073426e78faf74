"""torchrun/DDP plumbing: one process per GPU, set up from torchrun's environment."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence

import torch
import torch.distributed as dist
from torch.utils.data import Sampler


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main() -> bool:
    return rank() == 0


# On CUDA, NCCL reduces the GPU tensors (DDP's gradients) and gloo the CPU ones (the
# trainer's and the evaluator's running sums): NCCL alone rejects CPU tensors.
CUDA_BACKEND = "cpu:gloo,cuda:nccl"
CPU_BACKEND = "gloo"


def backend() -> str:
    """The process-group backend `setup` uses on this machine."""
    return CUDA_BACKEND if torch.cuda.is_available() else CPU_BACKEND


def setup() -> torch.device:
    """Join the process group if launched by torchrun; return this process's device."""
    device = torch.device("cpu")
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)  # before the group, so NCCL binds to this GPU
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_distributed():
        dist.init_process_group(backend=backend())
    return device


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def reduces_on_cpu() -> bool:
    """Whether the default group has a backend for CPU tensors (gloo; not NCCL alone)."""
    try:
        name = str(dist.get_backend())
    except (RuntimeError, ValueError):
        return True
    if ":" in name:  # "cpu:gloo,cuda:nccl"
        return any(part.split(":", 1)[0].strip() == "cpu" for part in name.split(","))
    return name != "nccl"


def any_rank(flag: bool) -> bool:
    """Whether `flag` holds on any process (every process must call it at the same point)."""
    if not is_distributed():
        return flag
    return all_reduce_sum(torch.tensor([1.0 if flag else 0.0])).item() > 0


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum `t` over all processes, in place; works for CPU tensors whatever the backend."""
    if is_distributed():
        if t.device.type == "cpu" and torch.cuda.is_available() and not reduces_on_cpu():
            # a group joined with NCCL alone (e.g. by a notebook): reduce a GPU copy
            on_gpu = t.to(torch.device("cuda", torch.cuda.current_device()))
            dist.all_reduce(on_gpu, op=dist.ReduceOp.SUM)
            t.copy_(on_gpu.cpu())
        else:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


class ShardSampler(Sampler[int]):
    """Evaluation sampler: rank r takes items r, r+W, r+2W, ... with no padding.

    DistributedSampler pads the last batch by repeating items, which would count some
    frames/clips twice; evaluation does no collective op per batch, so uneven shards are fine.
    """

    def __init__(self, num_items: int, num_replicas: int | None = None, rank_: int | None = None):
        self.num_items = num_items
        self.num_replicas = world_size() if num_replicas is None else num_replicas
        self.rank = rank() if rank_ is None else rank_

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.num_items, self.num_replicas))

    def __len__(self) -> int:
        return len(range(self.rank, self.num_items, self.num_replicas))


def shard(items: Sequence, num_replicas: int, rank_: int) -> list:
    return list(items[rank_::num_replicas])
