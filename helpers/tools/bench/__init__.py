"""`python -m helpers bench data|train`: throughput benchmarks.

`bench data` takes every figure side by side in one run on the same videos:
store size against raw frames, prepare against plain decoding, the frame and clip
datasets per worker, and clips straight from the AVIs. The videos are, in order of
preference: `--source` (an AVI tree, e.g. UCF-101), the real UCF-101 clip in the shared
folder replicated under several names (320x240 XviD: the honest measurement), or a
synthetic set (slow to generate at 320x240; keep it with `--work-dir`).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import multiprocessing
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import UserError
from helpers.paths import SHARED_DIR
from helpers.utils.progress import bar

FRAME_CROP = 224
CLIP_LEN, CLIP_CROP, CLIP_SHORT_SIDE = 16, 112, 128
SHARED_CLIP = Path("ucf101/videos/v_ApplyEyeMakeup_g01_c01.avi")
SHARED_SPLITS = Path("ucf101/splits")
SYNTH_FRAMES = 100


# ----------------------------------------------------------------------------- the videos
@dataclass(frozen=True)
class BenchSource:
    root: Path  # holds UCF-101/<Class>/<name>.avi
    splits: Path  # holds classInd.txt
    description: str


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target.resolve(), link)


def _fresh(folder: Path) -> Path:
    """An empty folder: links left by an earlier run must not join this one's videos."""
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def _from_tree(source: Path, splits: Path | None, num_videos: int, work: Path) -> BenchSource:
    """`num_videos` videos spread evenly over a user's AVI tree, linked into `work`."""
    from helpers.data.sources import discover
    from helpers.data.splits import find_splits_dir, read_class_index

    if not source.is_dir():
        raise UserError(f"--source {source} is not a folder; point it at the folder holding "
                        "UCF-101/ (or the class folders)")
    try:
        splits_dir = find_splits_dir(splits or source)
    except UserError:
        raise UserError(f"no classInd.txt in {splits or source}; pass --splits DIR") from None
    videos = [v for v in discover(source, read_class_index(splits_dir / "classInd.txt"))
              if v.kind == "avi"]
    if not videos:
        raise UserError(f"{source} holds no .avi videos; bench data measures AVI decoding")
    picks = [videos[int(i)] for i in np.linspace(0, len(videos) - 1, min(num_videos, len(videos)))]
    work = _fresh(work)
    for v in dict.fromkeys(picks):
        _link(v.path, work / "UCF-101" / v.class_name / v.path.name)
    return BenchSource(work, splits_dir, f"{len(set(picks))} videos from {source}")


def _from_shared_clip(num_videos: int, work: Path) -> BenchSource:
    """The real clip under `num_videos` UCF-style names (links: no extra disk)."""
    clip = SHARED_DIR / SHARED_CLIP
    work = _fresh(work)
    for i in range(num_videos):
        group, index = i % 25 + 1, i // 25 + 1
        _link(clip, work / "UCF-101" / "ApplyEyeMakeup"
              / f"v_ApplyEyeMakeup_g{group:02d}_c{index:02d}.avi")
    return BenchSource(work, SHARED_DIR / SHARED_SPLITS,
                       f"the real UCF-101 clip {clip.name} under {num_videos} names")


def _from_synthetic(num_videos: int, work: Path, size: tuple[int, int]) -> BenchSource:
    from helpers.data.synthetic import SPLIT_DIR, VIDEO_DIR, generate

    synth = work / "synthetic"
    generate(synth, size=size, num_frames=SYNTH_FRAMES, videos_per_group=1)
    picked = _from_tree(synth / VIDEO_DIR, synth / SPLIT_DIR, num_videos, work / "picked")
    return BenchSource(picked.root, picked.splits,
                       f"{num_videos} synthetic {size[0]}x{size[1]} videos")


def bench_source(work: Path, *, source: Path | None = None, splits: Path | None = None,
                 num_videos: int = 16, synth_size: tuple[int, int] = (320, 240)) -> BenchSource:
    if source is not None:
        return _from_tree(source, splits, num_videos, work / "picked")
    if (SHARED_DIR / SHARED_CLIP).is_file() and (SHARED_DIR / SHARED_SPLITS).is_dir():
        return _from_shared_clip(num_videos, work / "shared")
    return _from_synthetic(num_videos, work, synth_size)


# ----------------------------------------------------------------------------- timing helpers
@contextlib.contextmanager
def _single_thread() -> Iterator[None]:
    """Per-worker figures: one thread for OpenCV and torch, as in a DataLoader worker."""
    import cv2
    import torch

    cv_threads, torch_threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(cv_threads)
        torch.set_num_threads(torch_threads)


def _rates(steps: list[Callable[[], int]], seconds: float, rounds: int = 3) -> list[float]:
    """Items per second of each `step()` (returns items done), run in turns for `rounds`
    rounds of >= `seconds / rounds` each, so a load change on a shared machine hits all
    of them alike rather than whichever ran when it came."""
    for step in steps:
        step()  # warm-up: opening files, first allocations
    done = [0] * len(steps)
    spent = [0.0] * len(steps)
    for _ in range(rounds):
        for k, step in enumerate(steps):
            start = time.perf_counter()
            while time.perf_counter() - start < seconds / rounds:
                done[k] += step()
            spent[k] += time.perf_counter() - start
    return [d / t for d, t in zip(done, spent, strict=True)]


def _init_decoder() -> None:
    import cv2

    cv2.setNumThreads(1)


def _decode_count(video: Any) -> int:
    from helpers.data.sources import iter_frames

    return sum(1 for _ in iter_frames(video, bgr=True))


def decode_only(videos: list[Any], num_workers: int) -> tuple[int, float]:
    """(frames, seconds) of decoding alone, with the process pool `prepare` uses (same
    decoder, same start method, same worker count)."""
    start = time.perf_counter()
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(num_workers, mp_context=ctx, initializer=_init_decoder) as pool:
        frames = sum(pool.map(_decode_count, videos))
    return frames, time.perf_counter() - start


def decode_avi_frames(path: Path, frames: list[int], size: tuple[int, int]) -> np.ndarray:
    """The given frames as RGB at `size` (H, W), the fastest way one core can: one decoder
    thread, decoding from frame 0 (one keyframe), skipping the colour conversion of the
    frames it does not keep (grab without retrieve)."""
    import cv2

    wanted = set(frames)
    last = max(frames)
    got: dict[int, np.ndarray] = {}
    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, 1])
    try:
        for i in range(last + 1):
            if not cap.grab():
                raise UserError(f"{path} ended at frame {i}, before frame {last}")
            if i in wanted:
                img = cap.retrieve()[1]
                if img.shape[:2] != size:
                    img = cv2.resize(img, (size[1], size[0]), interpolation=cv2.INTER_AREA)
                got[i] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    return np.stack([got[f] for f in frames])


# ----------------------------------------------------------------------------- measurements
def _store_bytes(path: Path) -> tuple[float, float]:
    from helpers.data.store import VideoStore

    store = VideoStore(path)
    frames = sum(v.num_frames for v in store.videos)
    h, w = store.frame_size
    return path.stat().st_size / frames, float(h * w * 3)


def _prepare(src: BenchSource, out: Path, num_workers: int,
             short_side: int | None) -> tuple[dict[str, Any], float]:
    from helpers.data.prepare import prepare_store
    from helpers.data.store import parts_dir_for, report_path_for

    # Never time a resume: start from nothing.
    out.unlink(missing_ok=True)
    report_path_for(out).unlink(missing_ok=True)
    shutil.rmtree(parts_dir_for(out), ignore_errors=True)
    start = time.perf_counter()
    report = prepare_store(src.root, src.splits, out, num_workers=num_workers,
                           short_side=short_side)
    return report, time.perf_counter() - start


def _all_videos(store: Any) -> tuple[list[str], list[int]]:
    return [v.name for v in store.videos], [v.label_id for v in store.videos]


def _loader(ds: Any, batch_size: int, num_workers: int, num_items: int | None = None) -> Any:
    """A shuffling DataLoader over `ds`, `num_items` items per pass (default: len(ds)). With
    workers they persist across passes, so only the first pass (the warm-up) starts them;
    they then keep the epoch they started with, which changes no cost per item."""
    from torch.utils.data import DataLoader, RandomSampler

    from helpers.utils.device import check_shared_memory

    sampler = RandomSampler(ds, num_samples=num_items)
    extra: dict[str, Any] = {}
    if num_workers:  # the trainer's prefetch, lowered where /dev/shm cannot hold it
        prefetch = check_shared_memory(num_workers, 4, batch_size * ds[0]["x"].nbytes)
        extra = {"persistent_workers": True, "prefetch_factor": prefetch}
    return DataLoader(ds, batch_size=batch_size, sampler=sampler, num_workers=num_workers,
                      **extra)


def _items_per_pass(batch_size: int, num_workers: int) -> int:
    """Enough batches per pass that every worker has several to do: the short stall while
    a new pass fills the workers' queues stays small against the pass."""
    return max(4, 8 * num_workers) * batch_size


def frame_dataset_fps(store_path: Path, seconds: float, batch_size: int = 32,
                      num_workers: int = 0) -> float:
    """Train frames/s: random frame, random resized crop to 224, flip; in one process
    (`num_workers=0`, one thread) or with that many DataLoader workers."""
    from helpers.data.datasets import FrameDataset
    from helpers.data.store import VideoStore
    from helpers.data.transforms import TrainTransform

    store = VideoStore(store_path)
    ids, labels = _all_videos(store)
    per_video = max(1, math.ceil(_items_per_pass(batch_size, num_workers) / len(ids)))
    ds = FrameDataset(store, ids, labels, transform=TrainTransform(FRAME_CROP),
                      frames_per_video=per_video)
    loader = _loader(ds, batch_size, num_workers)
    epoch = iter(range(1 << 30))

    def one_epoch() -> int:
        ds.set_epoch(next(epoch))
        return sum(len(b["x"]) for b in loader)

    # Workers run as the trainer's do; only the one-process figure is pinned to one thread.
    with _single_thread() if num_workers == 0 else contextlib.nullcontext():
        return _rates([one_epoch], seconds, rounds=1)[0]


def clip_dataset_cps(store_path: Path, seconds: float, batch_size: int = 8,
                     num_workers: int = 0) -> float:
    """Train clips/s from the store (random 16-frame window, crop to 112, flip) with
    `num_workers` DataLoader workers; passes of several batches per worker, so a store
    with few videos visits each one several times per pass."""
    from helpers.data.datasets import ClipDataset
    from helpers.data.store import VideoStore
    from helpers.data.transforms import TrainTransform

    store = VideoStore(store_path)
    ids, labels = _all_videos(store)
    ds = ClipDataset(store, ids, labels, transform=TrainTransform(CLIP_CROP), clip_len=CLIP_LEN)
    loader = _loader(ds, batch_size, num_workers,
                     max(len(ds), _items_per_pass(batch_size, num_workers)))
    epoch = iter(range(1 << 30))

    def one_epoch() -> int:
        ds.set_epoch(next(epoch))
        return sum(len(b["x"]) for b in loader)

    # Workers run as the trainer's do; only the one-process figure is pinned to one thread.
    with _single_thread() if num_workers == 0 else contextlib.nullcontext():
        return _rates([one_epoch], seconds, rounds=1)[0]


def clip_rates(store_path: Path, avi_paths: dict[str, Path], seconds: float,
               batch_size: int = 8) -> tuple[float, float]:
    """Train clips/s in one process from the store, and the same clips (same windows, same
    crops) decoded straight from the AVIs, resized like the store."""
    from torch.utils.data import DataLoader

    from helpers.data.datasets import ClipDataset
    from helpers.data.store import VideoStore
    from helpers.data.transforms import TrainTransform, clip_tensor

    store = VideoStore(store_path)
    ids, labels = _all_videos(store)
    ds = ClipDataset(store, ids, labels, transform=TrainTransform(CLIP_CROP),
                     clip_len=CLIP_LEN)
    loader = DataLoader(ds, batch_size=batch_size, shuffle=True, num_workers=0)
    epochs = iter(range(1 << 30))

    def store_epoch() -> int:
        ds.set_epoch(next(epochs))
        return sum(len(b["x"]) for b in loader)

    # The AVI path goes through the same windows; it is slow, so step one clip at a time.
    items = iter((e, i) for e in range(1 << 30) for i in range(len(ds)))

    def avi_clip() -> int:
        epoch, index = next(items)
        ds.set_epoch(epoch)
        video, frames, crop, rng = ds.item_frames(index)
        clip = decode_avi_frames(avi_paths[ids[video]], frames, store.frame_size)
        clip_tensor(ds.transform_frames(clip, crop, rng))
        return 1

    with _single_thread():
        from_store, from_avi = _rates([store_epoch, avi_clip], 2 * seconds)
    return from_store, from_avi


# ----------------------------------------------------------------------------- the table
def _row(measure: str, value: str, goal: str, met: bool) -> dict[str, Any]:
    return {"measure": measure, "value": value, "goal": goal, "met": bool(met)}


def format_table(result: dict[str, Any]) -> str:
    lines = ["| measure | value | goal | met? |", "|---|---|---|---|"]
    lines += [f"| {r['measure']} | {r['value']} | {r['goal']} | {'yes' if r['met'] else 'no'} |"
              for r in result["rows"]]
    return "\n".join(lines)


def bench_data(*, source: Path | None = None, splits: Path | None = None, num_videos: int = 16,
               num_workers: int = 1, work_dir: Path | None = None, seconds: float = 3.0,
               synth_size: tuple[int, int] = (320, 240)) -> dict[str, Any]:
    """Run every data measurement on one set of videos; return figures and table rows."""
    if num_videos < 1 or num_workers < 1 or not 0 < seconds < math.inf:
        raise UserError("--videos and --workers must be at least 1 and --seconds positive.")
    temp = tempfile.TemporaryDirectory(prefix="bench-data-") if work_dir is None else None
    with temp or contextlib.nullcontext():
        work = Path(temp.name if temp else work_dir)  # type: ignore[arg-type]
        work.mkdir(parents=True, exist_ok=True)
        src = bench_source(work, source=source, splits=splits, num_videos=num_videos,
                           synth_size=synth_size)
        return _measure(src, work, num_workers, seconds)


def _measure(src: BenchSource, work: Path, num_workers: int, seconds: float) -> dict[str, Any]:
    from helpers.data.sources import discover
    from helpers.data.splits import read_class_index

    videos = discover(src.root, read_class_index(src.splits / "classInd.txt"))
    for v in videos:  # page the files in, so neither decode nor prepare pays a cold read
        v.path.read_bytes()
    # Decode before and after prepare: both share any change in load while prepare runs.
    before = decode_only(videos, num_workers)
    report, prep_seconds = _prepare(src, work / "frames.h5", num_workers, None)
    after = decode_only(videos, num_workers)
    decode_fps = (before[0] + after[0]) / (before[1] + after[1])
    prepare_fps = report["frames"] / prep_seconds
    if report["failures"]:
        raise UserError(f"{len(report['failures'])} benchmark videos failed to prepare, e.g. "
                        f"{report['failures'][0]}")
    bytes_per_frame, raw_per_frame = _store_bytes(work / "frames.h5")
    _prepare(src, work / "clips.h5", num_workers, CLIP_SHORT_SIDE)
    frame_fps = frame_dataset_fps(work / "frames.h5", seconds)
    clip_cps, avi_cps = clip_rates(work / "clips.h5", {v.name: v.path for v in videos},
                                   seconds)

    size = f"{report['width']}x{report['height']}"
    ratio = bytes_per_frame / raw_per_frame
    result: dict[str, Any] = {
        "source": src.description, "videos": report["videos_ok"], "frames": report["frames"],
        "frame_size": size, "workers": num_workers,
        "store_bytes_per_frame": bytes_per_frame, "raw_bytes_per_frame": raw_per_frame,
        "store_ratio": ratio, "decode_fps": decode_fps, "prepare_fps": prepare_fps,
        "prepare_ratio": prepare_fps / decode_fps, "frame_dataset_fps": frame_fps,
        "clip_dataset_cps": clip_cps, "avi_clip_cps": avi_cps, "clip_speedup": clip_cps / avi_cps,
    }
    w = f"{num_workers} worker{'s' if num_workers > 1 else ''}"
    result["rows"] = [
        _row(f"store bytes per frame against raw uint8 at {size}",
             f"{bytes_per_frame / 1e3:.1f} KB / {raw_per_frame / 1e3:.1f} KB = 1/{1 / ratio:.1f}",
             "≤ 1/12", ratio <= 1 / 12),
        _row(f"prepare frames/s against decode-only frames/s ({w})",
             f"{prepare_fps:,.0f} / {decode_fps:,.0f} = {result['prepare_ratio']:.2f}",
             "≥ 0.5", result["prepare_ratio"] >= 0.5),
        _row(f"FrameDataset frames/s per worker at {FRAME_CROP}² with augmentation",
             f"{frame_fps:,.0f}", "≥ 1,000", frame_fps >= 1000),
        _row(f"ClipDataset clips/s per worker at {CLIP_LEN}×{CLIP_CROP}² against the same "
             "clips decoded from the AVIs",
             f"{clip_cps:,.1f} / {avi_cps:,.1f} = {result['clip_speedup']:.1f}×",
             "≥ 10×", result["clip_speedup"] >= 10),
    ]
    return result


# ----------------------------------------------------------------------------- bench train
# ----------------------------------------------------------------------------- bench train
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
                     compile_backend: str = "inductor") -> dict[str, Any]:
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
    return {"model": model, "arch": arch, "input": "x".join(map(str, shape[1:])),
            "batch_size": batch_size, "precision": "bf16" if device.type == "cuda" else "fp32",
            "channels_last": bool(fmt is not None), "step_ms": dt * 1e3,
            "items_per_s": batch_size / dt, "tflops": flops / dt / 1e12,
            "gflop_per_item": flops / batch_size / 1e9,
            "compile": compile_backend if compile else None, "warmup_s": warmup_s}


def bench_train(args: argparse.Namespace) -> int:
    """Training throughput of ResNet-50 (2D) and R3D-50 (3D) on this machine's device."""
    import torch

    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    cases = TRAIN_CASES_GPU if cuda else TRAIN_CASES_CPU
    rows = []
    for model, arch, shape, bs in cases:
        if args.batch_size:
            bs = args.batch_size
        rows.append(bench_train_case(model, arch, shape, bs, device=device, steps=args.steps,
                                     compile=args.compile))
    name = torch.cuda.get_device_name(device) if cuda else f"CPU ({os.cpu_count()} cores)"
    print(f"device: {name}; torch {torch.__version__}")
    print("| model | input | batch | precision | channels_last | ms/step | items/s | TFLOP/s | "
          "GFLOP/item (fwd+bwd) |\n|---|---|---:|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['arch']} | {r['input']} | {r['batch_size']} | {r['precision']} | "
              f"{'yes' if r['channels_last'] else 'no'} | {r['step_ms']:.1f} | "
              f"{r['items_per_s']:,.1f} | {r['tflops']:.2f} | {r['gflop_per_item']:.1f} |")
    if not cuda:
        print("No CUDA device: these are tiny CPU sizes that check the code path. The GPU "
              "figures (ResNet-50 224² and R3D-50 16×112², bf16) need a GPU node.")
    return 0


# ----------------------------------------------------------------------------- CLI
def configure(parser: argparse.ArgumentParser) -> None:
    from helpers.data.synthetic import frame_size
    from helpers.utils.argtypes import positive_float, positive_int

    sub = parser.add_subparsers(dest="what", metavar="<what>", parser_class=type(parser))
    sub.required = True
    data_help = "store size, prepare and dataset throughput, measured side by side"
    data = sub.add_parser("data", help=data_help, description=data_help)
    data.prog = f"{parser.prog} data"
    data.add_argument("--videos", type=positive_int, default=16, help="videos to measure on (16)")
    data.add_argument("--source", type=Path, default=None,
                      help="an AVI tree (folder holding UCF-101/); default: the shared real clip, "
                           "else a synthetic set")
    data.add_argument("--splits", type=Path, default=None,
                      help="folder holding classInd.txt (default: found under --source)")
    data.add_argument("--workers", type=positive_int, default=1,
                      help="processes for decode-only and prepare (1); datasets use one process")
    data.add_argument("--seconds", type=positive_float, default=3.0,
                      help="minimum time per dataset measurement (3)")
    data.add_argument("--work-dir", type=Path, default=None,
                      help="keep sources and stores here (reused synthetic set); default: a "
                           "temporary folder, removed")
    data.add_argument("--synth-size", type=frame_size, default=(320, 240), metavar="WxH",
                      help="frame size of the synthetic fallback (320x240)")
    train_help = "training throughput and TFLOP/s of ResNet-50 and R3D-50 (bf16 on CUDA)"
    train = sub.add_parser("train", help=train_help, description=train_help)
    train.prog = f"{parser.prog} train"
    train.add_argument("--steps", type=positive_int, default=10, help="timed steps per model (10)")
    train.add_argument("--batch-size", type=positive_int, default=None, help="default: per device")
    train.add_argument("--compile", action="store_true", help="torch.compile the models")


def run(args: argparse.Namespace) -> int:
    if args.what == "train":
        return bench_train(args)
    result = bench_data(source=args.source, splits=args.splits, num_videos=args.videos,
                        num_workers=args.workers, work_dir=args.work_dir, seconds=args.seconds,
                        synth_size=args.synth_size)
    print(f"{result['videos']} videos, {result['frames']:,} frames at {result['frame_size']}: "
          f"{result['source']}; {os.cpu_count()} CPUs")
    print(format_table(result))
    missed = [r["measure"] for r in result["rows"] if not r["met"]]
    if missed:
        print(f"missed: {'; '.join(missed)}")
    return 0
