"""The trainer's data: the training loader, sharded across processes, in micro-batches for
accumulation, and able to begin an epoch part-way (a resumed stop); a small fixed validation
loader for the per-epoch check."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import DataLoader, DistributedSampler, Subset

from helpers.config import TrainConfig
from helpers.data import sampling
from helpers.data.datasets import ClipDataset, FrameDataset, make_dataset
from helpers.data.splits import SplitData
from helpers.data.store import VideoStore
from helpers.errors import UserError
from helpers.utils import distributed as D
from helpers.utils.allocation import loader_workers, local_processes
from helpers.utils.device import check_shared_memory

PREFETCH = 4  # batches each loader worker keeps ready


@dataclass
class Loaders:
    """The training loader (sharded across processes, micro-batches for accumulation) and
    a small fixed validation loader for the per-epoch check."""

    train_ds: FrameDataset | ClipDataset
    val_ds: FrameDataset | ClipDataset | None
    sampler: ResumableSampler
    train: DataLoader
    val: DataLoader | None
    micro_batch: int
    accum_steps: int
    num_batches: int  # micro-batches in a whole epoch, whatever `skip_batches` says

    @property
    def groups(self) -> list[tuple[int, bool]]:
        return accumulation_groups(self.num_batches, self.accum_steps)

    @property
    def steps_per_epoch(self) -> int:
        return optimizer_steps_per_epoch(self.num_batches, self.accum_steps)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.train_ds.set_epoch(epoch)
        self.skip_batches(0)

    def skip_batches(self, n: int) -> None:
        """Start this epoch's training loader at micro-batch `n` (a resumed epoch)."""
        self.sampler.skip = n * self.micro_batch

    @classmethod
    def build(cls, cfg: TrainConfig, store: VideoStore, data: SplitData,
              device: torch.device) -> Loaders:
        train_ds = make_dataset(cfg, store, data.train_ids, data.train_labels, train=True,
                                what="training videos")
        val_ds = (make_dataset(cfg, store, data.val_ids, data.val_labels, train=False,
                               what="validation videos") if data.val_ids else None)
        world, rank = D.world_size(), D.rank()
        if cfg.batch_size % (world * cfg.accum_steps):
            raise UserError(f"batch_size {cfg.batch_size} must be divisible by the number of "
                            f"processes ({world}) times accum_steps ({cfg.accum_steps}).")
        micro_bs = cfg.batch_size // (world * cfg.accum_steps)
        sampler = train_sampler(train_ds, cfg, world, rank)
        item_bytes = 3 * cfg.crop_size ** 2 * (cfg.clip_len if cfg.model == "clip" else 1)
        workers = loader_workers(cfg.num_workers, local_processes())  # the allocation's share
        kw: dict[str, Any] = dict(num_workers=workers, persistent_workers=False,
                                  pin_memory=device.type == "cuda")
        if workers > 0:
            kw["prefetch_factor"] = check_shared_memory(
                workers, PREFETCH, max(micro_bs, cfg.eval_batch_size) * item_bytes)
        train_loader = DataLoader(train_ds, batch_size=micro_bs, sampler=sampler,
                                  drop_last=True, **kw)
        if len(train_loader) < cfg.accum_steps:
            raise UserError(f"Too few training items ({len(train_ds)}) for batch_size "
                            f"{cfg.batch_size}; lower --batch-size.")
        val_loader = None
        if val_ds is not None:
            # evenly spaced items: per-epoch validation stays cheap but covers every video
            items = sampling.spaced(len(val_ds), cfg.val_max_items).tolist()
            val_loader = DataLoader(Subset(val_ds, D.shard(items, world, rank)),
                                    batch_size=cfg.eval_batch_size, **kw)
        return cls(train_ds, val_ds, sampler, train_loader, val_loader, micro_bs,
                   cfg.accum_steps, len(train_loader))


class ResumableSampler(DistributedSampler):
    """DistributedSampler that can begin an epoch after its first `skip` items: the epoch's
    order depends on (seed, epoch) alone, so the rest of an interrupted epoch is exact."""

    skip = 0

    def __iter__(self) -> Iterator[int]:
        return itertools.islice(super().__iter__(), self.skip, None)

    def __len__(self) -> int:
        return super().__len__() - self.skip


def train_sampler(train_ds: Any, cfg: TrainConfig, world: int, rank: int) -> ResumableSampler:
    """This process's share of each epoch's shuffled training items: rank r takes items r,
    r + W, ... of one permutation drawn from (seed, epoch) whatever the process count W.
    Without padding (drop_last: at most W - 1 items of the permutation's tail are left out),
    so with micro-batches of batch_size / (W * accum_steps) every optimizer step sees
    the same items under any W as under one process, and an epoch has as many steps: a
    model trained on 1 GPU resumes on 4 on the same schedule, and the other way round."""
    return ResumableSampler(train_ds, num_replicas=world, rank=rank, shuffle=True,
                            seed=cfg.seed, drop_last=True)


def accumulation_groups(num_batches: int, accum_steps: int) -> list[tuple[int, bool]]:
    """(size of its group, steps after it) per micro-batch of an epoch: groups of
    `accum_steps`, and a last, smaller group for the rest, so no gradient outlives the epoch
    (a checkpoint holds no gradients, so a leftover would break exact resume)."""
    out = []
    for i in range(num_batches):
        start = i - i % accum_steps
        size = min(accum_steps, num_batches - start)
        out.append((size, i == start + size - 1))
    return out


def optimizer_steps_per_epoch(num_batches: int, accum_steps: int) -> int:
    return -(-num_batches // accum_steps)
