"""HDF5 files stay readable while another process holds them open for writing.

HDF5 locks every file it opens (shared for reading, exclusive for writing); a held lock, or
a filesystem without locks (NFS, Lustre), makes a plain open fail with "unable to lock file".
Each test first shows that failure, then reads through the project's code.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
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


# ------------------------------------------------ filesystems whose flock fails (injected)
@pytest.mark.parametrize("name", ["EWOULDBLOCK", "EAGAIN"])
def test_only_ewouldblock_and_eagain_mean_busy(tmp_path, monkeypatch, name):
    from helpers.errors import UserError
    from helpers.utils import locking

    monkeypatch.setenv(locking.FAULT_ENV, name)
    with pytest.raises(UserError, match=r"^busy$"):
        with locking.exclusive(tmp_path / "lock", "busy"):
            pass
    assert not (tmp_path / "lock.held").exists()


@pytest.mark.parametrize("name", ["ENOSYS", "EOPNOTSUPP", "ENOLCK"])
def test_no_flock_falls_back_to_an_exclusive_lock_file(tmp_path, monkeypatch, capsys, name):
    """Lustre or NFS without flock: the lock file holds host, process and job id; a second
    holder is refused with the file's name, or waits for it; a dead holder's file is stale."""
    import socket

    from helpers.errors import UserError
    from helpers.utils import locking

    monkeypatch.setenv(locking.FAULT_ENV, name)
    monkeypatch.setenv("SLURM_JOB_ID", "991")
    lock, held = tmp_path / "lock", tmp_path / "lock.held"
    with locking.exclusive(lock, "busy"):
        assert held.read_text().split() == [socket.gethostname(), str(os.getpid()), "991"]
        with pytest.raises(UserError, match=r"^busy \(this filesystem has no flock; the lock "
                           rf"file {held} names process {os.getpid()} on .*, job 991: delete"):
            with locking.exclusive(lock, "busy"):
                pass
    assert not held.exists()
    assert f"{tmp_path} has no working flock" in capsys.readouterr().err

    # stale: a process of this host that has ended
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    held.write_text(f"{socket.gethostname()} {dead} 17\n")
    with locking.exclusive(lock, "busy"):
        assert held.read_text().split()[1] == str(os.getpid())
    # another host's holder is never guessed stale: waited for, until it is deleted
    held.write_text("other-node 1 18\n")
    monkeypatch.setattr(locking, "POLL_S", 0.05)
    timer = threading.Timer(0.3, held.unlink)
    timer.start()
    with locking.exclusive(lock, "busy", wait=True):
        assert held.read_text().split()[0] == socket.gethostname()
    timer.join()
    assert "held by process 1 on other-node, job 18" in capsys.readouterr().err


def test_another_flock_error_is_not_called_busy(tmp_path, monkeypatch):
    from helpers.errors import UserError
    from helpers.utils import locking

    monkeypatch.setenv(locking.FAULT_ENV, "EBADF")
    with pytest.raises(UserError, match=r"^Cannot lock .*lock \(Bad file descriptor\)"):
        with locking.exclusive(tmp_path / "lock", "busy"):
            pass
