"""The rate limiter's behaviour, the same for every backend (memory, SQLite, Redis)."""

from __future__ import annotations

import asyncio

import pytest

from sshwall.errors import UsageError
from sshwall.limits import LimitRequest, LimitResult, State
from sshwall.policy.tools import Limit

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000  # an injected clock: ms since the epoch


def req(key: str = "exec|grant=alice", window_ms: int = 60_000, max: int = 3) -> LimitRequest:
    return LimitRequest(key, window_ms, max)


async def allowed(state: State, requests: list[LimitRequest], now_ms: int) -> bool:
    return (await state.limiter.acquire(requests, now_ms)).allowed


async def test_max_allowed_then_denied_then_allowed_exactly_when_the_oldest_leaves(state: State) -> None:
    r = req(max=3, window_ms=10_000)
    assert await allowed(state, [r], T0)
    assert await allowed(state, [r], T0 + 1_000)
    assert await allowed(state, [r], T0 + 2_000)
    denied = await state.limiter.acquire([r], T0 + 2_500)
    assert denied == LimitResult(False, r.key, 10_000, 3, retry_after_ms=7_500)
    # The window is (now - W, now]: the event at T0 is still inside at T0 + W - 1 ...
    assert (await state.limiter.acquire([r], T0 + 9_999)).retry_after_ms == 1
    # ... and has left it at exactly T0 + W.
    assert await allowed(state, [r], T0 + 10_000)
    # Now the events are at +1 s, +2 s, +10 s: the next room opens at +11 s.
    assert (await state.limiter.acquire([r], T0 + 10_000)).retry_after_ms == 1_000
    assert not await allowed(state, [r], T0 + 10_999)
    assert await allowed(state, [r], T0 + 11_000)


async def test_denied_calls_are_not_recorded(state: State) -> None:
    r = req(max=1, window_ms=1_000)
    assert await allowed(state, [r], T0)
    for t in range(1, 1_000, 100):
        assert not await allowed(state, [r], T0 + t)
    # Had the denials counted, the window would still be full.
    assert await allowed(state, [r], T0 + 1_000)


async def test_events_at_the_same_millisecond_all_count(state: State) -> None:
    r = req(max=5)
    assert [await allowed(state, [r], T0) for _ in range(7)] == [True] * 5 + [False] * 2


async def test_a_deny_on_one_key_records_nothing_on_the_others(state: State) -> None:
    tool = req("exec|grant=alice", max=10)
    total = req("all|global=", max=1)
    assert await allowed(state, [tool, total], T0)
    for _ in range(5):
        result = await state.limiter.acquire([tool, total], T0 + 1)
        assert not result.allowed and result.key == total.key
    # The tool key holds only the one allowed event: 9 more fit.
    assert [await allowed(state, [tool], T0 + 2) for _ in range(10)] == [True] * 9 + [False]


async def test_keys_are_independent(state: State) -> None:
    alice, bob = req("exec|grant=alice", max=1), req("exec|grant=bob", max=1)
    assert await allowed(state, [alice], T0)
    assert await allowed(state, [bob], T0)
    assert not await allowed(state, [alice], T0)


async def test_one_key_with_two_windows_shares_one_log(state: State) -> None:
    minute, hour = req("exec|grant=a", 60_000, 2), req("exec|grant=a", 3_600_000, 3)
    assert await allowed(state, [minute, hour], T0)
    assert await allowed(state, [minute, hour], T0 + 1)
    result = await state.limiter.acquire([minute, hour], T0 + 2)
    assert (result.key, result.window_ms, result.retry_after_ms) == ("exec|grant=a", 60_000, 59_998)
    assert await allowed(state, [minute, hour], T0 + 60_000)
    # Three events within the hour: the hour cap now says when the first one leaves it.
    result = await state.limiter.acquire([minute, hour], T0 + 120_000)
    assert (result.window_ms, result.max, result.retry_after_ms) == (3_600_000, 3, 3_480_000)


async def test_a_short_window_never_trims_what_a_longer_window_counts(state: State) -> None:
    minute, hour = req("x", 60_000, 100), req("x", 3_600_000, 2)
    assert await allowed(state, [hour], T0)
    assert await allowed(state, [minute], T0 + 1)
    # Two minutes later a minute-only call must not forget the events the hour cap counts.
    assert await allowed(state, [minute], T0 + 120_000)
    result = await state.limiter.acquire([hour], T0 + 120_001)
    assert not result.allowed and result.retry_after_ms == (T0 + 1) + 3_600_000 - (T0 + 120_001)


async def test_the_deny_names_the_cap_that_stays_full_longest(state: State) -> None:
    short, long = req("a", 1_000, 1), req("b", 60_000, 1)
    assert await allowed(state, [short, long], T0)
    result = await state.limiter.acquire([short, long], T0 + 10)
    assert (result.key, result.retry_after_ms) == ("b", 59_990)
    never = req("c", 1_000, 0)
    result = await state.limiter.acquire([short, never, long], T0 + 10)
    assert (result.key, result.retry_after_ms) == ("c", None)
    assert result.reason == "rate limit c: at most 0 calls per 1s (never allowed)"


async def test_max_zero_never_allows(state: State) -> None:
    r = req(max=0)
    assert not await allowed(state, [r], T0)
    assert not await allowed(state, [r], T0 + 10**9)


async def test_more_events_than_max_after_a_policy_change(state: State) -> None:
    # A reload may lower max below what the log already holds: room appears once enough
    # events have left, and retry_after says exactly when.
    assert all([await allowed(state, [req(max=5, window_ms=10_000)], T0 + i) for i in range(5)])
    result = await state.limiter.acquire([req(max=2, window_ms=10_000)], T0 + 100)
    assert result.retry_after_ms == (T0 + 3) + 10_000 - (T0 + 100)
    assert not await allowed(state, [req(max=2, window_ms=10_000)], T0 + 10_002)
    assert await allowed(state, [req(max=2, window_ms=10_000)], T0 + 10_003)


async def test_an_empty_request_list_is_allowed(state: State) -> None:
    assert await allowed(state, [], T0)


async def test_concurrent_acquires_allow_exactly_max(state: State) -> None:
    r = req("exec|global=", max=50)
    results = await asyncio.gather(*(state.limiter.acquire([r], T0) for _ in range(300)))
    assert sum(result.allowed for result in results) == 50
    denied = [result for result in results if not result.allowed]
    assert {(d.key, d.max, d.retry_after_ms) for d in denied} == {(r.key, 50, 60_000)}


async def test_concurrent_multi_key_acquires_stay_exact(state: State) -> None:
    total = req("all|global=", max=40)
    per_user = {user: req(f"exec|grant={user}", max=10) for user in "abcdef"}
    calls = [state.limiter.acquire([per_user[u], total], T0) for u in "abcdef" for _ in range(20)]
    results = await asyncio.gather(*calls)
    assert sum(result.allowed for result in results) == 40
    by_user = [sum(results[i * 20 + j].allowed for j in range(20)) for i in range(6)]
    assert all(n <= 10 for n in by_user)


def test_reason_says_the_counter_window_and_retry() -> None:
    result = LimitResult.deny(req("exec|grant=alice", 60_000, 60), 22_100)
    assert result.reason == "rate limit exec|grant=alice: at most 60 calls per 1m; retry after 23 s"
    assert result.retry_after_s == 23
    assert LimitResult.allow().allowed and LimitResult.allow().retry_after_s is None


def test_a_request_from_a_policy_limit() -> None:
    limit = Limit.model_validate({"counter": "exec", "window": "minute", "max": 60, "scope": "host"})
    assert LimitRequest.for_limit(limit, "db1") == LimitRequest("exec|host=db1", 60_000, 60)


@pytest.mark.parametrize("args", [("", 1_000, 1), ("k", 0, 1), ("k", 1_000, -1)])
def test_bad_requests_are_refused(args: tuple[str, int, int]) -> None:
    with pytest.raises(UsageError):
        LimitRequest(*args)
