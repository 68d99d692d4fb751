"""The frontend core: what both client-side transports share, whatever the era.

The stdio relay (``sshwall.proxy.relay``, the 2025 era on stdio) and the SDK frontend
(``sshwall.proxy.sdk``: streamable HTTP, and the 2026-07-28 era on stdio) are thin transports
over this one core:

- ``intake``: one client frame (bytes) -> a message to route, or the JSON-RPC error to answer
  with (over-size, not JSON, not JSON-RPC, a guarded method spelled loosely, a ``tools/call``
  sent as a notification).
- ``is_modern``: the protocol era, read from the first message ``intake`` decoded.
- ``FrontendCore.request``: one client request -> its result (``tools/call`` decided by the
  firewall, ``tools/list`` filtered, the rest passed to the upstream).
- ``error_fields``: one translation of a failure into a JSON-RPC error (an upstream's own error
  passes with its code, message and ``data``).
- ``FrontendCore.from_upstream``: where a message the upstream sends on its own goes (see
  docs/frontends.md for the rule).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sshwall.errors import FrameError, RpcError, UpstreamError
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.jsonrpc import (
    INTERNAL_ERROR,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    UPSTREAM_ERROR,
    Message,
    check_client_frame,
    decode,
    error,
    is_request,
)
from sshwall.proxy.upstream import Upstream

log = logging.getLogger("sshwall.frontend")

ENVELOPE_PREFIX = "io.modelcontextprotocol/"
"""The 2026-07-28 era's per-request ``_meta`` keys start with this."""

Deliver = Callable[[Message], Awaitable[None]]
"""Sends one upstream-initiated message to a client."""


@dataclass(frozen=True)
class Intake:
    """One client frame read: a ``message`` to route, or a ``reply`` to answer with; neither
    for a blank line."""

    message: Message | None = None
    reply: Message | None = None


def intake(frame: bytes | None) -> Intake:
    """Decode and check one client frame (``None``: one over the reader's size bound; the
    HTTP transport bounds the body before)."""
    if frame is None:
        return Intake(reply=error(None, INVALID_REQUEST, "message over the size limit; dropped"))
    if not frame.strip():
        return Intake()
    try:
        msg = decode(frame)
        check_client_frame(msg)  # a tools/call as a notification, a look-alike method
    except FrameError as err:
        return Intake(reply=error(err.msg_id, err.code, str(err)))
    return Intake(message=msg)


def is_modern(msg: Message) -> bool:
    """True for a request carrying the 2026-07-28 per-request envelope (not ``initialize``)."""
    params = msg.get("params")
    meta = params.get("_meta") if isinstance(params, dict) else None
    return (
        msg.get("method") != "initialize"
        and isinstance(meta, dict)
        and any(k.startswith(ENVELOPE_PREFIX) and k.endswith("protocolVersion") for k in meta)
    )


def error_fields(err: BaseException) -> tuple[int, str, Any]:
    """``(code, message, data)`` of the JSON-RPC error a failed request is answered with.

    The upstream's own error passes as it came (its ``data`` too); an upstream that failed
    (died, hung, unreachable) is ``UPSTREAM_ERROR``; anything else is an internal error whose
    text names only the exception type.
    """
    if isinstance(err, RpcError):
        code = err.error.get("code")
        if not isinstance(code, int) or isinstance(code, bool):
            code = UPSTREAM_ERROR
        return code, str(err.error.get("message", "")), err.error.get("data")
    if isinstance(err, UpstreamError):
        return UPSTREAM_ERROR, f"sshwall: upstream failed: {err}", None
    return INTERNAL_ERROR, f"sshwall: internal error: {type(err).__name__}", None


def error_reply(msg_id: Any, err: BaseException) -> Message:
    """The JSON-RPC error response for request ``msg_id`` that failed with ``err``."""
    code, message, data = error_fields(err)
    return error(msg_id, code, message, data)


class FrontendCore:
    """One firewall and one upstream, shared by every client of the gateway.

    ``peer`` is the one client connection when there is exactly one (stdio): it gets every
    upstream-initiated message nobody else claims. Without it (HTTP, many sessions on one
    upstream) only progress for a tracked token is passed; the upstream's requests are answered
    with an error and its other notifications dropped, since no message may reach another
    identity's client.
    """

    def __init__(self, firewall: Firewall, upstream: Upstream) -> None:
        self.firewall = firewall
        self.upstream = upstream
        self.peer: Deliver | None = None
        self._progress: dict[str, Deliver] = {}  # upstream progress token -> its client
        self._tokens = itertools.count(1)

    async def request(self, method: str, params: Any, caller: Caller, request_id: Any = None) -> Any:
        """Serve one client request (not ``ping``: each transport answers that itself)."""
        if method == "initialize":
            return await self.upstream.initialize(params if params is not None else {})
        if method == "tools/call":
            return await self.firewall.call_tool(params or {}, caller, request_id)
        value = await self.upstream.request(method, params, client_id=request_id)
        if method == "tools/list":
            value = self.filter_tools(value, caller.identity)
        return value

    def filter_tools(self, value: Any, identity: str | None) -> Any:
        """A ``tools/list`` result without the tools the policy hides from ``identity``."""
        if isinstance(value, dict) and isinstance(value.get("tools"), list):
            return {**value, "tools": self.firewall.visible_tools(value["tools"], identity)}
        return value

    def track(self, deliver: Deliver) -> str:
        """A fresh progress token for a request going upstream; the upstream's progress for it
        goes to ``deliver`` until ``forget``. Fresh, so that two clients' tokens never meet."""
        token = f"sshwall-progress-{next(self._tokens)}"
        self._progress[token] = deliver
        return token

    def forget(self, token: str | None) -> None:
        """The request that carried ``token`` is answered."""
        if token is not None:
            self._progress.pop(token, None)

    async def from_upstream(self, msg: Message) -> None:
        """Route one message the upstream sent on its own (a notification or a request)."""
        params = msg.get("params")
        if msg.get("method") == "notifications/progress" and isinstance(params, dict):
            token = params.get("progressToken")
            deliver = self._progress.get(token) if isinstance(token, str) else None
            if deliver is not None:
                await deliver(msg)
                return
        if self.peer is not None:
            await self.peer(msg)
            return
        if is_request(msg):
            await self.refuse(msg, "sshwall serves several clients here and cannot tell whose this is")
            return
        log.debug("upstream notification %s not passed on: no single client to pass it to", msg.get("method"))

    async def refuse(self, msg: Message, why: str) -> None:
        """Answer an upstream's request in the client's place: it cannot be passed on."""
        try:
            await self.upstream.respond(error(msg["id"], METHOD_NOT_FOUND, f"sshwall cannot pass {msg.get('method')} to a client: {why}"))
        except UpstreamError as err:
            log.warning("cannot answer the upstream's %s: %s", msg.get("method"), err)
