"""Caps on the HTTP frontend's sessions: so many per identity, so many in all.

A streamable-HTTP session is opened by an ``initialize`` POST without a session id and lives
until the client deletes it or it has been idle for the session idle timeout (the SDK ends it
then). Sessions opened and abandoned would otherwise pile up; this ASGI layer refuses to open
one more when the caller's identity already holds its share (HTTP 429) or the gateway holds its
total (HTTP 503), each with a JSON-RPC error saying which limit and how to get room.
Which sessions are still alive is asked of the SDK (``live``), so an expired or deleted session
frees its place at once.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from sshwall.proxy.httpframes import METHOD_KEY, Receive, Send, answer
from sshwall.proxy.jsonrpc import UPSTREAM_ERROR, error
from sshwall.proxy.tokens import IDENTITY_KEY, ASGIApp, Scope

SESSION_HEADER = b"mcp-session-id"
TOO_MANY = UPSTREAM_ERROR  # implementation-defined server error, as the SDK's own session cap


def cap_sessions(app: ASGIApp, live: Callable[[], Collection[str]], default_identity: str,
                 per_identity: int, total: int, idle_s: float) -> ASGIApp:
    """Wrap an ASGI app: an ``initialize`` that would open a session over a cap is refused."""
    owned: dict[str, set[str]] = {}  # identity -> session ids it opened
    opening: dict[str, int] = {}  # identity -> initializes being served (not yet answered)

    def prune() -> None:
        alive = set(live())
        for identity in list(owned):
            owned[identity] &= alive
            if not owned[identity]:
                del owned[identity]

    async def guarded(scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("state")
        state: dict[str, Any] = raw if isinstance(raw, dict) else {}
        if (scope.get("type") != "http" or scope.get("method") != "POST" or state.get(METHOD_KEY) != "initialize"
                or any(k.lower() == SESSION_HEADER for k, _ in scope.get("headers", []))):
            await app(scope, receive, send)
            return
        identity = state.get(IDENTITY_KEY)
        identity = identity if isinstance(identity, str) else default_identity
        prune()
        mine = len(owned.get(identity, ())) + opening.get(identity, 0)
        if mine >= per_identity:
            await answer(send, 429, error(None, TOO_MANY, (
                f"sshwall: identity {identity!r} already has {mine} open sessions, the most allowed "
                f"(--http-max-sessions-per-identity {per_identity}); end one (HTTP DELETE) or wait for "
                f"idle ones to expire after {idle_s:g} s")), [(b"retry-after", b"5")])
            return
        everyone = len(live()) + sum(opening.values())
        if everyone >= total:
            await answer(send, 503, error(None, TOO_MANY, (
                f"sshwall: the gateway already has {everyone} open sessions, the most allowed "
                f"(--http-max-sessions {total}); idle ones expire after {idle_s:g} s")), [(b"retry-after", b"5")])
            return
        opening[identity] = opening.get(identity, 0) + 1
        counted = False

        async def watch(message: Any) -> None:
            nonlocal counted
            if message.get("type") == "http.response.start" and not counted:
                counted = True
                _uncount(opening, identity)
                given = next((v.decode("latin-1") for k, v in message.get("headers", []) if k.lower() == SESSION_HEADER), None)
                if given is not None and int(message.get("status", 500)) < 400:
                    owned.setdefault(identity, set()).add(given)
            await send(message)

        try:
            await app(scope, receive, watch)
        finally:
            if not counted:
                _uncount(opening, identity)

    return guarded


def _uncount(opening: dict[str, int], identity: str) -> None:
    left = opening.get(identity, 0) - 1
    if left > 0:
        opening[identity] = left
    else:
        opening.pop(identity, None)
