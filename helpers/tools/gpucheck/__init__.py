"""`python -m helpers gpu-check <step>`: the GPU-node check that `scripts/gpu-check.sh` runs.

The script runs each step in its own process under its own `timeout` (one step that hangs or
runs out of memory costs only its own rows); every step writes WORK/<step>.json, and
`report` joins them into one markdown table:

  setup     device facts, and the stores: a tiny synthetic benchmark (`synth` + `prepare`)
            for the torchrun run, and a few distinct 320x240 synthetic videos listed under
            many UCF-style names (enough for a real epoch), prepared as the frame store
            (320x240) and the clip store (short side 128)
  train     train-step throughput of ResNet-50 224² and R3D-50 16×112², bf16, channels_last:
            `bench train`'s `bench_train_case`, which runs the trainer's `training_step`
  compile   the same with `torch.compile`
  torchrun  `torchrun --standalone --nproc_per_node=1` training a few steps; the worker joins
            the process group even at world size 1, so DDP and its backend (NCCL) really run
  loaders   FrameDataset frames/s and ClipDataset clips/s with 12 DataLoader workers
  epoch     one short epoch per model of the `ucf101` profile (random init) on the 320x240
            stores, extrapolated to a UCF-101 epoch
  report    the table; exit code 1 when a row failed or did not finish

One module per step (`setup`, `train` for train and compile, `torchrun`, `loaders`, `epoch`,
`report`), with the plan (`plan`), the table rows (`rows`) and what the steps share while
they run (`runtime`) beside them.

Without CUDA (or with `setup --dry-run`) every step runs the same code at tiny sizes on the
CPU, to check the path in about a minute; no figure of a dry run says anything about a GPU.
"""

from __future__ import annotations

from pathlib import Path

from helpers.tools.gpucheck.plan import DEFAULT_WORK

STEPS = ("setup", "train", "compile", "torchrun", "loaders", "epoch", "report")


def run_step(step: str, work: Path = DEFAULT_WORK, *, dry_run: bool = False,
             limit: float | None = None, out: Path | None = None,
             elapsed: float | None = None) -> int:
    """Run one of STEPS on the work folder `work`; only that step's module is imported.
    `dry_run` (setup), `limit` (torchrun: its seconds), `out` and `elapsed` (report) go to
    the steps that take them. Returns the step's exit code."""
    if step == "setup":
        from helpers.tools.gpucheck.setup_step import step_setup

        return step_setup(work, dry_run)
    if step == "report":
        from helpers.tools.gpucheck.report_step import step_report

        return step_report(work, out, elapsed)
    if step in ("train", "compile"):
        from helpers.tools.gpucheck.train_step import step_train

        return step_train(work, compile=step == "compile")
    if step == "torchrun":
        from helpers.tools.gpucheck.torchrun import step_torchrun

        return step_torchrun(work, limit)
    if step == "loaders":
        from helpers.tools.gpucheck.loader_step import step_loaders

        return step_loaders(work)
    from helpers.tools.gpucheck.epoch import step_epoch

    return step_epoch(work)
