"""Who is calling over HTTP: bearer tokens mapped to identities (``--tokens FILE``).

The file is JSON or ``identity: token`` lines (YAML-like); each token identifies one grant.
A request without a known token is answered 401 before the MCP layer sees it. Tokens are
compared in constant time and never logged.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from sshwall.errors import UsageError

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
IDENTITY_KEY = "sshwall_identity"


def load_tokens(path: Path) -> dict[str, str]:
    """identity -> token, from a JSON object or ``identity: token`` lines."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise UsageError(f"--tokens {path}: cannot read: {err.strerror or err}") from err
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise UsageError(f"--tokens {path}:{err.lineno}: invalid JSON") from err
    else:
        data = {}
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, token = line.partition(":")
            if not sep:
                raise UsageError(f"--tokens {path}:{n}: write `identity: token`")
            data[name.strip()] = token.strip()
    if not isinstance(data, dict) or not data:
        raise UsageError(f"--tokens {path}: no identities")
    tokens = {str(k): str(v) for k, v in data.items()}
    if any(len(t) < 16 for t in tokens.values()):
        raise UsageError(f"--tokens {path}: tokens must be at least 16 characters")
    return tokens


def identify(tokens: dict[str, str], header: str | None) -> str | None:
    """The identity a ``Bearer TOKEN`` header proves, or None."""
    if not header or not header.lower().startswith("bearer "):
        return None
    offered = header[7:].strip().encode()
    found = None
    for identity, token in tokens.items():
        if hmac.compare_digest(offered, token.encode()):
            found = identity
    return found


def require_token(app: ASGIApp, tokens: dict[str, str]) -> ASGIApp:
    """Wrap an ASGI app: HTTP requests need a known bearer token; its identity goes in
    ``scope["state"][IDENTITY_KEY]``."""

    async def guarded(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope.get("type") != "http":
            await app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        identity = identify(tokens, headers.get("authorization"))
        if identity is None:
            body = b'{"error":"sshwall: a bearer token is required (Authorization: Bearer TOKEN)"}'
            await send({"type": "http.response.start", "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")]})
            await send({"type": "http.response.body", "body": body})
            return
        scope.setdefault("state", {})[IDENTITY_KEY] = identity
        await app(scope, receive, send)

    return guarded


def identity_of(ctx: Any, default: str) -> str:
    """The identity the HTTP request behind ``ctx`` proved, else ``default``."""
    request = getattr(ctx, "request", None)
    state = getattr(request, "scope", {}).get("state", {}) if request is not None else {}
    value = state.get(IDENTITY_KEY) if isinstance(state, dict) else None
    return value if isinstance(value, str) else default
