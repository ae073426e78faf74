"""Stopping at a step boundary when asked: before a batch job's time limit, or by hand.

A stop is requested by a signal to this process (SIGUSR1, e.g. SLURM's
`--signal=B:USR1@300` forwarded by scripts/cluster/, or SIGTERM) or by the stop file, the
path in `UCF_STOP_FILE`: a Jupyter kernel that trains runs in a session of its own, so the
signal reaches only the `report` process, which creates the file for the kernel (and any
torchrun workers) to see. The long loops call `requested()` at their step boundaries, save
what they have, and raise `helpers.errors.Preempted`; the CLI exits with `STOPPED_EXIT`.
A second signal acts as the signal's default (the process ends at once).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from helpers.errors import Preempted

STOP_FILE_ENV = "UCF_STOP_FILE"
SIGNALS = (signal.SIGUSR1, signal.SIGTERM)

_requested_by: str | None = None  # the signal's name, once one arrived


def stop_file() -> Path | None:
    """The stop file this process watches (`UCF_STOP_FILE`), if any."""
    value = os.environ.get(STOP_FILE_ENV, "")
    return Path(value) if value else None


def requested() -> bool:
    """Whether a stop was requested: a signal arrived, or the stop file exists."""
    if _requested_by is not None:
        return True
    path = stop_file()
    return path is not None and path.exists()


def reason() -> str:
    if _requested_by is not None:
        return f"{_requested_by} received"
    path = stop_file()
    if path is not None and path.exists():
        return f"stop file {path} found"
    return "stop requested"  # by another process of a torchrun group


def check(where: str) -> None:
    """Raise Preempted when a stop was requested; `where` names the step not started."""
    if requested():
        raise Preempted(f"{reason()}, stopped before {where}")


def request(name: str = "request") -> None:
    """Record a stop request and create the stop file (if one is set) for child processes."""
    global _requested_by
    _requested_by = name
    path = stop_file()
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
        except OSError:  # the flag still stops this process
            pass


def _handle(signum: int, frame: FrameType | None) -> None:
    if _requested_by is not None:  # the second signal: its default action, now
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
        return
    name = signal.Signals(signum).name
    request(name)
    print(f"{name} received: stopping at the next step boundary (send it again to end "
          "at once)", flush=True)


@contextlib.contextmanager
def handling(path: str | os.PathLike | None = None) -> Iterator[None]:
    """Within the block, SIGUSR1 and SIGTERM request a stop; with `path`, the stop file is
    that path (passed on to child processes through `UCF_STOP_FILE`). Main thread only;
    the signal handlers, the environment and the request are restored on exit."""
    global _requested_by
    if threading.current_thread() is not threading.main_thread():  # signals: main thread only
        yield
        return
    old = {sig: signal.getsignal(sig) for sig in SIGNALS}
    old_path = os.environ.get(STOP_FILE_ENV)
    _requested_by = None
    if path is not None:
        os.environ[STOP_FILE_ENV] = str(path)
    for sig in SIGNALS:
        signal.signal(sig, _handle)
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        if old_path is None:
            os.environ.pop(STOP_FILE_ENV, None)
        else:
            os.environ[STOP_FILE_ENV] = old_path
        _requested_by = None
