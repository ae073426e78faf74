"""One trainer for both models: the frame (2D) and the clip (3D) network.

bf16 autocast on CUDA, fp32 on CPU; an atomic checkpoint every epoch that resumes exactly;
`torchrun --nproc_per_node=N -m helpers train ...` trains with DDP (`batch_size` is global).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, DistributedSampler

from helpers import distributed as D
from helpers.config import OPTIMIZERS, PROFILES, SCHEDULES, TrainConfig, get_profile
from helpers.data.datasets import ClipDataset, FrameDataset
from helpers.data.splits import holdout, read_split
from helpers.data.store import VideoStore
from helpers.errors import UserError
from helpers.io import atomic_path, write_json_atomic, write_text_atomic
from helpers.models import build_model
from helpers.models.finetune import freeze_until, param_groups
from helpers.progress import bar

CHECKPOINT = "checkpoint.pt"  # latest epoch, for --resume
MODEL = "model.pt"  # final weights + what evaluation needs to rebuild the model
METRICS_CSV = "metrics.csv"
METRICS_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"]


# ----------------------------------------------------------------------------- data
@dataclass
class SplitData:
    class_names: list[str]
    train_ids: list[str]
    train_labels: list[int]
    val_ids: list[str]
    val_labels: list[int]
    test_ids: list[str]
    test_labels: list[int]
    split_sha256: str = ""  # of the classes and the split's train and test lists

    def subset(self, name: str) -> tuple[list[str], list[int]]:
        if name not in ("train", "val", "test"):
            raise UserError(f"Unknown subset {name!r}; choose train, val or test.")
        return getattr(self, f"{name}_ids"), getattr(self, f"{name}_labels")


def load_split_data(splits: str | Path, split: int, val_groups: tuple[int, ...],
                    store: VideoStore | None = None) -> SplitData:
    """The split's train list minus the held-out groups (train), those groups (val), and test."""
    sp = read_split(splits, split)
    if store is not None and list(store.class_names) != list(sp.class_names):
        raise UserError(f"The store {store.path} was prepared with other classes than "
                        f"{splits}; prepare it again with these split files.")
    kept, held = holdout(sp.train, val_groups)
    if val_groups and not held:
        raise UserError(f"No training video is in the held-out groups {list(val_groups)}; "
                        "choose other --val-groups.")
    listed = {"classes": list(sp.class_names),
              "train": [[e.name, e.label] for e in sp.train],
              "test": [[e.name, e.label] for e in sp.test]}
    return SplitData(
        class_names=list(sp.class_names),
        train_ids=[e.name for e in kept], train_labels=[e.label for e in kept],
        val_ids=[e.name for e in held], val_labels=[e.label for e in held],
        test_ids=[e.name for e in sp.test], test_labels=[e.label for e in sp.test],
        split_sha256=_sha256_json(listed),
    )


def _sha256_json(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def store_sha256(store: VideoStore) -> str:
    """What identifies a store's content: its classes, videos and frame counts, frame size and
    encoding (not its path or creation time, so a moved or identically rebuilt store matches)."""
    return _sha256_json({
        "classes": list(store.class_names),
        "videos": [[v.name, v.label_id, v.num_frames] for v in store.videos],
        "frame_size": list(store.frame_size),
        "short_side": store.attrs.get("short_side"), "quality": store.attrs.get("quality")})


def data_identity(store: VideoStore, data: SplitData, split: int) -> dict[str, Any]:
    """The data a run is trained on, saved with the run and checked on --resume."""
    return {"split": split, "split_sha256": data.split_sha256, "store_sha256": store_sha256(store),
            "store": str(Path(store.path).resolve())}


def make_dataset(cfg: TrainConfig, store: VideoStore, ids: list[str], labels: list[int], *,
                 train: bool, what: str = "videos") -> FrameDataset | ClipDataset:
    """The frame or clip dataset of `cfg`. Videos absent from the store (skipped by `prepare`)
    are left out with a warning, so use the dataset's `video_ids` and `labels`, not `ids`."""
    if cfg.model == "frame":
        return FrameDataset(store, ids, labels, train=train, crop_size=cfg.crop_size,
                            frames_per_video=cfg.frames_per_video, eval_frames=cfg.eval_frames,
                            seed=cfg.seed, three_crop=cfg.three_crop and not train,
                            scale=cfg.crop_scale, flip_p=cfg.flip_p, what=what)
    return ClipDataset(store, ids, labels, train=train, clip_len=cfg.clip_len, stride=cfg.stride,
                       crop_size=cfg.crop_size, seed=cfg.seed,
                       three_crop=cfg.three_crop and not train, scale=cfg.crop_scale,
                       flip_p=cfg.flip_p, what=what)


def _val_subset(n: int, cap: int | None) -> list[int]:
    """Evenly spaced items, so per-epoch validation stays cheap but covers every video."""
    if cap is None or n <= cap:
        return list(range(n))
    return sorted({int(i) for i in np.linspace(0, n - 1, cap)})


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


def _autocast(cfg: TrainConfig, device: torch.device):
    enabled = cfg.amp and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


# ----------------------------------------------------------------------------- state
def _rng_state() -> dict[str, Any]:
    # Data sampling draws from (seed, epoch, index) alone; these cover everything else.
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "python": _py_state_to_lists(random.getstate()),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _py_state_to_lists(state: tuple) -> list:
    return [state[0], list(state[1]), state[2]]


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def model_spec(model: nn.Module, cfg: TrainConfig, class_names: list[str]) -> dict[str, Any]:
    """Everything evaluation needs to rebuild the network, besides its weights."""
    m = _unwrap(model)
    return {"arch": cfg.arch, "model": cfg.model, "num_classes": len(class_names),
            "widen_factor": cfg.widen_factor, "shortcut_type": cfg.shortcut_type,
            "class_names": class_names,
            "normalization": m.normalization.to_dict()}


def _save(path: Path, obj: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def _load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: say which and what to do
        raise UserError(f"Cannot read the checkpoint {path} ({type(exc).__name__}); delete it "
                        "to start that run again.") from exc


def _require(saved: Any, keys: tuple[str, ...], path: Path) -> None:
    """A checkpoint or model.pt must be a dict with `keys` (else it is foreign or too old)."""
    missing = [k for k in keys if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise UserError(f"{path} lacks the entries {missing}, so it was not written by this "
                        "code's `train`; delete it to start that run again, or choose another "
                        "--out.")


def _write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS)
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in METRICS_COLUMNS})
    write_text_atomic(out / METRICS_CSV, buf.getvalue())


# ----------------------------------------------------------------------------- loops
def training_step(net: nn.Module, x: torch.Tensor, y: torch.Tensor, criterion: nn.Module,
                  cfg: TrainConfig, device: torch.device,
                  group_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward and backward of one micro-batch (the optimizer step is the caller's).

    The loss is divided by the number of micro-batches accumulated into the next optimizer
    step (`group_size`, by default `cfg.accum_steps`), so the gradient is their mean."""
    with _autocast(cfg, device):
        logits = net(x)
        loss = criterion(logits.float(), y)
    (loss / (cfg.accum_steps if group_size is None else group_size)).backward()
    return loss, logits


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


def _run_val(model: nn.Module, loader: DataLoader, device: torch.device, cfg: TrainConfig,
             channels_last: torch.memory_format | None) -> tuple[float, float]:
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)  # loss, correct, count
    with torch.no_grad():
        for batch in loader:
            x = batch["x"].to(device, non_blocking=True)
            if channels_last is not None:
                x = x.contiguous(memory_format=channels_last)
            y = batch["label"].to(device)
            with _autocast(cfg, device):
                logits = model(x)
            sums[0] += F.cross_entropy(logits.float(), y, reduction="sum").item()
            sums[1] += (logits.argmax(1) == y).sum().item()
            sums[2] += len(y)
    D.all_reduce_sum(sums)
    n = max(1.0, sums[2].item())
    return sums[0].item() / n, sums[1].item() / n


def train(cfg: TrainConfig, *, store: str | Path, splits: str | Path, split: int,
          out: str | Path, resume: bool = False) -> Path:
    """Train `cfg.model` and return the path of the final `model.pt` in `out`.

    With resume=True an interrupted run continues from its last checkpoint and a finished
    one returns at once, if it used the same options, store and split (else an error);
    without it, an existing run in `out` is an error (nothing is lost).
    """
    cfg.validate()  # a config changed in place after it was built
    out = Path(out)
    device = D.setup()
    final_path, ckpt_path = out / MODEL, out / CHECKPOINT
    if (final_path.exists() or ckpt_path.exists()) and not resume:
        raise UserError(f"{out} already holds a training run; pass --resume to continue it, "
                        "or choose another --out.")
    video_store = VideoStore(store)
    data = load_split_data(splits, split, cfg.val_groups, video_store)
    identity = data_identity(video_store, data, split)
    if resume and final_path.exists():
        saved = _load(final_path)
        _require(saved, ("config",), final_path)
        _check_same_config(cfg, saved["config"], final_path)
        _check_same_data(identity, _saved_identity(saved, out), final_path)
        if D.is_main():
            print(f"{cfg.model} model already trained: {final_path}")
        return final_path
    ckpt = _load(ckpt_path) if resume and ckpt_path.exists() else None
    if ckpt is not None:
        _require(ckpt, ("epoch", "history", "config", "model", "optimizer", "scheduler", "rng"),
                 ckpt_path)
        _check_same_config(cfg, ckpt["config"], ckpt_path)
        _check_same_data(identity, _saved_identity(ckpt, out), ckpt_path)

    torch.manual_seed(cfg.seed)  # identical initial weights on every rank
    random.seed(cfg.seed)
    train_ds = make_dataset(cfg, video_store, data.train_ids, data.train_labels, train=True,
                            what="training videos")
    val_ds = (make_dataset(cfg, video_store, data.val_ids, data.val_labels, train=False,
                           what="validation videos") if data.val_ids else None)
    val_items = _val_subset(len(val_ds), cfg.val_max_items) if val_ds is not None else []

    world, rank = D.world_size(), D.rank()
    if cfg.batch_size % (world * cfg.accum_steps):
        raise UserError(f"batch_size {cfg.batch_size} must be divisible by the number of "
                        f"processes ({world}) times accum_steps ({cfg.accum_steps}).")
    micro_bs = cfg.batch_size // (world * cfg.accum_steps)
    sampler = DistributedSampler(train_ds, num_replicas=world, rank=rank, shuffle=True,
                                 seed=cfg.seed, drop_last=False)
    loader_kw: dict[str, Any] = dict(num_workers=cfg.num_workers, pin_memory=device.type == "cuda",
                                     persistent_workers=False)
    if cfg.num_workers > 0:
        loader_kw["prefetch_factor"] = 4
    train_loader = DataLoader(train_ds, batch_size=micro_bs, sampler=sampler, drop_last=True,
                              **loader_kw)
    if len(train_loader) < cfg.accum_steps:
        raise UserError(f"Too few training items ({len(train_ds)}) for batch_size "
                        f"{cfg.batch_size}; lower --batch-size.")
    val_loader = (DataLoader(torch.utils.data.Subset(val_ds, D.shard(val_items, world, rank)),
                             batch_size=cfg.eval_batch_size, **loader_kw)
                  if val_ds is not None else None)
    groups = accumulation_groups(len(train_loader), cfg.accum_steps)
    steps_per_epoch = optimizer_steps_per_epoch(len(train_loader), cfg.accum_steps)

    model = build_model(cfg.arch, len(data.class_names), weights=cfg.weights,
                        widen_factor=cfg.widen_factor, shortcut_type=cfg.shortcut_type,
                        allow_download=cfg.download_weights)
    freeze_until(model, cfg.freeze_until)
    model.to(device)
    channels_last = None
    if cfg.channels_last and device.type == "cuda":
        channels_last = torch.channels_last if cfg.model == "frame" else torch.channels_last_3d
        model.to(memory_format=channels_last)
    optimizer = make_optimizer(cfg, model)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(cfg, s, steps_per_epoch))
    start_epoch, history = 0, []
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        start_epoch, history = ckpt["epoch"], ckpt["history"]
        _set_rng_state(ckpt["rng"])
        ckpt = None  # free the loaded tensors
        if D.is_main():
            print(f"resuming {cfg.model} training at epoch {start_epoch + 1}/{cfg.num_epochs}")
    net: nn.Module = model
    if D.is_distributed():
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        net = torch.compile(net)
    if D.is_main():
        out.mkdir(parents=True, exist_ok=True)
        write_json_atomic(out / "config.json", {
            "config": cfg.to_dict(), "store": str(Path(store).resolve()),
            "splits": str(Path(splits).resolve()), "split": split, "world_size": world,
            "num_train": len(train_ds.video_ids),
            "num_val": len(val_ds.video_ids) if val_ds is not None else 0,
            "missing_train": list(train_ds.missing_ids),
            "missing_val": list(val_ds.missing_ids) if val_ds is not None else [],
            "data": identity})

    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    unit = "img" if cfg.model == "frame" else "clip"
    is_ddp = isinstance(net, nn.parallel.DistributedDataParallel)
    for epoch in range(start_epoch, cfg.num_epochs):
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        train_ds.set_epoch(epoch)
        net.train()
        optimizer.zero_grad(set_to_none=True)
        sums = torch.zeros(3, dtype=torch.float64)
        pbar = bar(total=len(train_loader) * micro_bs * world,
                   desc=f"{cfg.model} epoch {epoch + 1}/{cfg.num_epochs}", unit=unit,
                   disable=not D.is_main())
        for batch, (group_size, step_after) in zip(train_loader, groups, strict=True):
            x = batch["x"].to(device, non_blocking=True)
            if channels_last is not None:
                x = x.contiguous(memory_format=channels_last)
            y = batch["label"].to(device, non_blocking=True)
            ctx = net.no_sync() if is_ddp and not step_after else _nullcontext()
            with ctx:
                loss, logits = training_step(net, x, y, criterion, cfg, device, group_size)
            if step_after:
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                scheduler.step()
            sums += torch.tensor([loss.item() * len(y), (logits.argmax(1) == y).sum().item(),
                                  len(y)], dtype=torch.float64)
            pbar.update(len(y) * world)
            pbar.set_postfix(loss=f"{sums[0].item() / sums[2].item():.3f}",
                             lr=f"{scheduler.get_last_lr()[0]:.2e}", refresh=False)
        pbar.close()
        D.all_reduce_sum(sums)
        val_loss, val_acc = (_run_val(net, val_loader, device, cfg, channels_last)
                             if val_loader is not None and val_items
                             else (float("nan"), float("nan")))
        row = {"epoch": epoch + 1, "train_loss": sums[0].item() / sums[2].item(),
               "train_acc": sums[1].item() / sums[2].item(), "val_loss": val_loss,
               "val_acc": val_acc, "lr": scheduler.get_last_lr()[0],
               "seconds": time.perf_counter() - t0}
        history.append(row)
        if D.is_main():
            print(f"{cfg.model} epoch {epoch + 1}/{cfg.num_epochs}: "
                  f"train loss {row['train_loss']:.3f} acc {row['train_acc']:.1%} | "
                  f"val ({'item' if cfg.model == 'frame' else 'clip'}-level) loss "
                  f"{val_loss:.3f} acc {val_acc:.1%} | {row['seconds']:.0f} s "
                  f"({sums[2].item() / row['seconds']:.0f} {unit}/s)")
            _save(ckpt_path, {
                "epoch": epoch + 1, "history": history, "config": cfg.to_dict(),
                "data": identity,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "scaler": None,  # bf16 needs no scaler
                "rng": _rng_state(), "spec": model_spec(model, cfg, data.class_names)})
            _write_metrics(out, history)
        D.barrier()

    if D.is_main():
        _save(final_path, {"config": cfg.to_dict(), "spec": model_spec(model, cfg, data.class_names),
                           "state_dict": model.state_dict(), "history": history,
                           "data": identity})
    D.barrier()
    return final_path


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _check_same_config(cfg: TrainConfig, saved: dict[str, Any], path: Path) -> None:
    now = cfg.to_dict()
    # An option added after the run was saved counts as its default value then.
    defaults = TrainConfig().to_dict()
    saved = {**{k: v for k, v in defaults.items() if k not in saved}, **saved}
    free = ("num_workers", "eval_batch_size", "download_weights", "compile")  # no effect on weights
    diff = sorted(k for k in set(now) | set(saved) if k not in free and now.get(k) != saved.get(k))
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in diff[:4])
        raise UserError(f"{path} was trained with another configuration ({detail}); use the "
                        "same options to resume, or another --out for a new run.")


def _saved_identity(saved: dict[str, Any], out: Path) -> dict[str, Any]:
    """The data identity saved in a checkpoint or model.pt; for runs saved before it was
    recorded, what their config.json says (the split and the paths)."""
    if isinstance(saved.get("data"), dict):
        return saved["data"]
    try:
        summary = json.loads((out / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return {k: summary[k] for k in ("split", "store") if k in summary}


def _check_same_data(now: dict[str, Any], saved: dict[str, Any], path: Path) -> None:
    """Refuse to resume (or reuse) a run trained on another split, split files or store."""
    diff = []
    if "split" in saved and saved["split"] != now["split"]:
        diff.append(f"split {saved['split']} -> {now['split']}")
    if "split_sha256" in saved and saved["split_sha256"] != now["split_sha256"]:
        diff.append("split files with other classes or video lists")
    if "store_sha256" in saved:
        if saved["store_sha256"] != now["store_sha256"]:
            diff.append(f"store {saved.get('store', '?')} -> {now['store']} (other videos, "
                        "classes or frame size)")
    elif "store" in saved and saved["store"] != now["store"]:  # a run saved before the hash
        diff.append(f"store {saved['store']} -> {now['store']}")
    if diff:
        raise UserError(f"{path} was trained on other data ({'; '.join(diff)}); use the same "
                        "--store, --splits and --split to resume, or another --out for a new run.")


# ----------------------------------------------------------------------------- CLI
def _parse_groups(text: str) -> tuple[int, ...]:
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
              "flip_p": float, "shortcut_type": str}
_CHOICES = {"optimizer": OPTIMIZERS, "schedule": SCHEDULES, "shortcut_type": ("A", "B")}


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
                        help="held-out training groups for validation (default 22-25)")
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


_MODEL_KEYS = ("config", "spec", "state_dict")
_SPEC_KEYS = ("arch", "model", "num_classes", "widen_factor", "class_names")


def load_trained(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The trained network of a run folder, in eval mode, with its saved spec and config."""
    path = Path(run_dir) / MODEL
    if not path.is_file():
        raise UserError(f"{path} does not exist; train that run first (or finish it with "
                        "--resume).")
    saved = _load(path)
    redo = ("; it was not written by `python -m helpers train` of this code: train the run "
            "again into a new --out")
    if not isinstance(saved, dict) or any(k not in saved for k in _MODEL_KEYS):
        have = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise UserError(f"{path} lacks the entries {list(_MODEL_KEYS)} (it has {have}){redo}.")
    spec = saved["spec"]
    missing = [k for k in _SPEC_KEYS if not isinstance(spec, dict) or k not in spec]
    if missing:
        raise UserError(f"{path} has a model spec without {missing}{redo}.")
    try:
        model = build_model(spec["arch"], spec["num_classes"], weights=None,
                            widen_factor=spec["widen_factor"],
                            shortcut_type=spec.get("shortcut_type", "B"))
        model.load_state_dict(saved["state_dict"])  # buffers carry the normalisation
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path} does not hold the weights of its own spec ({first}){redo}.") \
            from None
    model.to(device).eval()
    return model, saved


def run_summary(run_dir: str | Path) -> dict[str, Any]:
    """The run's config.json: the store, split files and split it was trained on."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise UserError(f"{path} does not exist, so the run's store and split are unknown; "
                        "pass --store, --splits and --split to evaluate, or train that run "
                        "(again) into this folder.")
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read {path} ({type(exc).__name__}); pass --store, --splits "
                        "and --split to evaluate, or train that run again.") from None
    if not isinstance(summary, dict):
        raise UserError(f"{path} is not a run summary written by `train`; pass --store, "
                        "--splits and --split to evaluate.")
    return summary
