"""Whole-video predictions: softmax per frame (2D) or per clip (3D), averaged per video.

Under torchrun each process scores its own shard of frames/clips (no padding, so nothing is
counted twice) and the per-video sums are added across processes.

Videos of the subset that are absent from the store (`prepare` could not read them; the
store's report lists why) are left out with a warning: the predictions cover the stored
videos only, and their attributes `num_missing_videos` and `missing_videos` say which not.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from helpers.config import TrainConfig
from helpers.data.datasets import make_dataset
from helpers.data.splits import load_split_data
from helpers.data.store import VideoStore
from helpers.errors import Preempted, UserError
from helpers.evaluation.predictions import Predictions
from helpers.evaluation.predictions import load as load_predictions
from helpers.training.runs import MODEL, load_trained, read_summary
from helpers.utils import distributed as D
from helpers.utils import stop
from helpers.utils.allocation import loader_workers, local_processes
from helpers.utils.device import autocast, enable_autotune, place_model, to_device
from helpers.utils.io import sha256_file
from helpers.utils.progress import bar


def evaluate(run_dir: str | Path, *, split: int | None = None, subset: str = "test",
             store: str | Path | None = None, splits: str | Path | None = None,
             eval_frames: int | None | str = "config", three_crop: bool | None = None,
             batch_size: int | None = None, num_workers: int | None = None,
             probe: str | None = None) -> Predictions:
    """Score every video of `subset` with the run's model; returns per-video probabilities.

    `store`, `splits` and `split` default to those the run was trained with.
    `eval_frames` (2D): None = every frame, N = N evenly spaced frames, "config" = the run's.
    `probe` (3D): score windows `reversed`, `shuffled` or `static` (see `sampling`).
    """
    run_dir = Path(run_dir)
    device = D.setup()
    enable_autotune(device)
    model, saved = load_trained(run_dir, device)
    record = read_summary(run_dir) if None in (store, splits, split) else None
    cfg = TrainConfig.from_dict(saved["config"])
    changes: dict[str, Any] = {}
    if eval_frames != "config":
        changes["eval_frames"] = eval_frames
    if three_crop is not None:
        changes["three_crop"] = three_crop
    if batch_size is not None:
        changes["eval_batch_size"] = batch_size
    if num_workers is not None:
        changes["num_workers"] = num_workers
    cfg = cfg.replace(**changes)
    split = record.split if split is None else split
    video_store = VideoStore(store or record.store)
    if probe is not None and cfg.model != "clip":
        raise UserError(f"Temporal probes apply to the clip model; {run_dir} holds a "
                        f"{cfg.model} model.")
    data = load_split_data(splits or record.splits, split, cfg.val_groups,
                           video_store.class_names, video_store.path)
    listed_ids, listed_labels = data.subset(subset)
    if not listed_ids:
        raise UserError(f"Split {split} has no {subset} videos.")
    ds = make_dataset(cfg, video_store, listed_ids, listed_labels, train=False,
                      what=f"{subset} videos", probe=probe)
    ids, labels = list(ds.video_ids), ds.labels  # without the videos the store lacks
    fmt = place_model(model, cfg.model, device, cfg.channels_last)
    loader = DataLoader(ds, batch_size=cfg.eval_batch_size,
                        num_workers=loader_workers(cfg.num_workers, local_processes()),
                        sampler=D.ShardSampler(len(ds)), pin_memory=device.type == "cuda")
    num_classes = len(data.class_names)
    # CPU tensors: the process group reduces them with gloo (see distributed.setup)
    video_sums = torch.zeros(len(ids), num_classes, dtype=torch.float64)
    counts = torch.zeros(2, dtype=torch.float64)  # correct items, items
    unit = "img" if cfg.model == "frame" else "clip"
    with torch.no_grad():
        for batch in bar(loader, desc=f"evaluate {cfg.model} {subset}", unit="batch",
                         disable=not D.is_main()):
            x, _ = to_device(batch, device, fmt)
            with autocast(device, cfg.amp):
                logits = model(x)
            probs = logits.float().softmax(1).cpu().double()
            video_sums.index_add_(0, batch["video"], probs)
            counts[0] += (probs.argmax(1) == batch["label"]).sum()
            counts[1] += len(probs)
    D.all_reduce_sum(video_sums)
    D.all_reduce_sum(counts)
    n_items = video_sums.sum(1, keepdim=True)  # each item's probs sum to 1
    if (n_items == 0).any():
        missing = [ids[i] for i in torch.nonzero(n_items[:, 0] == 0)[:, 0].tolist()]
        raise UserError(f"{len(missing)} videos got no frame or clip (e.g. {missing[0]}); "
                        "check the store.")
    probs = (video_sums / n_items).float().numpy()
    level = "frame" if cfg.model == "frame" else "clip"
    return Predictions(
        video_ids=list(ids), labels=labels, probs=probs,
        class_names=list(data.class_names),
        attrs={"model": f"{saved['spec']['arch']} ({cfg.model})", "kind": cfg.model,
               "checkpoint": str(run_dir / MODEL),
               "checkpoint_sha256": _model_sha256(run_dir / MODEL), "config": cfg.to_dict(),
               "split": split, "subset": subset, "level": level,
               f"{level}_accuracy": float(counts[0] / counts[1]), "num_items": int(counts[1]),
               "unit": unit, "eval_frames": -1 if cfg.eval_frames is None else cfg.eval_frames,
               "three_crop": bool(cfg.three_crop),
               "num_listed_videos": len(listed_ids), "num_missing_videos": len(ds.missing_ids),
               "missing_videos": list(ds.missing_ids), **({"probe": probe} if probe else {})})


def evaluate_to_file(run_dir: str | Path, out: str | Path, *, overwrite: bool = False,
                     **kwargs: Any) -> Path:
    """`evaluate` and save atomically. An existing file is kept (resumable pipelines) when
    the run's model.pt made it; one made by another checkpoint is made again. A stop request
    (`helpers.utils.stop`) raises Preempted before a new file is begun."""
    out = Path(out)
    if out.exists() and not overwrite:
        if made_by_model(out, run_dir):
            if D.is_main():
                print(f"predictions exist, kept: {out}")
            return out
        if D.is_main():
            print(f"predictions {out} were made by another checkpoint than "
                  f"{Path(run_dir) / MODEL}; evaluating again", flush=True)
    if D.any_rank(stop.requested()):
        raise Preempted(f"{stop.reason()}: stopped before writing {out}")
    pred = evaluate(run_dir, **kwargs)
    if D.is_main():
        pred.save(out)
        acc = float((pred.probs.argmax(1) == pred.labels).mean())
        level = pred.attrs["level"]
        missing = pred.attrs.get("num_missing_videos", 0)
        left_out = f" ({missing} not in the store, left out)" if missing else ""
        print(f"{pred.attrs['subset']}: {len(pred.video_ids)} videos{left_out}, per-video top-1 "
              f"{acc:.1%}, per-{level} top-1 {pred.attrs[level + '_accuracy']:.1%} -> {out}")
    D.barrier()
    return out


def made_by_model(out: str | Path, run_dir: str | Path) -> bool:
    """Whether the predictions file `out` exists and was made by the run's model.pt (the
    file records its checkpoint's sha256). Without a model.pt there is nothing to compare,
    and an existing file counts as made by it."""
    out, model = Path(out), Path(run_dir) / MODEL
    if not out.is_file():
        return False
    if not model.is_file():
        return True
    try:
        recorded = load_predictions(out).attrs.get("checkpoint_sha256")
    except UserError:  # a damaged file: make it again
        return False
    return recorded == _model_sha256(model)


def _model_sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_of(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=32)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a file, computed once per (path, mtime, size): a rerun checks a model's
    several predictions files against it."""
    return sha256_file(path)
