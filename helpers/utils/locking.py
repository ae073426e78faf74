"""One writer per folder: an advisory lock that a second run finds taken.

`flock` is the lock: the operating system drops it when its process dies, so a killed run
never leaves a stale lock behind (the lock file itself stays; it is empty and harmless).
Only EWOULDBLOCK/EAGAIN mean "another process holds it". A filesystem without working
`flock` (Lustre or NFS mounted without it: ENOSYS, EOPNOTSUPP, ENOLCK) falls back to an
`O_EXCL` lock file beside it, `<lock>.held`, that records the host, process and job id; it
is stale once its process is gone from the same host, and a holder on another host is named
so that a person can delete it. `UCF_FLOCK_ERRNO` (tests only) makes `flock` fail with the
given errno, to rehearse such a filesystem.

>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with exclusive(folder / "lock", "Another run is writing here; wait for it to finish."):
...     pass
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import UserError

BUSY = frozenset({errno.EWOULDBLOCK, errno.EAGAIN})
UNSUPPORTED = frozenset({errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOLCK})
FAULT_ENV = "UCF_FLOCK_ERRNO"  # tests: flock fails with this errno (a name such as ENOSYS)
POLL_S = 2.0


@dataclass(frozen=True)
class Holder:
    """Who holds an O_EXCL lock file."""

    host: str
    pid: int
    job: str

    @classmethod
    def me(cls) -> Holder:
        job = os.environ.get("SLURM_JOB_ID") or os.environ.get("PBS_JOBID") or ""
        return cls(socket.gethostname(), os.getpid(), job)

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        parts = text.split()
        if len(parts) < 2 or not parts[1].isdigit():
            return None
        return cls(parts[0], int(parts[1]), parts[2] if len(parts) > 2 else "")

    def line(self) -> str:
        return f"{self.host} {self.pid} {self.job}\n"

    def alive(self) -> bool:
        """False only when it surely is gone: its process has left this host."""
        if self.host != socket.gethostname():
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def describe(self) -> str:
        job = f", job {self.job}" if self.job else ""
        return f"process {self.pid} on {self.host}{job}"


def _flock(handle: object) -> None:
    import fcntl

    fault = os.environ.get(FAULT_ENV)
    if fault:
        code = getattr(errno, fault, None) if not fault.isdigit() else int(fault)
        raise OSError(code, os.strerror(code or 0))
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # type: ignore[arg-type]


def _try_excl(held: Path) -> Holder | None:
    """Create `held` with our name; None on success, else who holds it (a stale holder's
    file is removed and taken over)."""
    for _ in range(2):
        try:
            fd = os.open(held, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                holder = Holder.parse(held.read_text())
            except FileNotFoundError:
                continue  # released meanwhile
            if holder is not None and not holder.alive():
                held.unlink(missing_ok=True)
                continue
            return holder or Holder("?", 0, "")
        with os.fdopen(fd, "w") as f:
            f.write(Holder.me().line())
        return None
    return Holder("?", 0, "")


@contextlib.contextmanager
def exclusive(lock_file: Path, busy: str, *, wait: bool = False) -> Iterator[None]:
    """Hold an exclusive lock on `lock_file` for the block. Another holder: raise
    UserError(`busy`), or with `wait` wait for it (saying so once). Without `fcntl`
    (Windows) the block runs unguarded."""
    try:
        import fcntl
    except ImportError:  # no advisory locks: run unguarded
        yield
        return
    told = False

    def waiting(who: str) -> None:
        nonlocal told
        if not wait:
            raise UserError(busy)
        if not told:
            print(f"waiting for the lock {lock_file}, held by {who}", file=sys.stderr,
                  flush=True)
            told = True
        time.sleep(POLL_S)

    with open(lock_file, "a") as handle:
        while True:
            try:
                _flock(handle)
            except OSError as exc:
                if exc.errno in BUSY:
                    waiting("another process")
                    continue
                if exc.errno not in UNSUPPORTED:
                    raise UserError(f"Cannot lock {lock_file} ({exc.strerror or exc}); check "
                                    "that its folder is writable.") from None
                print(f"note: {lock_file.parent} has no working flock ({exc.strerror}); "
                      f"using the lock file {lock_file.name}.held instead", file=sys.stderr,
                      flush=True)
                break  # no flock on this filesystem: the lock file below
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
            return
    held = lock_file.with_name(lock_file.name + ".held")
    while (holder := _try_excl(held)) is not None:
        if not wait:
            raise UserError(f"{busy} (this filesystem has no flock; the lock file {held} names "
                            f"{holder.describe()}: delete it if that job no longer runs)")
        waiting(f"{holder.describe()} (delete {held} if that job no longer runs)")
    try:
        yield
    finally:
        held.unlink(missing_ok=True)
