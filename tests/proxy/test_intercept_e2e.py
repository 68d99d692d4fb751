"""The Intercept example policy (rules/examples/intercept-ops.yaml) enforced end to end.

A real ``sshwall serve`` (stdio, the built-in backend or ``SSHWALL_TEST_UPSTREAM``) in front of
the session's real sshd: a condition denies with its ``on_deny`` text, sshwall's own command
analysis still denies what the condition lets through, the rate limit denies the call after the
third in a UTC minute, and the timeout budget (a state counter with ``increment_from``) denies a
call that would take it past its limit. The calendar reset at the UTC minute is checked in
process on the limit guard's clock (``tests.support.clock``), on memory, SQLite and Redis state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sshwall.audit import AuditLog
from sshwall.limits import open_state
from sshwall.policy import load_policy
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.limitguard import LimitGuard
from tests.proxy.gateway import GatewayClient, decisions, serve_argv, start_gateway
from tests.support.background_upstream import BackgroundUpstream
from tests.support.clock import FakeClock
from tests.support.redis_pytest import start_or_skip
from tests.support.sshd import REPO_ROOT, SshdServer

EXAMPLE = REPO_ROOT / "rules" / "examples" / "intercept-ops.yaml"
ONLY = "Only uptime, df -h, free -m, uname -a and cat FILE are allowed"
BUDGET = "Each command may wait 10 s at most, and 20 s in all per hour"
RATE = "At most 3 commands per minute: wait for the next minute"


def _wait_for_a_quiet_minute(margin_s: float = 25.0) -> None:
    """Sleep into the next UTC minute when this one has less than ``margin_s`` left, so no
    calendar window (minute, and hour at its last minute) resets in the middle of the test."""
    left = 60 - time.time() % 60
    if left < margin_s:
        time.sleep(left + 0.2)


def _exec(gw: GatewayClient, cid: str, command: str, timeout: int | None = None) -> Any:
    args: dict[str, object] = {"connectionId": cid, "command": command}
    if timeout is not None:
        args["timeout"] = timeout
    return gw.call("executeCommand", args)


def test_the_example_is_enforced_by_a_real_gateway(sshd: SshdServer, upstream: list[str], gateway_dir: Path) -> None:
    audit = gateway_dir / "audit-intercept.jsonl"
    with start_gateway("stdio", "legacy", serve_argv(EXAMPLE, audit, upstream), audit,
                       gateway_dir / "serve-intercept.log") as gw:
        names = {tool.name for tool in gw.list_tools()}
        assert names and not names & {"createTunnel", "uploadFile", "batchUploadFiles"}  # hide
        cid = gw.connect(sshd)

        # A condition: the command is not one of the listed diagnostics.
        reply = _exec(gw, cid, "ls /", 1000)
        assert reply.denied and ONLY in reply.first_line
        # The condition holds, sshwall's analysis denies: the stricter wins.
        shadow = _exec(gw, cid, "cat /etc/shadow", 1000)
        assert shadow.denied and "protected path" in shadow.first_line
        # action: deny
        gone = gw.call("deleteConnection", {"connectionId": cid})
        assert gone.denied and "Saved connections are not deleted through the gateway" in gone.first_line

        _wait_for_a_quiet_minute()
        # The budget: 9 s + 9 s fit 20 s, a third 9 s does not (and adds nothing) ...
        for _ in range(2):
            ok = _exec(gw, cid, "uptime", 9000)
            assert not ok.is_error and "load average" in ok.text
        over = _exec(gw, cid, "uptime", 9000)
        assert over.denied and BUDGET in over.first_line
        # ... 2 s still fits exactly (20 s in all): the third call of the minute.
        assert not _exec(gw, cid, "uptime", 2000).is_error
        # The rate limit: a fourth call in this UTC minute is denied, whatever its timeout.
        fourth = _exec(gw, cid, "uptime", 0)
        assert fourth.denied and RATE in fourth.first_line

    rules = [(d["tool"], d["decision"], d.get("rules")) for d in decisions(audit) if d["tool"] != "connect"]
    denied = [r for _, decision, r in rules if decision == "deny"]
    assert ["intercept.executeCommand.known diagnostics only"] in denied
    assert ["intercept.deleteConnection.keep saved connections"] in denied
    assert ["limits.intercept:executeCommand.timeout_ms"] in denied
    assert ["limits.intercept:executeCommand._rate_minute"] in denied
    assert sum(1 for tool, decision, _ in rules if tool == "executeCommand" and decision == "allow") == 3


@pytest.fixture
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """memory, a SQLite file, or a real redis-server of this test (skipped when there is none,
    except under CI=true)."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'state.db'}"
    elif request.param == "redis":
        server = start_or_skip(tmp_path / "redis")
        try:
            yield server.url(namespace="intercept")
        finally:
            server.stop()
    else:
        yield "memory://"


@pytest.mark.parametrize("state_url", ["memory", "sqlite", "redis"], indirect=True)
def test_calendar_windows_reset_at_the_utc_boundary(tmp_path: Path, state_url: str) -> None:
    """In process, on the guard's clock: the minute counter resets at hh:mm:00.000 UTC, the
    hour budget only at the top of the hour."""
    url = state_url
    hour_start = 1_700_002_800_000  # 2023-11-14 23:00:00 UTC
    clock = FakeClock(hour_start + 59_000)  # 23:00:59

    async def go() -> None:
        state = await open_state(url)
        try:
            with AuditLog(tmp_path / "audit.jsonl", clock=clock, fsync=False) as audit:
                policy = load_policy(EXAMPLE)
                firewall = Firewall(policy, BackgroundUpstream(), audit, LimitGuard(policy, state, clock))

                async def run(timeout: int) -> str:
                    result: dict[str, Any] = await firewall.call_tool(
                        {"name": "executeCommand", "arguments": {"connectionId": "c1", "command": "uptime", "timeout": timeout}},
                        Caller("test"))
                    text = str(result["content"][0]["text"])
                    return text if result.get("isError") and text.startswith("sshwall: denied") else "ok"

                for _ in range(3):
                    assert await run(1000) == "ok"
                clock.advance(999)  # 23:00:59.999: the same minute
                assert RATE in await run(1000)
                clock.advance(1)  # 23:01:00.000: a new minute, the first calls were a second ago
                assert await run(8000) == "ok"
                assert await run(9000) == "ok"  # 1 + 1 + 1 + 8 + 9 = 20 s: exactly the budget
                assert BUDGET in await run(1000)
                clock.set_ms(hour_start + 3_600_000 - 1)  # 23:59:59.999
                assert BUDGET in await run(1000)
                clock.advance(1)  # midnight's hour: the budget starts again
                assert await run(10_000) == "ok"
        finally:
            await state.close()

    asyncio.run(go())
