"""`bench data` on a tiny AVI tree: every row present, every figure measured and finite."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support import write_grey_tree

from helpers.cli import main
from helpers.tools.bench.data import DataBench, bench_data, format_table
from helpers.tools.bench.loader_bench import decode_avi_frames

COUNTS = {"v_Alpha_g01_c01": 30, "v_Alpha_g02_c01": 12, "v_Beta_g01_c01": 24}


def _write_tree(root, counts=COUNTS):
    return write_grey_tree(root, counts)


EXPECTED = {"store_bytes_per_frame", "raw_bytes_per_frame", "store_ratio", "decode_fps",
            "prepare_fps", "prepare_ratio", "frame_dataset_fps", "clip_dataset_cps",
            "avi_clip_cps", "clip_speedup"}


def _check(result: DataBench, videos, frames):
    assert result.videos == videos and result.frames == frames
    for key in EXPECTED:
        assert math.isfinite(getattr(result, key)) and getattr(result, key) > 0, key
    assert result.raw_bytes_per_frame == 48 * 64 * 3
    assert result.store_ratio == pytest.approx(
        result.store_bytes_per_frame / result.raw_bytes_per_frame)
    assert result.clip_speedup == pytest.approx(result.clip_dataset_cps / result.avi_clip_cps)
    rows = result.rows
    assert [r.goal for r in rows] == ["≤ 1/12", "≥ 0.5", "≥ 1,000", "≥ 10×"]
    assert rows[2].met == (result.frame_dataset_fps >= 1000)
    table = format_table(result).splitlines()
    assert len(table) == 2 + 4 and all(line.count("|") == 5 for line in table)


def test_bench_data_on_a_given_tree(tmp_path):
    root = _write_tree(tmp_path / "src")
    result = bench_data(source=root, splits=root / "splits", num_videos=2, num_workers=1,
                        work_dir=tmp_path / "work", seconds=0.1)
    # Two videos picked evenly from three: the first and the last by name.
    _check(result, videos=2, frames=30 + 24)
    assert (tmp_path / "work" / "frames.h5").is_file()


def test_bench_data_on_the_real_clip(shared_dir, capsys):
    assert main(["bench", "data", "--videos", "2", "--seconds", "0.1"]) == 0  # temp work dir
    out = capsys.readouterr().out
    assert "real UCF-101 clip" in out and "320x240" in out
    assert out.count("\n| ") == 5  # header + 4 rows (the separator starts with "|-")


def test_avi_decode_returns_the_asked_frames(tmp_path):
    root = _write_tree(tmp_path)
    path = root / "UCF-101" / "Alpha" / "v_Alpha_g01_c01.avi"
    clip = decode_avi_frames(path, [7, 8, 9, 3, 3], (48, 64))
    assert clip.shape == (5, 48, 64, 3)
    assert np.abs(clip.reshape(5, -1).mean(1) - [42, 48, 54, 18, 18]).max() < 3


def test_bench_train_measures_the_trainer_step():
    import torch

    from helpers.tools.bench.step_bench import bench_train_case

    r = bench_train_case("clip", "r3d18", (3, 4, 32, 32), 2, device=torch.device("cpu"),
                         steps=1, warmup=1, num_classes=5)
    assert r.items_per_s > 0 and r.step_ms > 0
    # forward+backward of a real R3D-18 is far from free: the FLOP counter saw the convs
    assert r.gflop_per_item > 0.1 and r.tflops > 0


@pytest.mark.slow
def test_bench_train_cli_on_cpu(capsys):
    assert main(["bench", "train", "--steps", "1", "--batch-size", "1"]) == 0
    out = capsys.readouterr().out
    assert "resnet50" in out and "r3d50" in out and "need a GPU" in out


def test_bench_needs_a_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["bench"])
    assert exc.value.code == 2


@pytest.mark.slow
def test_bench_data_falls_back_to_synthetic(tmp_path, monkeypatch):
    from helpers.tools.bench import videos

    monkeypatch.setattr(videos, "SHARED_DIR", tmp_path / "absent")
    result = bench_data(num_videos=2, work_dir=tmp_path, seconds=0.1, synth_size=(64, 48))
    assert "synthetic" in result.source
    _check(result, videos=2, frames=2 * videos.SYNTH_FRAMES)


@pytest.mark.parametrize("argv, message", [
    (["data", "--synth-size", "foo"], "--synth-size: 'foo' is not WIDTHxHEIGHT"),
    (["data", "--synth-size", "81x60"], "odd side"),
    (["data", "--videos", "0"], "--videos: 0 is less than 1"),
    (["data", "--workers", "0"], "--workers: 0 is less than 1"),
    (["data", "--seconds", "0"], "--seconds: 0 is not a positive number"),
    (["train", "--steps", "0"], "--steps: 0 is less than 1"),
    (["train", "--batch-size", "-2"], "--batch-size: -2 is less than 1"),
])
def test_bad_values_exit_2_with_one_sentence(capsys, argv, message):
    with pytest.raises(SystemExit) as exc:
        main(["bench", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1


def test_bench_python_api_checks_its_values():
    from helpers.errors import UserError
    from helpers.tools.bench.step_bench import bench_train_case

    with pytest.raises(UserError, match="steps=0"):  # was a ZeroDivisionError
        bench_train_case("clip", "r3d18", (3, 4, 32, 32), 2, device=None, steps=0)
    with pytest.raises(UserError, match="--seconds positive"):
        bench_data(seconds=float("nan"))


# ----------------------------------------------------------------------------- gpu-check
@pytest.mark.parametrize("name, peak", [
    ("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H100 PCIe", 756.0), ("NVIDIA H100 NVL", 835.0),
    ("NVIDIA H200", 989.0), ("NVIDIA A100-SXM4-80GB", 312.0), ("NVIDIA A100 80GB PCIe", 312.0),
    ("NVIDIA L4", None), ("CPU (2 cores)", None),
])
def test_gpu_check_finds_the_bf16_peak_by_device_name(name, peak):
    from helpers.tools.gpucheck.plan import bf16_peak_tflops

    assert bf16_peak_tflops(name) == peak


def test_gpu_check_report_says_which_steps_did_not_finish(tmp_path, capsys):
    import json

    from helpers.tools.gpucheck.rows import Row

    (tmp_path / "device.json").write_text(json.dumps(
        {"dry": False, "device": "NVIDIA H200", "peak_tflops": 989.0, "torch": "2.x"}))
    (tmp_path / "data.json").write_text("{}")
    done = Row("train:resnet50:False", "train step, eager", "ResNet-50 224²", "2,000 img/s",
               ok=True, order=(1, 0, 0), tflops=49.45, share="5.0%")
    stopped = Row("train:r3d50:False", "train step, eager", "R3D-50 16×112²", order=(1, 1, 0))
    (tmp_path / "train.json").write_text(json.dumps({"rows": [done.to_json(), stopped.to_json()]}))
    (tmp_path / "train.status").write_text("124 90 95\n")
    (tmp_path / "compile.status").write_text("skipped 0 0\n")
    (tmp_path / "epoch.status").write_text("1 120 30\n")
    # torchrun and loaders were not run at all
    assert main(["gpu-check", "report", "--work-dir", str(tmp_path),
                 "--out", str(tmp_path / "t.md")]) == 1
    out = capsys.readouterr().out
    assert (tmp_path / "t.md").read_text() == out
    assert "device: NVIDIA H200; bf16 dense peak 989 TFLOP/s (NVIDIA datasheet)" in out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert rows[0].startswith("| check | setting | result |")
    assert "| 2,000 img/s | 49.5 | 5.0% |" in rows[1]
    assert "R3D-50" in rows[2] and "did not finish: timed out after 90 s" in rows[2]
    assert "| compile | – | no result: skipped: no time left" in rows[3]
    assert "torchrun" in rows[4] and "no result: not run" in rows[4]
    assert "| epoch | – | no result: exit code 1 (log: " in rows[6]
    assert len(rows) == 7 and "DRY RUN" not in out


@pytest.mark.slow
def test_gpu_check_script_dry_run_end_to_end(tmp_path):
    """`bash scripts/gpu-check.sh` as a user runs it, forced to its dry run (the same steps
    at tiny CPU sizes): every row of the table is there and none failed."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    work = tmp_path / "gpu-check"
    done = subprocess.run(["bash", str(root / "scripts" / "gpu-check.sh")], cwd=tmp_path,
                          env={**os.environ, "GPU_CHECK_DIR": str(work), "GPU_CHECK_DRY_RUN": "1",
                               "OMP_NUM_THREADS": "2"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout
    notice = [line for line in out.splitlines() if line.startswith("gpu-check: ")
              and "dry run" in line]
    assert len(notice) == 1 and "measures nothing about a GPU" in notice[0]
    table = (tmp_path / "gpu-check.md").read_text()
    assert table in out and "**DRY RUN**" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    checks = [r.split(" | ")[0].lstrip("| ") for r in rows[1:]]
    assert checks == [
        "train step, eager", "train step, torch.compile (eager backend)",
        "train step, eager", "train step, torch.compile (eager backend)",
        "torchrun --nproc_per_node=1", "FrameDataset, 2 workers", "ClipDataset, 2 workers",
        "frame model: one epoch, measured",
        "frame model: UCF-101 epoch, EXTRAPOLATED (not measured)",
        "clip model: one epoch, measured",
        "clip model: UCF-101 epoch, EXTRAPOLATED (not measured)"]
    for row in rows[1:]:
        result = row.split(" | ")[2]
        assert not result.startswith(("failed", "did not finish", "no result")), row
    assert "ResNet-18 32²" in rows[1] and "R3D-18 4×32²" in rows[3] and "img/s" in rows[1]
    assert "started: yes; finished: yes" in rows[5] and "backend gloo" in rows[5]
    assert "frames/s" in rows[6] and "clips/s" in rows[7]
    assert "≈" in rows[9] and "9,537" in rows[9]
    for step in ("setup", "train", "compile", "torchrun", "loaders", "epoch"):
        assert (work / f"{step}.status").read_text().split()[0] == "0", step


def test_gpu_check_rows_are_filled_in_by_name_and_saved_after_each_change(tmp_path):
    import json

    from helpers.tools.gpucheck.rows import Row, StepTable, read_rows

    measured = Row("epoch:frame", "frame model: one epoch, measured", "store")
    extrapolated = Row("extrapolated:frame", "UCF-101 epoch", "9,537 videos", order=(4, 0, 1))
    table = StepTable(tmp_path / "epoch.json", [measured, extrapolated])
    table.set(extrapolated, result="≈ 60 s", ok=True)
    saved = read_rows(json.loads((tmp_path / "epoch.json").read_text()))
    assert saved == [measured, extrapolated]
    assert saved[0].ok is None and saved[0].result == "did not finish"
    assert saved[1].ok is True and saved[1].order == (4, 0, 1)
    with pytest.raises(AttributeError, match="no field 'nope'"):
        table.set(measured, nope=1)


def test_gpu_check_setup_data_round_trips_and_a_damaged_file_is_one_sentence(tmp_path):
    import json

    from helpers.errors import UserError
    from helpers.tools.gpucheck.plan import EpochTree, SetupData, read_data

    data = SetupData(EpochTree("e/splits", 64, 4, 4, ["A", "B"]), tiny_store="t.h5",
                     tiny_splits="t/splits", frames_store="f.h5", clips_store="c.h5")
    (tmp_path / "data.json").write_text(json.dumps(data.to_json()))
    assert read_data(tmp_path) == data
    assert list(data.to_json())[:2] == ["splits", "num_train"]  # the file's keys, flat
    (tmp_path / "data.json").write_text(json.dumps({"splits": "x"}))
    with pytest.raises(UserError, match="lacks 'num_train'; run the setup step again") as exc:
        read_data(tmp_path)
    assert len(str(exc.value).splitlines()) == 1
