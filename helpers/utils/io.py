"""Atomic file writes: a reader (or a resumed run) never sees a half-written file."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success rename it over `path`.

    On error the temporary file is removed and `path` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file normal permissions
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: str | os.PathLike, obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False) + "\n")


def read_json_object(path: str | os.PathLike, *, fix: str) -> dict[str, Any]:
    """The JSON object in `path`, or a UserError in one sentence that ends with `fix` (what
    to do about it) when the file is missing, unreadable, not JSON or not an object.

    >>> read_json_object("/nonexistent/setup.json", fix="run notebook 01 again")
    Traceback (most recent call last):
    ...
    helpers.errors.UserError: Cannot read /nonexistent/setup.json (FileNotFoundError); run notebook 01 again.
    """
    from helpers.errors import UserError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"Cannot read {path} ({type(exc).__name__}); {fix}.") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a JSON object; {fix}.")
    return data


def ensure_writable_dir(folder: str | os.PathLike, *, what: str) -> Path:
    """Create `folder` if needed and check it can be written, before a long job starts.

    Failures raise UserError naming `what` (e.g. "--out x.h5") in one sentence.
    """
    from helpers.errors import UserError

    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise UserError(f"{what} cannot be used: {existing} is a file, not a folder; choose a "
                        "path inside a folder (folders are created if missing).")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{what} cannot be used: cannot create the folder {folder} "
                        f"({exc.strerror or exc}); choose a writable location.") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"{what} cannot be used: the folder {folder} is not writable; choose "
                        "another location.")
    return folder


def sha256_file(path: str | os.PathLike, desc: str | None = None) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks; with a progress bar when `desc` is given."""
    import hashlib

    from helpers.utils.progress import bar

    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as f, bar(desc=desc or "", total=path.stat().st_size, unit="B",
                                   unit_scale=True, unit_divisor=1024,
                                   disable=desc is None) as pbar:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
            pbar.update(len(chunk))
    return digest.hexdigest()


def sha256_json(obj: Any) -> str:
    """Hex sha256 of `obj` as canonical JSON (sorted keys): an identity for plain data."""
    import hashlib

    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def open_h5(path: str | os.PathLike, mode: str = "r"):  # -> h5py.File
    """`h5py.File` with HDF5's file locking off, for every HDF5 file this project opens.

    The lock protects nothing here: every file we write is a private temporary file renamed
    into place whole, so no reader ever shares a file with a writer. It only does harm: on
    NFS/Lustre the lock call fails ("unable to lock file"), and any process holding a file
    open for writing (a notebook, h5py's "a" mode) blocks every reader of it.
    """
    import h5py

    return h5py.File(path, mode, locking=False)


def file_stamp(path: str | os.PathLike) -> list[int]:
    """[size, mtime in ns]: tells whether a file changed since it was last read."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns]
