"""Trainer and evaluator: exact resume after SIGKILL, DDP evaluation, predictions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.config import get_profile
from helpers.evaluate import evaluate
from helpers.predictions import load
from helpers.train import CHECKPOINT, MODEL, lr_factor, train

TINY = ["--profile", "demo", "--crop-size", "32", "--batch-size", "16", "--num-workers", "0",
        "--frames-per-video", "1", "--lr", "0.003"]


def _train_cmd(bench, out: Path, model: str = "frame", epochs: int = 3) -> list[str]:
    return [sys.executable, "-m", "helpers", "train", "--model", model,
            "--store", str(bench["store"]), "--splits", str(bench["splits"]), "--out", str(out),
            "--num-epochs", str(epochs), *TINY]


def _env() -> dict[str, str]:
    return {**os.environ, "UCF_NO_PROGRESS": "1", "OMP_NUM_THREADS": "2"}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / MODEL, map_location="cpu", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def trained_frame(tiny_bench, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("run") / "frame"
    subprocess.run(_train_cmd(tiny_bench, out, epochs=1), check=True, env=_env(),
                   capture_output=True, timeout=600)
    return out


def test_resume_after_sigkill_is_exact(tiny_bench, tmp_path):
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_train_cmd(tiny_bench, straight), check=True, env=_env(),
                   capture_output=True, timeout=600)

    proc = subprocess.Popen(_train_cmd(tiny_bench, killed), env=_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not (killed / CHECKPOINT).exists():
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.time() < deadline
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = torch.load(killed / CHECKPOINT, map_location="cpu", weights_only=True)
    assert saved["epoch"] < 3 and not (killed / MODEL).exists()

    # Without --resume the run is refused and nothing is touched.
    refused = subprocess.run(_train_cmd(tiny_bench, killed), env=_env(), capture_output=True,
                             text=True)
    assert refused.returncode == 1 and "--resume" in refused.stderr
    subprocess.run(_train_cmd(tiny_bench, killed) + ["--resume"], check=True, env=_env(),
                   capture_output=True, timeout=600)
    a, b = _weights(straight), _weights(killed)
    assert a.keys() == b.keys()
    for k in a:
        assert (torch.equal(a[k], b[k]) if torch.is_tensor(a[k]) else a[k] == b[k]), k
    metrics = (killed / "metrics.csv").read_text().splitlines()
    assert metrics[0].startswith("epoch,train_loss") and len(metrics) == 4


def test_resume_with_other_config_is_refused(trained_frame, tiny_bench):
    out = subprocess.run(_train_cmd(tiny_bench, trained_frame, epochs=5) + ["--resume"],
                         env=_env(), capture_output=True, text=True)
    assert out.returncode == 1
    assert "num_epochs" in out.stderr and "Traceback" not in out.stderr


def test_predictions_file_and_levels(trained_frame, tmp_path):
    pred = evaluate(trained_frame, subset="test", eval_frames=None, num_workers=0)
    n_test = len(pred.video_ids)
    assert n_test == 7 * 10 and len(set(pred.video_ids)) == n_test  # groups 1-7, 10 classes
    assert pred.probs.shape == (n_test, 10)
    np.testing.assert_allclose(pred.probs.sum(1), 1, atol=1e-5)
    assert pred.attrs["num_items"] == n_test * 16  # every frame of every video
    assert 0 <= pred.attrs["frame_accuracy"] <= 1
    path = pred.save(tmp_path / "p.h5")
    back = load(path)
    assert back.video_ids == pred.video_ids and np.array_equal(back.probs, pred.probs)
    assert back.attrs["checkpoint_sha256"] == pred.attrs["checkpoint_sha256"]
    val = evaluate(trained_frame, subset="val", num_workers=0)
    assert not set(val.video_ids) & set(pred.video_ids)
    assert {int(v.split("_g")[1][:2]) for v in val.video_ids} == {22, 23, 24, 25}


def test_ddp_evaluation_matches_single_process(trained_frame, tmp_path):
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    base = ["-m", "helpers", "evaluate", "--run-dir", str(trained_frame), "--subset", "test",
            "--num-workers", "0", "--eval-frames", "5", "--batch-size", "7"]
    subprocess.run([sys.executable, *base, "--out", str(one)], check=True, env=_env(),
                   capture_output=True, timeout=300)
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", *base, "--out", str(two)], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    a, b = load(one), load(two)
    assert a.video_ids == b.video_ids and len(set(b.video_ids)) == len(b.video_ids)
    assert a.attrs["num_items"] == b.attrs["num_items"] == len(a.video_ids) * 5
    np.testing.assert_allclose(a.probs, b.probs, rtol=1e-5, atol=1e-6)


def test_lr_schedule_warmup_then_cosine():
    cfg = get_profile("demo").config("frame").replace(num_epochs=2, warmup_epochs=1,
                                                      schedule="cosine")
    f = [lr_factor(cfg, s, 10) for s in range(20)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert f[10] == pytest.approx(1.0) and f[19] < 0.05
    assert all(x >= y for x, y in zip(f[9:], f[10:], strict=False))


def test_train_rejects_bad_input(tmp_path, tiny_bench):
    out = subprocess.run([sys.executable, "-m", "helpers", "train", "--model", "frame",
                          "--store", str(tmp_path / "nope.h5"), "--splits",
                          str(tiny_bench["splits"]), "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, env=_env())
    assert out.returncode == 1 and "does not exist" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_train_in_process_api(tiny_bench, tmp_path):
    cfg = get_profile("demo").config("clip").replace(
        num_epochs=1, batch_size=8, crop_size=32, clip_len=8, num_workers=0, val_max_items=20)
    path = train(cfg, store=tiny_bench["store"], splits=tiny_bench["splits"], split=1,
                 out=tmp_path / "clip")
    assert path.exists()
    pred = evaluate(tmp_path / "clip", subset="test", num_workers=0)
    assert pred.attrs["level"] == "clip"
    assert pred.attrs["num_items"] == 70 * 2  # 16 frames = 2 windows of 8

