"""The stdio relay: a legacy-era client on stdin/stdout in front of a stdio upstream.

A thin transport over the frontend core (``sshwall.proxy.frontend``): frames are relayed as
they are; only ``tools/call`` (decided by the firewall) and ``tools/list`` (filtered) are read.
Requests run concurrently, and everything else
(initialize, ping, notifications, progress, cancellation, resources, prompts, the upstream's own
requests to the client) passes through with ids mapped. Malformed client frames get JSON-RPC
errors; an upstream failure fails only the requests it touches. A client that declared form-mode
elicitation in its ``initialize`` is asked about calls that need approval with requests of the
relay's own (``sshwall.proxy.elicitation.RelayAsks``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from sshwall.errors import UpstreamError
from sshwall.proxy.elicitation import RelayAsks
from sshwall.proxy.firewall import Caller
from sshwall.proxy.frontend import FrontendCore, Intake, error_reply, intake
from sshwall.proxy.jsonrpc import LineReader, Message, encode, is_request, result

log = logging.getLogger("sshwall.relay")

Write = Callable[[bytes], Awaitable[None]]


class StdioRelay:
    """Relays one client connection to one upstream through the firewall."""

    def __init__(self, core: FrontendCore, write: Write, caller: Caller) -> None:
        self.core = core
        self.upstream = core.upstream
        self._write = write
        self.caller = caller
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight: dict[Any, asyncio.Task[None]] = {}  # client request id -> its task
        self._to_client_ids = itertools.count(1)
        self._upstream_requests: dict[str, Any] = {}  # our id toward the client -> upstream's id
        self.asks = RelayAsks(self.send)  # sshwall's own requests to the client (approval questions)

    async def send(self, msg: Message) -> None:
        """Write one frame to the client."""
        await self._write(encode(msg))

    async def run(self, reader: LineReader) -> None:
        """Serve until the client closes its side; then let in-flight requests finish."""
        while True:
            try:
                frame = await reader.next_frame()
            except EOFError:
                break
            await self.handle(intake(frame))
        self.asks.close()  # nobody is left to answer an approval question
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=self.upstream.timeout)

    async def handle(self, frame: Intake) -> None:
        """Route one client frame the intake read; a bad frame gets its JSON-RPC error."""
        if frame.reply is not None:
            await self.send(frame.reply)
        elif frame.message is not None:
            await self.dispatch(frame.message)

    async def dispatch(self, msg: Message) -> None:
        """Route one client frame."""
        if is_request(msg):
            task = asyncio.create_task(self._request(msg))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if msg["method"] != "initialize":  # the protocol: initialize is never cancelled
                key = _id_key(msg["id"])
                self._inflight[key] = task
                task.add_done_callback(lambda t: self._forget(key, t))
        elif "method" in msg:
            await self._notification(msg)
        else:
            await self._response(msg)

    async def _request(self, msg: Message) -> None:
        msg_id, method, params = msg["id"], msg["method"], msg.get("params")
        try:
            if method == "ping":
                # The gateway is the client's peer: it answers for itself, so a ping never waits
                # behind tool calls on a slow or stuck upstream (whose health --timeout and the
                # hung-upstream restart watch).
                await self.send(result(msg_id, {}))
                return
            if method == "initialize":
                self.asks.handshake(params)
            value = await self.core.request(method, params, self._caller(method), msg_id)
            if method == "initialize":
                self.asks.negotiated(value)
            await self.send(result(msg_id, value))
        except asyncio.CancelledError:
            return  # the client cancelled the request: no answer is sent (the firewall audited it)
        except Exception as err:
            if not isinstance(err, UpstreamError):
                log.exception("request %s failed", method)
            await self.send(error_reply(msg_id, err))

    async def _notification(self, msg: Message) -> None:
        method = msg["method"]
        params = msg.get("params")
        if method == "notifications/cancelled" and isinstance(params, dict):
            request_id = params.get("requestId")
            await self.upstream.cancel(request_id, params.get("reason"))
            task = self._inflight.pop(_id_key(request_id), None) if _cancellable(request_id) else None
            if task is not None and not task.done():
                task.cancel()
        elif method == "notifications/initialized":
            return  # the upstream got its own when the handshake ran
        else:
            await self.upstream.notify(method, params)

    def _caller(self, method: str) -> Caller:
        """Who calls: for a ``tools/call`` of a client that can be asked, with its ``ask``."""
        if method == "tools/call" and self.asks.can_ask:
            return replace(self.caller, ask=self.asks.ask)
        return self.caller

    def _forget(self, key: tuple[str, Any], task: asyncio.Task[None]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]

    async def _response(self, msg: Message) -> None:
        if self.asks.answer(msg):
            return
        upstream_id = self._upstream_requests.pop(str(msg.get("id")), None)
        if upstream_id is None:
            log.warning("client answered an unknown request id %r", msg.get("id"))
            return
        try:
            await self.upstream.respond({**msg, "id": upstream_id})
        except UpstreamError as err:
            log.warning("cannot pass the client's answer on: %s", err)

    async def from_upstream(self, msg: Message) -> None:
        """A notification or request the upstream sends to the client."""
        if is_request(msg):
            our_id = f"sshwall-{next(self._to_client_ids)}"
            self._upstream_requests[our_id] = msg["id"]
            msg = {**msg, "id": our_id}
        await self.send(msg)


def _id_key(msg_id: Any) -> tuple[str, Any]:
    """A request id as a dict key (1 and "1" are different ids)."""
    return (type(msg_id).__name__, msg_id)


def _cancellable(msg_id: Any) -> bool:
    return isinstance(msg_id, (str, int)) and not isinstance(msg_id, bool)
