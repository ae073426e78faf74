"""One trainer for both models: the frame (2D) and the clip (3D) network.

`train()` reads top to bottom: data, model, optimiser, resume, then `train_one_epoch` and
`validate` per epoch, a checkpoint after each. bf16 autocast on CUDA, fp32 on CPU; every
checkpoint resumes exactly; `torchrun --nproc_per_node=N -m helpers train ...` trains with
DDP (`batch_size` is global). What the run folder holds is `helpers.training.runs`' business;
the command line is `helpers.commands.train`.

A stop request (`helpers.utils.stop`: the scheduler's warning signal or the stop file) is
honoured after the optimizer step that ends an accumulation group, so no gradient is pending:
the trainer saves a mid-epoch checkpoint (the batches done in the epoch, their running sums,
the RNG states) and raises `Preempted`; resuming skips those batches in the sampler (an
epoch's order is fixed by its seed) and continues as if never stopped. Under DDP the ranks
agree on the stop (a sum over them after every step).
"""

from __future__ import annotations

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
from torch.utils.data import DataLoader

from helpers.config import SCHEDULES, TrainConfig
from helpers.data.splits import load_split_data
from helpers.data.store import VideoStore
from helpers.errors import Preempted, UserError
from helpers.models import build_model
from helpers.models.finetune import freeze_until, param_groups
from helpers.training import runs, tblog
from helpers.training.loaders import Loaders
from helpers.training.loaders import accumulation_groups as accumulation_groups  # re-exported
from helpers.training.loaders import (
    optimizer_steps_per_epoch as optimizer_steps_per_epoch,  # re-exported
)
from helpers.training.records import RunRecord
from helpers.utils import distributed as D
from helpers.utils import environment, stop
from helpers.utils.device import (
    autocast,
    enable_autotune,
    place_model,
    to_device,
)
from helpers.utils.progress import bar

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
    start_epoch, history, partial = resume_from(ckpt, model, optimizer, scheduler, cfg, loaders)
    del ckpt  # free the loaded tensors
    net = wrap(model, cfg, device)
    tb = tblog.start(out, step=scheduler.last_epoch, history=history,
                     steps_per_epoch=loaders.steps_per_epoch)
    if D.is_main():
        build_summary(cfg, store, splits, split, loaders, identity, device).write(out)
    saver = Saver(ckpt_path, cfg, model, data.class_names, identity, optimizer, scheduler)

    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    for epoch in range(start_epoch, cfg.num_epochs):
        t0 = time.perf_counter() - (partial["seconds"] if partial else 0.0)
        loaders.set_epoch(epoch)
        done = train_one_epoch(net, loaders, optimizer, scheduler, criterion, cfg, device, fmt,
                               epoch, resume=partial, log=tb)
        partial = None
        if done.batches < loaders.num_batches:  # a stop was requested: save and leave
            stop_mid_epoch(saver, history, done, t0, loaders, epoch, tb)
        train_seconds = time.perf_counter() - t0  # before validation: the training rate
        val_loss, val_acc = validate(net, loaders.val, cfg, device, fmt)
        history.append(epoch_row(epoch, done, train_seconds, val_loss, val_acc, scheduler, t0))
        tb.epoch(history[-1])
        if D.is_main():
            _log_epoch(cfg, history[-1])
            saver.save(history)
            runs.write_metrics(out, history)
        D.barrier()
        if epoch + 1 < cfg.num_epochs and D.any_rank(stop.requested()):
            tb.close()
            raise Preempted(f"{stop.reason()}: {cfg.model} training stopped after epoch "
                            f"{epoch + 1}/{cfg.num_epochs}, saved in {ckpt_path}")
    tb.close()

    if D.is_main():
        runs.save_model(final_path, cfg, model, data.class_names, identity, history)
    D.barrier()
    return final_path


# ----------------------------------------------------------------------------- epochs
@dataclass
class Saver:
    """Writes the training checkpoint: everything but the history and the partial epoch is
    fixed for the run, so `train()` names it once."""

    path: Path
    cfg: TrainConfig
    model: nn.Module
    class_names: list[str]
    identity: dict[str, Any]
    optimizer: torch.optim.Optimizer
    scheduler: Any

    def save(self, history: list[dict[str, Any]], partial: dict[str, Any] | None = None) -> None:
        runs.save_checkpoint(self.path, self.cfg, self.model, self.class_names, self.identity,
                             history, self.optimizer, self.scheduler, partial=partial)


def resume_from(ckpt: dict[str, Any] | None, model: nn.Module,
                optimizer: torch.optim.Optimizer, scheduler: Any, cfg: TrainConfig,
                loaders: Loaders) -> tuple[int, list[dict[str, Any]], dict[str, Any] | None]:
    """(first epoch, history, the stopped epoch's partial state) from a checkpoint, or a
    fresh start without one."""
    if ckpt is None:
        return 0, [], None
    start_epoch, history, partial = restore(ckpt, model, optimizer, scheduler)
    within = f", batch {partial['batches'] + 1}/{loaders.num_batches}" if partial else ""
    _say(f"resuming {cfg.model} training at epoch {start_epoch + 1}/{cfg.num_epochs}{within}")
    return start_epoch, history, partial


def stop_mid_epoch(saver: Saver, history: list[dict[str, Any]], done: EpochProgress,
                   t0: float, loaders: Loaders, epoch: int, tb: Any) -> None:
    """Save the batches done so far (their running sums and time) and raise `Preempted`."""
    if D.is_main():
        saver.save(history, partial={"batches": done.batches, "sums": done.sums,
                                     "seconds": time.perf_counter() - t0})
    D.barrier()
    tb.close()
    cfg = saver.cfg
    raise Preempted(f"{stop.reason()}: {cfg.model} training stopped after batch "
                    f"{done.batches}/{loaders.num_batches} of epoch {epoch + 1}/"
                    f"{cfg.num_epochs}, saved in {saver.path}")


def epoch_row(epoch: int, done: EpochProgress, train_seconds: float, val_loss: float | None,
              val_acc: float | None, scheduler: Any, t0: float) -> dict[str, Any]:
    """One row of the history (metrics.csv) from the epoch's sums over the processes; the
    training rate (items/s, for time forecasts) leaves validation out."""
    sums = done.sums.sum(0).tolist()  # [loss sum, correct, items] over the processes
    return {"epoch": epoch + 1, "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
            "val_loss": val_loss, "val_acc": val_acc, "lr": scheduler.get_last_lr()[0],
            "seconds": time.perf_counter() - t0, "train_items_per_s": sums[2] / train_seconds}


# ----------------------------------------------------------------------------- data
def build_summary(cfg: TrainConfig, store: str | Path, splits: str | Path, split: int,
                  loaders: Loaders, identity: dict[str, Any],
                  device: torch.device | None = None) -> RunRecord:
    """config.json: the options, data and video counts of the run, and what it ran on."""
    val = loaders.val_ds
    return RunRecord(
        config=cfg, store=str(Path(store).resolve()), splits=str(Path(splits).resolve()),
        split=split, num_train=len(loaders.train_ds.video_ids),
        num_val=len(val.video_ids) if val is not None else 0, world_size=D.world_size(),
        micro_batch=loaders.micro_batch,
        global_batch=loaders.micro_batch * D.world_size() * loaders.accum_steps,
        steps_per_epoch=loaders.steps_per_epoch,
        missing_train=tuple(loaders.train_ds.missing_ids),
        missing_val=tuple(val.missing_ids) if val is not None else (), data=identity,
        environment=environment.current(device, D.world_size()))


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
            scheduler: Any) -> tuple[int, list[dict[str, Any]], dict[str, Any] | None]:
    """Load a checkpoint into the run's objects; returns (epochs done, history, the part of
    the next epoch done: batches, per-process sums, seconds and RNG state, or None)."""
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    scheduler.load_state_dict(ckpt["scheduler"])
    runs.set_rng_state(ckpt["rng"])
    partial = ckpt.get("partial")
    if partial is not None:
        if partial["sums"].shape[0] != D.world_size():
            raise UserError(f"The checkpoint was saved mid-epoch by {partial['sums'].shape[0]} "
                            f"processes; resume it with as many (not {D.world_size()}).")
        partial = {**partial, "rng": ckpt["rng"]}
    return ckpt["epoch"], ckpt["history"], partial


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


@dataclass
class EpochProgress:
    """How far an epoch got: micro-batches done (all of them unless a stop was requested)
    and each process's running [loss sum, correct, items], one row per process (CPU)."""

    batches: int
    sums: torch.Tensor


def train_one_epoch(net: nn.Module, loaders: Loaders, optimizer: torch.optim.Optimizer,
                    scheduler: Any, criterion: nn.Module, cfg: TrainConfig,
                    device: torch.device, fmt: torch.memory_format | None,
                    epoch: int, resume: dict[str, Any] | None = None,
                    log: tblog.TrainingLog | None = None) -> EpochProgress:
    """One pass over the training loader, or the rest of one (`resume`: the `partial` entry
    of a mid-epoch checkpoint with its RNG state); stops early after an optimizer step when
    a stop is requested. The running sums stay on the device and are read every LOG_EVERY
    steps; `log` draws TensorBoard's step curves (rank 0)."""
    net.train()
    optimizer.zero_grad(set_to_none=True)
    is_ddp = isinstance(net, nn.parallel.DistributedDataParallel)
    world, start = D.world_size(), resume["batches"] if resume else 0
    sums = torch.zeros(3, dtype=torch.float64, device=device)
    if resume:
        sums += resume["sums"][D.rank()].to(device)
    loaders.skip_batches(start)
    batches = iter(loaders.train)  # draws the loader's base seed from torch's RNG
    if resume:  # so the RNG is where the interrupted run left it after batch `start`
        runs.set_rng_state(resume["rng"])
    pbar = bar(total=loaders.num_batches * loaders.micro_batch * world,
               initial=start * loaders.micro_batch * world,
               desc=f"{cfg.model} epoch {epoch + 1}/{cfg.num_epochs}",
               unit="img" if cfg.model == "frame" else "clip", disable=not D.is_main())
    done = loaders.num_batches
    for i, (batch, (group_size, step_after)) in enumerate(
            zip(batches, loaders.groups[start:], strict=True), start):
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
        if i % LOG_EVERY == 0 and log is not None:  # TensorBoard's step curves (rank 0)
            log.step(scheduler.last_epoch, sums, scheduler.get_last_lr()[0])
        if step_after and i + 1 < loaders.num_batches and D.any_rank(stop.requested()):
            done = i + 1
            break
    pbar.close()
    rows = torch.zeros(world, 3, dtype=torch.float64)
    rows[D.rank()] = sums.cpu()
    return EpochProgress(done, D.all_reduce_sum(rows))  # gloo reduces CPU tensors anywhere


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
