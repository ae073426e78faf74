"""A training or evaluation step on several processes: PyTorch's `torchrun` (DDP), started
by the notebook's kernel, one process per GPU (gloo processes on a machine without one).

The kernel writes the step, with the exact TrainConfig or evaluation arguments the
single-process path would use, to `<run>/logs/<step>.json` and runs

    torchrun --standalone --nproc-per-node N -m helpers.workflow.launch <run>/logs/<step>.json

so the processes train into the same model folder, resuming the same checkpoint, or write
the same predictions file. Inside a SLURM allocation of several nodes the same torchrun runs
once per node through `srun`, and the nodes meet at torchrun's c10d rendezvous on the first
node of the allocation (`command`). The output is streamed into the cell and appended to
`<run>/logs/<step>.log`; a failure is one sentence that names that log.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from helpers.errors import STOPPED_EXIT, Preempted, UserError
from helpers.utils.io import write_json_atomic

RDZV_PORT = 29500  # the rendezvous port of a multi-node step: RDZV_PORT + job id % 1000
_TAIL = 64 * 1024  # characters of output kept to find the failure's cause
_SENTENCE = re.compile(r"(?:^|[^\w.])error: (.+)$")  # what the worker prints for a UserError
_EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Interrupt)\b.*$")


def num_nodes(env: Mapping[str, str] = os.environ) -> int:
    """Nodes of the SLURM allocation the run is inside (1 outside SLURM)."""
    text = env.get("SLURM_NNODES") or env.get("SLURM_JOB_NUM_NODES") or "1"
    return max(1, int(text)) if text.isdigit() else 1


def needed(gpus: int, env: Mapping[str, str] = os.environ) -> bool:
    """Whether a step runs under torchrun: more than one process per node, or several nodes."""
    return gpus > 1 or num_nodes(env) > 1


def slurm_hostnames(nodelist: str) -> list[str]:
    """The host names of a SLURM node list (`node[01-04]`), as `scontrol` expands them."""
    try:
        out = subprocess.run(["scontrol", "show", "hostnames", nodelist], capture_output=True,
                             text=True, check=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise UserError(f"Cannot expand the SLURM node list {nodelist!r} with `scontrol show "
                        f"hostnames` ({type(exc).__name__}), so the nodes have no rendezvous "
                        "host; run on one node, or where scontrol works.") from None
    hosts = out.split()
    if not hosts:
        raise UserError(f"`scontrol show hostnames {nodelist}` named no host.")
    return hosts


def command(gpus: int, job: Path, env: Mapping[str, str] = os.environ,
            hostnames: Callable[[str], list[str]] = slurm_hostnames) -> list[str]:
    """The command that runs the step `job` on `gpus` processes per node: torchrun on this
    node, or, inside a SLURM allocation of several nodes, one torchrun per node through srun
    that meet at a c10d rendezvous on the allocation's first node."""
    torchrun = [sys.executable, "-m", "torch.distributed.run"]
    worker = ["-m", "helpers.workflow.launch", str(job)]
    nodes = num_nodes(env)
    if nodes == 1:
        return [*torchrun, "--standalone", f"--nproc-per-node={gpus}", *worker]
    nodelist = env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST")
    if not nodelist:
        raise UserError(f"SLURM says the job spans {nodes} nodes but sets no "
                        "SLURM_JOB_NODELIST; run inside the allocation (sbatch, salloc).")
    job_id = env.get("SLURM_JOB_ID", "0")
    port = RDZV_PORT + (int(job_id) % 1000 if job_id.isdigit() else 0)
    srun = ["srun", f"--nodes={nodes}", f"--ntasks={nodes}", "--ntasks-per-node=1",
            "--kill-on-bad-exit=1"]
    cpus = env.get("SLURM_CPUS_ON_NODE", "")
    if cpus.isdigit():  # else a step gets 1 CPU per task, and the loaders starve
        srun.append(f"--cpus-per-task={cpus}")
    return [*srun, *torchrun, f"--nnodes={nodes}", f"--nproc-per-node={gpus}",
            "--rdzv-backend=c10d", f"--rdzv-endpoint={hostnames(nodelist)[0]}:{port}",
            f"--rdzv-id={job_id}-{job.stem}", *worker]


def check_gpus(gpus: int) -> None:
    """Refuse more processes per node than the node has GPUs (on a machine without CUDA they
    are gloo processes on the CPU, which is how the tests run them)."""
    import torch

    if torch.cuda.is_available() and gpus > torch.cuda.device_count():
        raise UserError(f"gpus={gpus} asks for more GPUs than this node has "
                        f"({torch.cuda.device_count()}); use GPUS={torch.cuda.device_count()} "
                        "(--gpus), or ask the scheduler for more.")


def run_step(gpus: int, job: dict[str, Any], logs: Path, name: str, what: str) -> None:
    """Run `job` (see `worker`) under torchrun, streaming its output into this process's
    stdout and `logs/<name>.log`; a failure raises one sentence naming the log."""
    check_gpus(gpus)
    logs.mkdir(parents=True, exist_ok=True)
    job_path, log_path = logs / f"{name}.json", logs / f"{name}.log"
    write_json_atomic(job_path, job)
    cmd = command(gpus, job_path)
    nodes = num_nodes()
    procs = f"{gpus} process{'es' if gpus > 1 else ''}" + \
        (f" per node on {nodes} nodes" if nodes > 1 else "")
    print(f"{what}: torchrun, {procs}; log {log_path}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if "OMP_NUM_THREADS" not in env:  # torchrun would set 1 and say so
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
            os.cpu_count() or 1
        env["OMP_NUM_THREADS"] = str(max(1, cpus // gpus))
    with open(log_path, "ab") as log:
        log.write(f"\n==> {time.strftime('%Y-%m-%d %H:%M:%S')} {' '.join(cmd)}\n".encode())
        log.flush()
        rc, tail = _stream(cmd, env, log)
    from helpers.utils import stop

    if rc != 0 and stop.requested():  # the workers saved and left at a step boundary
        raise Preempted(f"{stop.reason()}: the {what} under torchrun stopped; log {log_path}")
    if rc != 0:
        raise UserError(f"The {what} under torchrun ({procs}) stopped with exit code {rc}: "
                        f"{failure_cause(tail)}; its whole output is in {log_path}.")


def _stream(cmd: Sequence[str], env: dict[str, str], log: Any) -> tuple[int, str]:
    """Run `cmd`, copying its output (stdout and stderr together) as it comes, progress
    bars' carriage returns included, to our stdout and to `log`; returns the exit code and
    the output's tail. Interrupted, the step is stopped (torchrun stops its workers)."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)
    assert proc.stdout is not None
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    tail = ""
    try:
        while chunk := os.read(proc.stdout.fileno(), 1 << 16):
            log.write(chunk)
            log.flush()
            text = decoder.decode(chunk)
            sys.stdout.write(text)
            sys.stdout.flush()
            tail = (tail + text)[-_TAIL:]
        return proc.wait(), tail
    finally:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: torchrun passes it on to its workers
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()


def failure_cause(output: str) -> str:
    """The line of a failed step's output that says why: the last `error: ...` sentence of a
    worker, else the last exception line, else that it gave no reason."""
    lines = [line.strip() for line in re.split(r"[\r\n]+", output) if line.strip()]
    # a sentence may follow a progress bar cut short on the same line
    found = [m.group(1) for m in map(_SENTENCE.search, lines) if m]
    found = found or [line for line in lines if _EXCEPTION.match(line)]
    if not found:
        return "no error message"
    return found[-1].rstrip(".")[:400]


# ----------------------------------------------------------------------------- worker
def worker(argv: Sequence[str]) -> int:
    """Inside torchrun: run the step described by the JSON file argv[0].

    {"step": "train", "config": TrainConfig.to_dict(), "store", "splits", "split", "out"}
    trains (resuming) into `out`; {"step": "evaluate", "run_dir", "out", "kwargs"} writes the
    predictions file `out` (`evaluate_to_file`)."""
    import torch

    from helpers.config import TrainConfig
    from helpers.utils import distributed as D
    from helpers.utils.device import out_of_memory

    job: dict[str, Any] = {}
    try:
        job = json.loads(Path(argv[0]).read_text())
        if job["step"] == "train":
            from helpers.training.train import train

            train(TrainConfig.from_dict(job["config"]), store=job["store"],
                  splits=job["splits"], split=job["split"], out=job["out"], resume=True)
        elif job["step"] == "evaluate":
            from helpers.evaluation.evaluate import evaluate_to_file

            evaluate_to_file(job["run_dir"], job["out"], **job["kwargs"])
        else:
            raise UserError(f"Unknown step {job['step']!r} in {argv[0]}.")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except Preempted as exc:
        print(f"stopped: {exc}", file=sys.stderr, flush=True)
        return STOPPED_EXIT
    except torch.OutOfMemoryError:
        cfg = job.get("config", {})
        print("error: " + out_of_memory(cfg.get("model", "clip"), cfg.get("batch_size", 0),
                                        cfg.get("accum_steps", 1), D.world_size()),
              file=sys.stderr, flush=True)
        return 1
    finally:
        if D.is_distributed():
            import torch.distributed as dist

            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(worker(sys.argv[1:]))
