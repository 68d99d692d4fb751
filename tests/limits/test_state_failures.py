"""Backends that fail: every failure is a StateError naming the backend, within a bound, and
the same object works again once the backend is back."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from sshwall.errors import StateError, UsageError
from sshwall.limits import BackgroundTask, LimitRequest, State, TaskCaps, open_state
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000
R = LimitRequest("exec|grant=alice", 60_000, 1_000)
TASK = BackgroundTask("c1", "alice", "uptime", 30_000, T0)


async def test_redis_killed_mid_run_denies_with_a_reason_then_recovers(fresh_redis: RedisServer) -> None:
    state = await open_state(fresh_redis.url(timeout=0.5))
    outcomes: list[tuple[bool, str]] = []  # (started after the kill, "allowed" | "denied" | error)
    killed = False

    async def worker() -> None:
        nonlocal killed
        for _ in range(40):
            after_kill = killed
            try:
                result = await state.limiter.acquire([R], T0)
                outcomes.append((after_kill, "allowed" if result.allowed else "denied"))
            except StateError as exc:
                outcomes.append((after_kill, str(exc)))
            if len(outcomes) == 100 and not killed:
                fresh_redis.kill()  # blocks the loop until the server is gone
                killed = True

    try:
        await asyncio.gather(*(worker() for _ in range(10)))
        assert killed and len(outcomes) == 400
        down = f"redis at 127.0.0.1:{fresh_redis.port} unreachable"
        # Nothing is allowed once Redis is gone; calls in flight at the kill may fail too.
        after = [outcome for started_after, outcome in outcomes if started_after]
        assert after and all(o.startswith(down) for o in after)
        # A call in flight when the server went may instead time out (never retried: the script
        # may have run): a denial naming the server all the same, never an allow.
        late = f"redis at 127.0.0.1:{fresh_redis.port} did not answer within"
        odd = [o for _, o in outcomes if not (o == "allowed" or o.startswith((down, late)))]
        assert not odd, odd[:3]
        with pytest.raises(StateError, match="unreachable"):
            await state.tasks.start(TASK, TaskCaps(), T0)
        with pytest.raises(StateError, match="unreachable"):
            await state.tasks.active()

        fresh_redis.start()  # the same port; no persistence, so the counters start empty
        assert (await state.limiter.acquire([R], T0)).allowed
        assert (await state.tasks.start(TASK, TaskCaps(), T0)).started
        assert await state.tasks.active() == [TASK]
    finally:
        await state.close()


async def test_a_redis_that_hangs_fails_within_the_timeout_then_recovers(fresh_redis: RedisServer) -> None:
    state = await open_state(fresh_redis.url(timeout=0.3))
    try:
        assert (await state.limiter.acquire([R], T0)).allowed
        fresh_redis.pause()
        start = time.monotonic()
        results = await asyncio.gather(*(state.limiter.acquire([R], T0) for _ in range(5)), return_exceptions=True)
        elapsed = time.monotonic() - start
        assert all(isinstance(r, StateError) and "did not answer within 0.3 s" in str(r) for r in results), results
        assert elapsed < 2.0
        fresh_redis.resume()
        assert (await state.limiter.acquire([R], T0)).allowed
        assert (await state.limiter.acquire([R], T0)).allowed
    finally:
        fresh_redis.resume()
        await state.close()


async def test_sshwall_starts_while_redis_is_down_and_denies_until_it_is_up(fresh_redis: RedisServer) -> None:
    fresh_redis.stop()
    state = await open_state(fresh_redis.url(timeout=0.5))
    try:
        start = time.monotonic()
        with pytest.raises(StateError, match=f"redis at 127.0.0.1:{fresh_redis.port} unreachable"):
            await state.limiter.acquire([R], T0)
        assert time.monotonic() - start < 1.5
        fresh_redis.start()
        assert (await state.limiter.acquire([R], T0)).allowed
    finally:
        await state.close()


async def test_a_lua_error_is_a_state_error(redis_url: str, redis_server: RedisServer) -> None:
    namespace = redis_url.split("namespace=")[1]
    client = aioredis.Redis(port=redis_server.port)
    await client.set(f"{namespace}:rate:{R.key}", "not a sorted set")
    await client.aclose()
    async with await open_state(redis_url) as state:
        with pytest.raises(StateError, match=f"redis at 127.0.0.1:{redis_server.port} refused a script.*WRONGTYPE"):
            await state.limiter.acquire([R], T0)


async def test_redis_keys_are_namespaced_and_expire(redis_url: str, redis_server: RedisServer) -> None:
    namespace = redis_url.split("namespace=")[1] + ":"
    async with await open_state(redis_url) as state:
        await state.limiter.acquire([LimitRequest("k", 5_000, 3), LimitRequest("k", 2_000, 3)], T0)
        await state.tasks.start(TASK, TaskCaps(), T0)
    client = aioredis.Redis(port=redis_server.port, decode_responses=True)
    try:
        keys = sorted(await client.keys(f"{namespace}*"))
        assert keys == sorted(
            f"{namespace}{k}" for k in ("rate:k", "rate-window:k", "task:c1", "tasks", "tasks:of:alice")
        )
        for key in ("rate:k", "rate-window:k"):
            assert 0 < await client.pttl(f"{namespace}{key}") <= 5_000
        assert await client.zcard(f"{namespace}rate:k") == 1
    finally:
        await client.aclose()


async def test_sqlite_busy_beyond_the_timeout_is_a_state_error(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await open_state(f"sqlite://{path}?timeout=0.2") as state:
        blocker = sqlite3.connect(path, isolation_level=None)
        blocker.execute("BEGIN IMMEDIATE")
        start = time.monotonic()
        with pytest.raises(StateError, match=f"sqlite at {path} busy beyond 0.2 s"):
            await state.limiter.acquire([R], T0)
        with pytest.raises(StateError, match="busy"):
            await state.tasks.start(TASK, TaskCaps(), T0)
        assert time.monotonic() - start < 2.0
        blocker.execute("ROLLBACK")
        blocker.close()
        assert (await state.limiter.acquire([R], T0)).allowed


async def test_an_unusable_sqlite_path_fails_at_open(tmp_path: Path) -> None:
    with pytest.raises(StateError, match=r"sqlite at .*missing/state.db failed"):
        await open_state(f"sqlite://{tmp_path / 'missing' / 'state.db'}")
    (tmp_path / "junk.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match=r"junk.db failed"):
        await open_state(f"sqlite://{tmp_path / 'junk.db'}")


async def test_a_closed_backend_refuses_calls(state_url: str) -> None:
    state: State = await open_state(state_url)
    await state.close()
    await state.close()  # idempotent
    if state.backend == "memory":
        return  # nothing to close
    with pytest.raises(StateError, match="closed"):
        await state.limiter.acquire([R], T0)
    with pytest.raises(StateError, match="closed"):
        await state.tasks.active()


@pytest.mark.parametrize(
    "url",
    [
        "memcached://x",
        "memory://somewhere",
        "sqlite://",
        "sqlite:///x.db?namespace=a",
        "redis://127.0.0.1:6379/0?timeout=soon",
        "redis://127.0.0.1:6379/0?timeout=0",
        "redis://127.0.0.1:99999999/0",
        # Values only the redis client parses: its ValueError is translated in limits/redis.py.
        "redis://127.0.0.1:6379/0?health_check_interval=soon",
        "redis://127.0.0.1:6379/0?max_connections=many",
    ],
)
async def test_malformed_urls_are_usage_errors(url: str) -> None:
    with pytest.raises(UsageError):
        await open_state(url)


async def test_where_never_shows_a_password() -> None:
    async with await open_state("redis://user:s3cret@127.0.0.1:1/0?namespace=x") as state:
        assert state.where == "redis at 127.0.0.1:1"
        with pytest.raises(StateError) as caught:
            await state.limiter.acquire([R], T0)
        assert "s3cret" not in str(caught.value)


async def test_a_redis_restart_between_calls_goes_unnoticed(fresh_redis: RedisServer) -> None:
    # Pooled connections died with the old server: each is re-opened once, transparently.
    state = await open_state(fresh_redis.url())
    try:
        results = await asyncio.gather(*(state.limiter.acquire([R], T0) for _ in range(10)))
        assert all(r.allowed for r in results)
        fresh_redis.stop()
        fresh_redis.start()
        results = await asyncio.gather(*(state.limiter.acquire([R], T0) for _ in range(10)))
        assert all(r.allowed for r in results)
        assert await state.tasks.active() == []
    finally:
        await state.close()
