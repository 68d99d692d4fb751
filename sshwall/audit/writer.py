"""The audit log's one writer thread: writes run off the event loop, one at a time, in order.

The thread is the only consumer of a FIFO queue, so records are written in the order they were
handed over and the chain stays whole. It is made at the first ``submit``, so a log that is only
ever appended to directly (the CLI, tests) starts no thread; a forked child, whose copy of its
parent's thread does not run, makes its own.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

__all__ = ["WriterThread"]

_A = TypeVar("_A")
_R = TypeVar("_R")


class WriterThread:
    """Runs the calls handed to it on one thread of this process, in the order they came."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._pid = -1

    def submit(self, fn: Callable[[_A], _R], arg: _A) -> Future[_R]:
        """Queues ``fn(arg)``; the future gives its result or its exception.

        Raises ``RuntimeError`` when the thread was shut down (``ThreadPoolExecutor``'s own).
        """
        with self._lock:
            if self._pool is None or self._pid != os.getpid():  # a forked child: its own thread
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
                self._pid = os.getpid()
            return self._pool.submit(fn, arg)

    def shutdown(self) -> None:
        """Waits until what this process queued is done; a later ``submit`` starts a new thread."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None and self._pid == os.getpid():
            pool.shutdown(wait=True)
