"""Several processes from the main command (`report --gpus N`, `make report GPUS=N`): the
torchrun command on one node and across SLURM nodes, the failure sentence, the training
sampler that gives any process count the single-process steps, and the whole path with 2
gloo processes on the CPU (slow)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import torch
from support import run_report
from torch.utils.data import DataLoader

from helpers.cli import main
from helpers.config import get_profile
from helpers.errors import UserError
from helpers.evaluation.evaluate import evaluate
from helpers.evaluation.predictions import load
from helpers.training.loaders import accumulation_groups, optimizer_steps_per_epoch, train_sampler
from helpers.utils.io import sha256_file
from helpers.workflow import launch, pipeline

WORKER = ["-m", "helpers.workflow.launch"]


# ----------------------------------------------------------------------------- the command
def test_one_node_runs_torchrun_standalone(tmp_path):
    job = tmp_path / "logs" / "train-frame.json"
    for env in ({}, {"SLURM_NNODES": "1", "SLURM_JOB_NODELIST": "gpu07", "SLURM_JOB_ID": "5"}):
        assert launch.command(4, job, env=env, hostnames=_no_scontrol) == [
            sys.executable, "-m", "torch.distributed.run", "--standalone",
            "--nproc-per-node=4", *WORKER, str(job)]


def _no_scontrol(nodelist: str) -> list[str]:
    raise AssertionError("one node needs no rendezvous host")


def test_several_slurm_nodes_run_one_torchrun_per_node_through_srun(tmp_path):
    job = tmp_path / "logs" / "evaluate-clip_test.json"
    env = {"SLURM_NNODES": "3", "SLURM_JOB_NODELIST": "gpu[07-09]", "SLURM_JOB_ID": "123456",
           "SLURM_CPUS_ON_NODE": "64"}
    asked = []

    def hostnames(nodelist: str) -> list[str]:
        asked.append(nodelist)
        return ["gpu07", "gpu08", "gpu09"]

    cmd = launch.command(4, job, env=env, hostnames=hostnames)
    assert asked == ["gpu[07-09]"]
    assert cmd == ["srun", "--nodes=3", "--ntasks=3", "--ntasks-per-node=1",
                   "--kill-on-bad-exit=1", "--cpus-per-task=64",
                   sys.executable, "-m", "torch.distributed.run", "--nnodes=3",
                   "--nproc-per-node=4", "--rdzv-backend=c10d",
                   "--rdzv-endpoint=gpu07:29956", "--rdzv-id=123456-evaluate-clip_test",
                   *WORKER, str(job)]
    assert "--standalone" not in cmd


def test_which_steps_run_under_torchrun():
    assert not launch.needed(1, env={})
    assert launch.needed(2, env={})
    assert launch.needed(1, env={"SLURM_NNODES": "2"})  # one GPU on each of two nodes
    assert not launch.needed(1, env={"SLURM_NNODES": "1", "SLURM_JOB_NUM_NODES": "1"})


def test_several_nodes_without_a_node_list_or_scontrol_is_one_sentence(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="no SLURM_JOB_NODELIST"):
        launch.command(2, tmp_path / "j.json", env={"SLURM_NNODES": "2"})
    monkeypatch.setenv("PATH", str(tmp_path))  # no scontrol here
    with pytest.raises(UserError, match="scontrol show hostnames"):
        launch.slurm_hostnames("gpu[07-08]")


# ----------------------------------------------------------------------------- the step
def test_a_failed_step_streams_its_output_and_names_the_log(tmp_path, monkeypatch, capsys):
    script = ("import sys; print('epoch 1/2 done', flush=True); "
              "print('\\rbar 50%', end='', file=sys.stderr, flush=True); "
              "print('error: The store /x.h5 is gone.', file=sys.stderr); sys.exit(3)")
    monkeypatch.setattr(launch, "command", lambda gpus, job: [sys.executable, "-c", script])
    with pytest.raises(UserError) as exc:
        launch.run_step(1, {"step": "train"}, tmp_path / "logs", "train-frame",
                        "training of frame")
    msg = str(exc.value)
    log = tmp_path / "logs" / "train-frame.log"
    assert "exit code 3" in msg and "The store /x.h5 is gone;" in msg and str(log) in msg
    assert len(msg.splitlines()) == 1
    out = capsys.readouterr().out
    assert "epoch 1/2 done" in out and "\rbar 50%" in out  # as it came, carriage return kept
    assert "epoch 1/2 done" in log.read_text()
    assert json.loads((tmp_path / "logs" / "train-frame.json").read_text()) == {"step": "train"}


def test_the_failure_cause_is_the_workers_sentence_or_the_exception():
    torchrun_tail = ("error: /r/model.pt does not exist; train that run first.\n"
                     "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: \n"
                     "=====\nhelpers.workflow.launch FAILED\n")
    assert launch.failure_cause(torchrun_tail) == "/r/model.pt does not exist; train that run first"
    trace = "Traceback (most recent call last):\n  File x\nRuntimeError: CUDA out of memory\n"
    assert launch.failure_cause(trace) == "RuntimeError: CUDA out of memory"
    assert launch.failure_cause("Killed\n") == "no error message"


@pytest.mark.parametrize("gpus", [0, -1, True, "2", 1.5])
def test_setup_refuses_a_bad_process_count(gpus):
    with pytest.raises(UserError, match="gpus must be a whole number"):
        pipeline.Setup(gpus=gpus)


def test_report_gpus_must_be_a_positive_number(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", "--gpus", "0"])
    assert exc.value.code == 2 and "--gpus" in capsys.readouterr().err


# ----------------------------------------------------------------------------- the batch
def _step_items(num_items: int, batch_size: int, accum: int, world: int) -> list[set[int]]:
    """The items of each optimizer step of epoch 3, over all `world` processes, through the
    trainer's sampler and a loader built as the trainer builds it."""
    cfg = get_profile("demo").config("frame").replace(batch_size=batch_size, accum_steps=accum,
                                                      seed=7)
    micro = batch_size // (world * accum)
    per_rank = []
    for rank in range(world):
        sampler = train_sampler(list(range(num_items)), cfg, world, rank)
        sampler.set_epoch(3)
        loader = DataLoader(list(range(num_items)), batch_size=micro, sampler=sampler,
                            drop_last=True)
        batches = [b.tolist() for b in loader]
        steps, current = [], []
        for batch, (_, step_after) in zip(batches, accumulation_groups(len(batches), accum),
                                          strict=True):
            current += batch
            if step_after:
                steps.append(current)
                current = []
        assert len(steps) == optimizer_steps_per_epoch(len(batches), accum)
        per_rank.append(steps)
    assert len({len(s) for s in per_rank}) == 1  # every process takes as many steps
    return [set().union(*(steps[i] for steps in per_rank)) for i in range(len(per_rank[0]))]


@pytest.mark.parametrize("num_items", [63, 64, 101, 130])
@pytest.mark.parametrize("accum", [1, 2])
def test_every_process_count_takes_the_single_process_steps(num_items, accum):
    """The global batch of each step is the same items under 2 or 4 processes as under one,
    and an epoch has as many steps, so the learning-rate schedule and a resumed checkpoint
    mean the same whatever the process count (63 items on 4 processes: padding to 64 would
    add a step)."""
    one = _step_items(num_items, 16, accum, 1)
    for world in (2, 4):
        assert _step_items(num_items, 16, accum, world) == one, world
    assert all(len(s) == 16 for s in one[:-1])


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_report_with_two_processes_completes_resumes_and_matches_one(tmp_path):
    """`report --fast --gpus 2 --only 01` on the CPU (2 gloo processes): training and
    evaluation run under torchrun into the usual run folder with the single-process global
    batch and steps; a rerun with one process retrains and re-evaluates nothing; the
    predictions equal a single-process evaluation of the same checkpoint."""
    env, out = run_report(tmp_path, "--fast", "--gpus", "2", "--only", "01", timeout=1200)
    run = tmp_path / "runs" / "demo-fast"
    model = run / "frame"
    for step in ("train-frame", "evaluate-frame_val", "evaluate-frame_test"):
        assert "torch.distributed.run" in (run / "logs" / f"{step}.log").read_text(), step
    summary = json.loads((model / "config.json").read_text())
    cfg = summary["config"]
    items = summary["num_train"] * cfg["frames_per_video"]
    assert summary["world_size"] == 2 and summary["micro_batch"] == cfg["batch_size"] // 2
    assert summary["global_batch"] == cfg["batch_size"]
    assert summary["steps_per_epoch"] == optimizer_steps_per_epoch(
        items // cfg["batch_size"], cfg["accum_steps"])
    assert cfg == pipeline.train_config(pipeline.Setup(fast=True), "frame").to_dict()

    files = [model / "model.pt", model / "checkpoint.pt", *sorted((run / "predictions").glob("*.h5"))]
    before = {p: (sha256_file(p), p.stat().st_mtime_ns) for p in files}
    _, again = run_report(tmp_path, "--fast", "--gpus", "1", "--only", "01", timeout=600)
    assert "already trained" in again and "torchrun" not in again
    # the frame model's two predictions files (the temporal head says so of its own)
    assert sum(line.startswith("predictions exist, kept") for line in again.splitlines()) == 2
    assert "head predictions exist, kept" in again
    assert {p: (sha256_file(p), p.stat().st_mtime_ns) for p in files} == before

    two = load(run / "predictions" / "frame_test.h5")
    one = evaluate(model, subset="test", num_workers=0)
    assert one.video_ids == two.video_ids
    assert one.attrs["num_items"] == two.attrs["num_items"]
    assert two.attrs["checkpoint_sha256"] == sha256_file(model / "model.pt")
    np.testing.assert_allclose(two.probs, one.probs, rtol=1e-4, atol=1e-6)


@pytest.mark.slow
def test_a_worker_error_under_torchrun_is_one_sentence(tmp_path):
    with pytest.raises(UserError) as exc:
        launch.run_step(2, {"step": "evaluate", "run_dir": str(tmp_path / "none"),
                            "out": str(tmp_path / "p.h5"), "kwargs": {"subset": "test"}},
                        tmp_path / "logs", "evaluate-p", "evaluation of none")
    msg = str(exc.value)
    assert "under torchrun (2 processes) stopped with exit code 1" in msg
    assert f"{tmp_path / 'none' / 'model.pt'} does not exist" in msg
    assert str(tmp_path / "logs" / "evaluate-p.log") in msg and len(msg.splitlines()) == 1


def test_torch_sees_no_gpu_or_the_gpu_count_is_checked(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    launch.check_gpus(2)
    with pytest.raises(UserError, match="more GPUs than this node has"):
        launch.check_gpus(4)



# ----------------------------------------------------------------------------- stale files
def test_predictions_of_another_checkpoint_are_made_again(tmp_path, monkeypatch, capsys):
    import helpers.evaluation.evaluate as ev
    from helpers.evaluation.predictions import Predictions

    run = tmp_path / "frame"
    run.mkdir()
    (run / "model.pt").write_bytes(b"weights of the first training")
    out = tmp_path / "frame_test.h5"

    def made(tag: str) -> Predictions:
        return Predictions(["v_A_g01_c01"], np.array([0]), np.array([[1.0, 0.0]]), ["A", "B"],
                           {"checkpoint_sha256": sha256_file(run / "model.pt"), "tag": tag,
                            "subset": "test", "level": "frame", "frame_accuracy": 1.0})

    made("first").save(out)
    monkeypatch.setattr(ev, "evaluate", lambda run_dir, **kw: made("again"))
    assert ev.made_by_model(out, run)
    ev.evaluate_to_file(run, out)
    assert load(out).attrs["tag"] == "first" and "kept" in capsys.readouterr().out
    (run / "model.pt").write_bytes(b"weights of a second training")  # retrained since
    assert not ev.made_by_model(out, run)
    ev.evaluate_to_file(run, out)
    assert load(out).attrs["tag"] == "again"
    assert "made by another checkpoint" in capsys.readouterr().out
    assert ev.made_by_model(out, run) and not ev.made_by_model(tmp_path / "none.h5", run)
