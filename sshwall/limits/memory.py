"""The ``memory`` backend: dicts behind an ``asyncio.Lock``, exact within one process.

The reference implementation of the state layer: the SQLite and Redis backends do the same
thing in a transaction and in a Lua script. Nothing survives the process, and nothing is
shared with other processes.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field

from sshwall.limits.model import (
    BackgroundTask,
    LimitRequest,
    LimitResult,
    TaskCaps,
    TaskResult,
    buckets,
    distinct_keys,
    task_order,
    worse,
)

_SWEEP_EVERY = 1024  # acquires between sweeps of idle keys, so memory stays bounded


@dataclass
class _Log:
    """One key's events (sorted timestamps) and the longest window ever asked of it."""

    events: list[int] = field(default_factory=list)
    retention_ms: int = 0

    def trim(self, now_ms: int, retention_ms: int) -> None:
        """Drop events that have left every window this key is used with."""
        cut = bisect_right(self.events, now_ms - retention_ms)
        if cut:
            del self.events[:cut]


class MemoryLimiter:
    """A ``RateLimiter`` over per-key sorted event lists (sliding window log)."""

    def __init__(self) -> None:
        self._logs: dict[str, _Log] = {}
        self._buckets: dict[str, tuple[int, int]] = {}  # calendar counters: bucket -> (total, end ms)
        self._lock = asyncio.Lock()
        self._since_sweep = 0

    async def acquire(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        """See ``RateLimiter.acquire``."""
        return await self._decide(requests, now_ms)

    async def _decide(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        keys = distinct_keys(requests)
        async with self._lock:
            logs: dict[str, tuple[_Log, int]] = {}
            for key, window in keys.items():
                log = self._logs.get(key) or _Log()
                retention = max(log.retention_ms, window)
                log.trim(now_ms, retention)
                logs[key] = (log, retention)
            full: tuple[LimitRequest, int | None] | None = None
            for request in requests:
                if request.aligned:
                    retry = request.bucket_retry(self._total(request.bucket(now_ms)[0]), now_ms)
                else:
                    retry = _retry_after(logs[request.key][0].events, request, now_ms)
                if retry is not False:
                    full = worse(full, (request, retry))
            if full is not None:
                return LimitResult.deny(*full)
            for key, (log, retention) in logs.items():
                insort(log.events, now_ms)
                log.retention_ms = retention
                self._logs[key] = log
            for key, (amount, end) in buckets(requests, now_ms).items():
                self._buckets[key] = (self._total(key) + amount, end)
            self._since_sweep += 1
            if self._since_sweep >= _SWEEP_EVERY:
                self._sweep(now_ms)
            return LimitResult.allow()

    def _total(self, bucket: str) -> int:
        return self._buckets.get(bucket, (0, 0))[0]

    def _sweep(self, now_ms: int) -> None:
        self._since_sweep = 0
        for key in [k for k, (_, end) in self._buckets.items() if end <= now_ms]:
            del self._buckets[key]
        for key in list(self._logs):
            log = self._logs[key]
            log.trim(now_ms, log.retention_ms)
            if not log.events:
                del self._logs[key]

    def key_count(self) -> int:
        """How many keys hold events or calendar totals (for tests of the sweep)."""
        return len(self._logs) + len(self._buckets)

    async def close(self) -> None:
        """Nothing to release."""


def _retry_after(events: list[int], request: LimitRequest, now_ms: int) -> int | bool | None:
    """``False`` when ``request`` has room; else ms until it has (``None``: never, max 0).

    The window is full exactly when the max-th newest event is still inside it, and it has
    room again when that event leaves: one look, whatever the number of events. Events
    stamped after ``now_ms`` (another replica's clock ahead of ours) count as inside the
    window: clock skew can make a cap stricter, never looser.
    """
    if request.max == 0:
        return None
    if len(events) < request.max:
        return False
    mth_newest = events[-request.max]
    if mth_newest <= now_ms - request.window_ms:
        return False
    return mth_newest + request.window_ms - now_ms


class MemoryTaskRegistry:
    """A ``TaskRegistry`` in a dict keyed by connection id."""

    def __init__(self) -> None:
        self._tasks: dict[str, BackgroundTask] = {}
        self._lock = asyncio.Lock()

    async def start(self, task: BackgroundTask, caps: TaskCaps, now_ms: int) -> TaskResult:
        """See ``TaskRegistry.start``. Tasks past their TTL still count: they run upstream
        until the proxy stops them and calls ``stop``."""
        async with self._lock:
            old = self._tasks.get(task.connection_id)
            if old is not None and caps.one_per_connection:
                return TaskResult(False, task, cap="one_per_connection", limit=1, active=1)
            others = [t for t in self._tasks.values() if t.connection_id != task.connection_id]
            mine = sum(1 for t in others if t.identity == task.identity)
            if caps.max_active is not None and mine >= caps.max_active:
                return TaskResult(False, task, cap="max_active", limit=caps.max_active, active=mine)
            if caps.max_active_total is not None and len(others) >= caps.max_active_total:
                return TaskResult(
                    False, task, cap="max_active_total", limit=caps.max_active_total, active=len(others)
                )
            self._tasks[task.connection_id] = task
            return TaskResult(True, task, replaced=old)

    async def stop(self, connection_id: str) -> BackgroundTask | None:
        """See ``TaskRegistry.stop``."""
        async with self._lock:
            return self._tasks.pop(connection_id, None)

    async def stop_all(self, identity: str | None = None) -> list[BackgroundTask]:
        """See ``TaskRegistry.stop_all``."""
        async with self._lock:
            gone = sorted(
                (t for t in self._tasks.values() if identity is None or t.identity == identity), key=task_order
            )
            for task in gone:
                del self._tasks[task.connection_id]
            return gone

    async def active(self, identity: str | None = None) -> list[BackgroundTask]:
        """See ``TaskRegistry.active``."""
        async with self._lock:
            return sorted(
                (t for t in self._tasks.values() if identity is None or t.identity == identity), key=task_order
            )

    async def expired(self, now_ms: int) -> list[BackgroundTask]:
        """See ``TaskRegistry.expired``."""
        async with self._lock:
            return sorted(
                (t for t in self._tasks.values() if t.expires_ms is not None and t.expires_ms <= now_ms),
                key=task_order,
            )

    async def close(self) -> None:
        """Nothing to release."""
