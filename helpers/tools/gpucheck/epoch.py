"""`gpu-check epoch`: one short epoch per model of the `ucf101` profile (random init) on the
synthetic stores, timed, and extrapolated to a UCF-101 epoch (split 1's training videos)."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path
from typing import NamedTuple

from helpers.errors import UserError
from helpers.tools.gpucheck.plan import (
    ARCH_NAMES,
    BLOCK,
    UCF101_TRAIN_VIDEOS,
    Plan,
    SetupData,
    read_data,
    read_plan,
)
from helpers.tools.gpucheck.rows import Row, StepTable, failure_text, plural
from helpers.tools.gpucheck.runtime import free_device, run_command, run_config
from helpers.training.records import RunRecord

MODELS = ("frame", "clip")


class EpochRows(NamedTuple):
    """A model's two rows: the epoch measured, and the UCF-101 epoch extrapolated from it."""
    measured: Row
    extrapolated: Row


def _epoch_rows(k: int, model: str, data: SetupData, plan: Plan) -> EpochRows:
    width, height = plan.video_size
    return EpochRows(
        Row(f"epoch:{model}", f"{model} model: one epoch, measured",
            f"ucf101 profile, random init, on {data.tree.num_train} synthetic {width}×{height} "
            f"training videos ({data.tree.num_distinct} distinct)", order=(BLOCK["epoch"], k, 0)),
        Row(f"extrapolated:{model}", f"{model} model: UCF-101 epoch, EXTRAPOLATED (not measured)",
            f"{UCF101_TRAIN_VIDEOS:,} training videos (split 1)", order=(BLOCK["epoch"], k, 1)))


def _epoch_seconds(out: Path) -> list[float]:
    with open(out / "metrics.csv", newline="") as f:
        return [float(r["seconds"]) for r in csv.DictReader(f)]


def _train(model: str, out: Path, data: SetupData,
           plan: Plan) -> tuple[list[float], RunRecord]:
    """Train `model` for the plan's epochs into `out`; (seconds per epoch, its config.json)."""
    shutil.rmtree(out, ignore_errors=True)
    store = data.frames_store if model == "frame" else data.clips_store
    argv = ["train", "--model", model, "--profile", "ucf101", "--store", store,
            "--splits", data.tree.splits, "--out", str(out), "--weights", "none",
            "--num-epochs", str(plan.epoch_epochs), "--val-groups", "", *plan.flags(model)]
    print("$ python -m helpers", " ".join(repr(a) if not a else a for a in argv), flush=True)
    run_command(argv)
    seconds = _epoch_seconds(out)
    summary = run_config(out)
    if summary is None or not seconds:
        raise UserError(f"{out} holds no config.json or metrics.csv after training.")
    return seconds, summary


def _fill(table: StepTable, rows: EpochRows, model: str, seconds: list[float],
          summary: RunRecord) -> None:
    """Both rows of a model whose epoch ran: the measured rate, and the extrapolation."""
    cfg = summary.config
    per_video = cfg.frames_per_video if model == "frame" else 1
    unit = "img" if model == "frame" else "clips"
    items = summary.num_train * per_video // cfg.batch_size * cfg.batch_size
    rate = items / seconds[-1]
    size = f"{cfg.crop_size}²" if model == "frame" else f"{cfg.clip_len}×{cfg.crop_size}²"
    which = f"epoch {len(seconds)} of {len(seconds)}"
    if len(seconds) > 1:
        which += f"; epoch 1, with start-up and autotuning: {seconds[0]:.1f} s"
    table.set(rows.measured, ok=True,
              setting=f"{rows.measured.setting}: {ARCH_NAMES.get(cfg.arch, cfg.arch)} "
                      f"{size}, batch {cfg.batch_size}, {cfg.num_workers} workers, "
                      f"{plural(per_video, 'item')} per video, no validation",
              result=f"{seconds[-1]:.1f} s for {items:,} {unit} ({rate:,.0f} {unit}/s; {which})")
    full = UCF101_TRAIN_VIDEOS * per_video
    est = full / rate
    table.set(rows.extrapolated, ok=True,
              setting=f"{rows.extrapolated.setting} × {per_video} = {full:,} {unit}",
              result=f"≈ {est:,.0f} s (≈ {est / 60:.1f} min) per epoch at the measured "
                     f"{rate:,.0f} {unit}/s")


def step_epoch(work: Path) -> int:
    import torch

    plan, data = read_plan(work), read_data(work)
    per_model = {m: _epoch_rows(k, m, data, plan) for k, m in enumerate(MODELS)}
    table = StepTable(work / "epoch.json", [r for rows in per_model.values() for r in rows])
    for model, rows in per_model.items():
        try:
            seconds, summary = _train(model, work / f"epoch-{model}", data, plan)
        except Exception as exc:
            table.set(rows.measured, result=failure_text(exc), ok=False)
            table.set(rows.extrapolated, result="no measurement to extrapolate from", ok=False)
            free_device()
            continue
        _fill(table, rows, model, seconds, summary)
        del summary
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        free_device()
    return 0
