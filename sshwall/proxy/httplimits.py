"""The HTTP frontend's bounds (``sshwall serve --listen``) and their defaults.

Their ``--http-*`` options are parsed in ``sshwall.cli.parser``.

See docs/http.md for what each bound does and what a client sees when it is reached.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpLimits:
    """Bounds of the HTTP frontend; the defaults are the documented ones."""

    header_timeout_s: float = 10.0
    """A request's headers must be in this long after the connection opened or the last response."""
    body_timeout_s: float = 30.0
    """A request's body must be in this long after its headers."""
    keepalive_s: float = 5.0
    """An idle keep-alive connection is closed after this long."""
    max_connections: int = 512
    """Connections open at once; one more is answered 503 and closed."""
    session_idle_s: float = 1800.0
    """An MCP session with no request in flight for this long is ended (its id then answers 404)."""
    max_sessions: int = 1000
    """MCP sessions open at once, all identities together (503 beyond)."""
    max_sessions_per_identity: int = 100
    """MCP sessions one identity may hold open (429 beyond)."""

