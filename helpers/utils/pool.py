"""Work spread over processes, robust to a worker that dies, and the default worker count.

`run_pool` is what `prepare` decodes with: a video whose decoder segfaults (or that the OOM
killer stops) must cost that one video, not the run. When a worker dies, each item that was
in flight is retried alone; one that kills its worker again is handed to `on_crash`.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any


def default_workers() -> int:
    """The CPU cores this process may use (its affinity on Linux), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _run_until_crash(queue: deque, num_workers: int, work: Callable[[Any], Any],
                     on_result: Callable[[Any], None],
                     initializer: Callable[[], None] | None) -> list:
    """Run `work` over `queue` until it is empty ([]) or a worker dies (the items in flight).

    At most two items per worker are submitted at a time, so on Ctrl-C or a crash only those
    are in flight; the rest stay in `queue`.
    """
    ctx = multiprocessing.get_context("forkserver")  # no fork of a parent holding codec threads
    pool = ProcessPoolExecutor(num_workers, mp_context=ctx, initializer=initializer)
    inflight: dict[Any, Any] = {}
    try:
        while queue or inflight:
            while queue and len(inflight) < 2 * num_workers:
                item = queue.popleft()
                inflight[pool.submit(work, item)] = item
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            crashed = []
            for fut in done:
                item = inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    crashed.append(item)
                    continue
                on_result(result)
            if crashed:
                return crashed + list(inflight.values())
        return []
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def run_pool(items: Sequence, num_workers: int, work: Callable[[Any], Any],
             on_result: Callable[[Any], None], on_crash: Callable[[Any], None],
             initializer: Callable[[], None] | None = None) -> None:
    """`on_result(work(item))` for every item across `num_workers` processes (forkserver),
    each started with `initializer()`.

    When a worker process dies, each item that was in flight is retried alone; one that
    kills its worker again goes to `on_crash`. `work`, `initializer` and the items must be
    picklable.
    """
    queue = deque(items)
    while queue:
        for suspect in _run_until_crash(queue, num_workers, work, on_result, initializer):
            if _run_until_crash(deque([suspect]), 1, work, on_result, initializer):
                on_crash(suspect)
