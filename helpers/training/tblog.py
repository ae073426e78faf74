"""TensorBoard event files beside `metrics.csv`, for watching a run while it trains.

    RUN/tensorboard/events.out.tfevents.*   written by rank 0 only

Per epoch (EPOCH_TAGS): training and validation loss and accuracy, the learning rate, the
training throughput and the epoch's time. Every LOG_EVERY micro-batches (STEP_TAGS): rank 0's
mean training loss since the previous point, and the learning rate. The x axis of every curve
is the optimizer step (`scheduler.last_epoch`), so a resumed run continues its curves: the new
writer purges what the interrupted one wrote at or after the checkpoint's step (`purge_step`;
newer TensorBoard loaders also drop a tag's points when its steps restart), and the epochs of
the checkpoint's history that lie there are written again. No step shows twice, no finished
epoch goes missing (a step point at the checkpoint's own step, if there was one, does).

Logging never stops training: without the `tensorboard` package, or when writing fails, one
warning line, and the run goes on without event files (`metrics.csv` has every epoch).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from helpers.utils import distributed as D

TB_DIR = "tensorboard"  # inside the run folder
FLUSH_SECS = 30  # the step curves of a long epoch show up this soon
EPOCH_TAGS = {"train_loss": "loss/train", "val_loss": "loss/val",
              "train_acc": "accuracy/train", "val_acc": "accuracy/val",
              "lr": "lr/epoch", "train_items_per_s": "throughput/train_items_per_s",
              "seconds": "time/epoch_seconds"}
STEP_TAGS = ("loss/train_step", "lr/step")


class TrainingLog:
    """The event files of one training run; does nothing when `writer` is None."""

    def __init__(self, writer: Any = None, steps_per_epoch: int = 1, last_step: int = -1):
        self.writer = writer
        self.steps_per_epoch = steps_per_epoch
        self._last_step = last_step  # the step curve's last point: never one twice
        self._window = (0.0, 0.0)  # (loss sum, items) at that point, within its epoch

    @property
    def enabled(self) -> bool:
        return self.writer is not None

    def epoch_step(self, row: dict[str, Any]) -> int:
        """The optimizer step at the end of a history row's epoch."""
        return int(row.get("step", row["epoch"] * self.steps_per_epoch))

    def step(self, step: int, sums: torch.Tensor, lr: float) -> None:
        """A point of the step curves: the mean loss of the items since the last point (from
        train_one_epoch's running [loss sum, correct, items]) at optimizer step `step`."""
        if self.writer is None or step <= self._last_step:
            return
        loss_sum, _, items = sums.tolist()  # one device sync, as the progress bar's
        prev_loss, prev_items = self._window
        if items < prev_items:  # a new epoch's sums
            prev_loss, prev_items = 0.0, 0.0
        if items <= prev_items:
            return
        self._write([(STEP_TAGS[0], (loss_sum - prev_loss) / (items - prev_items), step),
                     (STEP_TAGS[1], lr, step)])
        self._last_step, self._window = step, (loss_sum, items)

    def epoch(self, row: dict[str, Any]) -> None:
        """The scalars of one finished epoch (a history row), then a flush."""
        if self.writer is None:
            return
        self._window = (0.0, 0.0)
        self._write(_epoch_points(row, self.epoch_step(row)), flush=True)

    def close(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                writer.close()
            except Exception as exc:  # a log never fails the run
                _warn(f"could not close the TensorBoard log ({type(exc).__name__}: {exc})")

    def _write(self, points: Sequence[tuple[str, float, int]], flush: bool = False) -> None:
        try:
            for tag, value, step in points:
                self.writer.add_scalar(tag, value, step)
            if flush:
                self.writer.flush()
        except Exception as exc:  # a full disk or a lost mount: train on
            _warn(f"TensorBoard logging stopped ({type(exc).__name__}: {exc}); training goes "
                  "on, and metrics.csv keeps every epoch.")
            self.writer = None


def start(out: str | Path, *, step: int, history: Sequence[dict[str, Any]],
          steps_per_epoch: int) -> TrainingLog:
    """The log of the run in `out`, continuing at optimizer step `step` (0 for a new run):
    events of an earlier attempt at `step` or later are purged, and the epochs of `history`
    that end there are written again. A no-op log on ranks other than 0, and (after one
    warning line) when tensorboard is missing or the folder cannot be written."""
    if not D.is_main():
        return TrainingLog()
    try:
        from torch.utils.tensorboard import SummaryWriter
    except Exception as exc:  # ImportError, or a broken protobuf
        _warn(f"no TensorBoard log for this run: the tensorboard package is not usable "
              f"({type(exc).__name__}: {exc}); `pip install -r requirements.txt` installs it. "
              "metrics.csv keeps every epoch.")
        return TrainingLog()
    log = TrainingLog(steps_per_epoch=steps_per_epoch, last_step=step)
    try:
        log.writer = SummaryWriter(str(Path(out) / TB_DIR), purge_step=step,
                                   flush_secs=FLUSH_SECS)
    except Exception as exc:
        _warn(f"no TensorBoard log for this run ({type(exc).__name__}: {exc}); training goes "
              "on, and metrics.csv keeps every epoch.")
        return TrainingLog()
    again = [p for row in history if log.epoch_step(row) >= step
             for p in _epoch_points(row, log.epoch_step(row))]
    log._write(again, flush=True)  # also writes the purge marker now
    return log


def _epoch_points(row: dict[str, Any], step: int) -> list[tuple[str, float, int]]:
    """(tag, value, step) of a history row's finite values (no validation: no val points)."""
    points = []
    for key, tag in EPOCH_TAGS.items():
        value = row.get(key)
        if isinstance(value, (int, float)) and math.isfinite(value):
            points.append((tag, float(value), step))
    return points


def _warn(text: str) -> None:
    sys.stderr.write(f"warning: {text}\n")
    sys.stderr.flush()
