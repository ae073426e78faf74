"""`bench data` on a tiny AVI tree: every row present, every figure measured and finite."""

from __future__ import annotations

import math

import numpy as np
import pytest

from helpers.bench import _decode_avi_frames, bench_data, format_table
from helpers.cli import main

COUNTS = {"v_Alpha_g01_c01": 30, "v_Alpha_g02_c01": 12, "v_Beta_g01_c01": 24}


def _write_tree(root, counts=COUNTS, size=(64, 48)):
    """A UCF-style AVI tree with its classInd; frame f of each video is a flat grey 6*f."""
    from helpers.data.synthetic import encode_avi

    classes = sorted({n.split("_")[1] for n in counts})
    (root / "splits").mkdir(parents=True)
    (root / "splits" / "classInd.txt").write_text(
        "".join(f"{i} {c}\r\n" for i, c in enumerate(classes, 1)))
    for name, n in counts.items():
        folder = root / "UCF-101" / name.split("_")[1]
        folder.mkdir(parents=True, exist_ok=True)
        w, h = size
        encode_avi(folder / f"{name}.avi",
                   np.stack([np.full((h, w, 3), 6 * f, np.uint8) for f in range(n)]))
    return root


EXPECTED = {"store_bytes_per_frame", "raw_bytes_per_frame", "store_ratio", "decode_fps",
            "prepare_fps", "prepare_ratio", "frame_dataset_fps", "clip_dataset_cps",
            "avi_clip_cps", "clip_speedup"}


def _check(result, videos, frames):
    assert result["videos"] == videos and result["frames"] == frames
    for key in EXPECTED:
        assert math.isfinite(result[key]) and result[key] > 0, key
    assert result["raw_bytes_per_frame"] == 48 * 64 * 3
    assert result["store_ratio"] == pytest.approx(
        result["store_bytes_per_frame"] / result["raw_bytes_per_frame"])
    assert result["clip_speedup"] == pytest.approx(
        result["clip_dataset_cps"] / result["avi_clip_cps"])
    rows = result["rows"]
    assert [r["goal"] for r in rows] == ["≤ 1/12", "≥ 0.5", "≥ 1,000", "≥ 10×"]
    assert rows[2]["met"] == (result["frame_dataset_fps"] >= 1000)
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
    clip = _decode_avi_frames(path, [7, 8, 9, 3, 3], (48, 64))
    assert clip.shape == (5, 48, 64, 3)
    assert np.abs(clip.reshape(5, -1).mean(1) - [42, 48, 54, 18, 18]).max() < 3


def test_bench_train_measures_the_trainer_step():
    import torch

    from helpers.bench import bench_train_case

    r = bench_train_case("clip", "r3d18", (3, 4, 32, 32), 2, device=torch.device("cpu"),
                         steps=1, warmup=1, num_classes=5)
    assert r["items_per_s"] > 0 and r["step_ms"] > 0
    # forward+backward of a real R3D-18 is far from free: the FLOP counter saw the convs
    assert r["gflop_per_item"] > 0.1 and r["tflops"] > 0


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
    import helpers.bench

    monkeypatch.setattr(helpers.bench, "SHARED_DIR", tmp_path / "absent")
    result = bench_data(num_videos=2, work_dir=tmp_path, seconds=0.1, synth_size=(64, 48))
    assert "synthetic" in result["source"]
    _check(result, videos=2, frames=2 * helpers.bench.SYNTH_FRAMES)


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
    from helpers.bench import bench_train_case
    from helpers.errors import UserError

    with pytest.raises(UserError, match="steps=0"):  # was a ZeroDivisionError
        bench_train_case("clip", "r3d18", (3, 4, 32, 32), 2, device=None, steps=0)
    with pytest.raises(UserError, match="--seconds positive"):
        bench_data(seconds=float("nan"))
