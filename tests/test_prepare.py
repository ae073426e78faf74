"""`prepare`: the three source layouts, failures in the report, resume after SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import av
import h5py
import numpy as np
import pytest

from helpers.cli import main
from helpers.data import encode, prepare, space
from helpers.data.prepare import prepare_store, prepare_stores
from helpers.data.sources import (
    SourceError,
    SourceVideo,
    check_decoded_count,
    discover,
    iter_frames,
)
from helpers.data.store import VideoStore, parts_dir_for, report_path_for
from helpers.data.store_report import StoreReport, VideoIssue, read_report
from helpers.data.targets import target_size
from helpers.errors import UserError
from helpers.paths import REPO_ROOT
from helpers.utils import locking
from helpers.utils.pool import run_pool

CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "YoYo"]


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("UCF_NO_PROGRESS", "1")


def make_frames(num_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """Smooth frames with a moving block: compressible, yet different per frame and video."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, np.full_like(x, rng.integers(256))], -1)
    frames = np.repeat(base[None].astype(np.uint8), num_frames, axis=0)
    for t in range(num_frames):
        x0 = (t * 4 + seed * 7) % (width - 8)
        frames[t, height // 4:height // 4 + 8, x0:x0 + 8] = (255, 0, 0)  # red, to catch BGR
    return frames


def make_avi(path: Path, frames: np.ndarray) -> Path:
    """An MPEG-4 Part 2 AVI, like UCF-101's XviD files."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.height, stream.width = frames.shape[1:3]
        stream.pix_fmt = "yuv420p"
        stream.options = {"qscale": "2"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def write_class_index(folder: Path, classes=CLASSES) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = "".join(f"{i} {name}\r\n" for i, name in enumerate(classes, start=1))
    (folder / "classInd.txt").write_text(lines, newline="")
    return folder


def pyav_decode(path: Path) -> np.ndarray:
    """An independent decode (PyAV), to judge what the store adds on top of the codec."""
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse)) if mse else float("inf")


def store_arrays(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        return {k: f[k][...] for k in f}


# --- sources ---------------------------------------------------------------------------------

def test_target_size_keeps_aspect_and_even_sides():
    assert target_size((240, 320), None) == (240, 320)
    assert target_size((240, 320), 128) == (128, 170)
    assert target_size((320, 240), 112) == (150, 112)
    assert target_size((241, 321), 0) == (241, 321)


def test_discover_layouts_and_handstand_quirk(tmp_path):
    frames = make_frames(3, 16, 16, 0)
    make_avi(tmp_path / "a" / "UCF-101" / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi",
             frames)
    make_avi(tmp_path / "a" / "UCF-101" / "YoYo" / "v_YoYo_g01_c01.avi", frames)
    (tmp_path / "a" / "UCF-101" / "YoYo" / "notes.txt").write_text("ignored: not a video")
    found = discover(tmp_path / "a", CLASSES)
    assert [(v.name, v.class_name, v.kind) for v in found] == [
        ("v_HandStandPushups_g01_c01", "HandstandPushups", "avi"),
        ("v_YoYo_g01_c01", "YoYo", "avi")]
    # the class folders themselves may be the source
    assert discover(tmp_path / "a" / "UCF-101", CLASSES) == found


@pytest.mark.parametrize("layout, message", [
    ({"Juggling/v_Juggling_g01_c01.avi": 1}, "folder .*Juggling is not a class"),
    ({"v_YoYo_g01_c01.avi": 1}, "not in a class folder"),
    ({"YoYo/v_ApplyEyeMakeup_g01_c01.avi": 1}, "named for class 'ApplyEyeMakeup'"),
    ({"YoYo/clip.avi": 1, "ApplyEyeMakeup/clip.hdf5": 1}, "two videos are named clip"),
    ({"YoYo/readme.txt": 1}, "no .avi or .hdf5 videos"),
])
def test_discover_refuses_ambiguous_trees(tmp_path, layout, message):
    for rel in layout:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    with pytest.raises(UserError, match=message):
        discover(tmp_path, CLASSES)


def test_iter_frames_rgb_from_avi_and_hdf5(tmp_path):
    frames = make_frames(5, 48, 64, 3)
    avi = SourceVideo("v_YoYo_g01_c01", "YoYo", make_avi(tmp_path / "v.avi", frames), "avi")
    decoded = np.stack(list(iter_frames(avi)))
    assert decoded.shape == frames.shape and psnr(decoded, pyav_decode(avi.path)) > 35
    red = decoded[0][(frames[0] == (255, 0, 0)).all(-1)]  # the red block stays red: RGB order
    assert red[:, 0].mean() > 180 and red[:, 2].mean() < 100
    bgr = np.stack(list(iter_frames(avi, bgr=True)))
    np.testing.assert_array_equal(bgr, decoded[..., ::-1])
    with h5py.File(tmp_path / "v.hdf5", "w") as f:
        f["video"] = frames
    course = SourceVideo("v_YoYo_g01_c01", "YoYo", tmp_path / "v.hdf5", "hdf5")
    np.testing.assert_array_equal(np.stack(list(iter_frames(course))), frames)


# --- prepare -------------------------------------------------------------------------------

def test_course_hdf5_tree(tmp_path):
    """Course layout: UCF-101-hdf5/<Class>/<name>.hdf5 with dataset `video` [T, 240, 320, 3]."""
    originals = {}
    for i, (cls, name) in enumerate([("YoYo", "v_YoYo_g01_c01"), ("YoYo", "v_YoYo_g02_c03"),
                                     ("ApplyEyeMakeup", "v_ApplyEyeMakeup_g05_c02")]):
        frames = make_frames(4 + i, 240, 320, seed=i)
        path = tmp_path / "src" / "UCF-101-hdf5" / cls / f"{name}.hdf5"
        path.parent.mkdir(parents=True, exist_ok=True)
        with h5py.File(path, "w") as f:
            f.create_dataset("video", data=frames, chunks=(1, 240, 320, 3))
        originals[name] = (cls, frames)
    splits = write_class_index(tmp_path / "splits")
    report = prepare_store(tmp_path / "src", splits, tmp_path / "s.h5", num_workers=2)
    assert report.videos_ok == 3 and report.failures == () and report.frames == 15
    assert report.source_kind == "hdf5"
    store = VideoStore(tmp_path / "s.h5")
    assert [v.name for v in store.videos] == sorted(originals)
    assert store.frame_size == (240, 320) and store.class_names == CLASSES
    for i, video in enumerate(store.videos):
        cls, frames = originals[video.name]
        assert (video.label, video.label_id) == (cls, CLASSES.index(cls))
        assert video.num_frames == len(frames)
        stored = store.read_frames(i, range(video.num_frames))
        assert psnr(stored, frames) >= 35
        block = stored[0, 60:68]  # the red block stays red (channel order kept)
        assert block[..., 0].max() > 200 and block[..., 2].min() < 100
    assert not parts_dir_for(tmp_path / "s.h5").exists()
    assert json.loads(report_path_for(tmp_path / "s.h5").read_text())["videos_ok"] == 3


def test_broken_videos_are_reported_and_the_rest_stored(tmp_path):
    root = tmp_path / "src" / "UCF-101"
    good = {f"v_YoYo_g0{i}_c01": make_frames(6, 48, 64, seed=i) for i in range(1, 4)}
    for name, frames in good.items():
        make_avi(root / "YoYo" / f"{name}.avi", frames)
    whole = make_avi(tmp_path / "whole.avi", make_frames(20, 48, 64, seed=9)).read_bytes()
    (root / "HandstandPushups").mkdir()
    (root / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi").write_bytes(
        whole[:len(whole) // 2])
    (root / "HandstandPushups" / "v_HandStandPushups_g02_c01.avi").write_bytes(b"")
    (root / "HandstandPushups" / "v_HandStandPushups_g03_c01.avi").write_bytes(
        os.urandom(5000))
    splits = write_class_index(tmp_path / "splits")
    out = tmp_path / "s.h5"
    report = prepare_store(tmp_path / "src", splits, out, num_workers=2)

    reasons = {f.name: f.reason for f in report.failures}
    assert set(reasons) == {"v_HandStandPushups_g01_c01", "v_HandStandPushups_g02_c01",
                            "v_HandStandPushups_g03_c01"}
    assert "truncated" in reasons["v_HandStandPushups_g01_c01"]
    assert "empty" in reasons["v_HandStandPushups_g02_c01"]
    assert all(f.path.endswith(".avi") for f in report.failures)
    assert (report.videos_total, report.videos_ok) == (6, 3)
    assert report.frames == 18 and report.bytes > 0
    assert report.frames_per_s > 0 and report.videos_per_s > 0 and report.seconds > 0
    assert json.loads(report_path_for(out).read_text()) == report.to_json()
    assert read_report(report_path_for(out)) == report
    store = VideoStore(out)
    assert [v.name for v in store.videos] == sorted(good)
    for i, v in enumerate(store.videos):
        direct = pyav_decode(root / "YoYo" / f"{v.name}.avi")  # tiny frames: JPEG costs more
        assert v.num_frames == 6 and psnr(store.read_frames(i, range(6)), direct) >= 30
    assert json.loads(store.attrs["failures"]) == report.to_json()["failures"]


def _declare_frames(path: Path, num_frames: int) -> None:
    """Rewrite the video stream header's frame count (strh dwLength, what decoders report)."""
    data = bytearray(path.read_bytes())
    strh = data.index(b"strh")
    data[strh + 8 + 32:strh + 8 + 36] = num_frames.to_bytes(4, "little")
    path.write_bytes(data)


def _damage_second_half(path: Path) -> None:
    """Zero the second half of the `movi` data, leaving every size field as it was: the RIFF
    header still matches the file, but decoding stops mid-stream."""
    data = bytearray(path.read_bytes())
    movi, index = data.index(b"movi"), data.index(b"idx1")
    start = movi + 4 + (index - movi - 4) // 2
    data[start:index] = bytes(index - start)
    path.write_bytes(data)


def test_video_damaged_mid_stream_fails_and_a_header_off_by_two_is_a_note(tmp_path):
    root = tmp_path / "src" / "UCF-101" / "YoYo"
    damaged = make_avi(root / "v_YoYo_g01_c01.avi", make_frames(40, 48, 64, seed=1))
    _damage_second_half(damaged)
    off_by_two = make_avi(root / "v_YoYo_g02_c01.avi", make_frames(40, 48, 64, seed=2))
    _declare_frames(off_by_two, 42)
    make_avi(root / "v_YoYo_g03_c01.avi", make_frames(40, 48, 64, seed=3))
    out = tmp_path / "s.h5"
    report = prepare_store(tmp_path / "src", write_class_index(tmp_path / "splits"), out,
                           num_workers=2)
    assert [f.name for f in report.failures] == ["v_YoYo_g01_c01"]
    reason = report.failures[0].reason
    assert "damaged mid-stream" in reason and "of the 40 frames" in reason, reason
    assert report.warnings == (VideoIssue("v_YoYo_g02_c01", str(off_by_two.resolve()),
                                          "decoded 40 frames; the header declares 42"),)
    assert json.loads(report_path_for(out).read_text())["failures"] == report.to_json()["failures"]
    store = VideoStore(out)
    assert [(v.name, v.num_frames) for v in store.videos] == [("v_YoYo_g02_c01", 40),
                                                              ("v_YoYo_g03_c01", 40)]


def test_decoded_count_tolerance():
    assert check_decoded_count(40, 40) == "" and check_decoded_count(40, 0) == ""
    assert "declares 42" in check_decoded_count(40, 42)  # off by a few: a note
    assert "declares 44" in check_decoded_count(40, 44)  # 10% short: still a note
    assert "declares 5" in check_decoded_count(3, 5)  # two short of a tiny video: a note
    assert "declares 38" in check_decoded_count(40, 38)  # more than declared: a note
    for decoded, declared in [(39, 44), (14, 40), (1, 300)]:
        with pytest.raises(SourceError, match=f"after {decoded} of the {declared} frames"):
            check_decoded_count(decoded, declared)


def test_synthetic_layout_short_side_and_cli(tmp_path, capsys):
    """Synthetic benchmark: DIR/UCF-101/ + DIR/ucfTrainTestlist/ (no --splits needed)."""
    src = tmp_path / "bench"
    write_class_index(src / "ucfTrainTestlist")
    (src / "classes.json").write_text(json.dumps(CLASSES))
    for i in range(2):
        make_avi(src / "UCF-101" / "YoYo" / f"v_YoYo_g0{i + 1}_c01.avi",
                 make_frames(4, 120, 160, seed=i))
    out = tmp_path / "small.h5"
    assert main(["prepare", "--source", str(src), "--out", str(out), "--workers", "1",
                 "--short-side", "64", "--quality", "80"]) == 0
    assert "2 videos, 8 frames" in capsys.readouterr().out
    store = VideoStore(out)
    assert store.frame_size == (64, 86)  # 160 * 64 / 120 = 85.3 -> nearest even
    assert store.attrs["short_side"] == 64 and store.attrs["quality"] == 80
    with h5py.File(out) as f:
        assert f["video_source_size"][...].tolist() == [[120, 160]] * 2
    assert store.read_frames(1, [3]).shape == (1, 64, 86, 3)

    # a rerun on the finished store is a no-op; other settings are refused, not mixed in
    before = out.stat().st_mtime_ns
    assert main(["prepare", "--source", str(src), "--out", str(out), "--short-side", "64",
                 "--quality", "80"]) == 0
    assert out.stat().st_mtime_ns == before
    capsys.readouterr()
    assert main(["prepare", "--source", str(src), "--out", str(out), "--quality", "80"]) == 1
    assert "already holds a store made with short_side=64" in capsys.readouterr().err


@pytest.mark.parametrize("options, message, code", [
    ({"--source": "missing"}, "is not a folder", 1),
    ({"--splits": None}, "no split files in", 1),
    ({"--splits": "."}, "no classInd.txt", 1),
    ({"--quality": "0"}, "--quality: 0 is not between 1 and 100", 2),
    ({"--quality": "high"}, "--quality: 'high' is not a whole number", 2),
    ({"--workers": "0"}, "--workers: 0 is less than 1", 2),
    ({"--short-side": "1"}, "--short-side: 1 is less than 2", 2),
    ({"--out": "."}, "is a folder", 1),
    ({"--out": "x.h5"}, "exists but is not a finished store", 1),
    ({"--out": "x.h5/s.h5"}, "x.h5 is a file, not a folder", 1),
    ({"--out": "x.h5/deeper/s.h5"}, "x.h5 is a file, not a folder", 1),
    ({"--also-out": "b.h5"}, "--also-out and --also-short-side go together", 1),
    ({"--also-short-side": "64"}, "--also-out and --also-short-side go together", 1),
    ({"--short-side": "64", "--also-short-side": "64", "--also-out": "b.h5"},
     "--also-short-side 64 is the same as --short-side", 1),
    ({"--also-short-side": "64", "--also-out": "s.h5"}, "must be different files", 1),
])
def test_bad_input_is_one_clear_error(tmp_path, capsys, options, message, code):
    make_avi(tmp_path / "src" / "YoYo" / "v_YoYo_g01_c01.avi", make_frames(2, 16, 16, 0))
    write_class_index(tmp_path / "splits")
    (tmp_path / "x.h5").write_text("someone else's file")
    options = {"--source": "src", "--splits": "splits", "--out": "s.h5", **options}
    argv = ["prepare"]
    for key, value in options.items():
        if value is not None:
            paths = ("--source", "--splits", "--out", "--also-out")
            argv += [key, str(tmp_path / value) if key in paths else value]
    if code == 2:  # a wrong argument value: argparse stops before anything runs
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
    else:
        assert main(argv) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and message in err and len(err.splitlines()) == 1
    assert (tmp_path / "x.h5").read_text() == "someone else's file"
    assert not (tmp_path / "s.h5").exists() and not (tmp_path / "b.h5").exists()


def test_unwritable_out_is_one_sentence_without_a_traceback(tmp_path):
    make_avi(tmp_path / "src" / "YoYo" / "v_YoYo_g01_c01.avi", make_frames(2, 16, 16, 0))
    write_class_index(tmp_path / "splits")
    (tmp_path / "file").write_text("x")
    for out, message in [(tmp_path / "file" / "x.h5", "is a file, not a folder"),
                         (Path("/proc/no-such-dir/x.h5"), "No such file or directory")]:
        proc = subprocess.run(
            [sys.executable, "-m", "helpers", "prepare", "--source", str(tmp_path / "src"),
             "--splits", str(tmp_path / "splits"), "--out", str(out)],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
            env={**os.environ, "UCF_NO_PROGRESS": "1"})
        assert proc.returncode == 1, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert proc.stderr.startswith("error:") and message in proc.stderr, proc.stderr


def test_changed_settings_do_not_mix_with_unfinished_parts(tmp_path):
    make_avi(tmp_path / "src" / "YoYo" / "v_YoYo_g01_c01.avi", make_frames(3, 32, 32, 0))
    splits = write_class_index(tmp_path / "splits")
    out = tmp_path / "s.h5"
    parts = parts_dir_for(out)
    parts.mkdir()
    (parts / "settings.json").write_text(json.dumps(
        {"format_version": 1, "source": "elsewhere", "source_kind": "avi", "short_side": 0,
         "quality": 75, "height": 32, "width": 32}))
    with pytest.raises(UserError, match="quality=75 .now 90."):
        prepare_store(tmp_path / "src", splits, out, num_workers=1)
    assert not out.exists()


def test_leftovers_of_a_killed_assembly_are_finished(tmp_path):
    """Killed while writing the store (temp file left) or after its rename (parts left)."""
    for i in range(3):
        make_avi(tmp_path / "src" / "YoYo" / f"v_YoYo_g0{i}_c01.avi", make_frames(3, 32, 32, i))
    splits = write_class_index(tmp_path / "splits")
    out = tmp_path / "s.h5"
    clean = prepare_store(tmp_path / "src", splits, out, num_workers=1)
    expected = store_arrays(out)

    # rebuild the parts, then fake a kill mid-assembly: a half-written temp store
    out.unlink()
    report_path_for(out).unlink()
    prepare_parts_only = subprocess.run(  # parts exist, but the store was never renamed
        [sys.executable, "-c", "import sys; from helpers.data import prepare as p; "
         "p.write_store = lambda *a, **k: sys.exit(9); "
         f"p.prepare_store({str(tmp_path / 'src')!r}, {str(splits)!r}, {str(out)!r}, "
         "num_workers=1)"], cwd=REPO_ROOT, env={**os.environ, "UCF_NO_PROGRESS": "1"},
        capture_output=True, text=True, timeout=120)
    assert prepare_parts_only.returncode == 9, prepare_parts_only.stderr
    assert len(list(parts_dir_for(out).glob("*.npz"))) == 3 and not out.exists()
    stale = tmp_path / f".{out.name}.abc123.tmp"
    stale.write_bytes(b"\x89HDF half written")
    report = prepare_store(tmp_path / "src", splits, out, num_workers=1)
    assert report.resumed == 3 and report.processed == 0
    assert not stale.exists() and not parts_dir_for(out).exists()
    for key, value in store_arrays(out).items():
        np.testing.assert_array_equal(value, expected[key])

    # killed after the store's rename but before the report and the parts' removal
    report_path_for(out).unlink()
    parts_dir_for(out).mkdir()
    again = prepare_store(tmp_path / "src", splits, out, num_workers=1)
    assert again.videos_ok == clean.videos_ok and again.frames == clean.frames
    assert again.bytes == clean.bytes
    assert report_path_for(out).is_file() and not parts_dir_for(out).exists()


def test_sigkill_mid_run_resumes_to_the_same_store(tmp_path):
    names = [f"v_YoYo_g{g:02d}_c{c:02d}" for g in range(1, 7) for c in range(1, 5)]
    for i, name in enumerate(names):
        make_avi(tmp_path / "src" / "UCF-101" / "YoYo" / f"{name}.avi",
                 make_frames(40, 240, 320, seed=i))
    make_avi(tmp_path / "src" / "UCF-101" / "YoYo" / "v_YoYo_g07_c01.avi",
             make_frames(5, 240, 320, 0))
    (tmp_path / "src" / "UCF-101" / "YoYo" / "v_YoYo_g07_c02.avi").write_bytes(b"")
    splits = write_class_index(tmp_path / "splits")
    total = len(names) + 2

    clean_outs = {None: tmp_path / "clean.h5", 64: tmp_path / "clean_s64.h5"}
    clean = prepare_stores(tmp_path / "src", splits, clean_outs, num_workers=1)[None]
    assert clean.videos_ok == total - 1 and len(clean.failures) == 1

    # one decode pass fills two stores, each with its own parts folder
    out, small = tmp_path / "killed.h5", tmp_path / "killed_s64.h5"
    argv = [sys.executable, "-m", "helpers", "prepare", "--source", str(tmp_path / "src"),
            "--splits", str(splits), "--out", str(out), "--workers", "1",
            "--also-out", str(small), "--also-short-side", "64"]
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, start_new_session=True,
                            env={**os.environ, "UCF_NO_PROGRESS": "1"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    parts = parts_dir_for(out)
    deadline = time.monotonic() + 120
    while len(list(parts.glob("*.npz"))) < 3:
        assert proc.poll() is None, f"prepare ended before the kill: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "no parts appeared"
        time.sleep(0.005)
    os.killpg(proc.pid, signal.SIGKILL)  # the parent and its worker processes
    proc.wait(timeout=30)
    proc.stderr.close()
    time.sleep(0.2)  # let the killed processes' files settle

    assert not out.exists() and not small.exists(), "a store appeared although killed"
    done = {p.name.split(".")[0] for p in parts.iterdir()
            if p.name.endswith((".npz", ".fail.json"))}
    assert 3 <= len(done) < total and len(list(parts_dir_for(small).glob("*.npz"))) >= 2

    reports = prepare_stores(tmp_path / "src", splits, {None: out, 64: small}, num_workers=1)
    report = reports[None]
    assert report.resumed == len(done) and report.processed == total - len(done)
    assert reports[64].resumed + reports[64].processed == total
    for r in reports.values():
        assert r.videos_ok == total - 1
        assert [f.name for f in r.failures] == ["v_YoYo_g07_c02"]
    for got, want in [(out, clean_outs[None]), (small, clean_outs[64])]:
        killed, expected = store_arrays(got), store_arrays(want)
        assert killed.keys() == expected.keys()
        for key in expected:
            np.testing.assert_array_equal(killed[key], expected[key], err_msg=f"{got}: {key}")
        assert not parts_dir_for(got).exists()


def _crash_on_bad(item: str) -> str:
    if item == "bad":
        os._exit(3)  # what a segfaulting decoder looks like to the pool
    return item


def test_run_pool_isolates_a_video_that_kills_its_worker():
    done: list[str] = []
    crashed: list[str] = []
    items = ["a", "b", "bad", "c", "d", "e"]
    run_pool(items, 2, _crash_on_bad, done.append, crashed.append)
    assert crashed == ["bad"]
    assert sorted(done) == ["a", "b", "c", "d", "e"]


def test_all_failed_refused_and_a_concurrent_run_waits(tmp_path, monkeypatch, capsys):
    import fcntl

    (tmp_path / "src" / "YoYo").mkdir(parents=True)
    (tmp_path / "src" / "YoYo" / "v_YoYo_g01_c01.avi").write_bytes(b"")
    splits = write_class_index(tmp_path / "splits")
    out = tmp_path / "s.h5"
    with pytest.raises(UserError, match="none of the 1 videos could be read"):
        prepare_store(tmp_path / "src", splits, out, num_workers=1)
    assert not out.exists()
    report = read_report(report_path_for(out))
    assert report.videos_ok == 0 and report.failures[0].reason == "empty file (0 bytes)"

    # a second prepare (another task of an array job) waits for the first, then goes on
    monkeypatch.setattr(locking, "POLL_S", 0.05)
    with open(parts_dir_for(out) / "lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running prepare holds it
        threading.Timer(0.5, fcntl.flock, (held, fcntl.LOCK_UN)).start()
        t0 = time.monotonic()
        with pytest.raises(UserError, match="none of the 1 videos could be read"):
            prepare_store(tmp_path / "src", splits, out, num_workers=1)
    assert time.monotonic() - t0 >= 0.5
    assert "waiting for the lock" in capsys.readouterr().err


# --- one decode pass for several stores; the disk space check ----------------------------------

def _tiny_tree(root: Path, num_videos: int = 4) -> Path:
    """`num_videos` small AVIs and one empty (broken) AVI, with split files."""
    for i in range(num_videos):
        cls = CLASSES[i % 2]
        make_avi(root / "UCF-101" / cls / f"v_{cls}_g0{i + 1}_c01.avi",
                 make_frames(10, 48, 64, seed=i))
    (root / "UCF-101" / "YoYo").mkdir(parents=True)
    (root / "UCF-101" / "YoYo" / "v_YoYo_g01_c01.avi").write_bytes(b"")
    write_class_index(root / "ucfTrainTestlist")
    return root


@pytest.fixture
def decodes(monkeypatch) -> Counter:
    """Count each video's decodes: the pool runs in this process, so the count sees them.
    The space estimate's sample (a few frames, tested on its own) is a constant here."""
    counts: Counter = Counter()
    real = encode.iter_frames

    def counting(video, **kwargs):
        counts[video.name] += 1
        return real(video, **kwargs)

    def inline_pool(items, num_workers, work, on_result, on_crash, initializer=None):
        for item in items:
            on_result(work(item))

    monkeypatch.setattr(encode, "iter_frames", counting)
    monkeypatch.setattr(prepare, "run_pool", inline_pool)
    monkeypatch.setattr(space, "sample_bytes_per_frame",
                        lambda videos, sizes, quality: [1000.0] * len(sizes))
    return counts


def _assert_same_store(a: Path, b: Path) -> None:
    got, want = store_arrays(a), store_arrays(b)
    assert got.keys() == want.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


def test_one_pass_builds_both_stores_as_two_passes_would(tmp_path, decodes):
    src = _tiny_tree(tmp_path / "src")
    names = {f"v_{CLASSES[i % 2]}_g0{i + 1}_c01" for i in range(4)}  # the empty AVI: no decode
    prepare_store(src, None, tmp_path / "two" / "native.h5", num_workers=1, space_check=False)
    prepare_store(src, None, tmp_path / "two" / "s32.h5", short_side=32, num_workers=1,
                  space_check=False)
    assert decodes == {name: 2 for name in names}  # the counter sees every decode

    decodes.clear()
    outs = {None: tmp_path / "one" / "native.h5", 32: tmp_path / "one" / "s32.h5"}
    reports = prepare_stores(src, None, outs, num_workers=1, space_check=False)
    assert decodes == {name: 1 for name in names}
    assert VideoStore(outs[32]).frame_size == (32, 42)
    for side, name in [(None, "native.h5"), (32, "s32.h5")]:
        _assert_same_store(outs[side], tmp_path / "two" / name)  # same encoder: same bytes
        report = reports[side]
        assert report.videos_ok == 4 and report.processed == 5 and report.resumed == 0
        assert [f.name for f in report.failures] == ["v_YoYo_g01_c01"]
        assert json.loads(report_path_for(outs[side]).read_text()) == report.to_json()
        assert not parts_dir_for(outs[side]).exists()

    # a rerun on finished stores decodes nothing
    decodes.clear()
    assert prepare_stores(src, None, outs, num_workers=1)[32].frames == 40
    assert not decodes


def test_one_pass_decodes_only_what_some_store_lacks(tmp_path, decodes, monkeypatch):
    src = _tiny_tree(tmp_path / "src")
    reference = {None: tmp_path / "ref.h5", 32: tmp_path / "ref_s32.h5"}
    prepare_stores(src, None, reference, num_workers=1, space_check=False)

    # the native store's parts exist (killed before its assembly), less one video's part
    outs = {None: tmp_path / "native.h5", 32: tmp_path / "s32.h5"}
    with monkeypatch.context() as m:
        m.setattr(prepare, "write_store", lambda *a, **k: sys.exit(9))
        with pytest.raises(SystemExit):
            prepare_store(src, None, outs[None], num_workers=1, space_check=False)
    (parts_dir_for(outs[None]) / "v_HandstandPushups_g02_c01.npz").unlink()

    decodes.clear()
    reports = prepare_stores(src, None, outs, num_workers=1, space_check=False)
    assert len(decodes) == 4 and set(decodes.values()) == {1}  # all: s32 lacks every video
    assert (reports[None].resumed, reports[None].processed) == (4, 1)
    assert (reports[32].resumed, reports[32].processed) == (0, 5)
    for side in outs:
        _assert_same_store(outs[side], reference[side])


def test_disk_space_estimate_counts_written_parts(tmp_path, monkeypatch):
    src = _tiny_tree(tmp_path / "src")
    out = tmp_path / "s.h5"
    seen: list = []

    def record(needs):
        seen.append(needs)
        raise UserError("recorded")

    with monkeypatch.context() as m:
        m.setattr(prepare, "check_space", record)
        with pytest.raises(UserError, match="recorded"):
            prepare_store(src, None, out, num_workers=1)
        assert not parts_dir_for(out).exists()  # estimated before anything is written
        with pytest.raises(UserError, match="recorded"):
            prepare_stores(src, None, {None: out, 32: tmp_path / "small.h5"}, num_workers=1)
    [fresh], [both] = seen
    assert fresh.folder == tmp_path and fresh.stores == [out]
    assert fresh.need == 2 * fresh.store_bytes  # nothing written yet: parts + store
    assert both.stores == [out, tmp_path / "small.h5"]
    assert both.store_bytes == fresh.store_bytes + (both.need - 2 * fresh.store_bytes)
    assert both.store_bytes < both.need < 2 * both.store_bytes  # the small store's parts go

    report = prepare_store(src, None, out, num_workers=1)
    assert report.bytes < fresh.store_bytes < 1.5 * report.bytes  # measured, with margin

    # half done: the parts written so far count as written, not as still to write
    out.unlink()
    with monkeypatch.context() as m:
        m.setattr(prepare, "write_store", lambda *a, **k: sys.exit(9))
        with pytest.raises(SystemExit):
            prepare_store(src, None, out, num_workers=1)
    parts = sorted(parts_dir_for(out).glob("*.npz"))
    parts[0].unlink()
    written = sum(p.stat().st_size for p in parts[1:])
    seen.clear()
    with monkeypatch.context() as m:
        m.setattr(prepare, "check_space", record)
        with pytest.raises(UserError, match="recorded"):
            prepare_store(src, None, out, num_workers=1)
    [[resumed]] = seen
    remaining = resumed.need - resumed.store_bytes
    assert resumed.store_bytes == written + remaining
    assert 0 < remaining < fresh.store_bytes / 2 < resumed.need < fresh.need


def test_too_little_disk_space_is_refused_before_writing(tmp_path, monkeypatch, capsys):
    src = _tiny_tree(tmp_path / "src")
    out = tmp_path / "stores" / "s.h5"
    monkeypatch.setattr(space.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=10**12, free=2_500))
    assert main(["prepare", "--source", str(src), "--out", str(out), "--also-out",
                 str(tmp_path / "stores" / "s32.h5"), "--also-short-side", "32"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: not enough disk space")
    assert "s.h5 and s32.h5" in err and "2.5 KB free" in err and "needs about" in err
    assert "UCF_DATA_DIR=" in err and "--stores DIR" in err, err
    assert sorted(p.name for p in out.parent.iterdir()) == []  # nothing written

    monkeypatch.setattr(space.shutil, "disk_usage",
                        lambda path: SimpleNamespace(total=10**12, used=0, free=10**12))
    assert prepare_store(src, None, out, num_workers=1).videos_ok == 4


def test_pipeline_builds_the_missing_stores_in_one_pass(tmp_path, decodes, monkeypatch):
    from helpers.workflow import pipeline

    src = _tiny_tree(tmp_path / "ucf")
    monkeypatch.setattr(pipeline, "DATA_DIR", tmp_path / "data")
    data = pipeline.prepare_data(pipeline.Setup("ucf101", str(src)), num_workers=1)
    assert set(decodes.values()) == {1} and len(decodes) == 4
    assert VideoStore(data.frame_store).frame_size == (48, 64)
    assert VideoStore(data.clip_store).frame_size == (128, 170)  # profile: short side 128
    decodes.clear()
    data.clip_store.unlink()  # only the missing one is rebuilt
    pipeline.prepare_data(pipeline.Setup("ucf101", str(src)), num_workers=1)
    assert len(decodes) == 4 and data.clip_store.exists()


# --- the report -------------------------------------------------------------------------------

def test_a_report_written_before_loads_and_writes_back_the_same_keys(tmp_path):
    """A report rebuilt after a kill (no throughput), as older versions wrote it, loads with
    None for what it lacks, ignores keys it does not know, and writes back unchanged."""
    old = {"store": "s.h5", "source": "/data", "videos_total": 2, "videos_ok": 1,
           "frames": 9, "bytes": 900,
           "failures": [{"name": "v_A", "path": "/data/v_A.avi", "reason": "empty file"}],
           "warnings": []}
    path = tmp_path / "s.h5.report.json"
    path.write_text(json.dumps({**old, "from_the_future": 1}))
    report = read_report(path)
    assert report.failures == (VideoIssue("v_A", "/data/v_A.avi", "empty file"),)
    assert report.seconds is None and report.quality is None
    assert report.to_json() == old and list(report.to_json()) == list(old)
    path.write_text("[1, 2]")
    with pytest.raises(UserError, match="is not a store report") as exc:
        read_report(path)
    assert len(str(exc.value).splitlines()) == 1
    assert StoreReport.from_json(report.to_json()) == report
