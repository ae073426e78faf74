"""Trainer and evaluator: exact resume after SIGKILL, DDP evaluation, predictions."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.config import get_profile
from helpers.data.datasets import make_dataset
from helpers.data.splits import load_split_data, read_split
from helpers.data.store import VideoStore, report_path_for
from helpers.errors import UserError
from helpers.evaluation.evaluate import evaluate
from helpers.evaluation.predictions import load
from helpers.training.runs import CHECKPOINT, MODEL
from helpers.training.train import lr_factor, train

TINY = ["--profile", "demo", "--crop-size", "32", "--batch-size", "16", "--num-workers", "0",
        "--frames-per-video", "1", "--lr", "0.003"]


def _train_cmd(bench, out: Path, model: str = "frame", epochs: int = 3,
               store: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "helpers", "train", "--model", model,
            "--store", str(store or bench["store"]), "--splits", str(bench["splits"]),
            "--out", str(out), "--num-epochs", str(epochs), *TINY]


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


@pytest.fixture(scope="module")
def store_missing_two(tiny_bench, tmp_path_factory) -> dict:
    """tiny_bench's store prepared again with one test and one training video unreadable,
    so `prepare` skips them (listed as failed in STORE.report.json)."""
    from helpers.data.prepare import prepare_store

    root = tmp_path_factory.mktemp("missing")
    source = root / "bench"
    shutil.copytree(tiny_bench["source"], source)
    split = read_split(tiny_bench["splits"], 1)
    test_video = split.test[0]
    train_video = next(e for e in split.train if "_g08_" in e.name)  # a training group
    for entry in (test_video, train_video):
        (source / "UCF-101" / entry.rel_path).write_bytes(b"not a video")
    store = root / "store.h5"
    report = prepare_store(source, source / "ucfTrainTestlist", store, num_workers=1)
    assert {f.name for f in report.failures} == {test_video.name, train_video.name}
    return {"store": store, "test_video": test_video.name, "train_video": train_video.name}


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
    classes = len(pred.class_names)  # one video per class and group: groups 1-7 are tested
    assert n_test == 7 * classes and len(set(pred.video_ids)) == n_test
    assert pred.probs.shape == (n_test, classes)
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


def test_ddp_evaluation_matches_single_process(trained_frame, store_missing_two, tiny_bench,
                                               tmp_path):
    # the test videos but one (not in this store) x 5 frames: an odd count, so two processes
    # get uneven shards, and padding them to equal length (as DistributedSampler does) would
    # score one item twice and show in num_items.
    one, two = tmp_path / "one.h5", tmp_path / "two.h5"
    base = ["-m", "helpers", "evaluate", "--run-dir", str(trained_frame), "--subset", "test",
            "--store", str(store_missing_two["store"]),
            "--num-workers", "0", "--eval-frames", "5", "--batch-size", "7"]
    subprocess.run([sys.executable, *base, "--out", str(one)], check=True, env=_env(),
                   capture_output=True, timeout=300)
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                          "--nproc_per_node=2", *base, "--out", str(two)], env=_env(),
                         capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-2000:]
    a, b = load(one), load(two)
    assert len(a.video_ids) == _counts(tiny_bench)[0] - 1 and (len(a.video_ids) * 5) % 2 == 1
    assert a.video_ids == b.video_ids and len(set(b.video_ids)) == len(b.video_ids)
    assert a.attrs["num_items"] == b.attrs["num_items"] == len(a.video_ids) * 5
    np.testing.assert_allclose(a.probs, b.probs, rtol=1e-5, atol=1e-6)
    # the missing video is warned about once (rank 0), not once per process
    assert ddp.stderr.count("not in the store") == 1, ddp.stderr[-2000:]


def _counts(tiny_bench) -> tuple[int, int]:
    """(test videos, training videos outside the held-out groups) of split 1."""
    split = read_split(tiny_bench["splits"], 1)
    held = get_profile("demo").config("frame").val_groups
    return len(split.test), len([e for e in split.train if e.group not in held])


def test_videos_prepare_skipped_are_left_out_of_evaluation(trained_frame, store_missing_two,
                                                           tiny_bench, capfd):
    n_test, _ = _counts(tiny_bench)
    pred = evaluate(trained_frame, subset="test", store=store_missing_two["store"],
                    eval_frames=2, num_workers=0)
    err = capfd.readouterr().err
    assert f"warning: 1 of {n_test} test videos are not in the store" in err
    assert store_missing_two["test_video"] in err and "report.json" in err
    assert len([line for line in err.splitlines() if "not in the store" in line]) == 1
    assert len(pred.video_ids) == n_test - 1
    assert store_missing_two["test_video"] not in pred.video_ids
    assert pred.attrs["num_missing_videos"] == 1
    assert pred.attrs["missing_videos"] == [store_missing_two["test_video"]]
    assert pred.attrs["num_listed_videos"] == n_test
    assert pred.attrs["num_items"] == (n_test - 1) * 2
    full = evaluate(trained_frame, subset="test", eval_frames=2, num_workers=0)
    assert full.attrs["num_missing_videos"] == 0 and len(full.video_ids) == n_test
    keep = [full.video_ids.index(v) for v in pred.video_ids]
    np.testing.assert_allclose(pred.probs, full.probs[keep], rtol=1e-5, atol=1e-6)


def test_training_on_a_store_with_a_skipped_video_warns_and_trains(store_missing_two,
                                                                   tiny_bench, tmp_path):
    out = tmp_path / "run"
    _, n_train = _counts(tiny_bench)
    done = subprocess.run(_train_cmd(tiny_bench, out, epochs=1, store=store_missing_two["store"]),
                          env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    warnings = [line for line in done.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and f"1 of {n_train} training videos" in warnings[0]
    assert str(report_path_for(store_missing_two["store"])) in warnings[0]
    summary = json.loads((out / "config.json").read_text())
    assert summary["num_train"] == n_train - 1 and summary["missing_train"] == [
        store_missing_two["train_video"]]


def test_a_store_missing_many_videos_is_an_error(tiny_bench, tmp_path):
    from helpers.data.prepare import prepare_store

    source = tmp_path / "bench"
    shutil.copytree(tiny_bench["source"], source)
    split = read_split(tiny_bench["splits"], 1)
    k = len(split.test) // 20 + 1  # just over 5% of the test videos
    for entry in split.test[:k]:
        (source / "UCF-101" / entry.rel_path).write_bytes(b"")
    prepare_store(source, source / "ucfTrainTestlist", tmp_path / "s.h5", num_workers=1)
    cfg = get_profile("demo").config("frame")
    store = VideoStore(tmp_path / "s.h5")
    data = load_split_data(tiny_bench["splits"], 1, cfg.val_groups, store.class_names)
    with pytest.raises(UserError, match=rf"{k} of {len(split.test)} test videos are not in the "
                                        r"store .*more than"):
        make_dataset(cfg, store, data.test_ids, data.test_labels, train=False, what="test videos")


def test_finished_run_is_not_reused_for_another_split_or_store(trained_frame, tiny_bench,
                                                               store_missing_two):
    same = _train_cmd(tiny_bench, trained_frame, epochs=1) + ["--resume"]
    ok = subprocess.run(same, env=_env(), capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0 and "already trained" in ok.stdout
    other_split = subprocess.run(same + ["--split", "2"], env=_env(), capture_output=True,
                                 text=True, timeout=300)
    assert other_split.returncode == 1, other_split.stderr
    assert "split 1 -> 2" in other_split.stderr and "Traceback" not in other_split.stderr
    assert len(other_split.stderr.strip().splitlines()) == 1
    other_store = _train_cmd(tiny_bench, trained_frame, epochs=1,
                             store=store_missing_two["store"]) + ["--resume"]
    refused = subprocess.run(other_store, env=_env(), capture_output=True, text=True, timeout=300)
    assert refused.returncode == 1 and "store" in refused.stderr
    assert "--out for a new run" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_evaluate_needs_a_complete_run_folder(trained_frame, tiny_bench, tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    with pytest.raises(UserError, match=r"model\.pt does not exist; train"):
        evaluate(bare, num_workers=0)
    shutil.copy(trained_frame / MODEL, bare / MODEL)  # a model.pt without config.json
    with pytest.raises(UserError, match=r"config\.json does not exist.*--store"):
        evaluate(bare, num_workers=0)
    pred = evaluate(bare, store=tiny_bench["store"], splits=tiny_bench["splits"], split=1,
                    eval_frames=1, num_workers=0)
    assert len(pred.video_ids) == _counts(tiny_bench)[0]
    (bare / "config.json").write_text("{not json")
    with pytest.raises(UserError, match=r"Cannot read .*config\.json"):
        evaluate(bare, num_workers=0)
    saved = torch.load(bare / MODEL, map_location="cpu", weights_only=True)
    torch.save({k: v for k, v in saved.items() if k != "spec"}, bare / MODEL)
    with pytest.raises(UserError, match=r"model\.pt lacks the entries.*spec.*train the run"):
        evaluate(bare, store=tiny_bench["store"], splits=tiny_bench["splits"], split=1)
    del saved["spec"]["widen_factor"]
    torch.save(saved, bare / MODEL)
    with pytest.raises(UserError, match=r"model spec without \['widen_factor'\]"):
        evaluate(bare, store=tiny_bench["store"], splits=tiny_bench["splits"], split=1)
    saved["spec"]["widen_factor"] = 1.0
    saved["state_dict"].pop(next(reversed(saved["state_dict"])))  # e.g. the head's bias
    torch.save(saved, bare / MODEL)
    with pytest.raises(UserError, match=r"does not hold the weights of its own spec"):
        evaluate(bare, store=tiny_bench["store"], splits=tiny_bench["splits"], split=1)


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
    assert pred.attrs["num_items"] == _counts(tiny_bench)[0] * 2  # 16 frames = 2 windows of 8

