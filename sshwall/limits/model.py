"""The values and protocols of the state layer: rate-limit requests and results, background tasks.

Every backend (memory, SQLite, Redis) implements the two protocols here with the same
behaviour, and the shared behaviour suite in ``tests/limits`` holds them to it. Time is always
passed in as ``now_ms`` (milliseconds): no backend reads a clock, so tests inject time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from sshwall.errors import UsageError
from sshwall.policy.durations import format_duration
from sshwall.policy.tools import BackgroundRule, Limit

TaskCap = Literal["max_active", "max_active_total", "one_per_connection"]


@dataclass(frozen=True)
class LimitRequest:
    """One cap to check: at most ``max`` events in the sliding window ``(now - window_ms, now]``;
    or, ``aligned``, a calendar counter: at most ``max`` in total in the current epoch-aligned
    window (UTC minute, hour, day), each allowed call adding ``amount``.

    ``key`` names the counter and the scope value it is counted for (``"exec|grant=alice"``);
    requests with the same key share one event log, whatever their windows.
    """

    key: str
    window_ms: int
    max: int
    aligned: bool = False
    amount: int = 1

    def __post_init__(self) -> None:
        if not self.key:
            raise UsageError("a limit key cannot be empty")
        if self.window_ms <= 0:
            raise UsageError(f"limit {self.key!r}: the window must be positive, not {self.window_ms} ms")
        if self.max < 0:
            raise UsageError(f"limit {self.key!r}: max cannot be negative ({self.max})")
        if self.amount < 0 or (self.amount != 1 and not self.aligned):
            raise UsageError(f"limit {self.key!r}: an amount ({self.amount}) must be >= 0, and only calendar counters take one")

    @classmethod
    def for_limit(cls, limit: Limit, scope_value: str, amount: int = 1) -> LimitRequest:
        """The request for a policy ``Limit`` counted for one scope value (an identity, a host...);
        ``amount`` is what a calendar counter adds (``Limit.amount`` or its ``amount_from``)."""
        aligned = limit.align == "calendar"
        return cls(f"{limit.counter}|{limit.scope}={scope_value}", limit.window, limit.max, aligned, amount if aligned else 1)

    def bucket(self, now_ms: int) -> tuple[str, int]:
        """A calendar counter's bucket at ``now_ms``: its key and when it ends (ms).

        Windows are aligned on the epoch, so minute, hour and day windows start at UTC minute,
        hour and midnight boundaries (POSIX time has no leap seconds).
        """
        start = now_ms - now_ms % self.window_ms
        return f"{self.key}@{self.window_ms}@{start}", start + self.window_ms

    def bucket_retry(self, total: int, now_ms: int) -> int | bool | None:
        """``False`` when a calendar counter at ``total`` has room for ``amount``; else ms until
        its bucket ends (``None``: never, the amount alone is over ``max``)."""
        if total + self.amount <= self.max:
            return False
        if self.amount > self.max:
            return None
        return self.bucket(now_ms)[1] - now_ms


@dataclass(frozen=True)
class LimitResult:
    """What ``acquire`` decided.

    Allowed: ``allowed`` is true and the other fields are ``None``. Denied: ``key``,
    ``window_ms`` and ``max`` name the cap that is full (the one that stays full longest when
    several are), and ``retry_after_ms`` says when it has room again if nothing else is
    recorded meanwhile; ``None`` when ``max`` is 0, which never has room.
    """

    allowed: bool
    key: str | None = None
    window_ms: int | None = None
    max: int | None = None
    retry_after_ms: int | None = None
    aligned: bool = False

    @classmethod
    def allow(cls) -> LimitResult:
        """The result of a call that fits every cap."""
        return _ALLOWED

    @classmethod
    def deny(cls, request: LimitRequest, retry_after_ms: int | None) -> LimitResult:
        """The result of a call that ``request``'s cap refuses."""
        return cls(False, request.key, request.window_ms, request.max, retry_after_ms, request.aligned)

    @property
    def retry_after_s(self) -> int | None:
        """``retry_after_ms`` rounded up to whole seconds (what a person is told)."""
        if self.retry_after_ms is None:
            return None
        return math.ceil(self.retry_after_ms / 1000)

    @property
    def reason(self) -> str:
        """A sentence for the agent: which counter, the window, and when it resets."""
        if self.allowed:
            return "within every rate limit"
        assert self.window_ms is not None
        cap = f"rate limit {self.key}: at most {self.max} calls per {format_duration(self.window_ms)}"
        if self.aligned:
            cap = f"counter {self.key}: at most {self.max} per calendar {format_duration(self.window_ms)} (UTC)"
        if self.retry_after_s is None:
            return f"{cap} (never allowed)"
        return f"{cap}; retry after {self.retry_after_s} s"


_ALLOWED = LimitResult(True)


@dataclass(frozen=True)
class BackgroundTask:
    """A background task the firewall let through to the upstream (Mcp Ssh ``backgroundExecute``).

    Mcp Ssh keeps one task per connection, so ``connection_id`` identifies the task.
    ``expires_ms`` is when its TTL runs out (``None``: no TTL).
    """

    connection_id: str
    identity: str
    command: str
    interval_ms: int
    started_ms: int
    expires_ms: int | None = None
    host: str | None = None

    def __post_init__(self) -> None:
        if not self.connection_id:
            raise UsageError("a background task needs a connection id")


@dataclass(frozen=True)
class TaskCaps:
    """Caps checked when a task starts (``None``: no cap).

    ``one_per_connection``: a connection that already has a registered task (running, starting,
    or maybe started) gets no second one; without it a new task replaces the old.
    """

    max_active: int | None = None
    max_active_total: int | None = None
    one_per_connection: bool = False

    @classmethod
    def from_rule(cls, rule: BackgroundRule | None) -> TaskCaps:
        """The caps of a policy's ``background`` rule (no rule: no caps)."""
        if rule is None:
            return cls()
        return cls(rule.max_active, rule.max_active_total)

    def exclusive(self) -> TaskCaps:
        """These caps, with a second task on a connection refused instead of replacing."""
        return TaskCaps(self.max_active, self.max_active_total, True)


@dataclass(frozen=True)
class TaskResult:
    """What ``TaskRegistry.start`` did.

    Started: ``started`` is true and ``replaced`` is the task of the same connection that the
    new one replaced, if any. Refused: ``cap`` names the cap, ``limit`` its value and
    ``active`` how many tasks it already counts; nothing changed.
    """

    started: bool
    task: BackgroundTask
    replaced: BackgroundTask | None = None
    cap: TaskCap | None = None
    limit: int | None = None
    active: int | None = None

    @property
    def reason(self) -> str:
        """A sentence for the agent saying which cap refused the task."""
        if self.started:
            return "background task registered"
        if self.cap == "one_per_connection":
            return f"background tasks: connection {self.task.connection_id} already has one; stop it first"
        if self.cap == "max_active":
            return (
                f"background tasks: at most {self.limit} active for {self.task.identity} "
                f"({self.active} running); stop one first"
            )
        return f"background tasks: at most {self.limit} active in total ({self.active} running); stop one first"


class RateLimiter(Protocol):
    """Sliding-window-log rate caps and calendar counters, exact under concurrency within what the backend shares."""

    async def acquire(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        """Atomically: if every request's key has fewer than ``max`` events in its window
        (a calendar request: room for its ``amount`` in its bucket), record one event (at
        ``now_ms``) per distinct key, add the amounts to the buckets, and allow; otherwise
        record nothing and deny, naming the cap. Raises ``StateError`` when the backend fails."""
        ...

    async def close(self) -> None:
        """Release the backend's resources (idempotent)."""
        ...


class TaskRegistry(Protocol):
    """The background tasks running upstream, with per-identity and total caps."""

    async def start(self, task: BackgroundTask, caps: TaskCaps, now_ms: int) -> TaskResult:
        """Atomically: refuse when ``caps.one_per_connection`` and the connection has a task,
        else replace the task of ``task.connection_id`` if there is one, then check ``caps``
        (per identity first, then total); on a violation nothing changes."""
        ...

    async def stop(self, connection_id: str) -> BackgroundTask | None:
        """Forget the task of a connection; return it, or ``None`` if there was none."""
        ...

    async def stop_all(self, identity: str | None = None) -> list[BackgroundTask]:
        """Forget every task (of one identity, or of all with ``None``); return them."""
        ...

    async def active(self, identity: str | None = None) -> list[BackgroundTask]:
        """Registered tasks (of one identity, or all), ordered by start time, then connection."""
        ...

    async def expired(self, now_ms: int) -> list[BackgroundTask]:
        """Registered tasks whose ``expires_ms <= now_ms``, ordered as ``active``."""
        ...

    async def close(self) -> None:
        """Release the backend's resources (idempotent)."""
        ...


def distinct_keys(requests: Sequence[LimitRequest]) -> dict[str, int]:
    """Each key of the sliding ``requests`` (first-seen order) with the longest window it is asked for."""
    keys: dict[str, int] = {}
    for request in requests:
        if not request.aligned:
            keys[request.key] = max(keys.get(request.key, 0), request.window_ms)
    return keys


def buckets(requests: Sequence[LimitRequest], now_ms: int) -> dict[str, tuple[int, int]]:
    """The buckets of the calendar ``requests`` at ``now_ms``: key -> (amount to add, end ms).

    Requests on one bucket add the largest of their amounts once, as one call adds one event
    to a sliding key however many of its caps name it.
    """
    out: dict[str, tuple[int, int]] = {}
    for request in requests:
        if request.aligned:
            key, end = request.bucket(now_ms)
            out[key] = (max(out.get(key, (0, end))[0], request.amount), end)
    return out


def worse(a: tuple[LimitRequest, int | None] | None, b: tuple[LimitRequest, int | None]) -> tuple[LimitRequest, int | None]:
    """Of two full caps, the one that stays full longer (``None`` = forever); ``a`` on ties."""
    if a is None:
        return b
    if a[1] is None:
        return a
    if b[1] is None or b[1] > a[1]:
        return b
    return a


def task_order(task: BackgroundTask) -> tuple[int, str]:
    """The order every backend lists tasks in."""
    return (task.started_ms, task.connection_id)
