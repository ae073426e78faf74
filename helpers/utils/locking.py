"""One writer per folder: an advisory lock that a second run finds taken, at once.

The operating system drops the lock when its process dies, so a killed run never leaves a
stale lock behind (the lock file itself stays; it is empty and harmless).

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with exclusive(folder / "lock", "Another run is writing here; wait for it to finish."):
...     pass
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from helpers.errors import UserError


@contextlib.contextmanager
def exclusive(lock_file: Path, busy: str) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` for the block; raise UserError(`busy`) if another
    process holds it. Without `fcntl` (Windows) the block runs unguarded."""
    try:
        import fcntl
    except ImportError:  # no advisory locks: run unguarded
        yield
        return
    with open(lock_file, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise UserError(busy) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
