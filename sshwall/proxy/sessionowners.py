"""An HTTP MCP session belongs to the identity that opened it.

The streamable-HTTP transport names a session in the ``mcp-session-id`` header; knowing the id
is all the SDK asks for. This ASGI layer sits inside ``require_token`` (which puts the proven
identity in the scope): it records the identity a session id was handed out to, and answers
403 to a request of any other identity naming it, and 404 to a session id it never handed out.
Sessions the server answers 404 for (expired, closed) or that are deleted are forgotten.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from sshwall.proxy.tokens import IDENTITY_KEY, ASGIApp, Scope

SESSION_HEADER = "mcp-session-id"
MAX_TRACKED = 100_000
"""Session ids remembered at most; the oldest is forgotten first (then refused with 404)."""


async def _refuse(send: Callable[[Any], Awaitable[None]], status: int, text: str) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": text}}).encode()
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def own_sessions(app: ASGIApp, max_tracked: int = MAX_TRACKED) -> ASGIApp:
    """Wrap an ASGI app so that each MCP session is used only by the identity that opened it."""
    owners: OrderedDict[str, str] = OrderedDict()

    async def guarded(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        state = scope.get("state") or {}
        identity = state.get(IDENTITY_KEY) if isinstance(state, dict) else None
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        asked = headers.get(SESSION_HEADER)
        if asked is not None:
            owner = owners.get(asked)
            if owner is None:
                await _refuse(send, 404, "sshwall: unknown session")
                return
            if owner != identity:
                await _refuse(send, 403, "sshwall: this session belongs to another identity")
                return

        async def watch(message: Any) -> None:
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 0))
                given = next((v.decode("latin-1") for k, v in message.get("headers", [])
                              if k.decode("latin-1").lower() == SESSION_HEADER), None)
                if asked is None and given is not None and isinstance(identity, str) and 200 <= status < 300:
                    owners[given] = identity
                    while len(owners) > max_tracked:
                        owners.popitem(last=False)
                elif asked is not None and (status == 404 or (scope.get("method") == "DELETE" and status < 300)):
                    owners.pop(asked, None)
            await send(message)

        await app(scope, receive, watch)

    return guarded
