"""TensorBoard logs beside metrics.csv: the tags a run writes, resume without duplicate steps,
and training that goes on when TensorBoard cannot be written."""

from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import pytest
import torch

from helpers.config import get_profile
from helpers.training import tblog
from helpers.training.train import train

EventAccumulator = pytest.importorskip(
    "tensorboard.backend.event_processing.event_accumulator").EventAccumulator

def _scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value)]} as TensorBoard shows the run (purged events left out)."""
    acc = EventAccumulator(str(run / tblog.TB_DIR), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _no_step_twice(scalars: dict[str, list[tuple[int, float]]]) -> None:
    for tag, points in scalars.items():
        steps = [s for s, _ in points]
        assert steps == sorted(set(steps)), f"{tag}: steps {steps}"


def _row(epoch: int, **kw) -> dict:
    return {"epoch": epoch, "train_loss": 2.0 / epoch, "train_acc": 0.2 * epoch,
            "val_loss": 2.2 / epoch, "val_acc": 0.15 * epoch, "lr": 0.01, "seconds": 3.0,
            "train_items_per_s": 100.0, **kw}


def _steps(log: tblog.TrainingLog, first: int, last: int, loss: float) -> None:
    """Step points for optimizer steps first..last, as train_one_epoch makes them: running
    [loss sum, correct, items] of 10 items a step, from the epoch's start."""
    spe = log.steps_per_epoch
    for s in range(first, last + 1):
        done = s - (s - 1) // spe * spe  # steps into this epoch
        log.step(s, torch.tensor([loss * 10 * done, 0.0, 10.0 * done], dtype=torch.float64),
                 0.01)


def test_resumed_log_purges_the_interrupted_attempts_events(tmp_path):
    spe = 5
    history = [_row(1), _row(2), _row(3)]
    first = tblog.start(tmp_path, step=0, history=[], steps_per_epoch=spe)
    assert first.enabled
    for e in (1, 2, 3):
        _steps(first, (e - 1) * spe + 1, e * spe, loss=1.0)
        first.epoch(history[e - 1])
    _steps(first, 3 * spe + 1, 3 * spe + 3, loss=1.0)  # epoch 4 under way...
    first.writer.flush()  # ...when the job is killed: its checkpoint is still epoch 2's
    time.sleep(1.1)  # event file names carry the second they were made in

    again = tblog.start(tmp_path, step=2 * spe, history=history[:2], steps_per_epoch=spe)
    for e in (3, 4):
        _steps(again, (e - 1) * spe + 1, e * spe, loss=0.5)
        again.epoch(_row(e, train_loss=0.5))
    again.close()

    scalars = _scalars(tmp_path)
    assert set(tblog.EPOCH_TAGS.values()) | set(tblog.STEP_TAGS) == set(scalars)
    _no_step_twice(scalars)
    assert [s for s, _ in scalars["loss/train"]] == [spe, 2 * spe, 3 * spe, 4 * spe]
    assert [v for _, v in scalars["loss/train"]] == pytest.approx([2.0, 1.0, 0.5, 0.5])
    step_loss = dict(scalars["loss/train_step"])
    # the checkpoint's own step is purged with what came after it, and not done again
    assert sorted(step_loss) == [s for s in range(1, 4 * spe + 1) if s != 2 * spe]
    assert {step_loss[s] for s in range(1, 2 * spe)} == {1.0}  # kept from the first try
    assert {step_loss[s] for s in range(2 * spe + 1, 4 * spe + 1)} == {0.5}  # the resumed


def test_a_resumed_finished_epoch_is_written_once(tmp_path):
    """Killed after epoch 1's checkpoint: the resumed log writes epoch 1 again (it may have
    been lost with the unflushed queue), and TensorBoard shows it once."""
    first = tblog.start(tmp_path, step=0, history=[], steps_per_epoch=4)
    first.epoch(_row(1))
    first.writer.flush()
    time.sleep(1.1)
    again = tblog.start(tmp_path, step=4, history=[_row(1)], steps_per_epoch=4)
    again.epoch(_row(2))
    again.close()
    scalars = _scalars(tmp_path)
    _no_step_twice(scalars)
    assert [s for s, _ in scalars["accuracy/val"]] == [4, 8]


def test_no_validation_writes_no_validation_points(tmp_path):
    log = tblog.start(tmp_path, step=0, history=[], steps_per_epoch=3)
    log.epoch(_row(1, val_loss=float("nan"), val_acc=float("nan")))
    log.close()
    tags = set(_scalars(tmp_path))
    assert "loss/train" in tags and not {"loss/val", "accuracy/val"} & tags


def test_without_tensorboard_one_warning_and_nothing_else(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails
    log = tblog.start(tmp_path, step=0, history=[_row(1)], steps_per_epoch=3)
    _steps(log, 1, 3, loss=1.0)
    log.epoch(_row(2))
    log.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("warning: no TensorBoard log")
    assert not log.enabled and not (tmp_path / tblog.TB_DIR).exists()


def test_a_failing_writer_warns_once_and_stops_logging(tmp_path, capsys):
    log = tblog.start(tmp_path, step=0, history=[], steps_per_epoch=3)

    def broken(*args, **kwargs):
        raise OSError("No space left on device")

    log.writer.add_scalar = broken
    log.epoch(_row(1))
    _steps(log, 1, 3, loss=1.0)
    log.epoch(_row(2))
    log.close()
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and "No space left on device" in err[0] and "training goes on" in err[0]


# ----------------------------------------------------------------------------- a real run

class _Killed(Exception):
    pass


def test_an_interrupted_run_resumed_logs_every_step_once(tiny_bench, tmp_path, monkeypatch):
    """A tiny run stopped in its second epoch, after that epoch's step points reached the
    event file but before its checkpoint, then resumed: TensorBoard shows every tag of
    EPOCH_TAGS and STEP_TAGS, each step once, and the epoch points equal metrics.csv."""
    from helpers.training import train as trainer

    cfg = get_profile("demo").config("clip").replace(  # the cheapest model to train
        num_epochs=2, batch_size=64, crop_size=16, clip_len=4, num_workers=0,
        val_max_items=16, eval_batch_size=16)
    run = tmp_path / "run"
    logs, calls = [], []
    start, validate = tblog.start, trainer.validate

    def keep_log(*args, **kwargs):
        logs.append(start(*args, **kwargs))
        return logs[-1]

    def validate_or_die(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # epoch 2 has trained; its checkpoint is never written
            raise _Killed
        return validate(*args, **kwargs)

    monkeypatch.setattr(tblog, "start", keep_log)
    monkeypatch.setattr(trainer, "validate", validate_or_die)
    kw = dict(store=tiny_bench["store"], splits=tiny_bench["splits"], split=1, out=run)
    with pytest.raises(_Killed):
        train(cfg, **kw)
    logs[0].writer.flush()  # what the killed job had written reaches the disk
    before = _scalars(run)
    spe = before["loss/train"][0][0]
    assert [s for s, _ in before["loss/train_step"]][-1] > spe  # epoch 2's orphaned points
    time.sleep(1.1)  # event file names carry the second they were made in

    monkeypatch.setattr(trainer, "validate", validate)
    train(cfg, **kw, resume=True)
    assert len(logs) == 2 and not logs[1].enabled  # closed at the end
    assert len(list((run / tblog.TB_DIR).glob("events.out.tfevents.*"))) == 2
    scalars = _scalars(run)
    assert set(tblog.EPOCH_TAGS.values()) | set(tblog.STEP_TAGS) == set(scalars)
    _no_step_twice(scalars)
    assert [s for s, _ in scalars["loss/train_step"]] == [s for s, _ in before["loss/train_step"]]
    with open(run / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [s for s, _ in scalars["loss/train"]] == [spe, 2 * spe] and len(rows) == 2
    for key, tag in tblog.EPOCH_TAGS.items():
        assert [v for _, v in scalars[tag]] == pytest.approx(
            [float(r[key]) for r in rows], rel=1e-5), tag
    assert all(0 < v < 20 for _, v in scalars["loss/train_step"])
