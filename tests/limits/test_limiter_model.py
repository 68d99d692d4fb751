"""Every backend against a brute-force oracle (hypothesis), and the sweeps that bound memory."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sshwall.limits import LimitRequest, LimitResult, open_state
from sshwall.limits.memory import MemoryLimiter

T0 = 1_700_000_000_000

# Each key is counted under a fixed set of windows, and a call that touches a key checks all of
# them (as the proxy does with a counter's limits). A window a key was never used with before
# only sees the events kept for its earlier windows: see docs/limits.md.
WINDOWS = {"a": (1_000,), "b": (1_000, 5_000), "c": (2_500,)}


@st.composite
def calls(draw: st.DrawFn) -> list[LimitRequest]:
    keys = draw(st.lists(st.sampled_from(sorted(WINDOWS)), min_size=1, max_size=3, unique=True))
    return [LimitRequest(k, w, draw(st.integers(0, 4))) for k in keys for w in WINDOWS[k]]


steps = st.lists(st.tuples(st.integers(0, 3_000), calls()), min_size=1, max_size=40)


class Oracle:
    """The definition, spelled out: keep every event forever and count those in the window."""

    def __init__(self) -> None:
        self.events: dict[str, list[int]] = {}

    def acquire(self, reqs: list[LimitRequest], now: int) -> LimitResult:
        worst: tuple[LimitRequest, int | None] | None = None
        for r in reqs:
            inside = sorted(t for t in self.events.get(r.key, []) if t > now - r.window_ms)
            if len(inside) < r.max:
                continue
            retry = None if r.max == 0 else inside[len(inside) - r.max] + r.window_ms - now
            if worst is None or (worst[1] is not None and (retry is None or retry > worst[1])):
                worst = (r, retry)
        if worst is not None:
            return LimitResult.deny(*worst)
        for key in {r.key for r in reqs}:
            self.events.setdefault(key, []).append(now)
        return LimitResult.allow()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=steps)
def test_every_backend_matches_the_oracle(state_url: str, steps: list[tuple[int, list[LimitRequest]]]) -> None:
    # One state per test run (a file, a namespace): each example uses keys of its own.
    prefix = uuid.uuid4().hex[:8] + "/"

    async def run() -> None:
        oracle = Oracle()
        async with await open_state(state_url) as state:
            now = T0
            for dt, reqs in steps:
                now += dt
                mine = [LimitRequest(prefix + r.key, r.window_ms, r.max) for r in reqs]
                assert await state.limiter.acquire(mine, now) == oracle.acquire(mine, now)

    asyncio.run(run())


def test_memory_forgets_keys_no_window_can_see() -> None:
    async def run() -> None:
        limiter = MemoryLimiter()
        for i in range(1_100):
            assert (await limiter.acquire([LimitRequest(f"k{i}", 1_000, 1)], T0)).allowed
        assert limiter.key_count() == 1_100
        for _ in range(1_024):
            await limiter.acquire([LimitRequest("busy", 1_000, 10**6)], T0 + 10_000)
        assert limiter.key_count() == 1

    asyncio.run(run())


def test_sqlite_forgets_events_and_keys_no_window_can_see(tmp_path: Path) -> None:
    path = tmp_path / "state.db"

    async def run() -> None:
        async with await open_state(f"sqlite://{path}") as state:
            for i in range(1_100):
                assert (await state.limiter.acquire([LimitRequest(f"k{i}", 1_000, 1)], T0)).allowed
            for _ in range(1_024):
                await state.limiter.acquire([LimitRequest("busy", 1_000, 10**6)], T0 + 10_000)

    asyncio.run(run())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT COUNT(*) FROM rate_keys").fetchone() == (1,)
        assert db.execute("SELECT COUNT(DISTINCT key) FROM rate_events").fetchone() == (1,)


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_time_going_backwards_never_loosens_a_cap(backend: str, tmp_path: Path) -> None:
    # Another replica's clock may be ahead: its events count as inside our window.
    url = "memory://" if backend == "memory" else f"sqlite://{tmp_path / 's.db'}"
    r = LimitRequest("k", 10_000, 1)

    async def run() -> None:
        async with await open_state(url) as state:
            assert (await state.limiter.acquire([r], T0 + 5_000)).allowed
            result = await state.limiter.acquire([r], T0)
            assert not result.allowed and result.retry_after_ms == 15_000

    asyncio.run(run())
