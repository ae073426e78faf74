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

Without CUDA (or with `setup --dry-run`) every step runs the same code at tiny sizes on the
CPU, to check the path in about a minute; no figure of a dry run says anything about a GPU.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.errors import UserError
from helpers.utils.io import write_json_atomic, write_text_atomic

STEPS = ("setup", "train", "compile", "torchrun", "loaders", "epoch", "report")
TABLE_STEPS = ("train", "compile", "torchrun", "loaders", "epoch")  # the steps that add rows
# A row's place in the table: (block, ...); train and compile interleave per model.
BLOCK = {"train": 1, "compile": 1, "torchrun": 2, "loaders": 3, "epoch": 4}
DEFAULT_WORK = Path("runs/gpu-check")
UCF101_TRAIN_VIDEOS = 9537  # trainlist01.txt of UCF-101's split 1
TRAIN_GROUPS = range(8, 22)  # split 1 trains on groups 8-25; the trainer holds out 22-25
WORKER_MARK = "gpu-check torchrun:"

# Dense (no sparsity) bf16 tensor-core peak per GPU in TFLOP/s, from NVIDIA's datasheets:
# "NVIDIA H100 Tensor Core GPU", "NVIDIA H200 Tensor Core GPU" and "NVIDIA A100 Tensor Core
# GPU". The H100/H200 sheets print bf16 *with sparsity* (SXM 1,979, NVL 1,671, PCIe 1,513);
# the dense peak is half of that. The first name found in the device name wins, so the
# specific variants come before the plain "H100".
BF16_DENSE_PEAK_TFLOPS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H200 NVL", 835.0),
    ("H100", 989.0),  # SXM5, e.g. "NVIDIA H100 80GB HBM3"
    ("H200", 989.0),  # SXM
    ("A100", 312.0),  # SXM4 and PCIe alike
)

ARCH_NAMES = {"resnet18": "ResNet-18", "resnet50": "ResNet-50", "r3d18": "R3D-18",
              "r3d50": "R3D-50"}


def bf16_peak_tflops(device_name: str) -> float | None:
    """The chip's dense bf16 peak by its name (`torch.cuda.get_device_name`); None if unknown."""
    name = device_name.lower()
    return next((peak for key, peak in BF16_DENSE_PEAK_TFLOPS if key.lower() in name), None)


# ----------------------------------------------------------------------------- what to run
@dataclass(frozen=True)
class Plan:
    dry: bool
    video_size: tuple[int, int]  # (width, height) of the epoch/loader videos
    num_frames: int  # frames per synthetic video
    num_classes: int
    distinct_per_class: int  # videos rendered per class; each is listed under many names
    names_per_group: int  # clips per class and training group (groups 8-21)
    clip_short_side: int | None  # the clip store's short side (the ucf101 profile's 128)
    train_cases: tuple[tuple[str, str, tuple[int, ...], int], ...]  # model, arch, shape, batch
    train_steps: int
    train_warmup: int
    compile_backend: str
    loader_workers: int
    loader_seconds: float
    epoch_epochs: int  # the last epoch is the one measured: the first holds the start-up
    epoch_flags: tuple[tuple[str, tuple[str, ...]], ...]  # model -> extra `train` options
    tiny_size: str = "64x48"  # the torchrun run's synthetic benchmark
    tiny_frames: int = 16
    torchrun_flags: tuple[str, ...] = ("--batch-size", "16", "--crop-size", "32",
                                       "--frames-per-video", "1", "--num-workers", "2")

    def flags(self, model: str) -> tuple[str, ...]:
        return dict(self.epoch_flags)[model]


def gpu_plan() -> Plan:
    from helpers.tools.bench import TRAIN_CASES_GPU

    return Plan(dry=False, video_size=(320, 240), num_frames=16, num_classes=4,
                distinct_per_class=6, names_per_group=16, clip_short_side=128,
                train_cases=TRAIN_CASES_GPU, train_steps=20, train_warmup=5,
                compile_backend="inductor", loader_workers=12, loader_seconds=8.0,
                epoch_epochs=2, epoch_flags=(("frame", ()), ("clip", ())))


# The dry run: the same steps at sizes two CPU cores finish in about a minute. Inductor needs
# minutes to compile even a tiny net on a CPU, so the dry run compiles with dynamo's "eager"
# backend (graph capture, no code generation).
DRY_PLAN = Plan(
    dry=True, video_size=(64, 48), num_frames=16, num_classes=4, distinct_per_class=1,
    names_per_group=1, clip_short_side=None,
    train_cases=(("frame", "resnet18", (3, 32, 32), 2), ("clip", "r3d18", (3, 4, 32, 32), 2)),
    train_steps=1, train_warmup=1, compile_backend="eager", loader_workers=2,
    loader_seconds=0.5, epoch_epochs=1,
    epoch_flags=(("frame", ("--arch", "resnet18", "--crop-size", "32", "--batch-size", "16",
                            "--frames-per-video", "1", "--num-workers", "0")),
                 ("clip", ("--arch", "r3d18", "--widen-factor", "0.25", "--crop-size", "32",
                           "--clip-len", "8", "--batch-size", "16", "--num-workers", "0"))))


def _plan(work: Path) -> Plan:
    facts = _read_json(work / "device.json")
    if facts is None:
        raise UserError(f"{work / 'device.json'} is missing; run `python -m helpers gpu-check "
                        f"setup --work-dir {work}` first (scripts/gpu-check.sh does).")
    return DRY_PLAN if facts["dry"] else gpu_plan()


# ----------------------------------------------------------------------------- rows
def table_row(key: str, check: str, setting: str, result: str = "did not finish",
         ok: bool | None = None, order: Sequence[int] = (0,), tflops: float | None = None,
         share: str = "–") -> dict[str, Any]:
    """One table row; `ok` None means not finished (the step was stopped before it)."""
    return {"key": key, "check": check, "setting": setting, "result": result, "ok": ok,
            "order": list(order), "tflops": tflops, "share": share}


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class _Rows:
    """A step's rows, all listed before any runs and saved after each one finishes, so a
    step stopped by its timeout still shows what it did and what it did not get to."""

    def __init__(self, path: Path, rows: list[dict[str, Any]]) -> None:
        self.path, self.rows = path, rows
        self.save()

    def save(self) -> None:
        write_json_atomic(self.path, {"rows": self.rows})

    def set(self, index: int, **changes: Any) -> None:
        self.rows[index].update(changes)
        self.save()


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _tflops_text(tflops: float | None) -> str:
    if tflops is None:
        return "–"
    return f"{tflops:.1f}" if tflops >= 1 else f"{tflops:.3f}"


def _failure(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"failed: {type(exc).__name__}" + (f": {text[0][:200]}" if text else "")


def _free_device() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


# ----------------------------------------------------------------------------- setup
def _device_facts(dry: bool) -> dict[str, Any]:
    import torch

    cuda = torch.cuda.is_available() and not dry
    name = torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)"
    return {"dry": not cuda, "cuda_available": torch.cuda.is_available(), "device": name,
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if cuda else None,
            "peak_tflops": bf16_peak_tflops(name) if cuda else None,
            "cpus": os.cpu_count(), "when": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _render_one(job: tuple[str, int, int, tuple[int, int], int]) -> None:
    """Worker: variant `k` of synthetic class `CLASSES[class_index]` as an AVI at `path`."""
    from helpers.data.synthetic import CLASSES, encode_avi, render_video

    path, k, num_frames, size, class_index = job
    frames = render_video(CLASSES[class_index], group=TRAIN_GROUPS[0] + k, clip=1, seed=0,
                          size=size, num_frames=num_frames)
    encode_avi(Path(path), frames)


def make_epoch_tree(root: Path, plan: Plan) -> dict[str, Any]:
    """A UCF-style tree under `root`: `distinct_per_class` rendered videos per class, each
    linked under many names in training groups 8-21 (no validation groups), one test video
    per class, and split-1 files listing them. Decoding costs the same whatever a frame
    shows, so repeats measure the loaders and the trainer as well as new videos would."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from helpers.data.synthetic import CLASSES, SPLIT_DIR, VIDEO_DIR, default_workers, video_path

    shutil.rmtree(root, ignore_errors=True)
    picked = sorted(range(plan.num_classes), key=lambda i: CLASSES[i].name)
    names = [CLASSES[i].name for i in picked]
    distinct = root / "distinct"
    distinct.mkdir(parents=True)
    jobs = [(str(distinct / f"{CLASSES[i].name}_{k}.avi"), k, plan.num_frames,
             plan.video_size, i) for i in picked for k in range(plan.distinct_per_class)]
    workers = min(len(jobs), default_workers())
    if workers > 2:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            list(pool.map(_render_one, jobs))
    else:
        for job in jobs:
            _render_one(job)

    crlf = "\r\n"
    train, test = [], []
    for label, name in enumerate(names, 1):
        for group in TRAIN_GROUPS:
            for clip in range(1, plan.names_per_group + 1):
                k = (group * plan.names_per_group + clip) % plan.distinct_per_class
                _link(distinct / f"{name}_{k}.avi", root / VIDEO_DIR / video_path(name, group, clip))
                train.append(f"{video_path(name, group, clip)} {label}{crlf}")
        _link(distinct / f"{name}_0.avi", root / VIDEO_DIR / video_path(name, 1, 1))
        test.append(f"{video_path(name, 1, 1)}{crlf}")
    splits = root / SPLIT_DIR
    write_text_atomic(splits / "classInd.txt",
                      "".join(f"{i} {n}{crlf}" for i, n in enumerate(names, 1)))
    write_text_atomic(splits / "trainlist01.txt", "".join(train))
    write_text_atomic(splits / "testlist01.txt", "".join(test))
    return {"splits": str(splits), "num_train": len(train), "num_test": len(test),
            "num_distinct": len(jobs), "classes": names}


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target.resolve(), link)


def _cli(argv: list[str]) -> None:
    """Run one `python -m helpers` command in this process; an error stops the step."""
    from helpers.cli import main

    rc = main(argv)
    if rc:
        raise UserError(f"`python -m helpers {' '.join(argv)}` failed with exit code {rc}.")


def _remove_store(path: Path) -> None:
    """A store of an earlier check, with its report and parts: `prepare` would resume it."""
    from helpers.data.store import parts_dir_for, report_path_for

    path.unlink(missing_ok=True)
    report_path_for(path).unlink(missing_ok=True)
    shutil.rmtree(parts_dir_for(path), ignore_errors=True)


def step_setup(work: Path, dry_run: bool) -> int:
    work.mkdir(parents=True, exist_ok=True)
    for name in ("data.json", *(f"{step}.json" for step in TABLE_STEPS)):
        (work / name).unlink(missing_ok=True)
    for store in ("tiny.h5", "frames.h5", "clips.h5"):
        _remove_store(work / store)
    facts = _device_facts(dry_run)
    write_json_atomic(work / "device.json", facts)
    if facts["dry"]:
        why = "dry run asked for" if dry_run else "no CUDA device here"
        notice = (f"gpu-check: {why}: a tiny dry run of the same code path on the CPU "
                  "follows; it measures nothing about a GPU.")
    else:
        notice = f"gpu-check: {facts['device']}, torch {facts['torch']} (CUDA {facts['cuda']})"
    write_text_atomic(work / "notice.txt", notice + "\n")
    print(notice, flush=True)
    plan = DRY_PLAN if facts["dry"] else gpu_plan()
    from helpers.data.synthetic import SPLIT_DIR

    tiny = work / "tiny"
    shutil.rmtree(tiny, ignore_errors=True)
    _cli(["synth", "--out", str(tiny), "--size", plan.tiny_size, "--num-frames",
          str(plan.tiny_frames), "--videos-per-group", "1"])
    _cli(["prepare", "--source", str(tiny), "--out", str(work / "tiny.h5")])
    tree = make_epoch_tree(work / "epoch", plan)
    _cli(["prepare", "--source", str(work / "epoch"), "--out", str(work / "frames.h5")])
    short = ["--short-side", str(plan.clip_short_side)] if plan.clip_short_side else []
    _cli(["prepare", "--source", str(work / "epoch"), "--out", str(work / "clips.h5"), *short])
    write_json_atomic(work / "data.json", {
        **tree, "tiny_store": str(work / "tiny.h5"),
        "tiny_splits": str(tiny / SPLIT_DIR),
        "frames_store": str(work / "frames.h5"), "clips_store": str(work / "clips.h5")})
    return 0


def _data(work: Path) -> dict[str, Any]:
    data = _read_json(work / "data.json")
    if data is None:
        raise UserError(f"{work / 'data.json'} is missing: the setup step did not finish.")
    return data


# ----------------------------------------------------------------------------- train/compile
def _shape_text(model: str, shape: Sequence[int]) -> str:
    side = f"{shape[-1]}²" if shape[-1] == shape[-2] else f"{shape[-1]}×{shape[-2]}"
    return side if model == "frame" else f"{shape[1]}×{side}"


def step_train(work: Path, compile: bool) -> int:
    import torch

    from helpers.tools.bench import bench_train_case

    plan = _plan(work)
    facts = _read_json(work / "device.json")
    peak = facts.get("peak_tflops")
    device = torch.device("cpu" if plan.dry else "cuda")
    how = "eager"
    if compile:
        how = "torch.compile" + (f" ({plan.compile_backend} backend)" if plan.dry else "")
    rows = _Rows(work / f"{'compile' if compile else 'train'}.json", [
        table_row(f"train:{arch}:{compile}", f"train step, {how}",
             f"{ARCH_NAMES.get(arch, arch)} {_shape_text(model, shape)}, batch {bs}",
             order=(BLOCK['train'], i, int(compile)))
        for i, (model, arch, shape, bs) in enumerate(plan.train_cases)])
    for i, (model, arch, shape, bs) in enumerate(plan.train_cases):
        try:
            r = bench_train_case(model, arch, tuple(shape), bs, device=device,
                                 steps=plan.train_steps, warmup=plan.train_warmup,
                                 compile=compile, compile_backend=plan.compile_backend)
        except Exception as exc:  # one case's failure (e.g. out of memory) is its row's
            rows.set(i, result=_failure(exc), ok=False)
        else:
            unit = "img/s" if model == "frame" else "clips/s"
            layout = "channels_last" if r["channels_last"] else "contiguous"
            warm = (f"; warm-up incl. compile {r['warmup_s']:.0f} s" if compile else "")
            rows.set(i, setting=f"{rows.rows[i]['setting']}, {r['precision']}, {layout}",
                     result=f"{r['items_per_s']:,.1f} {unit} ({r['step_ms']:.1f} ms/step over "
                            f"{_plural(plan.train_steps, 'step')}{warm})",
                     ok=True, tflops=r["tflops"],
                     share=f"{100 * r['tflops'] / peak:.1f}%" if peak else "n/a")
        if compile:
            torch._dynamo.reset()
        _free_device()
    return 0


# ----------------------------------------------------------------------------- torchrun
def _torchrun_worker(argv: Sequence[str]) -> int:
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
    plan, data = _plan(work), _data(work)
    rows = _Rows(work / "torchrun.json", [table_row(
        "torchrun", "torchrun --nproc_per_node=1",
        "`python -m helpers train`, frame model, demo profile, 1 epoch, tiny synthetic store "
        f"({plan.tiny_size})", order=(BLOCK["torchrun"],))])
    out = work / "torchrun-run"
    shutil.rmtree(out, ignore_errors=True)
    train_args = ["--model", "frame", "--profile", "demo", "--store", data["tiny_store"],
                  "--splits", data["tiny_splits"], "--out", str(out), "--num-epochs", "1",
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
    rows.set(0, result="; ".join(parts), ok=ok)
    return 0 if ok else 1


def _run_config(out: Path) -> dict[str, Any] | None:
    summary = _read_json(out / "config.json")
    return summary if isinstance(summary, dict) and "config" in summary else None


def _train_steps(out: Path) -> int | None:
    """Optimizer steps per epoch of a finished run, from its config.json."""
    summary = _run_config(out)
    if summary is None:
        return None
    cfg = summary["config"]
    per_video = cfg.get("frames_per_video", 1) if cfg.get("model") == "frame" else 1
    batches = summary.get("num_train", 0) * per_video // cfg["batch_size"]
    return -(-batches // cfg.get("accum_steps", 1))


# ----------------------------------------------------------------------------- loaders
def step_loaders(work: Path) -> int:
    from helpers.tools.bench import (
        CLIP_CROP,
        CLIP_LEN,
        FRAME_CROP,
        clip_dataset_cps,
        frame_dataset_fps,
    )

    plan, data = _plan(work), _data(work)
    w = plan.loader_workers
    width, height = plan.video_size
    videos = f"{data['num_train'] + data['num_test']} synthetic {width}×{height} videos"
    short = (f" kept at short side {plan.clip_short_side}" if plan.clip_short_side else "")
    rows = _Rows(work / "loaders.json", [
        table_row("loader:frame", f"FrameDataset, {w} workers",
             f"frame store: {videos}; random resized crop to {FRAME_CROP}² + flip, batch 32",
             order=(BLOCK["loaders"], 0)),
        table_row("loader:clip", f"ClipDataset, {w} workers",
             f"clip store: {videos}{short}; {CLIP_LEN}-frame window, crop to {CLIP_CROP}² "
             "+ flip, batch 8", order=(BLOCK["loaders"], 1)),
    ])
    for i, (measure, store, unit) in enumerate((
            (frame_dataset_fps, data["frames_store"], "frames/s"),
            (clip_dataset_cps, data["clips_store"], "clips/s"))):
        try:
            rate = measure(Path(store), plan.loader_seconds, num_workers=w)
        except Exception as exc:
            rows.set(i, result=_failure(exc), ok=False)
        else:
            rows.set(i, result=f"{rate:,.0f} {unit} ({rate / w:,.0f} per worker)", ok=True)
    return 0


# ----------------------------------------------------------------------------- epoch
def _epoch_seconds(out: Path) -> list[float]:
    with open(out / "metrics.csv", newline="") as f:
        return [float(r["seconds"]) for r in csv.DictReader(f)]


def step_epoch(work: Path) -> int:
    import torch

    plan, data = _plan(work), _data(work)
    width, height = plan.video_size
    models = ("frame", "clip")
    rows = _Rows(work / "epoch.json", [r for k, m in enumerate(models) for r in (
        table_row(f"epoch:{m}", f"{m} model: one epoch, measured",
             f"ucf101 profile, random init, on {data['num_train']} synthetic {width}×{height} "
             f"training videos ({data['num_distinct']} distinct)", order=(BLOCK["epoch"], k, 0)),
        table_row(f"extrapolated:{m}", f"{m} model: UCF-101 epoch, EXTRAPOLATED (not measured)",
             f"{UCF101_TRAIN_VIDEOS:,} training videos (split 1)", order=(BLOCK["epoch"], k, 1)))])
    for k, model in enumerate(models):
        out = work / f"epoch-{model}"
        shutil.rmtree(out, ignore_errors=True)
        store = data["frames_store" if model == "frame" else "clips_store"]
        argv = ["train", "--model", model, "--profile", "ucf101", "--store", store,
                "--splits", data["splits"], "--out", str(out), "--weights", "none",
                "--num-epochs", str(plan.epoch_epochs), "--val-groups", "", *plan.flags(model)]
        print("$ python -m helpers", " ".join(repr(a) if not a else a for a in argv), flush=True)
        try:
            _cli(argv)
            seconds = _epoch_seconds(out)
            summary = _run_config(out)
            if summary is None or not seconds:
                raise UserError(f"{out} holds no config.json or metrics.csv after training.")
        except Exception as exc:
            rows.set(2 * k, result=_failure(exc), ok=False)
            rows.set(2 * k + 1, result="no measurement to extrapolate from", ok=False)
            _free_device()
            continue
        cfg = summary["config"]
        per_video = cfg["frames_per_video"] if model == "frame" else 1
        unit = "img" if model == "frame" else "clips"
        items = summary["num_train"] * per_video // cfg["batch_size"] * cfg["batch_size"]
        rate = items / seconds[-1]
        size = (f"{cfg['crop_size']}²" if model == "frame"
                else f"{cfg['clip_len']}×{cfg['crop_size']}²")
        which = f"epoch {len(seconds)} of {len(seconds)}"
        if len(seconds) > 1:
            which += f"; epoch 1, with start-up and autotuning: {seconds[0]:.1f} s"
        rows.set(2 * k, ok=True,
                 setting=f"{rows.rows[2 * k]['setting']}: {ARCH_NAMES.get(cfg['arch'], cfg['arch'])} "
                         f"{size}, batch {cfg['batch_size']}, {cfg['num_workers']} workers, "
                         f"{_plural(per_video, 'item')} per video, no validation",
                 result=f"{seconds[-1]:.1f} s for {items:,} {unit} ({rate:,.0f} {unit}/s; {which})")
        full = UCF101_TRAIN_VIDEOS * per_video
        est = full / rate
        rows.set(2 * k + 1, ok=True,
                 setting=f"{rows.rows[2 * k + 1]['setting']} × {per_video} = {full:,} {unit}",
                 result=f"≈ {est:,.0f} s (≈ {est / 60:.1f} min) per epoch at the measured "
                        f"{rate:,.0f} {unit}/s")
        del summary
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        _free_device()
    return 0


# ----------------------------------------------------------------------------- report
def _status(work: Path, step: str) -> str | None:
    """Why a step has no (complete) result, from the script's WORK/<step>.status
    ("rc limit elapsed" or "skipped ..."); None when it exited 0 or was not run by the script."""
    path = work / f"{step}.status"
    if not path.is_file():
        return None
    text = path.read_text().split()
    if not text or text[0] == "0":
        return None
    if text[0] == "skipped":
        return "skipped: no time left in the script's budget"
    limit = text[1] if len(text) > 1 else "?"
    if text[0] in ("124", "137"):
        return f"timed out after {limit} s (log: {work / f'{step}.log'})"
    return f"exit code {text[0]} (log: {work / f'{step}.log'})"


def collect_rows(work: Path) -> list[dict[str, Any]]:
    """Every step's rows in table order; a step without rows, or a row a step did not get
    to, says why (timed out, failed, skipped)."""
    rows: list[dict[str, Any]] = []
    setup_failed = _status(work, "setup") or not (work / "data.json").is_file()
    if setup_failed:
        why = _status(work, "setup") or "did not finish"
        rows.append(table_row("setup", "setup (stores, device)", "synth + prepare", f"failed: {why}",
                         ok=False, order=(0,)))
    for step in TABLE_STEPS:
        got = _read_json(work / f"{step}.json")
        why = _status(work, step)
        if got is None:
            rows.append(table_row(step, step, "–", f"no result: {why or 'not run'}", ok=False,
                             order=(BLOCK[step], 99, TABLE_STEPS.index(step))))
            continue
        for row in got["rows"]:
            if row["ok"] is None:
                row = {**row, "ok": False, "result": f"did not finish: {why or 'step stopped'}"}
            rows.append(row)
    return sorted(rows, key=lambda r: r["order"])


def format_report(work: Path, elapsed: float | None = None) -> tuple[str, bool]:
    """The markdown report (header, table, notes) and whether every row succeeded."""
    facts = _read_json(work / "device.json") or {}
    rows = collect_rows(work)
    lines = ["# GPU check", ""]
    if facts.get("dry", True):
        lines.append("**DRY RUN**: no CUDA device was used, so every step ran at tiny sizes on "
                     "the CPU to check the code path. No figure below says anything about a GPU.")
        lines.append("")
    peak = facts.get("peak_tflops")
    peak_text = (f"bf16 dense peak {peak:,.0f} TFLOP/s (NVIDIA datasheet)" if peak
                 else "bf16 dense peak n/a")
    lines.append(f"device: {facts.get('device', 'unknown')}; {peak_text}; torch "
                 f"{facts.get('torch', '?')} (CUDA {facts.get('cuda')}, cuDNN "
                 f"{facts.get('cudnn')}); {facts.get('cpus', '?')} CPUs; {facts.get('when', '')}"
                 + (f"; checked in {elapsed:.0f} s" if elapsed is not None else ""))
    lines += ["", "| check | setting | result | TFLOP/s | share of bf16 dense peak |",
              "|---|---|---|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['check']} | {r['setting']} | {r['result']} | "
                     f"{_tflops_text(r.get('tflops'))} | "
                     f"{r['share']} |")
    lines += ["", "TFLOP/s counts the matmul and convolution FLOPs of one forward + backward "
              "(`torch.utils.flop_counter`) per measured step time. The EXTRAPOLATED rows are "
              "not measurements: they divide a UCF-101 epoch's items by the items/s of the "
              "measured epoch on the synthetic store (the same per-item work, but the "
              "synthetic epoch's start-up counts in it, and the real trainer holds out groups "
              "22-25 for validation, so a real epoch trains on fewer videos and then "
              "validates)."]
    return "\n".join(lines) + "\n", all(r["ok"] for r in rows)


def step_report(work: Path, out: Path | None, elapsed: float | None) -> int:
    text, ok = format_report(work, elapsed)
    print(text, end="")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(out, text)
    return 0 if ok else 1


# ----------------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.utils.argtypes import positive_float

    parser.add_argument("step", choices=STEPS,
                        help="setup first, then any of train, compile, torchrun, loaders, "
                             "epoch; report last (scripts/gpu-check.sh runs them all)")
    parser.add_argument("--work-dir", type=Path, default=DEFAULT_WORK,
                        help=f"stores, runs, logs and step results ({DEFAULT_WORK})")
    parser.add_argument("--limit", type=positive_float, default=None,
                        help="seconds the step may take (the script's timeout for it)")
    parser.add_argument("--dry-run", action="store_true",
                        help="setup: tiny CPU sizes even where CUDA is available")
    parser.add_argument("--out", type=Path, default=None, help="report: also write it here")
    parser.add_argument("--elapsed", type=float, default=None, help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    work = args.work_dir
    if args.step == "setup":
        return step_setup(work, args.dry_run)
    if args.step == "report":
        return step_report(work, args.out, args.elapsed)
    if args.step in ("train", "compile"):
        return step_train(work, compile=args.step == "compile")
    if args.step == "torchrun":
        return step_torchrun(work, args.limit)
    if args.step == "loaders":
        return step_loaders(work)
    return step_epoch(work)


if __name__ == "__main__":  # `torchrun -m helpers.tools.gpucheck torchrun-worker TRAIN-OPTIONS`
    if sys.argv[1:2] != ["torchrun-worker"]:
        sys.exit("usage: torchrun ... -m helpers.tools.gpucheck torchrun-worker TRAIN-OPTIONS")
    sys.exit(_torchrun_worker(sys.argv[2:]))
