"""The JPEG-in-HDF5 store: the real clip round trip, the reader's interface, `info`."""

from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from helpers.cli import main
from helpers.data.prepare import prepare_store
from helpers.data.store import (
    Part,
    PartRef,
    StoredVideo,
    VideoStore,
    parts_dir_for,
    save_part,
    store_info,
    write_store,
)
from helpers.errors import UserError

CLIP = "v_ApplyEyeMakeup_g01_c01"


@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("UCF_NO_PROGRESS", "1")


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse)) if mse else float("inf")


def direct_decode(path: Path) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
    return np.stack(frames)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory, ucf_clip) -> Path:
    """The real clip in a one-class UCF-101-shaped tree, prepared with the defaults."""
    root = tmp_path_factory.mktemp("real")
    folder = root / "src" / "UCF-101" / "ApplyEyeMakeup"
    folder.mkdir(parents=True)
    os.symlink(ucf_clip, folder / ucf_clip.name)
    splits = root / "splits"
    splits.mkdir()
    (splits / "classInd.txt").write_bytes(b"1 ApplyEyeMakeup\r\n")
    out = root / "store.h5"
    os.environ["UCF_NO_PROGRESS"] = "1"
    prepare_store(root / "src", splits, out, num_workers=1)
    return out


def test_real_clip_round_trip(real_store, ucf_clip):
    store = VideoStore(real_store)
    assert store.videos == [StoredVideo(CLIP, "ApplyEyeMakeup", 0, 164)]
    assert store.frame_size == (240, 320)
    assert store.class_names == ["ApplyEyeMakeup"]
    assert store.attrs["quality"] == 90 and store.attrs["short_side"] == 0
    stored = store.read_frames(0, range(164))
    direct = direct_decode(ucf_clip)
    assert stored.shape == direct.shape == (164, 240, 320, 3)
    worst = min(psnr(s, d) for s, d in zip(stored, direct, strict=True))
    assert worst >= 35.0, worst
    # RGB, not BGR: swapping the channels would cost far more than JPEG does
    assert psnr(stored[0][..., ::-1], direct[0]) < worst - 5


def test_read_frames_order_duplicates_and_jpeg(real_store):
    store = VideoStore(real_store)
    every = store.read_frames(0, list(range(164)))
    picked = store.read_frames(0, [10, 3, 3, 163, 4, 0])
    np.testing.assert_array_equal(picked, every[[10, 3, 3, 163, 4, 0]])
    jpeg = store.read_jpeg(0, 7)
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR_RGB)
    np.testing.assert_array_equal(decoded, every[7])
    assert store.read_frames(0, []).shape == (0, 240, 320, 3)
    with pytest.raises(IndexError, match="164 frames"):
        store.read_frames(0, [164])
    with pytest.raises(IndexError):
        store.read_frames(1, [0])


def _read_in_child(store: VideoStore, queue) -> None:
    frames = store.read_frames(0, [0, 50, 100])
    queue.put((frames, store._pid == os.getpid()))


def test_store_reopens_once_per_process(real_store):
    store = VideoStore(real_store)
    expected = store.read_frames(0, [0, 50, 100])  # the parent holds an open handle now
    assert store._pid == os.getpid()
    clone = pickle.loads(pickle.dumps(store))  # h5py handles cannot be pickled: must be dropped
    assert clone._file is None
    np.testing.assert_array_equal(clone.read_frames(0, [0, 50, 100]), expected)
    # fork (the DataLoader default on Linux) inherits the open handle: children must reopen
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    children = [ctx.Process(target=_read_in_child, args=(store, queue)) for _ in range(2)]
    for child in children:
        child.start()
    results = [queue.get(timeout=60) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    for frames, reopened in results:
        assert reopened
        np.testing.assert_array_equal(frames, expected)
    store.close()
    assert store._file is None
    np.testing.assert_array_equal(store.read_frames(0, [0, 50, 100]), expected)


def test_index_and_unknown_name(real_store):
    store = VideoStore(real_store)
    assert store.index(CLIP) == 0 and len(store) == 1
    with pytest.raises(KeyError):
        store.index("v_Nope_g01_c01")
    with pytest.raises(UserError, match="v_Nope_g01_c01.*not in"):
        store.index("v_Nope_g01_c01")


def _parts(tmp_path: Path, sizes: list[int], hw=(4, 6)) -> list[PartRef]:
    """Parts whose 'JPEG' bytes are recognisable (the writer does not decode them)."""
    refs = []
    for i, n in enumerate(sizes):
        lengths = np.arange(1, n + 1) + 10 * i
        data = np.concatenate([np.full(k, 10 * i + j, np.uint8) for j, k in enumerate(lengths)])
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        path = tmp_path / f"v{i}.npz"
        save_part(path, Part(data, offsets, hw, (hw[0] * 2, hw[1] * 2)))
        refs.append(PartRef(f"v_{i}_C{i % 2}", f"C{i % 2}", path))
    return refs


def test_write_store_layout(tmp_path):
    refs = _parts(tmp_path, [3, 1, 2])
    out = tmp_path / "s.h5"
    totals = write_store(out, refs[::-1], ["C0", "C1"], {"source": "x", "quality": 90})
    assert totals == {"videos": 3, "frames": 6, "bytes": (1 + 2 + 3) + 11 + (21 + 22)}
    with h5py.File(out) as f:
        assert f["video_names"].asstr()[...].tolist() == ["v_0_C0", "v_1_C1", "v_2_C0"]
        assert f["video_label_ids"][...].tolist() == [0, 1, 0]
        assert f["video_num_frames"][...].tolist() == [3, 1, 2]
        assert f["video_first_frame"][...].tolist() == [0, 3, 4]
        assert f["video_source_size"][...].tolist() == [[8, 12]] * 3
        offsets, jpeg = f["frame_offsets"][...], f["jpeg"][...]
        assert offsets.tolist() == [0, 1, 3, 6, 17, 38, 60]
        # frame j of video i is a run of the byte 10*i + j
        assert set(jpeg[offsets[4]:offsets[5]].tolist()) == {20}
        assert set(jpeg[offsets[5]:offsets[6]].tolist()) == {21}
        assert f.attrs["height"] == 4 and f.attrs["width"] == 6 and f.attrs["format_version"] == 1
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)  # readable by others under umask 022


def test_write_store_refuses_mixed_sizes(tmp_path):
    small, big = tmp_path / "small", tmp_path / "big"
    small.mkdir()
    big.mkdir()
    refs = [_parts(small, [1])[0], _parts(big, [1, 1], hw=(8, 8))[1]]
    with pytest.raises(ValueError, match="frame size"):
        write_store(tmp_path / "s.h5", refs, ["C0", "C1"], {})
    assert not (tmp_path / "s.h5").exists()


def test_missing_partial_and_foreign_files(tmp_path):
    out = tmp_path / "s.h5"
    with pytest.raises(UserError, match="no store at"):
        VideoStore(out)
    parts_dir_for(out).mkdir()
    with pytest.raises(UserError, match="not finished.*rerun"):
        VideoStore(out)
    out.write_bytes(b"not hdf5")
    with pytest.raises(UserError, match="not a readable HDF5 store"):
        VideoStore(out)
    with h5py.File(out, "w") as f:
        f["jpeg"] = np.zeros(3, np.uint8)
    with pytest.raises(UserError, match="not a complete video store"):
        VideoStore(out)


def test_info_json_and_text(real_store, tmp_path, capsys):
    info = store_info(real_store)
    assert set(info) == {"videos", "totals"}
    assert info["videos"] == [{"name": CLIP, "label": "ApplyEyeMakeup", "num_frames": 164}]
    totals = info["totals"]
    assert totals["videos"] == 1 and totals["frames"] == 164
    assert (totals["height"], totals["width"]) == (240, 320)
    with h5py.File(real_store) as f:
        assert totals["jpeg_bytes"] == f["jpeg"].shape[0] == f["frame_offsets"][-1]
    assert 5_000 < totals["bytes_per_frame"] < 60_000  # JPEG, not raw (230 KB)

    assert main(["info", str(real_store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == info
    assert main(["info", str(real_store)]) == 0
    text = capsys.readouterr().out
    assert "164" in text and "320x240" in text and "quality 90" in text

    assert main(["info", str(tmp_path / "missing.h5")]) == 1
    assert "no store at" in capsys.readouterr().err


def test_copied_store_is_self_contained(real_store, tmp_path):
    """A store is one file: moving it elsewhere keeps it readable."""
    moved = tmp_path / "moved.h5"
    shutil.copy(real_store, moved)
    np.testing.assert_array_equal(VideoStore(moved).read_frames(0, [5]),
                                  VideoStore(real_store).read_frames(0, [5]))


def test_disk_estimate_covers_the_real_clip(real_store, monkeypatch):
    """`prepare`'s space estimate (a few frames sampled, plus a margin) is not below what the
    real clip's native and short-side-128 stores take, nor far above."""
    from helpers.data import prepare

    root = real_store.parent
    small = prepare_store(root / "src", root / "splits", root / "s128.h5", num_workers=1,
                          short_side=128)
    assert VideoStore(root / "s128.h5").frame_size == (128, 170)
    actual = store_info(real_store)["totals"]["jpeg_bytes"] + small.bytes
    seen: list = []

    def record(needs) -> None:
        seen.extend(needs)
        raise UserError("recorded")

    monkeypatch.setattr(prepare, "check_space", record)
    with pytest.raises(UserError, match="recorded"):
        prepare.prepare_stores(root / "src", root / "splits",
                               {None: root / "a.h5", 128: root / "b.h5"}, num_workers=1)
    [need] = seen
    assert actual < need.store_bytes < 1.5 * actual


def test_remove_store_takes_the_report_and_the_parts_and_minds_no_missing_piece(tmp_path):
    from helpers.data.store import remove_store, report_path_for

    out = tmp_path / "s.h5"
    out.write_bytes(b"store")
    report_path_for(out).write_text("{}")
    (parts_dir_for(out) / "sub").mkdir(parents=True)
    keep = tmp_path / "other.h5"
    keep.write_bytes(b"x")
    remove_store(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.h5"]
    remove_store(out)  # nothing left: no error


def test_read_json_reads_leniently_and_link_makes_its_folders(tmp_path):
    from helpers.utils.files import link, read_json

    (tmp_path / "ok.json").write_text('{"a": [1]}')
    (tmp_path / "bad.json").write_text("{half")
    assert read_json(tmp_path / "ok.json") == {"a": [1]}
    assert read_json(tmp_path / "bad.json", default={}) == {}
    assert read_json(tmp_path / "absent.json") is None
    link(tmp_path / "ok.json", tmp_path / "deep" / "er" / "l.json")
    assert (tmp_path / "deep" / "er" / "l.json").resolve() == (tmp_path / "ok.json").resolve()
