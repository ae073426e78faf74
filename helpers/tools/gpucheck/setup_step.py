"""`gpu-check setup`: the device's facts, and the stores every later step reads: a tiny
synthetic benchmark (`synth` + `prepare`) for the torchrun run, and a few distinct
synthetic videos listed under many UCF-style names (enough for a real epoch), prepared as
the frame store and the clip store."""

from __future__ import annotations

import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from helpers.data.store import remove_store
from helpers.data.synthetic import (
    CLASSES,
    SPLIT_DIR,
    VIDEO_DIR,
    encode_avi,
    render_video,
    video_path,
)
from helpers.tools.gpucheck.plan import (
    DRY_PLAN,
    TABLE_STEPS,
    TRAIN_GROUPS,
    DeviceFacts,
    EpochTree,
    Plan,
    SetupData,
    bf16_peak_tflops,
    gpu_plan,
)
from helpers.tools.gpucheck.runtime import run_command
from helpers.utils.files import link
from helpers.utils.io import write_json_atomic, write_text_atomic
from helpers.utils.pool import default_workers


def device_facts(dry: bool) -> DeviceFacts:
    import torch

    cuda = torch.cuda.is_available() and not dry
    name = torch.cuda.get_device_name(0) if cuda else f"CPU ({os.cpu_count()} cores)"
    return DeviceFacts(dry=not cuda, cuda_available=torch.cuda.is_available(), device=name,
                       torch=torch.__version__, cuda=torch.version.cuda,
                       cudnn=torch.backends.cudnn.version() if cuda else None,
                       peak_tflops=bf16_peak_tflops(name) if cuda else None,
                       cpus=os.cpu_count() or "?", when=time.strftime("%Y-%m-%d %H:%M:%S %Z"))


def _render_one(job: tuple[str, int, int, tuple[int, int], int]) -> None:
    """Worker: variant `k` of synthetic class `CLASSES[class_index]` as an AVI at `path`."""
    path, k, num_frames, size, class_index = job
    frames = render_video(CLASSES[class_index], group=TRAIN_GROUPS[0] + k, clip=1, seed=0,
                          size=size, num_frames=num_frames)
    encode_avi(Path(path), frames)


def make_epoch_tree(root: Path, plan: Plan) -> EpochTree:
    """A UCF-style tree under `root`: `distinct_per_class` rendered videos per class, each
    linked under many names in training groups 8-21 (no validation groups), one test video
    per class, and split-1 files listing them. Decoding costs the same whatever a frame
    shows, so repeats measure the loaders and the trainer as well as new videos would."""
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
                link(distinct / f"{name}_{k}.avi", root / VIDEO_DIR / video_path(name, group, clip))
                train.append(f"{video_path(name, group, clip)} {label}{crlf}")
        link(distinct / f"{name}_0.avi", root / VIDEO_DIR / video_path(name, 1, 1))
        test.append(f"{video_path(name, 1, 1)}{crlf}")
    splits = root / SPLIT_DIR
    write_text_atomic(splits / "classInd.txt",
                      "".join(f"{i} {n}{crlf}" for i, n in enumerate(names, 1)))
    write_text_atomic(splits / "trainlist01.txt", "".join(train))
    write_text_atomic(splits / "testlist01.txt", "".join(test))
    return EpochTree(splits=str(splits), num_train=len(train), num_test=len(test),
                     num_distinct=len(jobs), classes=names)



def step_setup(work: Path, dry_run: bool) -> int:
    work.mkdir(parents=True, exist_ok=True)
    for name in ("data.json", *(f"{step}.json" for step in TABLE_STEPS)):
        (work / name).unlink(missing_ok=True)
    for store in ("tiny.h5", "frames.h5", "clips.h5"):
        remove_store(work / store)
    facts = device_facts(dry_run)
    write_json_atomic(work / "device.json", facts.to_json())
    if facts.dry:
        why = "dry run asked for" if dry_run else "no CUDA device here"
        notice = (f"gpu-check: {why}: a tiny dry run of the same code path on the CPU "
                  "follows; it measures nothing about a GPU.")
    else:
        notice = f"gpu-check: {facts.device}, torch {facts.torch} (CUDA {facts.cuda})"
    write_text_atomic(work / "notice.txt", notice + "\n")
    print(notice, flush=True)
    plan = DRY_PLAN if facts.dry else gpu_plan()

    tiny = work / "tiny"
    shutil.rmtree(tiny, ignore_errors=True)
    run_command(["synth", "--out", str(tiny), "--size", plan.tiny_size, "--num-frames",
                 str(plan.tiny_frames), "--videos-per-group", "1"])
    run_command(["prepare", "--source", str(tiny), "--out", str(work / "tiny.h5")])
    tree = make_epoch_tree(work / "epoch", plan)
    run_command(["prepare", "--source", str(work / "epoch"), "--out", str(work / "frames.h5")])
    short = ["--short-side", str(plan.clip_short_side)] if plan.clip_short_side else []
    run_command(["prepare", "--source", str(work / "epoch"), "--out", str(work / "clips.h5"),
                 *short])
    data = SetupData(tree, tiny_store=str(work / "tiny.h5"), tiny_splits=str(tiny / SPLIT_DIR),
                     frames_store=str(work / "frames.h5"), clips_store=str(work / "clips.h5"))
    write_json_atomic(work / "data.json", data.to_json())
    return 0

