"""The HTTP frontend reads each POSTed JSON-RPC frame as the stdio relay does, before the SDK.

The SDK's message model takes a request whose id has another type than string or integer
(``1.5``, ``true``, ``{}``, ``null``) for a notification and answers it 202 with nothing, so it
would be neither answered nor decided. And a ``tools/call`` sent as a notification, or under a
look-alike method name, must never reach the upstream. This ASGI layer reads the body through
the frontend's one intake (``sshwall.proxy.frontend.intake``) and refuses such frames the way the streamable HTTP transport says
("if the server cannot accept the input, it MUST return an HTTP error status code (e.g., 400
Bad Request); the body MAY comprise a JSON-RPC error response that has no id"): HTTP 400 with
a JSON-RPC error whose id is null. A request with a valid id naming a look-alike method gets
its error with its id. It also bounds the time a client may take to send the body.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

from sshwall.proxy.frontend import intake
from sshwall.proxy.jsonrpc import INVALID_REQUEST, PARSE_ERROR, error
from sshwall.proxy.tokens import ASGIApp, Scope

METHOD_KEY = "sshwall_rpc_method"
"""Where the guard leaves the frame's method in ``scope["state"]`` (``initialize`` opens a session)."""
Send = Callable[[Any], Awaitable[None]]
Receive = Callable[[], Awaitable[Any]]


async def answer(send: Send, status: int, msg: dict[str, Any], headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send one JSON response."""
    body = json.dumps(msg, separators=(",", ":")).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


def _valid_id(msg_id: Any) -> bool:
    return isinstance(msg_id, (str, int)) and not isinstance(msg_id, bool)


def guard_frames(app: ASGIApp, max_bytes: int, body_timeout_s: float) -> ASGIApp:
    """Wrap an ASGI app: every POST body is decoded and checked before the app sees it."""

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST":
            await app(scope, receive, send)
            return
        try:
            async with asyncio.timeout(body_timeout_s):
                body = await read_body(receive, max_bytes)
        except TimeoutError:
            await answer(send, 408, error(None, INVALID_REQUEST, f"sshwall: the request body took over {body_timeout_s:g} s"),
                         [(b"connection", b"close")])
            return
        if body is None:  # the client went away
            return
        if len(body) > max_bytes:
            await answer(send, 413, error(None, INVALID_REQUEST, f"sshwall: message over the limit of {max_bytes} bytes"))
            return
        frame = intake(body)  # the one intake the stdio transports use too
        if frame.message is None:
            reply = frame.reply or error(None, PARSE_ERROR, "not JSON: the body is empty")
            if _valid_id(reply.get("id")):  # a well-formed request: its error answers it
                await answer(send, 200, reply)
            else:
                await answer(send, 400, {**reply, "id": None})
            return
        msg = frame.message
        if isinstance(msg.get("method"), str):
            scope.setdefault("state", {})[METHOD_KEY] = msg["method"]
        await app(scope, _replay(body, receive), send)

    return guarded


async def read_body(receive: Receive, max_bytes: int) -> bytes | None:
    """The whole body (stops reading one byte past ``max_bytes``); None if the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message.get("type") == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size > max_bytes or not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the app the body already read, then the client's own events."""
    given = False

    async def replayed() -> Any:
        nonlocal given
        if not given:
            given = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed
