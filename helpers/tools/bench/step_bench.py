"""`bench train`: the trainer's own step (forward, backward, optimizer step) timed on batches
already on the device, in items/s and achieved TFLOP/s, for ResNet-50 (2D) and R3D-50 (3D).
Data loading is `bench data`'s; `gpu-check train` and `gpu-check compile` reuse the step."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from helpers.errors import UserError
from helpers.utils.progress import bar


@dataclass(frozen=True)
class TrainStepRate:
    """One timed training step configuration and what it reached."""
    model: str  # "frame" or "clip"
    arch: str
    input: str  # the item's spatial/temporal size, e.g. "224x224" or "16x112x112"
    batch_size: int
    precision: str  # "bf16" on CUDA, "fp32" on the CPU
    channels_last: bool
    step_ms: float
    items_per_s: float
    tflops: float  # achieved: forward + backward FLOPs per measured step time
    gflop_per_item: float
    compile: str | None  # the torch.compile backend, None for eager
    warmup_s: float  # the warm-up's wall time (it holds any compilation)


# (model, arch, input shape per item) at the assignment's sizes; the CPU sizes are tiny on
# purpose: they check the code path, not the speed a GPU would reach.
TRAIN_CASES_GPU = (("frame", "resnet50", (3, 224, 224), 256), ("clip", "r3d50", (3, 16, 112, 112), 64))
TRAIN_CASES_CPU = (("frame", "resnet50", (3, 112, 112), 4), ("clip", "r3d50", (3, 8, 56, 56), 2))


def _sync(device: Any) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_train_case(model: str, arch: str, shape: tuple[int, ...], batch_size: int, *,
                     device: Any, steps: int = 10, warmup: int = 3, num_classes: int = 101,
                     channels_last: bool = True, compile: bool = False,
                     compile_backend: str = "inductor") -> TrainStepRate:
    """Items/s and achieved TFLOP/s of the trainer's own step (forward, backward, SGD step)
    on synthetic uint8 batches already on the device (data loading is `bench data`'s).

    With `compile` the network is `torch.compile`d (with `compile_backend`) after its FLOPs
    are counted, so the warm-up steps hold the compilation and the timed steps do not;
    `warmup_s` reports the warm-up's wall time."""
    if steps < 1 or batch_size < 1 or warmup < 0:
        raise UserError(f"bench train needs steps and batch size of at least 1 and a warm-up of "
                        f"0 or more, not steps={steps}, batch_size={batch_size}, warmup={warmup}.")
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from helpers.config import TrainConfig
    from helpers.models import build_model
    from helpers.training.train import make_optimizer, training_step
    from helpers.utils.device import enable_autotune, place_model

    cfg = TrainConfig(model=model, arch=arch, weights=None, batch_size=batch_size, lr=0.01,
                      optimizer="sgd", amp=True, channels_last=channels_last, compile=compile)
    enable_autotune(device)
    net = build_model(arch, num_classes, weights=None)
    fmt = place_model(net, model, device, channels_last)
    opt = make_optimizer(cfg, net)
    crit = torch.nn.CrossEntropyLoss()
    x = torch.randint(0, 256, (batch_size, *shape), dtype=torch.uint8, device=device)
    if fmt is not None:
        x = x.contiguous(memory_format=fmt)
    y = torch.randint(0, num_classes, (batch_size,), device=device)
    net.train()

    # FLOPs of one forward + backward, counted on the eager network: compiling changes no
    # arithmetic, and the counter's module hooks must not be traced into a compiled graph.
    with FlopCounterMode(display=False) as counter:
        training_step(net, x, y, crit, cfg, device)
    opt.zero_grad(set_to_none=True)
    flops = counter.get_total_flops()
    run = torch.compile(net, backend=compile_backend) if compile else net

    def step() -> None:
        training_step(run, x, y, crit, cfg, device)
        opt.step()
        opt.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    for _ in range(warmup):
        step()
    _sync(device)
    warmup_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in bar(range(steps), desc=f"bench {arch}", unit="step"):
        step()
    _sync(device)
    dt = (time.perf_counter() - t0) / steps
    return TrainStepRate(
        model=model, arch=arch, input="x".join(map(str, shape[1:])), batch_size=batch_size,
        precision="bf16" if device.type == "cuda" else "fp32",
        channels_last=bool(fmt is not None), step_ms=dt * 1e3, items_per_s=batch_size / dt,
        tflops=flops / dt / 1e12, gflop_per_item=flops / batch_size / 1e9,
        compile=compile_backend if compile else None, warmup_s=warmup_s)


def bench_train(*, steps: int = 10, batch_size: int | None = None, compile: bool = False) -> int:
    """Print the training throughput of ResNet-50 (2D) and R3D-50 (3D) on this machine's
    device: `steps` timed steps per model, at `batch_size` (default: each case's)."""
    import torch

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    cases = TRAIN_CASES_GPU if cuda else TRAIN_CASES_CPU
    rows = []
    for model, arch, shape, bs in cases:
        rows.append(bench_train_case(model, arch, shape, batch_size or bs, device=device,
                                     steps=steps, compile=compile))
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}; torch {torch.__version__}")
    print("| model | input | batch | precision | channels_last | ms/step | items/s | TFLOP/s | "
          "GFLOP/item (fwd+bwd) |\n|---|---|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.arch} | {r.input} | {r.batch_size} | {r.precision} | "
              f"{'yes' if r.channels_last else 'no'} | {r.step_ms:.1f} | "
              f"{r.items_per_s:,.1f} | {r.tflops:.2f} | {r.gflop_per_item:.1f} |")
    if not cuda:
        print("No CUDA device: these are tiny CPU sizes that check the code path. The GPU "
              "figures (ResNet-50 224² and R3D-50 16×112², bf16) need a GPU node.")
    return 0
