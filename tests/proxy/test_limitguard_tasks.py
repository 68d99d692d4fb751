"""Background tasks in the firewall and its limit guard, with Mcp Ssh's real reply texts and a fake clock.

The forward answers as the real server does (``已在后台启动命令: ...``, ``已停止连接 NAME 的后台
任务`` / ``连接 NAME 没有正在运行的后台任务``) and can time out or hold a start in flight, so each
test sees when sshwall forgets a task, and what it forwarded. The end-to-end runs against a real
sshd are ``tests/governance/test_background_runs.py``.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from sshwall.errors import UpstreamTimeout
from sshwall.limits import open_state
from sshwall.policy import load_policy
from sshwall.policy.model import Policy
from sshwall.proxy.firewall import Firewall
from sshwall.proxy.limitguard import RESTOP_EVERY_MS, SETTLE_SLACK_MS, Caller, LimitGuard
from sshwall.proxy.runbound import bound_runs, wrap
from tests.support.background_upstream import BackgroundUpstream
from tests.support.clock import FakeClock

POLICY = """
version: 1
profile: mcp-ssh
default: deny
tools:
  stopBackground: allow
  stopAllBackgroundTasks: allow
  backgroundExecute:
    commands: any
    interval: {min: 30s}
    background: {max_active: 1, ttl: 60s%s}
"""
BOUND = ", run_timeout: 20s, kill_after: 5s"


def _policy(tmp_path: Path, extra: str = BOUND) -> Policy:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY % extra)
    return load_policy(path)


class Rig:
    def __init__(self, policy: Policy) -> None:
        self.upstream = BackgroundUpstream()
        self.clock = FakeClock()
        self.policy = policy

    async def __aenter__(self) -> Rig:
        self.state = await open_state("memory://")
        self.limits = LimitGuard(self.policy, self.state, self.clock)
        self.firewall = Firewall(self.policy, self.upstream, limits=self.limits)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.state.close()

    async def call(self, tool: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self.firewall.call_tool({"name": tool, "arguments": args}, Caller("test"))

    async def start(self, cid: str, command: str = "uptime") -> dict[str, Any]:
        return await self.call("backgroundExecute", {"connectionId": cid, "command": command, "interval": 30000})

    async def registered(self) -> list[str]:
        return [t.connection_id for t in await self.state.tasks.active()]


def _text(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


def _denied(result: dict[str, Any]) -> bool:
    return bool(result.get("isError")) and _text(result).startswith("sshwall: denied")


def test_a_start_without_an_answer_stays_registered_until_a_stop_reaches_its_timer(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(_policy(tmp_path)) as rig:
            rig.upstream.time_out_starts = True
            with pytest.raises(UpstreamTimeout):
                await rig.start("c1")
            assert await rig.registered() == ["c1"]  # maybe started: counted
            second = await rig.start("c2")
            assert _denied(second) and "at most 1 active" in _text(second)
            again = await rig.start("c1")
            assert _denied(again) and "may have started" in _text(again)

            # A stop while the upstream (in this script) has set no timer yet: its "no task"
            # answer proves nothing before the first run's bound has passed.
            rig.clock.advance(10_000)
            assert not _denied(await rig.call("stopBackground", {"connectionId": "c1"}))
            assert await rig.registered() == ["c1"]
            assert await rig.firewall.reap_expired() == 0  # sent again, but not before RESTOP_EVERY_MS
            rig.clock.advance(RESTOP_EVERY_MS)
            assert await rig.firewall.reap_expired() == 1
            assert await rig.registered() == ["c1"]
            # Past run_timeout + kill_after + slack from the start: a stop now surely came after
            # the timer, if there is one, so the "no task" answer settles it.
            rig.clock.advance(25_000 + SETTLE_SLACK_MS)
            assert await rig.firewall.reap_expired() == 1
            assert await rig.registered() == []
            assert len(rig.upstream.stops()) == 3
            rig.upstream.time_out_starts = False
            assert not _denied(await rig.start("c2"))

    asyncio.run(go())


def test_a_stop_reply_saying_it_stopped_a_timer_settles_at_once(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(_policy(tmp_path, "")) as rig:  # no run bound: time never settles it
            rig.upstream.time_out_starts = True
            with pytest.raises(UpstreamTimeout):
                await rig.start("c1")
            rig.clock.advance(10**9)
            assert not _denied(await rig.call("stopBackground", {"connectionId": "c1"}))
            assert await rig.registered() == ["c1"]  # "no task", and no bound: still maybe started
            rig.upstream.timers.add("c1")  # the first run ended: the upstream set its timer
            rig.clock.advance(RESTOP_EVERY_MS)
            assert await rig.firewall.reap_expired() == 1
            assert await rig.registered() == [] and rig.upstream.timers == set()

    asyncio.run(go())


def test_a_stop_while_the_start_is_in_flight_is_sent_again_once_it_started(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(_policy(tmp_path)) as rig:
            rig.upstream.hold = asyncio.Event()
            start = asyncio.create_task(rig.start("c1"))
            await asyncio.sleep(0.01)
            concurrent = await rig.start("c1")
            assert _denied(concurrent) and "still starting" in _text(concurrent)
            assert "orphan timer that no stop reaches" in _text(concurrent)
            await rig.call("stopBackground", {"connectionId": "c1"})  # reaches no timer yet
            assert await rig.registered() == ["c1"]
            rig.upstream.hold.set()
            assert not (await start).get("isError")
            assert rig.upstream.timers == {"c1"}
            assert await rig.firewall.reap_expired() == 1  # the stop asked for, now it can land
            assert rig.upstream.timers == set() and await rig.registered() == []
            # Exactly one start reached the upstream.
            assert [n for n, _ in rig.upstream.sent].count("backgroundExecute") == 1

    asyncio.run(go())


def test_a_ttl_stop_without_an_answer_is_sent_again(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(_policy(tmp_path)) as rig:
            assert not (await rig.start("c1")).get("isError")
            rig.upstream.time_out_stops = True
            rig.clock.advance(60_000)
            assert await rig.firewall.reap_expired() == 1
            assert await rig.registered() == ["c1"] and rig.upstream.timers == {"c1"}
            rig.upstream.time_out_stops = False
            rig.clock.advance(RESTOP_EVERY_MS)
            assert await rig.firewall.reap_expired() == 1
            assert await rig.registered() == [] and rig.upstream.timers == set()

    asyncio.run(go())


def test_the_command_is_forwarded_inside_sshwalls_timeout(tmp_path: Path) -> None:
    async def go() -> None:
        async with Rig(_policy(tmp_path)) as rig:
            command = "df -h / && echo 'it''s done' | tr a-z A-Z"
            assert not (await rig.start("c1", command)).get("isError")
            forwarded = rig.upstream.sent[-1][1]["command"]
            assert forwarded == wrap(command, 20_000, 5_000)
            assert forwarded.startswith("timeout -k 5s 20s bash -c ' ")
            assert forwarded.endswith(" </dev/null")

    asyncio.run(go())


def test_the_wrapper_reads_back_as_the_command(tmp_path: Path) -> None:
    import subprocess

    for command in ["echo \"a'b\" '$HOME' \\$x", "printf '%s\\n' 1 2; echo done", "echo ''\"'\"''"]:
        alone = subprocess.run(["bash", "-c", command], check=False, capture_output=True, text=True)
        wrapped = subprocess.run(["bash", "-c", wrap(command, 5_000, 1_000)], check=False, capture_output=True, text=True)
        assert (wrapped.stdout, wrapped.returncode) == (alone.stdout, alone.returncode), command


def test_a_run_bound_not_below_the_interval_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text((POLICY % BOUND).replace("interval: {min: 30s}", "interval: {min: 25s}"))
    with pytest.raises(Exception, match=r"must be below interval.min"):
        load_policy(path)


def test_a_sudo_rewrite_the_wrapper_would_change_is_denied(tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    # JavaScript's trim() strips the tab, so the upstream rewrites the command alone; inside
    # the wrapper it would not: sshwall refuses rather than forward a different program.
    odd = bound_runs(policy, "backgroundExecute", {"connectionId": "c", "command": "\tsudo -n true", "interval": 30000})
    assert odd.problem and "sudo-password rewrite" in odd.problem
    plain = bound_runs(policy, "backgroundExecute", {"connectionId": "c", "command": "sudo -n true", "interval": 30000})
    assert plain.problem is None and plain.arguments is not None
    assert plain.arguments["command"] == "timeout -k 5s 20s bash -c ' sudo -n true' </dev/null"


def test_an_interval_not_above_the_run_bound_is_denied_by_the_engine(tmp_path: Path) -> None:
    from sshwall.engine import Decision, ToolCall, evaluate

    path = tmp_path / "nomin.yaml"
    path.write_text((POLICY % BOUND).replace("    interval: {min: 30s}\n", ""))
    policy = load_policy(path)
    short = evaluate(policy, ToolCall("backgroundExecute", {"connectionId": "c", "command": "uptime", "interval": 25000}))
    assert short.decision == Decision.DENY and "tools.backgroundExecute.background.run_timeout" in short.rules
    assert "runs would overlap" in " ".join(short.reasons)
    ok = evaluate(policy, ToolCall("backgroundExecute", {"connectionId": "c", "command": "uptime", "interval": 25001}))
    assert ok.decision == Decision.ALLOW
