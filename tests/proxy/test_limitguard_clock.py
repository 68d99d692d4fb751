"""Time to live, re-sent stops, settling and rate windows, on the limit guard's injectable clock.

A real policy, a real audit log and a real state backend (memory, or SQLite on a file, which two
"replicas" share), a fake upstream that answers as Mcp Ssh does, and ``tests.support.clock``:
each boundary is checked at the millisecond before it, at it, and after it, with no wall-clock
waits. The true end-to-end runs of the same rules (real sshd, a real task stopped at its TTL)
are ``tests/governance/test_ttl_sshd.py`` and ``tests/governance/test_background_runs.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from sshwall.audit import AuditLog, verify
from sshwall.audit.record import rfc3339
from sshwall.errors import UpstreamTimeout
from sshwall.limits import State, open_state
from sshwall.policy import load_policy
from sshwall.policy.model import Policy
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.limitguard import RESTOP_EVERY_MS, SETTLE_SLACK_MS, LimitGuard
from tests.support.background_upstream import BackgroundUpstream
from tests.support.clock import T0_MS, FakeClock

REPO_ROOT = Path(__file__).resolve().parents[2]
TTL_MS = 60_000
BOUND_MS = 25_000  # run_timeout 20 s + kill_after 5 s
POLICY = """
version: 1
profile: mcp-ssh
default: deny
tools:
  executeCommand: {commands: ops, limits: [{counter: exec, window: minute, max: 3, scope: grant}]}
  stopBackground: allow
  stopAllBackgroundTasks: allow
  backgroundExecute:
    commands: ops
    interval: {min: 30s}
    background: {max_active: 2, ttl: 60s, run_timeout: 20s, kill_after: 5s}
commands:
  ops:
    programs: {uptime: {}}
"""


def _policy(tmp_path: Path, text: str = POLICY) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return load_policy(path)


class Replica:
    """One gateway's firewall and limit guard on a state of its own connection, with its own clock."""

    def __init__(self, policy: Policy, state: State, audit: AuditLog, clock: FakeClock) -> None:
        self.policy, self.state, self.audit, self.clock = policy, state, audit, clock
        self.upstream = BackgroundUpstream()
        self.guard = LimitGuard(policy, state, clock)
        self.firewall = Firewall(policy, self.upstream, audit, self.guard)

    async def call(self, tool: str, args: dict[str, Any], identity: str = "test") -> dict[str, Any]:
        return await self.firewall.call_tool({"name": tool, "arguments": args}, Caller(identity))

    async def start(self, cid: str, interval: int = 30_000, identity: str = "test") -> dict[str, Any]:
        return await self.call("backgroundExecute", {"connectionId": cid, "command": "uptime", "interval": interval},
                               identity)

    async def registered(self) -> list[str]:
        return [t.connection_id for t in await self.state.tasks.active()]


def _run(tmp_path: Path, url: str, test: Callable[[Replica], Awaitable[None]], policy: str = POLICY) -> None:
    """Run ``test`` on one replica over ``url`` (``sqlite`` becomes a file in ``tmp_path``)."""
    if url == "sqlite":
        url = f"sqlite://{tmp_path / 'state.db'}"

    async def go() -> None:
        state = await open_state(url)
        clock = FakeClock()
        try:
            with AuditLog(tmp_path / "audit.jsonl", clock=clock, fsync=False) as audit:
                await test(Replica(_policy(tmp_path, policy), state, audit, clock))
        finally:
            await state.close()

    asyncio.run(go())
    assert verify(tmp_path / "audit.jsonl").ok


def _records(tmp_path: Path, kind: str) -> list[dict[str, Any]]:
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if r.get("kind") == kind]


def _text(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


def _denied(result: dict[str, Any]) -> bool:
    return bool(result.get("isError")) and _text(result).startswith("sshwall: denied")


@pytest.mark.parametrize("backend", ["memory://", "sqlite"])
def test_a_task_is_stopped_at_its_ttl_not_a_millisecond_before_and_only_once(tmp_path: Path, backend: str) -> None:
    async def test(rig: Replica) -> None:
        assert not _denied(await rig.start("c1"))
        (task,) = await rig.state.tasks.active()
        assert (task.started_ms, task.expires_ms) == (T0_MS, T0_MS + TTL_MS)

        rig.clock.advance(TTL_MS - 1)
        assert await rig.firewall.reap_expired() == 0
        assert rig.upstream.stops() == [] and await rig.registered() == ["c1"]

        rig.clock.advance(1)
        assert await rig.firewall.reap_expired() == 1
        assert rig.upstream.stops() == ["c1"] and rig.upstream.timers == set()
        assert await rig.registered() == []
        (stop,) = _records(tmp_path, "ttl-stop")
        assert (stop["connection_id"], stop["identity"], stop["interval_ms"], stop["detail"]) == ("c1", "test", 30_000, "stopped")
        assert stop["command"] == "uptime"  # the agent's command, not sshwall's wrapper of it
        assert stop["time"] == rfc3339((T0_MS + TTL_MS) / 1000)

        rig.clock.advance(1)
        assert await rig.firewall.reap_expired() == 0
        assert rig.upstream.stops() == ["c1"]  # never a second stop
        # The connection takes a new task, with a TTL of its own from now.
        assert not _denied(await rig.start("c1"))
        (again,) = await rig.state.tasks.active()
        assert again.expires_ms == T0_MS + TTL_MS + 1 + TTL_MS

    _run(tmp_path, backend, test)


def test_a_ttl_that_runs_out_while_the_start_is_in_flight_is_enforced_once_it_answers(tmp_path: Path) -> None:
    async def test(rig: Replica) -> None:
        rig.upstream.hold = asyncio.Event()
        start = asyncio.create_task(rig.start("c1"))
        await rig.upstream.entered.wait()
        rig.clock.advance(TTL_MS + 1)
        # A stop now would reach no timer (the upstream sets it when the start answers).
        assert await rig.firewall.reap_expired() == 0
        assert rig.upstream.stops() == [] and await rig.registered() == ["c1"]
        rig.upstream.hold.set()
        assert not (await start).get("isError")
        assert rig.upstream.timers == {"c1"}
        assert await rig.firewall.reap_expired() == 1  # the TTL counts from the admission
        assert rig.upstream.stops() == ["c1"] and rig.upstream.timers == set() and await rig.registered() == []

    _run(tmp_path, "memory://", test)


@pytest.mark.parametrize("backend", ["memory://", "sqlite"])
def test_a_ttl_stop_without_an_answer_is_sent_again_exactly_restop_every_ms_later(tmp_path: Path, backend: str) -> None:
    async def test(rig: Replica) -> None:
        assert not _denied(await rig.start("c1"))
        rig.upstream.time_out_stops = True
        rig.clock.advance(TTL_MS)
        assert await rig.firewall.reap_expired() == 1
        assert rig.upstream.stops() == ["c1"] and await rig.registered() == ["c1"]
        assert _records(tmp_path, "ttl-stop")[-1]["detail"].endswith("(sent again later)")
        rig.upstream.time_out_stops = False

        rig.clock.advance(RESTOP_EVERY_MS - 1)
        assert await rig.firewall.reap_expired() == 0
        assert rig.upstream.stops() == ["c1"] and rig.upstream.timers == {"c1"}
        rig.clock.advance(1)
        assert await rig.firewall.reap_expired() == 1
        assert rig.upstream.stops() == ["c1", "c1"] and rig.upstream.timers == set()
        assert await rig.registered() == []
        assert [r["detail"] for r in _records(tmp_path, "ttl-stop")][-1] == "stopped"

    _run(tmp_path, backend, test)


@pytest.mark.parametrize(("offset", "settles"), [(-1, False), (0, True)])
def test_an_unanswered_start_is_forgotten_on_a_no_task_reply_only_from_its_first_runs_bound(
    tmp_path: Path, offset: int, settles: bool
) -> None:
    """The upstream may set the timer when the first run ends, up to run_timeout + kill_after
    (+ slack) after the start: a "no task" reply before that proves nothing."""
    settle_at = T0_MS + BOUND_MS + SETTLE_SLACK_MS

    async def test(rig: Replica) -> None:
        rig.upstream.time_out_starts = True
        with pytest.raises(UpstreamTimeout):
            await rig.start("c1")
        assert rig.guard.unsettled == {"c1": settle_at}
        rig.clock.set_ms(settle_at + offset)
        stop = await rig.call("stopBackground", {"connectionId": "c1"})
        assert _text(stop) == "连接 c1 没有正在运行的后台任务"
        assert await rig.registered() == ([] if settles else ["c1"])
        if settles:
            return
        # Sent again RESTOP_EVERY_MS later (not a millisecond sooner), and then it settles.
        rig.clock.advance(RESTOP_EVERY_MS - 1)
        assert await rig.firewall.reap_expired() == 0
        rig.clock.advance(1)
        assert await rig.firewall.reap_expired() == 1
        assert rig.upstream.stops() == ["c1", "c1"] and await rig.registered() == []

    _run(tmp_path, "memory://", test)


def test_the_rate_window_is_sliding_and_exact_to_the_millisecond(tmp_path: Path) -> None:
    async def test(rig: Replica) -> None:
        async def run(at_ms: int, identity: str = "test") -> dict[str, Any]:
            rig.clock.set_ms(T0_MS + at_ms)
            return await rig.call("executeCommand", {"connectionId": "c1", "command": "uptime"}, identity)

        for at in (0, 1, 2):
            assert not _denied(await run(at))
        fourth = await run(3)
        assert _text(fourth) == ("sshwall: denied (rule limits.exec): rate limit exec|grant=test: "
                                 "at most 3 calls per 1m; retry after 60 s")
        assert not _denied(await run(3, "other"))  # scope grant: another identity counts apart
        assert "retry after 1 s" in _text(await run(59_999))  # the call at 0 is still inside
        assert not _denied(await run(60_000))  # ... and has left the window exactly now
        assert _denied(await run(60_000))  # full again: 1, 2 and 60 000
        assert not _denied(await run(60_001))
        # Denied calls never reached the upstream and took no slot.
        assert [name for name, _ in rig.upstream.sent].count("executeCommand") == 6

    _run(tmp_path, "memory://", test)


def test_max_runs_caps_ttl_over_interval_at_its_boundary(tmp_path: Path) -> None:
    policy = POLICY.replace("ttl: 60s,", "ttl: 90s, max_runs: 3,")

    async def test(rig: Replica) -> None:
        over = await rig.start("c1", interval=30_000)  # 90 s / 30 s + 1 = 4 runs
        assert _text(over) == ("sshwall: denied (rule tools.backgroundExecute.background): a task every 30s "
                               "for 90s runs about 4 times, over the cap of 3")
        assert rig.upstream.sent == [] and await rig.registered() == []
        assert not _denied(await rig.start("c1", interval=30_001))  # 2 + 1 runs
        (task,) = await rig.state.tasks.active()
        assert task.expires_ms == T0_MS + 90_000

    _run(tmp_path, "memory://", test, policy)


def test_replicas_on_one_registry_each_stop_only_their_own_tasks_on_their_own_clock(tmp_path: Path) -> None:
    """Moved here from tests/governance/test_background_rules.py: a stop-all on one replica
    leaves another replica's task governed; its TTL stop comes from its own gateway only,
    whatever the other's clock says."""
    policy = load_policy(REPO_ROOT / "fixtures" / "policies" / "gov-replica-ttl.yaml")  # ttl 2 s, 1 per identity
    url = f"sqlite://{tmp_path / 'state.db'}"
    cap_denial = ("sshwall: denied (rule tools.backgroundExecute.background): "
                  "background tasks: at most 1 active for bob (1 running); stop one first")

    async def go() -> None:
        state_a, state_b = await open_state(url), await open_state(url)
        clock_a, clock_b = FakeClock(), FakeClock(T0_MS + 777)
        try:
            with AuditLog(tmp_path / "a.jsonl", clock=clock_a, fsync=False) as audit_a, \
                    AuditLog(tmp_path / "b.jsonl", clock=clock_b, fsync=False) as audit_b:
                alice = Replica(policy, state_a, audit_a, clock_a)
                bob = Replica(policy, state_b, audit_b, clock_b)
                assert not _denied(await bob.start("b1", 1000, "bob"))
                assert not _denied(await alice.call("stopAllBackgroundTasks", {}, "alice"))
                assert [name for name, _ in alice.upstream.sent] == ["stopAllBackgroundTasks"]
                assert await alice.registered() == ["b1"]  # b1 still runs on bob's upstream
                assert _text(await bob.start("b2", 1000, "bob")) == cap_denial

                clock_a.advance(10**6)  # alice's clock far ahead: b1 is past its TTL there, not hers
                assert await alice.firewall.reap_expired() == 0
                clock_b.advance(1_999)
                assert await bob.firewall.reap_expired() == 0
                clock_b.advance(1)
                assert await bob.firewall.reap_expired() == 1
                assert (bob.upstream.stops(), alice.upstream.stops()) == (["b1"], [])
                assert await alice.registered() == []
                assert not _denied(await bob.start("b2", 1000, "bob"))
        finally:
            await state_a.close()
            await state_b.close()

    asyncio.run(go())
