"""Calendar counters (``LimitRequest(aligned=True)``): fixed UTC windows, amounts, the same in every backend.

A calendar counter holds a total per epoch-aligned window (a UTC minute, hour or day), adds a
call's amount when every cap has room, resets at the boundary, and is atomic with the sliding
caps of the same ``acquire``: a call one cap refuses records nothing anywhere.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from sshwall.errors import UsageError
from sshwall.limits import LimitRequest, LimitResult, State
from sshwall.policy.tools import Limit

pytestmark = pytest.mark.anyio

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
# 2026-12-01 10:30:59.999 UTC: the last millisecond of a minute.
EDGE = int(datetime(2026, 12, 1, 10, 30, 59, 999_000, tzinfo=UTC).timestamp() * 1000)


def cal(key: str = "spend|global=*", window_ms: int = MINUTE, max: int = 10, amount: int = 1) -> LimitRequest:
    return LimitRequest(key, window_ms, max, aligned=True, amount=amount)


async def allowed(state: State, requests: list[LimitRequest], now_ms: int) -> bool:
    return (await state.limiter.acquire(requests, now_ms)).allowed


async def test_a_minute_counter_resets_at_the_utc_minute_not_a_minute_after_the_first_call(state: State) -> None:
    r = cal(max=2)
    assert await allowed(state, [r], EDGE - 50_000)  # 10:30:09.999
    assert await allowed(state, [r], EDGE - 1)
    denied = await state.limiter.acquire([r], EDGE)
    assert denied == LimitResult(False, r.key, MINUTE, 2, retry_after_ms=1, aligned=True)
    assert "calendar" in denied.reason and "UTC" in denied.reason
    assert await allowed(state, [r], EDGE + 1)  # 10:31:00.000: a new window, though the first call was 50 s ago
    assert await allowed(state, [r], EDGE + 2)
    assert not await allowed(state, [r], EDGE + 3)


async def test_amounts_add_up_and_a_call_that_does_not_fit_adds_nothing(state: State) -> None:
    t = EDGE - 30_000
    assert await allowed(state, [cal(max=100, amount=60)], t)
    denied = await state.limiter.acquire([cal(max=100, amount=41)], t + 1)
    assert not denied.allowed and denied.retry_after_ms == 30_000 - 1 + 1
    assert await allowed(state, [cal(max=100, amount=40)], t + 2)  # exactly 100
    assert await allowed(state, [cal(max=100, amount=0)], t + 3)  # zero always fits a full counter
    assert not await allowed(state, [cal(max=100, amount=1)], t + 4)


async def test_an_amount_over_the_max_never_fits(state: State) -> None:
    result = await state.limiter.acquire([cal(max=5, amount=6)], EDGE)
    assert not result.allowed and result.retry_after_ms is None


async def test_hour_and_day_windows_align_on_utc_boundaries(state: State) -> None:
    hour = cal("h|global=*", HOUR, 1)
    day = cal("d|global=*", DAY, 1)
    midnight = int(datetime(2026, 12, 2, tzinfo=UTC).timestamp() * 1000)
    assert await allowed(state, [hour, day], midnight - 1)
    assert not await allowed(state, [hour], midnight - 2)
    denied = await state.limiter.acquire([day], midnight - 2)
    assert denied.retry_after_ms == 2
    assert await allowed(state, [hour, day], midnight)  # 00:00:00.000 UTC: both reset


async def test_calendar_and_sliding_caps_are_one_atomic_decision(state: State) -> None:
    sliding = LimitRequest("exec|grant=alice", MINUTE, 1)
    counter = cal(max=10, amount=7)
    assert await allowed(state, [sliding, counter], EDGE - 10)
    # The sliding cap is full: the counter must not grow.
    assert not await allowed(state, [sliding, counter], EDGE - 9)
    # The counter is full (7 + 7 > 10): the sliding log must not grow.
    other = LimitRequest("exec|grant=bob", MINUTE, 1)
    assert not await allowed(state, [other, counter], EDGE - 8)
    assert await allowed(state, [other, cal(max=10, amount=3)], EDGE - 7)


async def test_concurrent_calls_never_overshoot_the_total(state: State) -> None:
    r = cal(max=50, amount=3)
    results = await asyncio.gather(*(state.limiter.acquire([r], EDGE - 1000 + i) for i in range(40)))
    assert sum(1 for x in results if x.allowed) == 16  # 16 * 3 = 48 <= 50 < 51


def test_a_calendar_limit_makes_an_aligned_request_with_its_amount() -> None:
    limit = Limit(counter="intercept:x.c", window="hour", max=9, scope="global", align="calendar", amount_from="n")
    assert LimitRequest.for_limit(limit, "*", 4) == LimitRequest("intercept:x.c|global=*", HOUR, 9, True, 4)
    sliding = Limit(counter="exec", window="minute", max=3)
    assert LimitRequest.for_limit(sliding, "a", 4) == LimitRequest("exec|grant=a", MINUTE, 3)


def test_amounts_are_for_calendar_counters_only() -> None:
    with pytest.raises(UsageError):
        LimitRequest("k", MINUTE, 3, amount=2)
    with pytest.raises(UsageError):
        LimitRequest("k", MINUTE, 3, aligned=True, amount=-1)
    with pytest.raises(ValueError, match="align: calendar"):
        Limit(counter="c", window="minute", max=3, amount_from="n")
