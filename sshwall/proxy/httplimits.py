"""The HTTP frontend's bounds (``sshwall serve --listen``): their defaults and their options.

See docs/http.md for what each bound does and what a client sees when it is reached.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields


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


_OPTIONS = {
    "header_timeout_s": ("--http-header-timeout", float, "seconds a client has to send a request's headers"),
    "body_timeout_s": ("--http-body-timeout", float, "seconds a client has to send a request's body"),
    "keepalive_s": ("--http-keepalive", float, "seconds an idle keep-alive connection stays open"),
    "max_connections": ("--http-max-connections", int, "connections open at once (503 beyond)"),
    "session_idle_s": ("--http-session-idle", float, "seconds an idle MCP session lives"),
    "max_sessions": ("--http-max-sessions", int, "MCP sessions open at once (503 beyond)"),
    "max_sessions_per_identity": ("--http-max-sessions-per-identity", int, "MCP sessions per identity (429 beyond)"),
}


def _positive(kind: type) -> object:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {text!r}")
        return value

    return parse


def add_http_options(parser: argparse.ArgumentParser) -> None:
    """Add the ``--http-*`` options (used with ``--listen``)."""
    default = HttpLimits()
    for f in fields(HttpLimits):
        flag, kind, text = _OPTIONS[f.name]
        parser.add_argument(flag, dest=f"http_{f.name}", type=_positive(kind), default=getattr(default, f.name),
                            metavar="N", help=f"with --listen: {text} (default {getattr(default, f.name):g})")


def http_limits(args: argparse.Namespace) -> HttpLimits:
    """The bounds ``add_http_options`` parsed (defaults for any option the parser lacks)."""
    default = HttpLimits()
    return HttpLimits(**{f.name: getattr(args, f"http_{f.name}", getattr(default, f.name)) for f in fields(HttpLimits)})
