"""`gpu-check train` and `gpu-check compile`: train-step throughput of each case of the plan
(ResNet-50 224² and R3D-50 16×112² on a GPU), eager or `torch.compile`d, through `bench
train`'s `bench_train_case`, which runs the trainer's own `training_step`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from helpers.tools.gpucheck.plan import ARCH_NAMES, BLOCK, DeviceFacts, read_facts, read_plan
from helpers.tools.gpucheck.rows import Row, StepTable, failure_text, plural
from helpers.tools.gpucheck.runtime import free_device


def _shape_text(model: str, shape: Sequence[int]) -> str:
    side = f"{shape[-1]}²" if shape[-1] == shape[-2] else f"{shape[-1]}×{shape[-2]}"
    return side if model == "frame" else f"{shape[1]}×{side}"


def step_train(work: Path, compile: bool) -> int:
    import torch

    from helpers.tools.bench.step_bench import bench_train_case

    plan = read_plan(work)
    peak = (read_facts(work) or DeviceFacts()).peak_tflops
    device = torch.device("cpu" if plan.dry else "cuda")
    how = "eager"
    if compile:
        how = "torch.compile" + (f" ({plan.compile_backend} backend)" if plan.dry else "")
    rows = [Row(f"train:{arch}:{compile}", f"train step, {how}",
                f"{ARCH_NAMES.get(arch, arch)} {_shape_text(model, shape)}, batch {bs}",
                order=(BLOCK["train"], i, int(compile)))
            for i, (model, arch, shape, bs) in enumerate(plan.train_cases)]
    table = StepTable(work / f"{'compile' if compile else 'train'}.json", rows)
    for row, (model, arch, shape, bs) in zip(rows, plan.train_cases, strict=True):
        try:
            r = bench_train_case(model, arch, tuple(shape), bs, device=device,
                                 steps=plan.train_steps, warmup=plan.train_warmup,
                                 compile=compile, compile_backend=plan.compile_backend)
        except Exception as exc:  # one case's failure (e.g. out of memory) is its row's
            table.set(row, result=failure_text(exc), ok=False)
        else:
            unit = "img/s" if model == "frame" else "clips/s"
            layout = "channels_last" if r.channels_last else "contiguous"
            warm = (f"; warm-up incl. compile {r.warmup_s:.0f} s" if compile else "")
            table.set(row, setting=f"{row.setting}, {r.precision}, {layout}",
                      result=f"{r.items_per_s:,.1f} {unit} ({r.step_ms:.1f} ms/step over "
                             f"{plural(plan.train_steps, 'step')}{warm})",
                      ok=True, tflops=r.tflops,
                      share=f"{100 * r.tflops / peak:.1f}%" if peak else "n/a")
        if compile:
            torch._dynamo.reset()
        free_device()
    return 0
