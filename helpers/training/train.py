"""One trainer for both models: the frame (2D) and the clip (3D) network.

`train()` reads top to bottom: data, model, optimiser, resume, then `train_one_epoch` and
`validate` per epoch, a checkpoint after each. bf16 autocast on CUDA, fp32 on CPU; every
checkpoint resumes exactly; `torchrun --nproc_per_node=N -m helpers train ...` trains with
DDP (`batch_size` is global). What the run folder holds is `helpers.training.runs`' business.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler, Subset

from helpers.config import NORMS, OPTIMIZERS, PROFILES, SCHEDULES, TrainConfig, get_profile
from helpers.data import sampling
from helpers.data.datasets import ClipDataset, FrameDataset, make_dataset
from helpers.data.splits import SplitData, load_split_data
from helpers.data.store import VideoStore
from helpers.errors import UserError
from helpers.models import build_model
from helpers.models.finetune import freeze_until, param_groups
from helpers.training import runs
from helpers.utils import distributed as D
from helpers.utils.device import (
    autocast,
    check_shared_memory,
    enable_autotune,
    place_model,
    to_device,
)
from helpers.utils.progress import bar

PREFETCH = 4  # batches each loader worker keeps ready
LOG_EVERY = 20  # steps between reads of the running loss (each read syncs the GPU)


def train(cfg: TrainConfig, *, store: str | Path, splits: str | Path, split: int,
          out: str | Path, resume: bool = False) -> Path:
    """Train `cfg.model` and return the path of the final `model.pt` in `out`.

    With resume=True an interrupted run continues from its last checkpoint and a finished
    one returns at once, if it used the same options, store and split (else an error);
    without it, an existing run in `out` is an error (nothing is lost).
    """
    cfg.validate()  # a config changed in place after it was built
    out = Path(out)
    final_path, ckpt_path = out / runs.MODEL, out / runs.CHECKPOINT
    if (final_path.exists() or ckpt_path.exists()) and not resume:
        raise UserError(f"{out} already holds a training run; pass --resume to continue it, "
                        "or choose another --out.")
    device = D.setup()
    enable_autotune(device)
    video_store = VideoStore(store)
    data = load_split_data(splits, split, cfg.val_groups, video_store.class_names,
                           video_store.path)
    identity = runs.data_identity(video_store, data, split)
    if resume and final_path.exists():
        runs.check_resumable(final_path, ("config",), cfg, identity)
        _say(f"{cfg.model} model already trained: {final_path}")
        return final_path
    ckpt = (runs.check_resumable(ckpt_path, runs.CHECKPOINT_KEYS, cfg, identity)
            if resume and ckpt_path.exists() else None)

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    random.seed(cfg.seed)
    model, fmt = build_network(cfg, len(data.class_names), device)  # weights fail fast
    loaders = Loaders.build(cfg, video_store, data, device)
    optimizer = make_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(cfg, s, loaders.steps_per_epoch))
    start_epoch, history = 0, []
    if ckpt is not None:
        start_epoch, history = restore(ckpt, model, optimizer, scheduler)
        ckpt = None  # free the loaded tensors
        _say(f"resuming {cfg.model} training at epoch {start_epoch + 1}/{cfg.num_epochs}")
    net = wrap(model, cfg, device)
    if D.is_main():
        runs.write_summary(out, run_summary(cfg, store, splits, split, loaders, identity))

    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    for epoch in range(start_epoch, cfg.num_epochs):
        t0 = time.perf_counter()
        loaders.set_epoch(epoch)
        sums = train_one_epoch(net, loaders, optimizer, scheduler, criterion, cfg, device, fmt,
                               epoch)
        rate = sums[2] / (time.perf_counter() - t0)  # training items/s, for time forecasts
        val_loss, val_acc = validate(net, loaders.val, cfg, device, fmt)
        history.append({"epoch": epoch + 1, "train_loss": sums[0] / sums[2],
                        "train_acc": sums[1] / sums[2], "val_loss": val_loss, "val_acc": val_acc,
                        "lr": scheduler.get_last_lr()[0], "seconds": time.perf_counter() - t0,
                        "train_items_per_s": rate})
        if D.is_main():
            _log_epoch(cfg, history[-1])
            runs.save_checkpoint(ckpt_path, cfg, model, data.class_names, identity, history,
                                 optimizer, scheduler)
            runs.write_metrics(out, history)
        D.barrier()

    if D.is_main():
        runs.save_model(final_path, cfg, model, data.class_names, identity, history)
    D.barrier()
    return final_path


# ----------------------------------------------------------------------------- data
@dataclass
class Loaders:
    """The training loader (sharded across processes, micro-batches for accumulation) and
    a small fixed validation loader for the per-epoch check."""

    train_ds: FrameDataset | ClipDataset
    val_ds: FrameDataset | ClipDataset | None
    sampler: DistributedSampler
    train: DataLoader
    val: DataLoader | None
    micro_batch: int
    accum_steps: int

    @property
    def groups(self) -> list[tuple[int, bool]]:
        return accumulation_groups(len(self.train), self.accum_steps)

    @property
    def steps_per_epoch(self) -> int:
        return optimizer_steps_per_epoch(len(self.train), self.accum_steps)

    def set_epoch(self, epoch: int) -> None:
        self.sampler.set_epoch(epoch)
        self.train_ds.set_epoch(epoch)

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
        kw: dict[str, Any] = dict(num_workers=cfg.num_workers, persistent_workers=False,
                                  pin_memory=device.type == "cuda")
        if cfg.num_workers > 0:
            kw["prefetch_factor"] = check_shared_memory(
                cfg.num_workers, PREFETCH, max(micro_bs, cfg.eval_batch_size) * item_bytes)
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
                   cfg.accum_steps)


def train_sampler(train_ds: Any, cfg: TrainConfig, world: int, rank: int) -> DistributedSampler:
    """This process's share of each epoch's shuffled training items: rank r takes items r,
    r + W, ... of one permutation drawn from (seed, epoch) whatever the process count W.
    Without padding (drop_last: at most W - 1 items of the permutation's tail are left out),
    so with micro-batches of batch_size / (W * accum_steps) every optimizer step sees
    the same items under any W as under one process, and an epoch has as many steps: a
    model trained on 1 GPU resumes on 4 on the same schedule, and the other way round."""
    return DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True,
                              seed=cfg.seed, drop_last=True)


def run_summary(cfg: TrainConfig, store: str | Path, splits: str | Path, split: int,
                loaders: Loaders, identity: dict[str, Any]) -> dict[str, Any]:
    """config.json: the options, data and video counts of the run."""
    val = loaders.val_ds
    return {"config": cfg.to_dict(), "store": str(Path(store).resolve()),
            "splits": str(Path(splits).resolve()), "split": split,
            "world_size": D.world_size(), "micro_batch": loaders.micro_batch,
            "global_batch": loaders.micro_batch * D.world_size() * loaders.accum_steps,
            "steps_per_epoch": loaders.steps_per_epoch,
            "num_train": len(loaders.train_ds.video_ids),
            "num_val": len(val.video_ids) if val is not None else 0,
            "missing_train": list(loaders.train_ds.missing_ids),
            "missing_val": list(val.missing_ids) if val is not None else [],
            "data": identity}


# ----------------------------------------------------------------------------- model
def build_network(cfg: TrainConfig, num_classes: int,
                  device: torch.device) -> tuple[nn.Module, torch.memory_format | None]:
    model = build_model(cfg.arch, num_classes, weights=cfg.weights,
                        widen_factor=cfg.widen_factor, shortcut_type=cfg.shortcut_type,
                        allow_download=cfg.download_weights, norm=cfg.norm,
                        dropout=cfg.dropout)
    freeze_until(model, cfg.freeze_until)
    return model, place_model(model, cfg.model, device, cfg.channels_last)


def wrap(model: nn.Module, cfg: TrainConfig, device: torch.device) -> nn.Module:
    """DDP under torchrun, then torch.compile when asked."""
    net = model
    if D.is_distributed():
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    return torch.compile(net) if cfg.compile else net


def restore(ckpt: dict[str, Any], model: nn.Module, optimizer: torch.optim.Optimizer,
            scheduler: Any) -> tuple[int, list[dict[str, Any]]]:
    """Load a checkpoint into the run's objects; returns (epochs done, history)."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    runs.set_rng_state(ckpt["rng"])
    return ckpt["epoch"], ckpt["history"]


# ----------------------------------------------------------------------------- optimisation
def make_optimizer(cfg: TrainConfig, model: nn.Module) -> torch.optim.Optimizer:
    groups = param_groups(model, cfg.backbone_lr_mult)
    for g in groups:
        g["lr"] = cfg.lr * g.get("lr_mult", 1.0)
        g["initial_lr"] = g["lr"]
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               weight_decay=cfg.weight_decay, nesterov=cfg.momentum > 0)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    raise UserError(f"Unknown optimizer {cfg.optimizer!r}; choose sgd or adamw.")


def lr_factor(cfg: TrainConfig, step: int, steps_per_epoch: int) -> float:
    """Linear warmup, then cosine to zero, step decay, or constant; evaluated per optimizer step."""
    if cfg.schedule not in SCHEDULES:  # never fall back to a constant rate silently
        raise UserError(f"Unknown schedule {cfg.schedule!r}; choose one of "
                        f"{', '.join(SCHEDULES)}.")
    total = max(1, cfg.num_epochs * steps_per_epoch)
    warmup = int(cfg.warmup_epochs * steps_per_epoch)
    if step < warmup:
        return (step + 1) / warmup
    if cfg.schedule == "cosine":
        t = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, t)))
    if cfg.schedule == "step":
        return cfg.gamma ** (step // max(1, cfg.step_epochs * steps_per_epoch))
    return 1.0


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


# ----------------------------------------------------------------------------- loops
def training_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module,
                  cfg: TrainConfig, device: torch.device,
                  group_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward of one micro-batch (the optimizer step is the caller's).

    The loss is divided by the number of micro-batches accumulated into the next optimizer
    step (`group_size`, by default `cfg.accum_steps`), so the gradient is their mean."""
    with autocast(device, cfg.amp):
        logits = net(x)
        loss = criterion(logits.float(), y)
    (loss / (cfg.accum_steps if group_size is None else group_size)).backward()
    return loss, logits


def train_one_epoch(net: nn.Module, loaders: Loaders, optimizer: torch.optim.Optimizer,
                    scheduler: Any, criterion: nn.Module, cfg: TrainConfig,
                    device: torch.device, fmt: torch.memory_format | None,
                    epoch: int) -> list[float]:
    """One pass over the training loader; returns [loss sum, correct, items] over all
    processes. The running sums stay on the device and are read every LOG_EVERY steps."""
    net.train()
    optimizer.zero_grad(set_to_none=True)
    is_ddp = isinstance(net, nn.parallel.DistributedDataParallel)
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    world = D.world_size()
    pbar = bar(total=len(loaders.train) * loaders.micro_batch * world,
               desc=f"{cfg.model} epoch {epoch + 1}/{cfg.num_epochs}",
               unit="img" if cfg.model == "frame" else "clip", disable=not D.is_main())
    for i, (batch, (group_size, step_after)) in enumerate(
            zip(loaders.train, loaders.groups, strict=True)):
        x, y = to_device(batch, device, fmt)
        # DDP: reduce gradients only on the micro-batch that ends an accumulation group
        sync = contextlib.nullcontext() if not is_ddp or step_after else net.no_sync()
        with sync:
            loss, logits = training_step(net, x, y, criterion, cfg, device, group_size)
        if step_after:
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            scheduler.step()
        sums += torch.stack([loss.detach().double() * len(y),
                             (logits.argmax(1) == y).sum().double(),
                             torch.tensor(len(y), dtype=torch.float64, device=device)])
        pbar.update(len(y) * world)
        if i % LOG_EVERY == 0 and not pbar.disable:
            pbar.set_postfix(loss=f"{(sums[0] / sums[2]).item():.3f}",
                             lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
    pbar.close()
    total = D.all_reduce_sum(sums.cpu())  # gloo reduces CPU tensors under any backend
    return total.tolist()


def validate(net: nn.Module, loader: DataLoader | None, cfg: TrainConfig,
             device: torch.device, fmt: torch.memory_format | None) -> tuple[float, float]:
    """Loss and accuracy of single items (frames or clips) of the validation subset."""
    if loader is None:
        return float("nan"), float("nan")
    net.eval()
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss, correct, count
    with torch.no_grad():
        for batch in loader:
            x, y = to_device(batch, device, fmt)
            with autocast(device, cfg.amp):
                logits = net(x)
            sums += torch.stack([F.cross_entropy(logits.float(), y, reduction="sum").double(),
                                 (logits.argmax(1) == y).sum().double(),
                                 torch.tensor(len(y), dtype=torch.float64, device=device)])
    sums = D.all_reduce_sum(sums.cpu())
    n = max(1.0, sums[2].item())
    return sums[0].item() / n, sums[1].item() / n


def _log_epoch(cfg: TrainConfig, row: dict[str, Any]) -> None:
    unit = "img" if cfg.model == "frame" else "clip"
    if math.isnan(row["val_loss"]):  # trained on every training video: nothing held out
        val = "no validation videos"
    else:
        val = (f"val ({'item' if cfg.model == 'frame' else 'clip'}-level) loss "
               f"{row['val_loss']:.3f} acc {row['val_acc']:.1%}")
    print(f"{cfg.model} epoch {row['epoch']}/{cfg.num_epochs}: "
          f"train loss {row['train_loss']:.3f} acc {row['train_acc']:.1%} | {val} | "
          f"{row['seconds']:.0f} s (training {row['train_items_per_s']:.0f} {unit}/s)")


def _say(text: str) -> None:
    if D.is_main():
        print(text)


# ----------------------------------------------------------------------------- CLI
def _parse_groups(text: str) -> tuple[int, ...]:
    if text.strip().lower() in ("", "none"):  # train on every training video
        return ()
    try:
        groups: list[int] = []
        for part in text.split(","):
            if "-" in part:
                lo, hi = part.split("-")
                groups.extend(range(int(lo), int(hi) + 1))
            elif part.strip():
                groups.append(int(part))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected groups like 22-25 or 22,23, got {text!r}") from None
    if any(g < 1 for g in groups):
        raise argparse.ArgumentTypeError(f"group numbers start at 1, got {text!r}")
    return tuple(groups)


def _option_type(name: str, parse: type) -> Any:
    """An argparse type for TrainConfig field `name`: parses the text and applies the same
    check as TrainConfig, so a wrong value is a usage error (exit code 2) naming the option."""
    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            kind = "a whole number" if parse is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        try:
            TrainConfig().replace(**{name: value})  # every default is valid: checks this one
        except UserError as exc:
            raise argparse.ArgumentTypeError(str(exc).rstrip(".")) from None
        return value

    convert.__name__ = parse.__name__  # argparse names the type in its messages
    return convert


# CLI option -> TrainConfig field, for the options that override the profile
_OVERRIDES = {"num_epochs": int, "batch_size": int, "lr": float, "weight_decay": float,
              "optimizer": str, "schedule": str, "warmup_epochs": float, "label_smoothing": float,
              "accum_steps": int, "freeze_until": str, "backbone_lr_mult": float, "arch": str,
              "weights": str, "crop_size": int, "clip_len": int, "stride": int,
              "frames_per_video": int, "num_workers": int, "seed": int, "widen_factor": float,
              "flip_p": float, "shortcut_type": str, "norm": str, "dropout": float}
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "shortcut_type": ("A", "B"),
            "norm": NORMS}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, choices=["frame", "clip"],
                        help="frame: 2D ResNet on single frames; clip: 3D ResNet on clips")
    parser.add_argument("--store", required=True, type=Path, help="store from `prepare`")
    parser.add_argument("--splits", required=True, type=Path,
                        help="folder with classInd.txt and the train/test lists")
    parser.add_argument("--split", type=int, default=1, choices=[1, 2, 3])
    parser.add_argument("--out", required=True, type=Path, help="run folder")
    parser.add_argument("--profile", default="demo", choices=sorted(PROFILES))
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run")
    parser.add_argument("--val-groups", type=_parse_groups, default=None,
                        help="held-out training groups for validation (default 22-25; "
                             "'none' trains on every training video)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model")
    parser.add_argument("--no-amp", action="store_true", help="fp32 on CUDA too")
    parser.add_argument("--download-weights", action="store_true",
                        help="download missing pretrained weights (torchvision ImageNet)")
    for name, typ in _OVERRIDES.items():
        flag = f"--{name.replace('_', '-')}"
        help_ = argparse.SUPPRESS if name in ("seed",) else None
        if name in _CHOICES:
            parser.add_argument(flag, choices=_CHOICES[name], default=None, help=help_)
        elif typ is str:
            parser.add_argument(flag, default=None, help=help_)
        else:
            parser.add_argument(flag, type=_option_type(name, typ), default=None, help=help_)


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    cfg = get_profile(args.profile).config(args.model)
    changes: dict[str, Any] = {k: getattr(args, k) for k in _OVERRIDES
                               if getattr(args, k, None) is not None}
    if args.val_groups is not None:
        changes["val_groups"] = args.val_groups
    if args.compile:
        changes["compile"] = True
    if args.no_amp:
        changes["amp"] = False
    if args.download_weights:
        changes["download_weights"] = True
    if changes.get("weights") in ("none", "None", "scratch"):
        changes["weights"] = None
    return cfg.replace(**changes)


def run(args: argparse.Namespace) -> int:
    cfg = config_from_args(args)
    for path, what in ((args.store, "store"), (args.splits, "splits folder")):
        if not path.exists():
            raise UserError(f"The {what} {path} does not exist.")
    path = train(cfg, store=args.store, splits=args.splits, split=args.split, out=args.out,
                 resume=args.resume)
    if D.is_main():
        print(f"saved {path}")
    if D.is_distributed():
        torch.distributed.destroy_process_group()
    return 0
