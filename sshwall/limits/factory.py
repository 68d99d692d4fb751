"""``open_state(url)``: a state backend chosen by URL.

- ``memory://``: per process, nothing persists (the default);
- ``sqlite:///var/lib/sshwall/state.db``: everything after ``sqlite://`` is the path, so three
  slashes give an absolute path and ``sqlite://state.db`` a relative one;
- ``redis://[user:password@]host:port/db?namespace=sshwall`` (also ``rediss://`` for TLS and
  ``unix:///path/redis.sock?db=0``): keys live under ``namespace:`` (default ``sshwall:``).

Every URL may carry ``timeout=SECONDS`` (default 1): how long one operation may wait for the
backend (SQLite's busy timeout, Redis's connect and read timeouts) before it fails with
``StateError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sshwall.errors import UsageError
from sshwall.limits.approvals import ApprovalStore, MemoryApprovals
from sshwall.limits.memory import MemoryLimiter, MemoryTaskRegistry
from sshwall.limits.model import RateLimiter, TaskRegistry

DEFAULT_TIMEOUT_S = 1.0
DEFAULT_NAMESPACE = "sshwall:"


@dataclass(frozen=True)
class State:
    """An open state backend: its rate limiter, its background-task registry and its queue of
    approval requests (``sshwall.limits.approvals``; in-process when not given)."""

    backend: str
    where: str
    limiter: RateLimiter
    tasks: TaskRegistry
    approvals: ApprovalStore = field(default_factory=MemoryApprovals)

    async def close(self) -> None:
        """Close the three parts (the backend's connection goes with the last)."""
        try:
            await self.limiter.close()
            await self.tasks.close()
        finally:
            await self.approvals.close()

    async def __aenter__(self) -> State:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()


async def open_state(url: str = "memory://", *, timeout_s: float | None = None) -> State:
    """Open the backend ``url`` names (see the module docs for the forms).

    ``timeout_s`` overrides the URL's ``timeout``. A malformed URL raises ``UsageError``; a
    SQLite file that cannot be opened raises ``StateError``. Redis is not contacted here, so
    sshwall can start while Redis is down (its calls are denied until Redis is back).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    timeout = timeout_s if timeout_s is not None else _timeout(params.pop("timeout", None), url)
    if not math.isfinite(timeout) or timeout <= 0:
        raise UsageError(f"state URL {url!r}: the timeout must be a positive number of seconds")
    if scheme == "memory":
        if parts.netloc or parts.path or params:
            raise UsageError(f"state URL {url!r}: write just memory://")
        return State("memory", "memory", MemoryLimiter(), MemoryTaskRegistry(), MemoryApprovals())
    if scheme == "sqlite":
        path = url.split("://", 1)[1].split("?", 1)[0]
        if not path or params:
            raise UsageError(f"state URL {url!r}: write sqlite:///absolute/path.db or sqlite://relative.db")
        from sshwall.limits.sqlite import open_sqlite

        limiter, tasks, approvals = await open_sqlite(Path(path), timeout)
        return State("sqlite", f"sqlite at {path}", limiter, tasks, approvals)
    if scheme in ("redis", "rediss", "unix"):
        namespace = params.pop("namespace", DEFAULT_NAMESPACE) or DEFAULT_NAMESPACE
        if not namespace.endswith(":"):
            namespace += ":"
        client_url = urlunsplit(parts._replace(query=urlencode(params)))
        try:
            from sshwall.limits.redis import open_redis  # the redis client is an optional extra
        except ImportError as exc:
            raise UsageError(f"state URL {url!r} needs the redis client: pip install 'sshwall[redis]'") from exc
        try:
            where = f"redis at {_redis_where(parts.hostname, parts.port, parts.path, scheme)}"
        except ValueError as exc:
            raise UsageError(f"state URL {url!r}: {exc}") from None
        limiter_r, tasks_r, approvals_r = open_redis(client_url, where, namespace, timeout)
        return State("redis", where, limiter_r, tasks_r, approvals_r)
    raise UsageError(f"state URL {url!r}: the backend must be memory://, sqlite://PATH or redis://HOST:PORT/DB")


def _timeout(value: str | None, url: str) -> float:
    if value is None:
        return DEFAULT_TIMEOUT_S
    try:
        return float(value)
    except ValueError:
        raise UsageError(f"state URL {url!r}: timeout={value!r} is not a number of seconds") from None


def _redis_where(host: str | None, port: int | None, path: str, scheme: str) -> str:
    """``host:port`` (or the socket path): never the password."""
    if scheme == "unix":
        return path
    return f"{host or '127.0.0.1'}:{port or 6379}"
