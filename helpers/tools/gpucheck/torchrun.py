"""`gpu-check torchrun`: `torchrun --standalone --nproc_per_node=1` training a few steps.
The worker joins the process group even at world size 1, so DDP and its backend (NCCL on
a GPU) really run; it prints marks that the step reads back into its row."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from helpers.tools.gpucheck.plan import BLOCK, read_data, read_plan
from helpers.tools.gpucheck.rows import Row, StepTable
from helpers.tools.gpucheck.runtime import run_config

WORKER_MARK = "gpu-check torchrun:"


def torchrun_worker(argv: Sequence[str]) -> int:
    """Inside `torchrun`: join the process group (the trainer joins only when WORLD_SIZE > 1,
    so at world size 1 it would skip DDP and NCCL altogether), check one all-reduce on the
    device, then run `python -m helpers train` with `argv`."""
    import torch
    import torch.distributed as dist

    from helpers.cli import main
    from helpers.utils import distributed as D

    device = D.setup()
    if not D.is_distributed():
        dist.init_process_group(backend=D.backend())
    probe = torch.ones(1, device=device)
    dist.all_reduce(probe)
    nccl = ""
    if device.type == "cuda":
        nccl = " NCCL " + ".".join(map(str, torch.cuda.nccl.version()))
    print(f"{WORKER_MARK} started rank={dist.get_rank()} world={dist.get_world_size()} "
          f"backend={dist.get_backend()}{nccl} all_reduce={probe.item():g} "
          f"device={device}", flush=True)
    rc = main(["train", *argv])
    print(f"{WORKER_MARK} finished exit={rc}", flush=True)
    if dist.is_initialized():  # `train` leaves the group itself when it ran distributed
        dist.destroy_process_group()
    return rc


def _fields(line: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


def step_torchrun(work: Path, limit: float | None) -> int:
    plan, data = read_plan(work), read_data(work)
    row = Row("torchrun", "torchrun --nproc_per_node=1",
              "`python -m helpers train`, frame model, demo profile, 1 epoch, tiny synthetic "
              f"store ({plan.tiny_size})", order=(BLOCK["torchrun"],))
    table = StepTable(work / "torchrun.json", [row])
    out = work / "torchrun-run"
    shutil.rmtree(out, ignore_errors=True)
    train_args = ["--model", "frame", "--profile", "demo", "--store", data.tiny_store,
                  "--splits", data.tiny_splits, "--out", str(out), "--num-epochs", "1",
                  *plan.torchrun_flags]
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1",
           "-m", "helpers.tools.gpucheck", "torchrun-worker", *train_args]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rc: int | None
    try:
        stdout, stderr = proc.communicate(timeout=None if limit is None else max(10.0, limit - 15))
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        # SIGTERM, not SIGKILL: torchrun then stops its worker instead of orphaning it.
        proc.terminate()
        try:
            stdout, stderr = proc.communicate(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
        rc = None
    seconds = time.perf_counter() - start
    sys.stdout.write(stdout)
    sys.stderr.write(stderr)
    marks = [line[len(WORKER_MARK):].strip() for line in stdout.splitlines()
             if line.startswith(WORKER_MARK)]
    started = next((_fields(m) for m in marks if m.startswith("started")), None)
    finished = next((_fields(m) for m in marks if m.startswith("finished")), None)
    ok = rc == 0 and started is not None and finished is not None and finished["exit"] == "0"
    parts = [f"started: {'yes' if started else 'no'}",
             f"finished: {'yes' if ok else 'no'} "
             f"({'timed out' if rc is None else f'exit code {rc}'}, {seconds:.0f} s)"]
    if started:
        nccl = re.search(r"NCCL (\S+)", " ".join(marks))
        parts.append(f"backend {started['backend']}" + (f" (NCCL {nccl.group(1)})" if nccl else "")
                     + f", world size {started['world']}, all_reduce ok")
    steps = _train_steps(out)
    if ok and steps:
        parts.append(f"{steps} training steps + validation")
    if not ok:
        last = [line for line in stderr.splitlines() if line.strip()]
        if last:
            parts.append(f"last error line: {last[-1].strip()[:200]}")
    table.set(row, result="; ".join(parts), ok=ok)
    return 0 if ok else 1


def _train_steps(out: Path) -> int | None:
    """Optimizer steps per epoch of a finished run, from its config.json."""
    summary = run_config(out)
    if summary is None:
        return None
    cfg = summary.config
    per_video = cfg.frames_per_video if cfg.model == "frame" else 1
    batches = summary.num_train * per_video // cfg.batch_size
    return -(-batches // cfg.accum_steps)
