"""The batch scripts' own logic, with a stand-in for Python that exits at once: the split
of an array task, the GPUs left to the allocation, and what a stop does when the site
refuses the requeue (a follow-on job, else one sentence to run by hand), counted per
submission. The real pipeline under these scripts: test_preemption, test_hostile_rehearsal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CLUSTER = REPO / "scripts" / "cluster"


def _job(tmp_path: Path, script: str, rc: int, shims: dict[str, str], **env: str
         ) -> tuple[int, str, list[str], list[str]]:
    """Run `script` with PYTHON a stand-in that logs its arguments and exits `rc`; returns
    (exit code, log, the stand-in's calls, the scheduler's calls)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    fake = bin_dir / "python"
    fake.write_text(f'#!/bin/bash\necho "$*" >> "{tmp_path}/python.log"\nexit {rc}\n')
    fake.chmod(0o755)
    for name, body in shims.items():
        (bin_dir / name).write_text(f'#!/bin/bash\necho "{name} $*" >> "{tmp_path}/calls.log"'
                                    f"\n{body}\n")
        (bin_dir / name).chmod(0o755)
    full = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path), "USER": "student",
            "PYTHON": str(fake), "SCRATCH_DIR": str(tmp_path / "scratch"), "SMOKE": "0",
            "DATA": "", "WEIGHTS": "", "IMAGENET_WEIGHTS": "", "REPORT_ARGS": "",
            "SLURM_SUBMIT_DIR": str(REPO), "PBS_O_WORKDIR": str(REPO), "WALLTIME": "1:00:00",
            **env}
    done = subprocess.run(["bash", str(CLUSTER / script)], env=full, capture_output=True,
                          text=True, timeout=60)

    def lines(name: str) -> list[str]:
        path = tmp_path / name
        return path.read_text().splitlines() if path.exists() else []
    return done.returncode, done.stdout + done.stderr, lines("python.log"), lines("calls.log")


@pytest.mark.parametrize("script, env, split", [
    ("ucf101.slurm", {"SLURM_JOB_ID": "9", "SLURM_ARRAY_TASK_ID": "3"}, "3"),
    ("ucf101.pbs", {"PBS_JOBID": "9[2].pbs", "PBS_ARRAY_INDEX": "2"}, "2"),
    ("ucf101.slurm", {"SLURM_JOB_ID": "9", "SLURM_ARRAY_TASK_ID": "3", "SPLIT": "1"}, "1"),
])
def test_an_array_task_runs_the_split_of_its_index(tmp_path, script, env, split):
    rc, log, python, _ = _job(tmp_path, script, 0, {"qstat": ""}, **env)
    assert rc == 0, log
    args = python[0].split()
    assert args[args.index("--split") + 1] == split
    assert "--gpus" not in args  # empty REPORT_ARGS under set -u, and GPUS from the allocation
    assert args[args.index("--profile") + 1] == "ucf101"


def test_a_refused_requeue_submits_a_follow_on_job(tmp_path):
    rc, log, _, calls = _job(tmp_path, "ucf101.slurm", 75, {"scontrol": "exit 1", "sbatch": ""},
                             SLURM_JOB_ID="41")
    assert rc == 0, log
    assert calls == ["scontrol requeue 41", "sbatch --dependency=afterany:41 "
                     f"--export=ALL,SPLIT=1,UCF_SUBMISSION=41 {CLUSTER / 'ucf101.slurm'}"]
    assert "the site refused the requeue; submitting a job that continues" in log


@pytest.mark.parametrize("script, env, hand", [
    ("ucf101.slurm", {"SLURM_JOB_ID": "41", "SPLIT": "2"},
     f"SPLIT=2 sbatch {CLUSTER / 'ucf101.slurm'}"),
    ("ucf101.pbs", {"PBS_JOBID": "41.pbs", "SPLIT": "2"},
     f"qsub -v SPLIT=2 {CLUSTER / 'ucf101.pbs'}"),
])
def test_when_both_are_refused_one_sentence_says_what_to_run(tmp_path, script, env, hand):
    refuse = {name: "exit 1" for name in ("scontrol", "sbatch", "qrerun", "qsub", "qstat")}
    rc, log, _, _ = _job(tmp_path, script, 75, refuse, **env)
    assert rc == 75
    job = env.get("SLURM_JOB_ID") or env["PBS_JOBID"]
    assert (f"job {job}: the site refused the requeue and the follow-on job, so nothing is "
            f"queued; to resume, run on the login node: cd {REPO} && {hand}") in log


def test_the_requeue_count_belongs_to_one_submission(tmp_path):
    runs = tmp_path / "scratch" / "runs"
    runs.mkdir(parents=True)
    (runs / ".requeues-40").write_text("20\n")  # an earlier submission used them all
    shims = {"scontrol": "", "sbatch": ""}
    rc, log, _, _ = _job(tmp_path, "ucf101.slurm", 75, shims, SLURM_JOB_ID="41")
    assert rc == 0 and "requeueing (requeue 1 of at most 20)" in log, log
    # a follow-on job of submission 40 goes on counting, and stops at the limit
    rc, log, _, calls = _job(tmp_path, "ucf101.slurm", 75, shims, SLURM_JOB_ID="42",
                             UCF_SUBMISSION="40")
    assert rc == 75 and "this submission was requeued 20 times (MAX_REQUEUES)" in log
    assert calls == ["scontrol requeue 41"]
    assert (runs / ".requeues-41").read_text().strip() == "1"


def test_pbs_resubmits_without_carrying_this_jobs_environment(tmp_path):
    rc, log, _, calls = _job(tmp_path, "ucf101.pbs", 75,
                             {"qrerun": "exit 1", "qsub": "", "qstat": ""},
                             PBS_JOBID="77.pbs", CUDA_VISIBLE_DEVICES="3")
    assert rc == 0, log
    qsub = calls[-1].split()
    assert qsub[:3] == ["qsub", "-W", "depend=afterany:77.pbs"] and "-V" not in qsub
    assert "CUDA_VISIBLE_DEVICES" not in calls[-1]
    assert os.path.basename(qsub[-1]) == "ucf101.pbs"
