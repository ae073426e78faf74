"""HDF5 files stay readable while another process holds them open for writing.

HDF5 locks every file it opens (shared for reading, exclusive for writing); a held lock, or
a filesystem without locks (NFS, Lustre), makes a plain open fail with "unable to lock file".
Each test first shows that failure, then reads through the project's code.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest

from helpers.data.sources import SourceVideo, iter_frames, probe
from helpers.data.store import Part, PartRef, VideoStore, save_part, store_info, write_store
from helpers.evaluation.predictions import Predictions, load

# Opens each file in h5py's "a" mode (HDF5 takes an exclusive lock) until stdin closes.
HOLDER = ("import sys, h5py; files = [h5py.File(p, 'a') for p in sys.argv[1:]]; "
          "print('holding', flush=True); sys.stdin.read()")


@pytest.fixture
def held(monkeypatch) -> Iterator[Callable[[Path], None]]:
    monkeypatch.delenv("HDF5_USE_FILE_LOCKING", raising=False)  # would switch locks off
    procs: list[subprocess.Popen] = []

    def hold(path: Path) -> None:
        proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        with pytest.raises(OSError, match="unable to lock file"):  # the failure being fixed
            h5py.File(path, "r")

    yield hold
    for proc in procs:
        proc.communicate(timeout=30)  # closes stdin: the holder exits
        assert proc.returncode == 0


def _jpeg_part(path: Path, num_frames: int) -> Part:
    frames = [np.full((8, 10, 3), 40 * i, np.uint8) for i in range(num_frames)]
    chunks = [cv2.imencode(".jpg", f)[1].reshape(-1) for f in frames]
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in chunks])]).astype(np.int64)
    part = Part(np.concatenate(chunks), offsets, (8, 10), (8, 10))
    save_part(path, part)
    return part


def test_store_reads_while_another_process_holds_it(tmp_path, held):
    _jpeg_part(tmp_path / "a.npz", 3)
    store_path = tmp_path / "s.h5"
    write_store(store_path, [PartRef("v_YoYo_g01_c01", "YoYo", tmp_path / "a.npz")], ["YoYo"],
                {"source": "x"})
    held(store_path)
    store = VideoStore(store_path)
    frames = store.read_frames(0, [0, 2])
    assert frames.shape == (2, 8, 10, 3) and abs(int(frames[1].mean()) - 80) <= 2
    assert store_info(store_path)["totals"]["frames"] == 3


def test_predictions_load_while_another_process_holds_it(tmp_path, held):
    path = Predictions(["v_YoYo_g01_c01"], np.array([0]), np.array([[1.0]]), ["YoYo"],
                       {"model": "m"}).save(tmp_path / "p.h5")
    held(path)
    assert load(path).attrs == {"model": "m"}


def test_course_hdf5_source_reads_while_another_process_holds_it(tmp_path, held):
    path = tmp_path / "v_YoYo_g01_c01.hdf5"
    frames = np.arange(2 * 4 * 6 * 3, dtype=np.uint8).reshape(2, 4, 6, 3)
    with h5py.File(path, "w") as f:
        f["video"] = frames
    held(path)
    video = SourceVideo(path.stem, "YoYo", path, "hdf5")
    assert (probe(video).num_frames, probe(video).height) == (2, 4)
    np.testing.assert_array_equal(np.stack(list(iter_frames(video))), frames)


def test_a_second_writer_of_the_same_folder_is_refused_at_once(tmp_path):
    """`exclusive` (synth and prepare hold it while they write): a second holder gets the
    given sentence, and the lock is free again once the first block ends."""
    from helpers.errors import UserError
    from helpers.utils.locking import exclusive

    lock = tmp_path / "lock"
    with exclusive(lock, "first"):
        with pytest.raises(UserError, match=r"^Another run is writing here; wait\.$"):
            with exclusive(lock, "Another run is writing here; wait."):
                pass
    with exclusive(lock, "free again"):
        pass
