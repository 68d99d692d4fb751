"""A stdio upstream's two directions of bookkeeping: the requests awaiting answers, and the read loop.

``PendingRequests`` matches answers to the requests sshwall sent, by the ids it gave them (a
client's own ids never reach the upstream), and remembers which were cancelled upstream already.
``read_frames`` reads the upstream's stdout until it ends: lines that are not JSON (Mcp Ssh
prints log lines on stdout) are skipped and logged, answers go to their waiting request, and the
upstream's own requests and notifications to the handler.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

from sshwall.errors import FrameError, UpstreamDied
from sshwall.proxy.jsonrpc import LineReader, Message, decode, is_request
from sshwall.proxy.upstream import Handler

log = logging.getLogger("sshwall.upstream")

__all__ = ["PendingRequests", "read_frames"]


class PendingRequests:
    """The requests sent to one upstream and not answered yet, by the ids sshwall gave them."""

    def __init__(self) -> None:
        self._futures: dict[int, asyncio.Future[Message]] = {}
        self._by_client: dict[Any, int] = {}
        self._cancelled: set[int] = set()  # upstream ids whose cancellation was already sent
        self._ids = itertools.count(1)

    def new_id(self) -> int:
        """The id of the next request (ids are never reused, across restarts too)."""
        return next(self._ids)

    def add(self, msg_id: int, fut: asyncio.Future[Message], client_id: Any = None) -> None:
        """Request ``msg_id`` (the client's ``client_id``, if any) awaits its answer in ``fut``."""
        self._futures[msg_id] = fut
        if client_id is not None:
            self._by_client[client_id] = msg_id

    def done(self, msg_id: int, client_id: Any = None) -> None:
        """Request ``msg_id`` was answered, failed or given up: forget it."""
        self._futures.pop(msg_id, None)
        self._cancelled.discard(msg_id)
        if client_id is not None and self._by_client.get(client_id) == msg_id:
            self._by_client.pop(client_id, None)

    def upstream_id(self, client_id: Any) -> int | None:
        """The id the upstream knows the client's request ``client_id`` by, while it waits."""
        return self._by_client.get(client_id)

    def first_cancel(self, msg_id: int) -> bool:
        """True the first time: the cancellation of ``msg_id`` is to be sent (once only)."""
        if msg_id in self._cancelled:
            return False
        self._cancelled.add(msg_id)
        return True

    def answer(self, msg: Message) -> None:
        """Hand an answer frame to the request with its id (none waiting: dropped)."""
        fut = self._futures.get(msg.get("id"))  # type: ignore[arg-type]
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def fail_all(self, why: str) -> None:
        """Every request still waiting fails with ``UpstreamDied(why)``."""
        for fut in self._futures.values():
            if not fut.done():
                fut.set_exception(UpstreamDied(why))


async def read_frames(reader: LineReader, max_bytes: int, on_answer: Callable[[Message], None],
                      on_message: Handler) -> None:
    """Reads frames until the upstream's stdout ends: answers to ``on_answer``, the upstream's
    requests and notifications to ``on_message`` (whose failures are logged, never raised)."""
    while True:
        try:
            line = await reader.next_frame()
        except EOFError:
            return
        if line is None:
            log.warning("upstream sent a frame over %d bytes; dropped", max_bytes)
            continue
        if not line.strip():
            continue
        try:
            msg = decode(line, max_bytes)
        except FrameError:
            log.info("upstream: %s", line[:500].decode("utf-8", "replace"))
            continue
        if "method" not in msg:
            on_answer(msg)
            continue
        try:
            await on_message(msg)
        except Exception:  # a handler bug must not stop the reader
            log.exception("handling upstream %s failed", "request" if is_request(msg) else "notification")
