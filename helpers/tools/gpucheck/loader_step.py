"""`gpu-check loaders`: FrameDataset frames/s and ClipDataset clips/s with the plan's
DataLoader workers (12 on a GPU node), on the stores setup made."""

from __future__ import annotations

from pathlib import Path

from helpers.tools.bench.loader_bench import (
    CLIP_CROP,
    CLIP_LEN,
    FRAME_CROP,
    clip_dataset_cps,
    frame_dataset_fps,
)
from helpers.tools.gpucheck.plan import BLOCK, read_data, read_plan
from helpers.tools.gpucheck.rows import Row, StepTable, failure_text


def step_loaders(work: Path) -> int:
    plan, data = read_plan(work), read_data(work)
    w = plan.loader_workers
    width, height = plan.video_size
    videos = f"{data.tree.num_train + data.tree.num_test} synthetic {width}×{height} videos"
    short = (f" kept at short side {plan.clip_short_side}" if plan.clip_short_side else "")
    frame = Row("loader:frame", f"FrameDataset, {w} workers",
                f"frame store: {videos}; random resized crop to {FRAME_CROP}² + flip, batch 32",
                order=(BLOCK["loaders"], 0))
    clip = Row("loader:clip", f"ClipDataset, {w} workers",
               f"clip store: {videos}{short}; {CLIP_LEN}-frame window, crop to {CLIP_CROP}² "
               "+ flip, batch 8", order=(BLOCK["loaders"], 1))
    table = StepTable(work / "loaders.json", [frame, clip])
    for row, measure, store, unit in (
            (frame, frame_dataset_fps, data.frames_store, "frames/s"),
            (clip, clip_dataset_cps, data.clips_store, "clips/s")):
        try:
            rate = measure(Path(store), plan.loader_seconds, num_workers=w)
        except Exception as exc:
            table.set(row, result=failure_text(exc), ok=False)
        else:
            table.set(row, result=f"{rate:,.0f} {unit} ({rate / w:,.0f} per worker)", ok=True)
    return 0
