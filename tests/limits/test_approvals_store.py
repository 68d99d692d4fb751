"""The approval queue in every state backend (memory, SQLite, Redis): one conformance suite.

The rules (who may answer, once, reuse) are ``sshwall.limits.approvals``'s, the same for all;
what differs is storage, so the suite also answers from a second opened state (and from a second
process) on the shared backends, races answers against each other, stops Redis and damages
stored bodies. Times are passed as ``now=`` around the real clock (the shared backends keep a
request ``KEEP_S`` past its expiry by the wall clock), never slept through.
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest
import redis.asyncio as aioredis

from sshwall.errors import ApprovalError, StateError
from sshwall.limits import State, open_state
from sshwall.limits.approvals import KEEP_S, ApprovalRequest, MemoryApprovals
from sshwall.limits.memory import MemoryLimiter, MemoryTaskRegistry
from tests.support.redis_server import RedisServer

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
T = float(int(time.time()))
APPROVERS = ("alice", "bob")


def make(rid: str = "r1", *, created: float = T, wait_s: float = 120.0, **changes: object) -> ApprovalRequest:
    """A pending request of the agent ``agent-7`` for one restart on db1."""
    request = ApprovalRequest(
        id=rid, key=f"key-of-{rid}", identity="agent-7", tool="execute-command",
        arguments={"connectionId": "c1", "command": "systemctl restart nginx"}, revision="rev-1",
        created=created, expires=created + wait_s, host="db1", user="ops", port=22, host_key="SHA256:abc",
        command="systemctl restart nginx", programs=("systemctl",), reasons=("restarts need approval",),
        rules=("tools.execute-command",), approvers=APPROVERS, gateway="gw-1",
    )
    return replace(request, **changes)  # type: ignore[arg-type]


@pytest.fixture
async def other(state_url: str, state: State) -> AsyncIterator[State]:
    """A second state on the same backend: separately opened for SQLite and Redis, the same
    object for memory (which nothing else can see)."""
    if state_url == "memory://":
        yield state
        return
    second = await open_state(state_url)
    try:
        yield second
    finally:
        await second.close()


SHARED = pytest.mark.parametrize("state_url", ["sqlite", "redis"], indirect=True)
"""For the backends other processes see (conftest's ``state_url`` takes the backend's name)."""


async def raw_put(state_url: str, request_id: str, body: str) -> None:
    """Write ``body`` as the stored request ``request_id`` behind sshwall's back."""
    parts = urlsplit(state_url)
    if parts.scheme == "sqlite":
        conn = sqlite3.connect(state_url.split("://", 1)[1], timeout=5)
        try:
            with conn:
                done = conn.execute("UPDATE approvals SET body = ? WHERE id = ?", (body, request_id)).rowcount
            assert done == 1
        finally:
            conn.close()
        return
    client = aioredis.Redis(host="127.0.0.1", port=parts.port or 6379, decode_responses=True)
    try:
        ns = dict(parse_qsl(parts.query))["namespace"] + ":"
        assert await client.set(f"{ns}approval:{request_id}", body, xx=True)
    finally:
        await client.aclose()


# -- the queue ----------------------------------------------------------------------------------


async def test_create_get_and_list_by_state(state: State) -> None:
    store = state.approvals
    first, second, third = make("r1"), make("r2", created=T + 1), make("r3", created=T + 2)
    for request in (third, first, second):
        await store.create(request)
    assert await store.get("r1") == first
    assert await store.get("nope") is None
    assert [r.id for r in await store.list()] == ["r1", "r2", "r3"]  # oldest first
    await store.answer("r2", True, "alice", "queue", now=T + 5)
    await store.end("r3", "withdrawn", "the client cancelled", now=T + 6)
    assert [r.id for r in await store.list(("pending",))] == ["r1"]
    assert [r.id for r in await store.list(("approved", "withdrawn"))] == ["r2", "r3"]
    assert await store.list(()) == []
    got = await store.get("r3")
    assert got is not None and got.state == "withdrawn" and got.note == "the client cancelled"
    with pytest.raises(ApprovalError, match="r1 exists already"):
        await store.create(make("r1", command="other"))
    assert await store.get("r1") == first


async def test_a_listed_approver_answers_and_everyone_sees_it(state: State, other: State) -> None:
    await state.approvals.create(make())
    approved = await state.approvals.answer("r1", True, "bob", "queue", now=T + 10, note="go")
    assert (approved.state, approved.by, approved.channel, approved.answered, approved.note) == (
        "approved", "bob", "queue", T + 10, "go")
    assert await other.approvals.get("r1") == approved
    assert approved.reuse_until is None  # a yes is used once


@pytest.mark.parametrize(("by", "changes", "reason"), [
    ("agent-7", {}, "agent-7 asked for approval request r1 and cannot approve it itself"),
    ("mallory", {}, r"mallory is not an approver of request r1 \(the policy's approvers: alice, bob\)"),
    ("alice", {"approvers": ()}, "the policy names no approvers, so nobody may answer approval request r1"),
    ("alice", {"wait_s": 5.0}, "approval request r1 expired at"),
])
async def test_answers_that_are_refused_with_the_reason(
    state: State, by: str, changes: dict[str, object], reason: str
) -> None:
    request = make(**changes)  # type: ignore[arg-type]
    await state.approvals.create(request)
    for approve in (True, False):
        with pytest.raises(ApprovalError, match=reason):
            await state.approvals.answer("r1", approve, by, "queue", now=T + 10)
    assert await state.approvals.get("r1") == request  # unchanged: still pending


async def test_only_a_pending_request_is_answered(state: State) -> None:
    await state.approvals.create(make())
    denied = await state.approvals.answer("r1", False, "alice", "queue", now=T + 1)
    for approve in (True, False):
        with pytest.raises(ApprovalError, match="approval request r1 is denied, not pending"):
            await state.approvals.answer("r1", approve, "bob", "queue", now=T + 2)
        with pytest.raises(ApprovalError, match="is denied, not pending"):
            await state.approvals.answer("r1", approve, "client", "elicitation", now=T + 2, check=False)
    with pytest.raises(ApprovalError, match="there is no approval request r9"):
        await state.approvals.answer("r9", True, "alice", "queue", now=T + 2)
    assert await state.approvals.get("r1") == denied


async def test_a_yes_is_used_once_and_a_replay_is_refused(state: State, other: State) -> None:
    await state.approvals.create(make())
    with pytest.raises(ApprovalError, match="is pending, not approved"):
        await state.approvals.use("r1", "key-of-r1", now=T + 1)
    await state.approvals.answer("r1", True, "alice", "queue", now=T + 2)
    with pytest.raises(ApprovalError, match="was given for another call"):
        await state.approvals.use("r1", "key-of-r1-changed", now=T + 3)
    assert await state.approvals.reusable("key-of-r1", now=T + 3) is None  # not used yet: not for reuse
    used = await state.approvals.use("r1", "key-of-r1", now=T + 3)
    assert (used.state, used.uses) == ("used", 1)
    for store in (state.approvals, other.approvals):
        with pytest.raises(ApprovalError, match="approval r1 was already used"):
            await store.use("r1", "key-of-r1", now=T + 4)
    assert await state.approvals.reusable("key-of-r1", now=T + 4) is None
    assert await other.approvals.get("r1") == used


async def test_a_reusable_yes_holds_within_its_window_only(state: State, other: State) -> None:
    await state.approvals.create(make(reuse_s=60.0))
    approved = await state.approvals.answer("r1", True, "alice", "queue", now=T + 10)
    assert approved.reuse_until == T + 70
    first = await state.approvals.use("r1", "key-of-r1", now=T + 11)
    assert (first.state, first.uses) == ("approved", 1)
    found = await other.approvals.reusable("key-of-r1", now=T + 30)
    assert found is not None and found.id == "r1"
    second = await other.approvals.use("r1", "key-of-r1", now=T + 69)
    assert (second.state, second.uses) == ("approved", 2)
    assert await state.approvals.reusable("key-of-r1", now=T + 70) is None
    with pytest.raises(ApprovalError, match=r"could be reused until .*; that has passed"):
        await state.approvals.use("r1", "key-of-r1", now=T + 70)
    assert await state.approvals.reusable("key-of-r1-changed", now=T + 30) is None
    assert await state.approvals.get("r1") == second


async def test_end_closes_a_pending_request_and_leaves_an_answer_standing(state: State) -> None:
    await state.approvals.create(make("r1"))
    await state.approvals.create(make("r2"))
    ended = await state.approvals.end("r1", "expired", "nobody answered within 120 s", now=T + 120)
    assert ended is not None and (ended.state, ended.answered) == ("expired", T + 120)
    assert await state.approvals.get("r1") == ended
    assert await state.approvals.end("r1", "void", "again") is None
    approved = await state.approvals.answer("r2", True, "alice", "queue", now=T + 3)
    assert await state.approvals.end("r2", "withdrawn", "the client cancelled", now=T + 4) is None
    assert await state.approvals.get("r2") == approved
    with pytest.raises(ApprovalError, match="there is no approval request r9"):
        await state.approvals.end("r9", "void", "gone")


# -- races and other processes ------------------------------------------------------------------


async def test_two_answers_at_once_exactly_one_wins(state: State, other: State) -> None:
    for n in range(5):
        rid = f"race-{n}"
        await state.approvals.create(make(rid))
        results = await asyncio.gather(
            state.approvals.answer(rid, True, "alice", "queue", now=T + 1),
            other.approvals.answer(rid, False, "bob", "queue", now=T + 1),
            return_exceptions=True,
        )
        won = [r for r in results if isinstance(r, ApprovalRequest)]
        lost = [r for r in results if not isinstance(r, ApprovalRequest)]
        assert len(won) == 1 and len(lost) == 1, results
        assert isinstance(lost[0], ApprovalError) and "not pending" in str(lost[0])
        assert await state.approvals.get(rid) == won[0] == await other.approvals.get(rid)


async def test_many_answers_and_the_timeout_racing_leave_one_outcome(state: State, other: State) -> None:
    await state.approvals.create(make())
    stores = (state.approvals, other.approvals)
    racers = [stores[i % 2].answer("r1", i % 3 == 0, APPROVERS[i % 2], "queue", now=T + 1) for i in range(10)]
    results = await asyncio.gather(*racers, state.approvals.end("r1", "expired", "timeout", now=T + 1),
                                   return_exceptions=True)
    answers, ended = results[:-1], results[-1]
    won = [r for r in answers if isinstance(r, ApprovalRequest)]
    assert all(isinstance(r, (ApprovalRequest, ApprovalError)) for r in answers), answers
    final = await other.approvals.get("r1")
    if ended is None:
        assert len(won) == 1 and final == won[0]
    else:
        assert won == [] and final == ended and final is not None and final.state == "expired"


async def test_wait_returns_soon_after_an_answer_from_another_state(state: State, other: State) -> None:
    await state.approvals.create(make(expires=time.time() + 60))
    waiter = asyncio.create_task(state.approvals.wait("r1", timeout=10))
    await asyncio.sleep(0.5)
    assert not waiter.done()
    answered_at = time.monotonic()
    await other.approvals.answer("r1", True, "alice", "queue")
    done = await waiter
    assert time.monotonic() - answered_at < 1.0
    assert done is not None and (done.state, done.by) == ("approved", "alice")


async def test_wait_gives_the_pending_request_after_its_timeout(state: State) -> None:
    await state.approvals.create(make())
    start = time.monotonic()
    still = await state.approvals.wait("r1", timeout=0.3)
    assert still is not None and still.state == "pending"
    assert 0.3 <= time.monotonic() - start < 1.0
    assert await state.approvals.wait("nope", timeout=0.3) is None


ANSWER_IN_A_PROCESS = """
import asyncio, sys, time
from sshwall.limits import open_state

async def main(url, rid):
    state = await open_state(url)
    try:
        answered = await state.approvals.answer(rid, True, "alice", "queue")
        print(answered.state, time.time(), flush=True)
    finally:
        await state.close()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@SHARED
async def test_an_answer_from_another_process_reaches_the_waiter_within_a_second(
    state_url: str, state: State
) -> None:
    await state.approvals.create(make(expires=time.time() + 60))
    waiter = asyncio.create_task(state.approvals.wait("r1", timeout=30))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", ANSWER_IN_A_PROCESS, state_url, "r1", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    word, stamp = out.decode().split()
    done = await waiter
    assert time.time() - float(stamp) < 1.0
    assert word == "approved" and done is not None and (done.state, done.by) == ("approved", "alice")


# -- the backends' own behaviour ----------------------------------------------------------------


async def test_open_state_gives_each_backend_its_queue(state_url: str, state: State) -> None:
    scheme = urlsplit(state_url).scheme
    kind = {"memory": "MemoryApprovals", "sqlite": "SqliteApprovals", "redis": "RedisApprovals"}[scheme]
    assert type(state.approvals).__name__ == kind
    assert state.approvals.shared is (scheme != "memory")
    assert state.approvals.where == state.where


@SHARED
async def test_a_closed_shared_state_refuses_with_a_state_error(state_url: str) -> None:
    opened = await open_state(state_url)
    await opened.approvals.create(make())
    await opened.close()
    with pytest.raises(StateError, match="is closed"):
        await opened.approvals.get("r1")
    async with await open_state(state_url) as again:  # still there for the next process
        assert await again.approvals.get("r1") == make()


async def test_a_state_built_by_hand_still_gets_an_in_process_queue() -> None:
    state = State("stub", "stub", MemoryLimiter(), MemoryTaskRegistry())
    assert isinstance(state.approvals, MemoryApprovals)
    await state.approvals.create(make())
    await state.close()


@pytest.mark.parametrize("body", [
    "{not json",
    "[1, 2]",
    '"a string"',
    '{"id": "r1"}',
    "CORRUPT",
])
@SHARED
async def test_a_damaged_stored_body_is_an_approval_error(state_url: str, state: State, body: str) -> None:
    await state.approvals.create(make())
    await raw_put(state_url, "r1", body)
    with pytest.raises(ApprovalError, match=f"{state.where}: approval request r1: a stored approval request cannot"):
        await state.approvals.get("r1")
    with pytest.raises(ApprovalError, match="cannot be read"):
        await state.approvals.answer("r1", True, "alice", "queue", now=T + 1)
    with pytest.raises(ApprovalError, match="cannot be read"):
        await state.approvals.list()


@pytest.mark.parametrize(("field", "value"), [
    ("expires", "soon"), ("expires", math.nan), ("created", True), ("approvers", "alice"), ("approvers", [1]),
    ("state", "granted"), ("identity", None), ("uses", 1.5), ("arguments", []), ("id", "r2"), ("surprise", 1),
])
@SHARED
async def test_a_stored_field_of_the_wrong_type_is_an_approval_error(
    state_url: str, state: State, field: str, value: object
) -> None:
    await state.approvals.create(make())
    data = json.loads(make().to_json())
    data[field] = value
    await raw_put(state_url, "r1", json.dumps(data))
    with pytest.raises(ApprovalError, match="approval request r1"):
        await state.approvals.get("r1")
    with pytest.raises(ApprovalError):
        await state.approvals.answer("r1", True, "alice", "queue", now=T + 1)


async def test_redis_down_is_a_state_error_naming_the_server(fresh_redis: RedisServer) -> None:
    state = await open_state(fresh_redis.url(timeout=0.5, namespace="t"))
    down = f"redis at 127.0.0.1:{fresh_redis.port} unreachable"
    try:
        await state.approvals.create(make())
        fresh_redis.stop()
        with pytest.raises(StateError, match=down):
            await state.approvals.get("r1")
        with pytest.raises(StateError, match=down):
            await state.approvals.create(make("r2"))
        with pytest.raises(StateError, match=down):
            await state.approvals.list()
        with pytest.raises(StateError, match=down):
            await state.approvals.answer("r1", True, "alice", "queue", now=T + 1)
        with pytest.raises(StateError, match=down):
            await state.approvals.wait("r1", timeout=1)
        fresh_redis.start()  # no persistence: the queue starts empty, and works again
        assert await state.approvals.get("r1") is None
        await state.approvals.create(make())
        assert (await state.approvals.answer("r1", True, "alice", "queue", now=T + 1)).state == "approved"
    finally:
        await state.close()


async def test_redis_keeps_a_request_a_week_past_its_expiry_or_reuse(redis_url: str, redis_server: RedisServer) -> None:
    ns = dict(parse_qsl(urlsplit(redis_url).query))["namespace"] + ":"
    client = aioredis.Redis(host="127.0.0.1", port=redis_server.port, decode_responses=True)
    now = time.time()
    try:
        async with await open_state(redis_url) as state:
            await state.approvals.create(make(created=now, reuse_s=3600.0))
            ttl = await client.ttl(f"{ns}approval:r1")
            assert abs(ttl - (120 + KEEP_S)) <= 2
            assert abs(await client.ttl(f"{ns}approvals") - ttl) <= 1
            await state.approvals.answer("r1", True, "alice", "queue", now=now)
            ttl = await client.ttl(f"{ns}approval:r1")
            assert abs(ttl - (3600 + KEEP_S)) <= 2  # the reuse window outlasts the expiry
            assert abs(await client.ttl(f"{ns}approvals") - ttl) <= 1
            await client.delete(f"{ns}approval:r1")  # as its expiry would
            assert await state.approvals.list() == []
            assert await client.zcard(f"{ns}approvals") == 0
    finally:
        await client.aclose()


async def test_sqlite_sweeps_requests_kept_a_week_past_mattering(tmp_path: Path) -> None:
    now = time.time()
    old = now - KEEP_S - 1000
    async with await open_state(f"sqlite://{tmp_path / 'state.db'}") as state:
        await state.approvals.create(make("stale", created=old))
        await state.approvals.create(make("reused", created=old, state="approved", reuse_until=now + 100))
        await state.approvals.create(make("fresh", created=now))
        assert [r.id for r in await state.approvals.list()] == ["reused", "fresh"]


async def test_sqlite_carries_the_queue_over_when_the_file_is_renamed_away(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await open_state(f"sqlite://{path}") as state:
        await state.approvals.create(make())
        path.rename(tmp_path / "state.db.old")
        got = await state.approvals.get("r1")
        assert got == make()
        assert (await state.approvals.answer("r1", True, "alice", "queue", now=T + 1)).state == "approved"
    async with await open_state(f"sqlite://{path}") as again:
        got = await again.approvals.get("r1")
        assert got is not None and got.state == "approved"


def test_stored_form_round_trips_exactly() -> None:
    request = make(extra={"elicitation": {"id": 3}}, note="ünïcode", created=T + 0.1)
    assert ApprovalRequest.from_json(request.to_json()) == request
    assert ApprovalRequest.from_json(request.to_json()).to_json() == request.to_json()
    assert not math.isnan(ApprovalRequest.from_json(request.to_json()).expires)
