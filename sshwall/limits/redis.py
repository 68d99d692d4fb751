"""The ``redis`` backend: state shared by sshwall replicas on many machines.

The only module that imports the ``redis`` client (``approvals_redis``, the approval queue, runs
its scripts through ``RedisStore`` too). Every operation is one Lua script
(``redis_scripts``) run with EVALSHA, so it is atomic on the server. Errors of the client are
translated here into ``StateError`` naming the server (a URL the client cannot parse into
``UsageError``). Each operation is bounded: waiting for
a pooled connection, connecting and every read time out after ``timeout_s``; a connection
found dead is re-opened once (a pooled connection that died with a Redis restart), a timeout is
never retried (the script may have run). So an operation fails within a few timeouts at worst,
and the caller denies.

Recovery needs nothing from the caller: a failed connection is dropped, idle pooled connections
are dropped with it, and the next operation opens a fresh one; scripts are loaded again if a
restarted server lost them (NOSCRIPT).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import cast

from redis import asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.commands.core import AsyncScript
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from sshwall.errors import StateError, UsageError
from sshwall.limits import redis_scripts
from sshwall.limits.approvals_redis import RedisApprovals
from sshwall.limits.model import (
    BackgroundTask,
    LimitRequest,
    LimitResult,
    TaskCap,
    TaskCaps,
    TaskResult,
    buckets,
    distinct_keys,
    task_order,
)

Reply = list[str | int | None]


class RedisStore:
    """One Redis client (a connection pool) shared by a limiter and a task registry."""

    def __init__(
        self, url: str, where: str, namespace: str = "sshwall:", timeout_s: float = 1.0, max_connections: int = 50
    ) -> None:
        self.where = where
        self.namespace = namespace
        self.timeout_s = timeout_s
        # At most max_connections commands in flight; the rest wait (up to timeout_s) for one.
        try:
            pool = aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=timeout_s,
                socket_timeout=timeout_s,
                socket_connect_timeout=timeout_s,
                # One immediate retry, on connection errors only: a timed-out script may have run.
                retry=Retry(NoBackoff(), 1, (RedisConnectionError,)),
                decode_responses=True,
            )
        except ValueError as exc:  # the client's URL parser: a query value or port it cannot read
            raise UsageError(f"state URL of {where}: {exc}") from None
        self._client = aioredis.Redis(connection_pool=pool)
        self.acquire_script: AsyncScript = self._client.register_script(redis_scripts.ACQUIRE)
        self.start_script: AsyncScript = self._client.register_script(redis_scripts.START)
        self.collect_script: AsyncScript = self._client.register_script(redis_scripts.COLLECT)
        self._users = 0
        self._closed = False

    def script(self, text: str) -> AsyncScript:
        """Register one more Lua script on this client (another module's, e.g. the approval
        queue's in ``approvals_redis``); run it with ``run``."""
        return self._client.register_script(text)

    async def run(self, script: AsyncScript, keys: Sequence[str], args: Sequence[str | int]) -> Reply:
        """Run one script; every failure becomes a ``StateError`` naming the server."""
        if self._closed:
            raise StateError(f"{self.where} is closed")
        try:
            return cast(Reply, await script(keys=list(keys), args=list(args)))
        except RedisTimeoutError as exc:
            await self._drop_idle()
            raise StateError(f"{self.where} did not answer within {self.timeout_s:g} s: {exc}") from exc
        except (RedisConnectionError, OSError) as exc:
            await self._drop_idle()
            raise StateError(f"{self.where} unreachable: {exc}") from exc
        except ResponseError as exc:
            raise StateError(f"{self.where} refused a script: {exc}") from exc
        except RedisError as exc:
            raise StateError(f"{self.where} failed: {exc}") from exc

    async def _drop_idle(self) -> None:
        # After a failure, idle pooled connections are likely dead too: drop them now rather
        # than let each one fail a later call.
        try:
            await self._client.connection_pool.disconnect(inuse_connections=False)
        except (RedisError, OSError):
            pass

    def retain(self) -> None:
        """One more user (limiter or registry) shares this client."""
        self._users += 1

    async def release(self) -> None:
        """A user is done; the last one closes the pool."""
        self._users -= 1
        if self._users <= 0 and not self._closed:
            self._closed = True
            try:
                await self._client.aclose()
            except (RedisError, OSError):
                pass


class RedisLimiter:
    """A ``RateLimiter`` over one sorted set per key (sliding window log)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        store.retain()
        self._closed = False

    async def acquire(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        """See ``RateLimiter.acquire``."""
        return await self._decide(requests, now_ms)

    async def _decide(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        windows = distinct_keys(requests)
        counted = buckets(requests, now_ms)
        if not windows and not counted:
            return LimitResult.allow()
        ns = self._store.namespace
        index = {key: i for i, key in enumerate(windows, start=1)}
        bucket_index = {key: -b for b, key in enumerate(counted, start=1)}
        keys = [name for key in windows for name in (f"{ns}rate:{key}", f"{ns}rate-window:{key}")]
        keys += [f"{ns}bucket:{key}" for key in counted]
        member = f"{now_ms}:{secrets.token_hex(8)}"
        args: list[str | int] = [now_ms, member, len(windows), *windows.values(), len(counted)]
        for amount, end in counted.values():
            args += [amount, end]
        args.append(len(requests))
        for request in requests:
            at = bucket_index[request.bucket(now_ms)[0]] if request.aligned else index[request.key]
            args += [at, request.window_ms, request.max, request.amount]
        reply = await self._store.run(self._store.acquire_script, keys, args)
        if reply[0] == 1:
            return LimitResult.allow()
        retry = int(cast(int, reply[2]))
        return LimitResult.deny(requests[int(cast(int, reply[1])) - 1], None if retry < 0 else retry)

    async def close(self) -> None:
        """Release this limiter's share of the client (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._store.release()


class RedisTaskRegistry:
    """A ``TaskRegistry`` in Redis hashes and sets (see ``redis_scripts`` for the layout)."""

    def __init__(self, store: RedisStore) -> None:
        self._store = store
        store.retain()
        self._closed = False

    async def start(self, task: BackgroundTask, caps: TaskCaps, now_ms: int) -> TaskResult:
        """See ``TaskRegistry.start``. Tasks past their TTL still count until stopped."""
        args: list[str | int] = [
            self._store.namespace, task.connection_id, task.identity, task.command, task.interval_ms,
            task.started_ms, "" if task.expires_ms is None else task.expires_ms,
            0 if task.host is None else 1, task.host or "",
            -1 if caps.max_active is None else caps.max_active,
            -1 if caps.max_active_total is None else caps.max_active_total,
            1 if caps.one_per_connection else 0,
        ]
        reply = await self._store.run(self._store.start_script, [], args)
        if reply[0] != 1:
            cap = cast(TaskCap, reply[1])
            return TaskResult(False, task, cap=cap, limit=int(cast(int, reply[2])), active=int(cast(int, reply[3])))
        old = reply[4:10]
        replaced = _task([task.connection_id, *old]) if old and old[0] is not None else None
        return TaskResult(True, task, replaced=replaced)

    async def stop(self, connection_id: str) -> BackgroundTask | None:
        """See ``TaskRegistry.stop``."""
        gone = await self._collect("one", connection_id, delete=True)
        return gone[0] if gone else None

    async def stop_all(self, identity: str | None = None) -> list[BackgroundTask]:
        """See ``TaskRegistry.stop_all``."""
        if identity is None:
            return await self._collect("all", "", delete=True)
        return await self._collect("identity", identity, delete=True)

    async def active(self, identity: str | None = None) -> list[BackgroundTask]:
        """See ``TaskRegistry.active``."""
        if identity is None:
            return await self._collect("all", "", delete=False)
        return await self._collect("identity", identity, delete=False)

    async def expired(self, now_ms: int) -> list[BackgroundTask]:
        """See ``TaskRegistry.expired``."""
        return await self._collect("expired", str(now_ms), delete=False)

    async def _collect(self, mode: str, arg: str, *, delete: bool) -> list[BackgroundTask]:
        args = [self._store.namespace, mode, arg, 1 if delete else 0]
        reply = await self._store.run(self._store.collect_script, [], args)
        tasks = [_task(reply[i : i + 7]) for i in range(0, len(reply), 7)]
        return sorted(tasks, key=task_order)

    async def close(self) -> None:
        """Release this registry's share of the client (idempotent)."""
        if not self._closed:
            self._closed = True
            await self._store.release()


def _task(values: Sequence[str | int | None]) -> BackgroundTask:
    cid, identity, command, interval, started, expires, host = values
    return BackgroundTask(
        connection_id=str(cid),
        identity=str(identity),
        command=str(command),
        interval_ms=int(cast(str, interval)),
        started_ms=int(cast(str, started)),
        expires_ms=None if expires is None else int(cast(str, expires)),
        host=None if host is None else str(host),
    )


def open_redis(
    url: str, where: str, namespace: str = "sshwall:", timeout_s: float = 1.0
) -> tuple[RedisLimiter, RedisTaskRegistry, RedisApprovals]:
    """A limiter, a task registry and an approval queue sharing one client of the server at ``url``.

    Nothing is contacted yet: a server that is down now makes the first operations fail with
    ``StateError`` (so calls are denied), and they succeed once it is up.
    """
    store = RedisStore(url, where, namespace, timeout_s)
    return RedisLimiter(store), RedisTaskRegistry(store), RedisApprovals(store)
