"""Frames on their way into an upstream's stdin, written by one task so that no caller waits.

A stopped or stuck upstream stops reading its input; once the pipe is full, a plain
``write`` + ``drain`` blocks whoever sent the frame, with no time bound, and every frame after it
waits behind. Here callers only queue (``put`` never blocks), one writer task moves the frames
to the pipe in order, and a frame that is still queued when its caller gives up is taken back
(``withdraw``): it never reaches the upstream, so nothing needs cancelling there. The queue is
bounded: when it is full the caller gets an ``UpstreamError`` at once, never a wait.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from sshwall.errors import UpstreamDied, UpstreamError

log = logging.getLogger("sshwall.upstream")

MAX_QUEUED_FRAMES = 4096
MAX_QUEUED_BYTES = 64 * 1024 * 1024

Failed = Callable[[UpstreamError], None]


class Outgoing:
    """One queued frame; ``failed`` is told when it cannot be written (the upstream is gone)."""

    __slots__ = ("data", "failed", "state")

    def __init__(self, data: bytes, failed: Failed | None) -> None:
        self.data = data
        self.failed = failed
        self.state = "queued"  # queued -> writing -> written, or withdrawn / lost


class Outbox:
    """The ordered, bounded queue in front of one ``StreamWriter`` and the task that drains it."""

    def __init__(self, writer: asyncio.StreamWriter, *, max_frames: int = MAX_QUEUED_FRAMES,
                 max_bytes: int = MAX_QUEUED_BYTES) -> None:
        self._writer = writer
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._queue: deque[Outgoing] = deque()
        self._bytes = 0
        self._wake = asyncio.Event()
        self._closed: UpstreamError | None = None
        self._task = asyncio.create_task(self._run())

    def put(self, data: bytes, failed: Failed | None = None) -> Outgoing:
        """Queue one frame; ``UpstreamError`` at once when the outbox is closed or full."""
        if self._closed is not None:
            raise self._closed
        if len(self._queue) >= self._max_frames or self._bytes + len(data) > self._max_bytes:
            raise UpstreamError(
                f"upstream is not reading its input ({len(self._queue)} frames, {self._bytes} bytes waiting)"
            )
        item = Outgoing(data, failed)
        self._queue.append(item)
        self._bytes += len(data)
        self._wake.set()
        return item

    def withdraw(self, item: Outgoing) -> bool:
        """Take back a frame not yet handed to the pipe; False when it is (being) written."""
        if item.state != "queued":
            return False
        try:
            self._queue.remove(item)
        except ValueError:
            return False
        self._bytes -= len(item.data)
        item.state = "withdrawn"
        return True

    async def _run(self) -> None:
        while True:
            while not self._queue:
                self._wake.clear()
                await self._wake.wait()
            item = self._queue.popleft()
            self._bytes -= len(item.data)
            item.state = "writing"
            try:
                self._writer.write(item.data)
                await self._writer.drain()
            except (ConnectionError, RuntimeError, OSError) as err:
                item.state = "lost"
                self.close(UpstreamDied(f"upstream closed its input: {err}"), current=item)
                return
            item.state = "written"

    def close(self, reason: UpstreamError, current: Outgoing | None = None) -> None:
        """Stop writing; every frame not written is failed with ``reason``; later ``put`` raise it."""
        if self._closed is None:
            self._closed = reason
        lost = ([current] if current is not None else []) + list(self._queue)
        self._queue.clear()
        self._bytes = 0
        if asyncio.current_task() is not self._task:
            self._task.cancel()
        for item in lost:
            item.state = "lost"
            if item.failed is not None:
                try:
                    item.failed(reason)
                except Exception:  # one waiter's bug must not keep the others waiting
                    log.exception("failing a queued frame")

    async def aclose(self) -> None:
        """``close`` and wait for the writer task to end."""
        self.close(UpstreamDied("upstream is stopping"))
        await asyncio.gather(self._task, return_exceptions=True)
