"""Beyond averaging, the step after Part 1: cache the frame model's features, choose a
temporal head on the held-out groups, and write its predictions files (`head_val`,
`head_test` and `head_test_<probe>` in <run>/predictions/), resumable like every step.

The head is an extra row of the report, never one of the assignment's three models nor an
input of the fusion. Which frame model gives which features follows the run's protocol:

| features of | `holdout` | `refit` |
|---|---|---|
| training videos (candidates train) | the frame model | the held-out frame model |
| held-out groups (candidates are chosen) | the frame model | the held-out frame model |
| every training video (the chosen head trains again) | - | the reported frame model |
| test | the frame model | the reported frame model |
"""

from __future__ import annotations

import time
from pathlib import Path

import torch

from helpers.config import HeadConfig, get_profile
from helpers.data.splits import load_split_data
from helpers.data.store import VideoStore
from helpers.evaluation.choices import Choices, FittedOn, HeadChoice
from helpers.evaluation.head_scores import BASELINE
from helpers.training.features import FeatureJob, cache_features, load_features
from helpers.training.head_fit import (
    HEAD_PROBES,
    Selection,
    frame_mean_on_features,
    load_head,
    predict_to_files,
    read_selection,
    save_head,
    select,
    train_head,
    write_selection,
)
from helpers.workflow import timings
from helpers.workflow.pipeline import DataPaths, RunPaths, Setup, train_config

# Tiny settings for tests and smoke runs: the whole step in seconds.
FAST_HEAD = dict(frames=4, hidden=32, epochs=4)
SMOKE_HEAD = dict(frames=4, epochs=2)  # the forecast uses the full run's frames


def head_config(setup: Setup) -> HeadConfig:
    """The profile's head recipe, made tiny for `fast` and short for `smoke` runs."""
    cfg = get_profile(setup.profile).head
    if setup.fast:
        cfg = cfg.replace(**FAST_HEAD)
    if setup.smoke:
        cfg = cfg.replace(**SMOKE_HEAD)
    return cfg


def head_dir(run: RunPaths) -> Path:
    return run.root / "head"


def head_outputs(run: RunPaths) -> dict[str, Path]:
    """The head's predictions files: `val`, `test` and `test_<probe>`."""
    out = {"val": run.predictions("head", "val"), "test": run.predictions("head", "test")}
    out.update({f"test_{p}": run.predictions("head", "test", p) for p in HEAD_PROBES})
    out["baseline"] = run.predictions(BASELINE, "test")  # the frame model on the same frames
    return out


def run_head(setup: Setup, data: DataPaths, run: RunPaths, *,
             device: torch.device | None = None) -> dict[str, Path]:
    """Features, candidates, choice and predictions of the temporal head (kept when its
    predictions files already exist); prints the time of each part."""
    outs = head_outputs(run)
    if all(p.is_file() for p in outs.values()):
        print(f"head predictions exist, kept: {outs['test']}")
        return outs
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cfg = head_config(setup)
    frame_cfg = train_config(setup, "frame")
    store = VideoStore(data.frame_store)
    split = load_split_data(data.splits, setup.split, frame_cfg.val_groups, store.class_names,
                            store.path)
    held, reported = run.model_dir("frame", "holdout"), run.model_dir("frame")
    both = list(dict.fromkeys([held, reported]))  # one folder under `holdout`
    jobs = [FeatureJob("train", split.train_ids, split.train_labels, both),
            FeatureJob("val", split.val_ids, split.val_labels, both),
            FeatureJob("test", split.test_ids, split.test_labels, [reported])]
    t0 = time.perf_counter()
    files = cache_features(jobs, store=data.frame_store, out_dir=head_dir(run),
                           frames=cfg.frames, split=setup.split,
                           class_names=list(split.class_names), run_root=run.root,
                           device=device)
    t1 = time.perf_counter()
    train, val = load_features(files[held, "train"]), load_features(files[held, "val"])
    selection = read_selection(head_dir(run))
    held_path = head_dir(run) / "holdout.pt"
    if _still_valid(selection, train.checkpoint_sha256, cfg) and held_path.is_file():
        head, chosen = load_head(held_path, device)
    else:
        selection, head = select(train, val, cfg, device, run.root)
        chosen = selection.chosen
        save_head(head, held_path, chosen, train, cfg)
        write_selection(head_dir(run), selection)
        choice = HeadChoice(
            chosen.name, chosen.guard, "the lowest per-video log-loss on the held-out groups",
            {r["candidate"] + (" guarded" if r["guard"] else ""): r["val_log_loss"]
             for r in selection.rows}, FittedOn.from_json(selection.fitted_on))
        Choices.read(run.root).replace(head=choice).write(run.root)
    assert selection is not None
    predict_to_files(head, chosen, held_path, val, {None: outs["val"]}, subset="val",
                     split=setup.split, device=device)
    test = load_features(files[reported, "test"])
    test_head, test_path = head, held_path
    if reported != held:  # refit: the chosen head again, on every training video
        test_path = head_dir(run) / "reported.pt"
        every = load_features(files[reported, "train"]).joined(
            load_features(files[reported, "val"]))
        test_head = train_head(chosen, every, cfg, device)
        save_head(test_head, test_path, chosen, every, cfg)
    predict_to_files(test_head, chosen, test_path, test,
                     {None: outs["test"], **{p: outs[f"test_{p}"] for p in HEAD_PROBES}},
                     subset="test", split=setup.split, device=device)
    frame_mean_on_features(test, reported, subset="test", split=setup.split).save(
        outs["baseline"])
    t2 = time.perf_counter()
    timings.add(run.root, "head", t2 - t0,
                len(split.train_ids) + len(split.val_ids) + len(split.test_ids), replace=True)
    print(f"temporal head: features {t1 - t0:.1f} s, {len(selection.rows)} candidates and "
          f"predictions {t2 - t1:.1f} s; chosen on the held-out groups: {chosen.label}")
    return outs


def _still_valid(selection: Selection | None, frame_sha256: str, cfg: HeadConfig) -> bool:
    """A saved choice made on these training features with this recipe."""
    return (selection is not None and selection.fitted_on.get("sha256") == frame_sha256
            and selection.config == cfg.to_dict())
