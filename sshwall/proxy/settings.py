"""The gateway's settings (``sshwall serve``) as one typed, frozen value.

The CLI (``sshwall.cli.serve``) parses the command line into a ``GatewaySettings``; the
runtime (``sshwall.proxy.gateway.run``) reads nothing else. Checks that need no I/O run when the value is
built, so a bad combination fails before anything starts.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from sshwall.errors import UsageError
from sshwall.proxy.httplimits import HttpLimits
from sshwall.proxy.upstream import DEFAULT_RESTART_AFTER_TIMEOUTS

DEFAULT_MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""Largest client message accepted unless ``--max-message-bytes`` says otherwise."""

BUILTIN_BACKEND = (sys.executable, "-m", "sshwall.backend")
"""How the gateway starts the built-in backend when no upstream command is given."""


@dataclass(frozen=True)
class GatewaySettings:
    """Everything ``sshwall serve`` is told; the defaults are the documented ones."""

    rules: Path | None = None
    """Policy file; ``None``: the embedded readonly-ops policy."""
    audit: Path | None = None
    """Append the audit log to this JSONL file; ``None``: no audit log."""
    audit_fsync: bool = False
    """fsync every audit record."""
    listen: str | None = None
    """``HOST:PORT``: serve streamable HTTP there instead of stdio."""
    metrics_listen: str | None = None
    """``HOST:PORT``: serve ``/metrics`` there, on a port of its own without a token (docs/metrics.md)."""
    upstream_url: str | None = None
    """A streamable-HTTP upstream instead of a command."""
    upstream: tuple[str, ...] = ()
    """The upstream command; empty: the built-in backend."""
    backend_args: tuple[str, ...] = ()
    """Options for the built-in backend (used only when ``upstream`` is empty)."""
    state: str = field(default_factory=lambda: os.environ.get("SSHWALL_STATE", "memory://"))
    """Rate counters and task registry: ``memory://``, ``sqlite:///path.db``, ``redis://...``."""
    tokens: Path | None = None
    """With ``listen``: the bearer-token file (``identity: token`` lines, or JSON)."""
    identity: str = field(default_factory=lambda: os.environ.get("SSHWALL_IDENTITY", "local"))
    """The identity whose grant the stdio client (and an HTTP client without a token) uses."""
    timeout: float = 120.0
    """Seconds an upstream request may take, writing it included."""
    restart_after_timeouts: int = DEFAULT_RESTART_AFTER_TIMEOUTS
    """Restart a stdio upstream after this many requests in a row timed out (0: never)."""
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    """Largest client message accepted."""
    http: HttpLimits = field(default_factory=HttpLimits)
    """Bounds of the HTTP frontend (``--http-*``)."""
    log_level: str = "warning"
    """``debug``, ``info``, ``warning`` or ``error``."""
    mode: str = "enforce"
    """``enforce``, or ``shadow``: decide and audit every call, forward the denied ones too
    (docs/shadow-replay.md)."""

    def __post_init__(self) -> None:
        if self.upstream_url and self.upstream:
            raise UsageError("give either --upstream-url or an upstream command after --, not both")
        if self.timeout <= 0:
            raise UsageError(f"--timeout must be positive, got {self.timeout:g}")
        if self.restart_after_timeouts < 0:
            raise UsageError(f"--restart-after-timeouts must be 0 or more, got {self.restart_after_timeouts}")
        if self.max_message_bytes <= 0:
            raise UsageError(f"--max-message-bytes must be positive, got {self.max_message_bytes}")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise UsageError(f"--log-level {self.log_level!r}: one of debug, info, warning, error")
        if self.metrics_listen is not None:
            host, sep, port = self.metrics_listen.rpartition(":")
            if not sep or not host.strip("[]") or not port.isdigit() or int(port) > 65535:
                raise UsageError(f"--metrics-listen {self.metrics_listen!r}: write HOST:PORT")
        if self.mode not in ("enforce", "shadow"):
            raise UsageError(f"--mode {self.mode!r}: one of enforce, shadow")

    @property
    def upstream_argv(self) -> list[str]:
        """The stdio upstream command: the one given, or the built-in backend with its options."""
        return list(self.upstream) if self.upstream else [*BUILTIN_BACKEND, *self.backend_args]

