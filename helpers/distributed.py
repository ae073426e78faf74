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


def setup() -> torch.device:
    """Join the process group if launched by torchrun; return this process's device."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not is_distributed():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        # gloo and nccl both reduce float64/int64; keep the tensor on the backend's device
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
