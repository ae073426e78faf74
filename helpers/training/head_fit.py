"""Beyond averaging: a temporal head trained on the frame model's cached features
(helpers.training.features), chosen on the held-out groups, written as predictions files.

Protocol, the project's own: every candidate (`HeadConfig.candidates`, each with and without
the leak guard) trains on the training videos' features under the held-out frame model and is
scored on the held-out groups' features by per-video log-loss; the lowest wins. Under
`refit` the winner is trained again, with the same recipe, on every training video's
features under the reported frame model, and that head scores the test split; under
`holdout` the held-out head does.

The leak: the frame model trained on the training videos, so their features are cleaner and
more confident than those of a video it never saw, and a head fitted on them learns from
features it will never meet at test time. The guard perturbs the training features: it
zeroes a share of their values (`guard_dropout`) and adds Gaussian noise (`guard_noise`
standard deviations per feature). Whether it helps is measured, not assumed: each candidate
is trained both ways and the held-out log-loss decides, so the selection table shows it.

Probes: the chosen head also scores the test features in reversed and in shuffled order
(`sampling.probe_window` on the frame axis); an order-blind head gives the same output.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from helpers.config import HeadConfig
from helpers.data import sampling
from helpers.data.sampling import HEAD_PROBES as HEAD_PROBES  # re-exported
from helpers.evaluation import metrics
from helpers.evaluation.predictions import Predictions, checkpoint_record
from helpers.models.temporal_head import TemporalHead, build_head
from helpers.training.features import FeatureSet
from helpers.utils.io import atomic_path, sha256_file, write_json_atomic

SELECTION_JSON = "selection.json"


@dataclass(frozen=True)
class Candidate:
    """One head architecture, trained with or without the leak guard."""

    name: str
    guard: bool

    @property
    def label(self) -> str:
        return f"{self.name}, {'guarded' if self.guard else 'unguarded'}"


@dataclass(frozen=True)
class Selection:
    """Every candidate's scores and the one chosen on the held-out groups: rows of
    candidate, guard, val_log_loss, val_top1, train_log_loss (on the unperturbed training
    features: its gap to val is the leak), seconds; `fitted_on`, the held-out frame model."""

    rows: list[dict[str, Any]]
    chosen: Candidate
    fitted_on: dict[str, str]
    config: dict[str, Any]

    @property
    def table(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "chosen": asdict(self.chosen), "fitted_on": self.fitted_on,
                "config": self.config,
                "rule": "the lowest per-video log-loss on the held-out groups"}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Selection:
        return cls(d["rows"], Candidate(**d["chosen"]), d["fitted_on"], d["config"])


def read_selection(head_dir: Path) -> Selection | None:
    path = head_dir / SELECTION_JSON
    if not path.is_file():
        return None
    try:
        return Selection.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ----------------------------------------------------------------------------- training
def train_head(cand: Candidate, train: FeatureSet, cfg: HeadConfig,
               device: torch.device) -> TemporalHead:
    """One candidate trained on `train` (AdamW, cosine decay, label smoothing); the guard,
    when on, perturbs every training batch (see the module docstring)."""
    torch.manual_seed(cfg.seed)
    head = build_head(cand.name, train.feature_dim, len(train.class_names),
                      frames=train.frames, hidden=cfg.hidden)
    x_all = torch.from_numpy(train.features)
    head.set_standardisation(x_all)
    head.to(device)
    x_all = head.standardise(x_all.to(device))
    y_all = torch.from_numpy(train.labels).to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(x_all) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    gen = torch.Generator().manual_seed(cfg.seed)
    head.train()
    for _ in range(cfg.epochs):
        order = torch.randperm(len(x_all), generator=gen).to(device)
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            x = x_all[idx]
            if cand.guard:
                x = guard(x, cfg)
            loss = F.cross_entropy(head(x, standardised=True), y_all[idx],
                                   label_smoothing=cfg.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return head.eval()


def guard(x: torch.Tensor, cfg: HeadConfig) -> torch.Tensor:
    """The leak guard on standardised training features: dropout, then Gaussian noise."""
    x = F.dropout(x, cfg.guard_dropout, training=True)
    return x + cfg.guard_noise * torch.randn_like(x)


def reorder(features: np.ndarray, probe: str | None, seed: int = 0) -> np.ndarray:
    """Each video's features [N, T, D] with the frame axis rearranged by a temporal probe
    (`sampling.probe_window`; video i's shuffle drawn from rng [seed, i]); None keeps it."""
    if probe is None:
        return features
    frames = list(range(features.shape[1]))
    order = np.stack([sampling.probe_window(frames, probe, np.random.default_rng([seed, i]))
                      for i in range(len(features))])
    return np.take_along_axis(features, order[:, :, None], axis=1)


def head_probs(head: TemporalHead, features: np.ndarray, device: torch.device, *,
               probe: str | None = None, batch: int = 1024) -> np.ndarray:
    """Class probabilities [N, C] of a trained head on features [N, T, D]."""
    x = reorder(features, probe)
    out = []
    head.eval()
    with torch.no_grad():
        for start in range(0, len(x), batch):
            xb = torch.from_numpy(np.ascontiguousarray(x[start:start + batch])).to(device)
            out.append(head(xb).float().softmax(1).cpu().numpy())
    return np.concatenate(out)


def select(train: FeatureSet, val: FeatureSet, cfg: HeadConfig,
           device: torch.device, run_root: Path) -> tuple[Selection, TemporalHead]:
    """Train every candidate, with and without the guard, on `train`; choose by per-video
    log-loss on `val` (ties: the earlier candidate, the baseline first)."""
    rows, heads = [], {}
    for name in cfg.candidates:
        for on in (False, True):
            cand = Candidate(name, on)
            t0 = time.perf_counter()
            head = train_head(cand, train, cfg, device)
            seconds = time.perf_counter() - t0
            p_val = head_probs(head, val.features, device)
            p_train = head_probs(head, train.features, device)
            rows.append({"candidate": name, "guard": on,
                         "val_log_loss": metrics.log_loss(p_val, val.labels),
                         "val_top1": float((p_val.argmax(1) == val.labels).mean()),
                         "train_log_loss": metrics.log_loss(p_train, train.labels),
                         "seconds": seconds})
            heads[cand] = head
    best = min(range(len(rows)), key=lambda i: rows[i]["val_log_loss"])
    chosen = Candidate(rows[best]["candidate"], rows[best]["guard"])
    fitted_on = checkpoint_record(train.checkpoint, train.checkpoint_sha256, run_root)
    return Selection(rows, chosen, fitted_on, cfg.to_dict()), heads[chosen]


# ----------------------------------------------------------------------------- files
def save_head(head: TemporalHead, path: Path, cand: Candidate, trained_on: FeatureSet,
              cfg: HeadConfig) -> Path:
    with atomic_path(path) as tmp:
        torch.save({"state_dict": head.state_dict(), "candidate": asdict(cand),
                    "config": cfg.to_dict(), "feature_dim": trained_on.feature_dim,
                    "num_classes": len(trained_on.class_names), "frames": trained_on.frames,
                    "frame_model": trained_on.checkpoint,
                    "frame_model_sha256": trained_on.checkpoint_sha256}, tmp)
    return path


def load_head(path: Path, device: torch.device) -> tuple[TemporalHead, Candidate]:
    saved = torch.load(path, map_location="cpu", weights_only=True)
    cand = Candidate(**saved["candidate"])
    head = build_head(cand.name, saved["feature_dim"], saved["num_classes"],
                      frames=saved["frames"], hidden=saved["config"]["hidden"])
    head.load_state_dict(saved["state_dict"])
    return head.to(device).eval(), cand


def head_predictions(probs: np.ndarray, fs: FeatureSet, *, head_path: Path, cand: Candidate,
                     subset: str, split: int, probe: str | None = None) -> Predictions:
    """A predictions file's content for the head, read like every other model's."""
    return Predictions(
        fs.video_ids, fs.labels, probs, fs.class_names,
        attrs={"model": f"temporal head ({cand.label})", "kind": "head",
               "checkpoint": str(head_path), "checkpoint_sha256": sha256_file(head_path),
               "frame_model": fs.checkpoint, "frame_model_sha256": fs.checkpoint_sha256,
               "candidate": cand.name, "guard": cand.guard, "frames": fs.frames,
               "split": split, "subset": subset, **({"probe": probe} if probe else {})})


def predict_to_files(head: TemporalHead, cand: Candidate, head_path: Path, fs: FeatureSet,
                     outs: dict[str | None, Path], *, subset: str, split: int,
                     device: torch.device) -> None:
    """Write the head's predictions on `fs`, normal (key None) and under each probe key."""
    for probe, out in outs.items():
        probs = head_probs(head, fs.features, device, probe=probe)
        head_predictions(probs, fs, head_path=head_path, cand=cand, subset=subset,
                         split=split, probe=probe).save(out)


def frame_mean_on_features(fs: FeatureSet, frame_dir: Path, *, subset: str,
                           split: int) -> Predictions:
    """The like-for-like baseline of the head: the frame model's own last layer on the very
    features the head reads (the same frames and crop), its softmaxes averaged over frames.
    The features are the input of that layer, so this is the frame model scored on those
    frames alone."""
    from helpers.training.runs import load_trained

    model, _ = load_trained(frame_dir)
    fc = model.fc
    w, b = fc.weight.detach().double().numpy(), fc.bias.detach().double().numpy()
    probs = np.zeros((len(fs.video_ids), len(fs.class_names)))
    for start in range(0, len(probs), 256):  # bounds memory at 256 x T x classes
        logits = fs.features[start:start + 256].astype(np.float64) @ w.T + b
        logits -= logits.max(axis=-1, keepdims=True)
        p = np.exp(logits)
        probs[start:start + 256] = (p / p.sum(axis=-1, keepdims=True)).mean(axis=1)
    return Predictions(fs.video_ids, fs.labels, probs, fs.class_names, attrs={
        "model": "frame model, mean over the head's frames", "kind": "headbase",
        "frame_model": fs.checkpoint, "frame_model_sha256": fs.checkpoint_sha256,
        "frames": fs.frames, "split": split, "subset": subset})


def write_selection(head_dir: Path, selection: Selection) -> None:
    write_json_atomic(head_dir / SELECTION_JSON, selection.to_json())
