"""Stopping before a time limit: a stop request (signal or stop file) saves a checkpoint at a
step boundary, the command exits with STOPPED_EXIT, and resuming gives the result of a run
never stopped; the batch scripts in scripts/cluster/ requeue the job on that exit code."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from helpers.config import get_profile
from helpers.errors import STOPPED_EXIT, Preempted
from helpers.training.runs import CHECKPOINT, MODEL
from helpers.training.train import train
from helpers.utils import stop

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "scripts" / "cluster"


def _tiny(epochs: int = 2):
    # dropout draws from torch's RNG and accum_steps=2 makes groups: both must resume exactly
    return get_profile("demo").config("frame").replace(
        num_epochs=epochs, batch_size=64, accum_steps=2, crop_size=16, frames_per_video=1,
        num_workers=0, dropout=0.5, val_max_items=32, warmup_epochs=0.5)


def _assert_same_run(a: Path, b: Path) -> None:
    sa = torch.load(a / MODEL, map_location="cpu", weights_only=True)
    sb = torch.load(b / MODEL, map_location="cpu", weights_only=True)
    assert sa["state_dict"].keys() == sb["state_dict"].keys()
    for k, v in sa["state_dict"].items():
        w = sb["state_dict"][k]
        assert torch.equal(v, w) if torch.is_tensor(v) else v == w, k
    timing = ("seconds", "train_items_per_s")
    assert [{k: v for k, v in row.items() if k not in timing} for row in sa["history"]] == \
        [{k: v for k, v in row.items() if k not in timing} for row in sb["history"]]


def test_stops_mid_epoch_and_at_epoch_ends_resume_exactly(tiny_bench, tmp_path, monkeypatch,
                                                          capsys):
    cfg = _tiny()  # 280 training frames: 8 micro-batches of 32 per epoch, 4 optimizer steps
    kw = dict(store=tiny_bench["store"], splits=tiny_bench["splits"], split=1)
    straight = train(cfg, out=tmp_path / "straight", **kw)

    # The trainer asks after each optimizer step but an epoch's last, and after each epoch
    # but the last: 4 questions per epoch. Yes to the 2nd, 4th and 6th: a stop mid-epoch 1,
    # at the end of epoch 1 (after resuming mid-epoch), and mid-epoch 2.
    asked = {"n": 0}

    def requested() -> bool:
        asked["n"] += 1
        return asked["n"] in (2, 4, 6)

    monkeypatch.setattr(stop, "requested", requested)
    out = tmp_path / "stopped"

    def saved() -> dict:
        return torch.load(out / CHECKPOINT, map_location="cpu", weights_only=True)

    with pytest.raises(Preempted, match=r"after batch 4/8 of epoch 1/2, saved in"):
        train(cfg, out=out, **kw)
    assert saved()["epoch"] == 0 and saved()["partial"]["batches"] == 4
    assert not (out / MODEL).exists()
    with pytest.raises(Preempted, match=r"stopped after epoch 1/2"):
        train(cfg, out=out, resume=True, **kw)
    assert "resuming frame training at epoch 1/2, batch 5/8" in capsys.readouterr().out
    assert saved()["epoch"] == 1 and saved()["partial"] is None
    with pytest.raises(Preempted, match=r"after batch 4/8 of epoch 2/2"):
        train(cfg, out=out, resume=True, **kw)
    train(cfg, out=out, resume=True, **kw)
    assert asked["n"] == 7
    _assert_same_run(straight.parent, out)


def test_signal_requests_a_stop_and_creates_the_stop_file(tmp_path):
    path = tmp_path / "sub" / "STOP"
    with stop.handling(path):
        assert os.environ[stop.STOP_FILE_ENV] == str(path) and not stop.requested()
        os.kill(os.getpid(), signal.SIGUSR1)
        assert stop.requested() and path.exists()
        with pytest.raises(Preempted, match="SIGUSR1 received, stopped before notebook 02"):
            stop.check("notebook 02")
    assert not stop.requested() and signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL
    assert stop.STOP_FILE_ENV not in os.environ
    os.environ[stop.STOP_FILE_ENV] = str(path)  # another process's request: the file alone
    try:
        assert stop.requested() and "stop file" in stop.reason()
    finally:
        del os.environ[stop.STOP_FILE_ENV]


@pytest.mark.slow
def test_cli_exit_code_for_a_stop(tiny_bench, tmp_path):
    """`train` stops on SIGUSR1 and exits STOPPED_EXIT with one line; --resume finishes."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "helpers", "train", "--model", "frame",
           "--store", str(tiny_bench["store"]), "--splits", str(tiny_bench["splits"]),
           "--out", str(out), "--num-epochs", "1", "--crop-size", "16", "--batch-size", "64",
           "--num-workers", "0", "--frames-per-video", "1"]
    env = {**os.environ, "UCF_NO_PROGRESS": "1", stop.STOP_FILE_ENV: str(tmp_path / "STOP")}
    (tmp_path / "STOP").touch()  # requested from the start: stops after the first step
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == STOPPED_EXIT, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1].startswith("stopped: stop file ")
    assert "rerun the same command to resume" in done.stderr
    assert "Traceback" not in done.stderr
    (tmp_path / "STOP").unlink()
    done = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0 and "batch 2/" in done.stdout, done.stderr[-2000:]
