"""The background-task registry's behaviour, the same for every backend."""

from __future__ import annotations

import asyncio

import pytest

from sshwall.errors import UsageError
from sshwall.limits import BackgroundTask, State, TaskCaps, TaskResult
from sshwall.policy.tools import BackgroundRule

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000
NO_CAPS = TaskCaps()


def task(cid: str, identity: str = "alice", *, started: int = T0, ttl: int | None = None, **kw: object) -> BackgroundTask:
    fields: dict[str, object] = {
        "connection_id": cid,
        "identity": identity,
        "command": f"uptime # {cid}",
        "interval_ms": 30_000,
        "started_ms": started,
        "expires_ms": None if ttl is None else started + ttl,
    }
    fields.update(kw)
    return BackgroundTask(**fields)  # type: ignore[arg-type]


async def test_start_registers_and_round_trips_every_field(state: State) -> None:
    full = task("c1", host="db1.example", ttl=60_000, command="df -h | grep ' /$' ; echo 'ü'")
    bare = task("c2", "bob", started=T0 + 5)
    assert await state.tasks.start(full, NO_CAPS, T0) == TaskResult(True, full)
    assert (await state.tasks.start(bare, NO_CAPS, T0)).started
    assert await state.tasks.active() == [full, bare]
    assert await state.tasks.active("bob") == [bare]
    assert await state.tasks.active("nobody") == []


async def test_a_new_task_on_a_connection_replaces_the_old_one(state: State) -> None:
    first = task("c1", ttl=10_000)
    second = task("c1", command="free -m", started=T0 + 1_000)
    await state.tasks.start(first, NO_CAPS, T0)
    result = await state.tasks.start(second, TaskCaps(max_active=1, max_active_total=1), T0 + 1_000)
    assert result == TaskResult(True, second, replaced=first)
    assert await state.tasks.active() == [second]
    # The replaced task's TTL went with it.
    assert await state.tasks.expired(T0 + 10**9) == []


async def test_replacing_moves_a_connection_to_another_identity(state: State) -> None:
    await state.tasks.start(task("c1", "alice"), NO_CAPS, T0)
    await state.tasks.start(task("c1", "bob"), NO_CAPS, T0)
    assert await state.tasks.active("alice") == []
    assert [t.identity for t in await state.tasks.active("bob")] == ["bob"]


async def test_per_identity_cap(state: State) -> None:
    caps = TaskCaps(max_active=2)
    assert (await state.tasks.start(task("a1"), caps, T0)).started
    assert (await state.tasks.start(task("a2"), caps, T0)).started
    refused = await state.tasks.start(task("a3"), caps, T0)
    assert (refused.started, refused.cap, refused.limit, refused.active) == (False, "max_active", 2, 2)
    assert refused.reason == "background tasks: at most 2 active for alice (2 running); stop one first"
    assert (await state.tasks.start(task("b1", "bob"), caps, T0)).started  # bob has his own cap
    assert [t.connection_id for t in await state.tasks.active("alice")] == ["a1", "a2"]
    await state.tasks.stop("a1")
    assert (await state.tasks.start(task("a3"), caps, T0)).started


async def test_total_cap(state: State) -> None:
    caps = TaskCaps(max_active=5, max_active_total=2)
    await state.tasks.start(task("a1", "alice"), caps, T0)
    await state.tasks.start(task("b1", "bob"), caps, T0)
    refused = await state.tasks.start(task("c1", "carol"), caps, T0)
    assert (refused.cap, refused.limit, refused.active) == ("max_active_total", 2, 2)
    assert "at most 2 active in total" in refused.reason
    assert len(await state.tasks.active()) == 2


async def test_a_refused_replacement_changes_nothing(state: State) -> None:
    old = task("a1", "alice")
    await state.tasks.start(old, NO_CAPS, T0)
    await state.tasks.start(task("b1", "bob"), NO_CAPS, T0)
    # Moving a1 to bob would give bob two tasks: refused, and alice keeps a1 as it was.
    refused = await state.tasks.start(task("a1", "bob", command="other"), TaskCaps(max_active=1), T0)
    assert refused.cap == "max_active" and refused.active == 1
    assert await state.tasks.active("alice") == [old]


async def test_the_identity_cap_is_checked_before_the_total(state: State) -> None:
    await state.tasks.start(task("a1"), NO_CAPS, T0)
    refused = await state.tasks.start(task("a2"), TaskCaps(max_active=1, max_active_total=1), T0)
    assert refused.cap == "max_active"


async def test_zero_caps_refuse_everything(state: State) -> None:
    assert (await state.tasks.start(task("a1"), TaskCaps(max_active=0), T0)).cap == "max_active"
    assert (await state.tasks.start(task("a1"), TaskCaps(max_active_total=0), T0)).cap == "max_active_total"
    assert await state.tasks.active() == []


async def test_stop_returns_the_task_once(state: State) -> None:
    t = task("c1", ttl=1_000)
    await state.tasks.start(t, NO_CAPS, T0)
    assert await state.tasks.stop("c1") == t
    assert await state.tasks.stop("c1") is None
    assert await state.tasks.active() == []
    assert await state.tasks.expired(T0 + 10**9) == []


async def test_stop_all_of_one_identity_or_everyone(state: State) -> None:
    tasks = [task("a1", started=T0 + 2), task("a2", started=T0 + 1), task("b1", "bob"), task("c1", "carol")]
    for t in tasks:
        await state.tasks.start(t, NO_CAPS, T0)
    assert [t.connection_id for t in await state.tasks.stop_all("alice")] == ["a2", "a1"]
    assert await state.tasks.stop_all("alice") == []
    assert [t.connection_id for t in await state.tasks.stop_all()] == ["b1", "c1"]
    assert await state.tasks.active() == []


async def test_expired_lists_tasks_whose_ttl_has_run_out(state: State) -> None:
    await state.tasks.start(task("short", ttl=1_000), NO_CAPS, T0)
    await state.tasks.start(task("long", ttl=60_000), NO_CAPS, T0)
    await state.tasks.start(task("forever"), NO_CAPS, T0)
    assert await state.tasks.expired(T0 + 999) == []
    assert [t.connection_id for t in await state.tasks.expired(T0 + 1_000)] == ["short"]
    assert [t.connection_id for t in await state.tasks.expired(T0 + 60_000)] == ["long", "short"]
    # Listing does not remove: expired tasks still run upstream (and count) until stopped.
    assert len(await state.tasks.active()) == 3
    refused = await state.tasks.start(task("x"), TaskCaps(max_active=3), T0 + 10**6)
    assert refused.cap == "max_active"


async def test_concurrent_starts_respect_the_caps_exactly(state: State) -> None:
    caps = TaskCaps(max_active=3, max_active_total=7)
    starts = [state.tasks.start(task(f"{who}{i}", who), caps, T0) for who in "abcd" for i in range(10)]
    results = await asyncio.gather(*starts)
    assert sum(r.started for r in results) == 7
    active = await state.tasks.active()
    assert len(active) == 7
    assert all(sum(t.identity == who for t in active) <= 3 for who in "abcd")


def test_caps_from_a_policy_rule() -> None:
    assert TaskCaps.from_rule(BackgroundRule.model_validate({"max_active": 2, "max_active_total": 10, "ttl": "15m"})) == TaskCaps(2, 10)
    assert TaskCaps.from_rule(None) == TaskCaps()


def test_a_task_needs_a_connection_id() -> None:
    with pytest.raises(UsageError):
        task("")


async def test_one_per_connection_refuses_a_second_task_and_changes_nothing(state: State) -> None:
    first = task("c1", ttl=10_000)
    await state.tasks.start(first, NO_CAPS, T0)
    second = task("c1", command="free -m", started=T0 + 1)
    refused = await state.tasks.start(second, TaskCaps(max_active=5).exclusive(), T0 + 1)
    assert (refused.started, refused.cap) == (False, "one_per_connection")
    assert "already has one" in refused.reason
    assert await state.tasks.active() == [first]
    assert (await state.tasks.start(task("c2"), TaskCaps().exclusive(), T0)).started


async def test_concurrent_exclusive_starts_on_one_connection_register_exactly_one(state: State) -> None:
    caps = TaskCaps().exclusive()
    results = await asyncio.gather(*(state.tasks.start(task("c1", f"id{i}"), caps, T0) for i in range(20)))
    assert sum(r.started for r in results) == 1
    assert {r.cap for r in results if not r.started} == {"one_per_connection"}
    assert len(await state.tasks.active()) == 1
