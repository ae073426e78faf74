"""The run folder: everything a training run writes and what later steps read back.

    RUN/config.json     the options, data and counts the run was trained with (`num_train`)
    RUN/checkpoint.pt   the latest epoch: weights, optimizer, scheduler, RNG, history; after a
                        stop request, the point in the epoch where it stopped (`partial`)
    RUN/metrics.csv     one row per epoch
    RUN/tensorboard/    the same and per-step curves as TensorBoard event files (`tblog`)
    RUN/model.pt        the final weights and the spec that rebuilds the network

Every file is written atomically. A run remembers its options and data (`data_identity`),
so resuming or reusing it with other ones is refused in one sentence.
"""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.config import TrainConfig
from helpers.data.splits import SplitData
from helpers.data.store import VideoStore, store_sha256
from helpers.errors import UserError
from helpers.training.records import CONFIG_JSON, RunRecord
from helpers.utils.io import (
    atomic_path,
    write_text_atomic,
)

CHECKPOINT = "checkpoint.pt"  # latest epoch, for --resume
MODEL = "model.pt"  # final weights + what evaluation needs to rebuild the model
METRICS_CSV = "metrics.csv"
METRICS_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds",
                   "train_items_per_s"]
CHECKPOINT_KEYS = ("epoch", "history", "config", "model", "optimizer", "scheduler", "rng")
MODEL_KEYS = ("config", "spec", "state_dict")
SPEC_KEYS = ("arch", "model", "num_classes", "widen_factor", "class_names")
# Options that do not change the weights: a run may resume with other values.
FREE_OPTIONS = ("num_workers", "eval_batch_size", "download_weights", "compile")


# ----------------------------------------------------------------------------- files
def save(path: Path, obj: dict[str, Any]) -> None:
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def load(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a torn or foreign file: say which and what to do
        raise UserError(f"Cannot read the checkpoint {path} ({type(exc).__name__}); delete it "
                        "to start that run again.") from exc


def require(saved: Any, keys: tuple[str, ...], path: Path) -> None:
    """A checkpoint or model.pt must be a dict with `keys` (else it is foreign or too old)."""
    missing = [k for k in keys if not isinstance(saved, dict) or k not in saved]
    if missing:
        raise UserError(f"{path} lacks the entries {missing}, so it was not written by this "
                        "code's `train`; delete it to start that run again, or choose another "
                        "--out.")


def write_metrics(out: Path, history: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRICS_COLUMNS)
    writer.writeheader()
    for row in history:
        writer.writerow({k: row.get(k, "") for k in METRICS_COLUMNS})
    write_text_atomic(out / METRICS_CSV, buf.getvalue())


# ----------------------------------------------------------------------------- identity
def data_identity(store: VideoStore, data: SplitData, split: int) -> dict[str, Any]:
    """The data a run is trained on, saved with the run and checked on --resume."""
    return {"split": split, "split_sha256": data.split_sha256, "store_sha256": store_sha256(store),
            "store": str(Path(store.path).resolve())}


def saved_identity(saved: dict[str, Any], out: Path) -> dict[str, Any]:
    """The data identity saved in a checkpoint or model.pt; for runs saved before it was
    recorded, what their config.json says (the split and the paths)."""
    if isinstance(saved.get("data"), dict):
        return saved["data"]
    try:
        summary = json.loads((out / CONFIG_JSON).read_text())
    except (OSError, ValueError):
        return {}
    return {k: summary[k] for k in ("split", "store") if k in summary}


def check_same_config(cfg: TrainConfig, saved: dict[str, Any], path: Path) -> None:
    now = cfg.to_dict()
    # An option added after the run was saved counts as its default value then.
    defaults = TrainConfig().to_dict()
    saved = {**{k: v for k, v in defaults.items() if k not in saved}, **saved}
    diff = sorted(k for k in set(now) | set(saved)
                  if k not in FREE_OPTIONS and now.get(k) != saved.get(k))
    if diff:
        detail = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in diff[:4])
        raise UserError(f"{path} was trained with another configuration ({detail}); use the "
                        "same options to resume, or another --out for a new run.")


def check_same_data(now: dict[str, Any], saved: dict[str, Any], path: Path) -> None:
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


def check_resumable(path: Path, keys: tuple[str, ...], cfg: TrainConfig,
                    identity: dict[str, Any]) -> dict[str, Any]:
    """Load a checkpoint or model.pt of `cfg`'s run and check it was trained the same way."""
    saved = load(path)
    require(saved, keys, path)
    check_same_config(cfg, saved["config"], path)
    check_same_data(identity, saved_identity(saved, path.parent), path)
    return saved


# ----------------------------------------------------------------------------- state
def unwrap(model: nn.Module) -> nn.Module:
    model = getattr(model, "_orig_mod", model)  # torch.compile
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def model_spec(model: nn.Module, cfg: TrainConfig, class_names: list[str]) -> dict[str, Any]:
    """Everything evaluation needs to rebuild the network, besides its weights."""
    m = unwrap(model)
    return {"arch": cfg.arch, "model": cfg.model, "num_classes": len(class_names),
            "widen_factor": cfg.widen_factor, "shortcut_type": cfg.shortcut_type,
            "class_names": class_names,
            "normalization": m.normalization.to_dict()}


def save_checkpoint(path: Path, cfg: TrainConfig, model: nn.Module, class_names: list[str],
                    identity: dict[str, Any], history: list[dict[str, Any]],
                    optimizer: torch.optim.Optimizer, scheduler: Any,
                    partial: dict[str, Any] | None = None) -> None:
    """The state after `len(history)` epochs, enough to continue exactly; with `partial`,
    after that much of the next epoch as well (`batches` done, each process's running
    `sums`, `seconds` spent), saved when a stop was requested mid-epoch."""
    save(path, {"epoch": len(history), "history": history, "config": cfg.to_dict(),
                "data": identity, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                "scaler": None,  # bf16 needs no scaler
                "rng": rng_state(), "spec": model_spec(model, cfg, class_names),
                "partial": partial})


def save_model(path: Path, cfg: TrainConfig, model: nn.Module, class_names: list[str],
               identity: dict[str, Any], history: list[dict[str, Any]]) -> None:
    """The finished run: weights, the spec that rebuilds the network, and its history."""
    save(path, {"config": cfg.to_dict(), "spec": model_spec(model, cfg, class_names),
                "state_dict": model.state_dict(), "history": history, "data": identity})


def rng_state() -> dict[str, Any]:
    # Data sampling draws from (seed, epoch, index) alone; these cover everything else.
    state: dict[str, Any] = {"torch": torch.get_rng_state(),
                             "python": _py_state_to_lists(random.getstate())}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _py_state_to_lists(state: tuple) -> list:
    return [state[0], list(state[1]), state[2]]


# ----------------------------------------------------------------------------- read back
def load_trained(run_dir: str | Path, device: torch.device | str = "cpu") -> tuple[nn.Module, dict]:
    """The trained network of a run folder, in eval mode, with its saved spec and config."""
    from helpers.models import build_model

    path = Path(run_dir) / MODEL
    if not path.is_file():
        raise UserError(f"{path} does not exist; train that run first (or finish it with "
                        "--resume).")
    saved = load(path)
    redo = ("; it was not written by `python -m helpers train` of this code: train the run "
            "again into a new --out")
    if not isinstance(saved, dict) or any(k not in saved for k in MODEL_KEYS):
        have = sorted(saved) if isinstance(saved, dict) else type(saved).__name__
        raise UserError(f"{path} lacks the entries {list(MODEL_KEYS)} (it has {have}){redo}.")
    spec = saved["spec"]
    missing = [k for k in SPEC_KEYS if not isinstance(spec, dict) or k not in spec]
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


def read_summary(run_dir: str | Path) -> RunRecord:
    """The run's config.json (`RunRecord`): the store, split files and split it was trained
    on, or one sentence saying what to do."""
    return RunRecord.read(run_dir)
