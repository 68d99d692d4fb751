"""Scheduled work as Mcp Ssh really runs it, through the gateway, against a real sshd.

client -> ``sshwall serve`` (``fixtures/policies/gov-bg-runs.yaml``) -> built-in backend -> sshd.
Mcp Ssh's timer does not wait for a run, its stop does not end a run in progress, its reply
waits for the first run (the timer starts even if the client gave up), and two starts in flight
on one connection orphan a timer (the profile's ``schedule``). What happened on the host is read
over the fixture's own SSH connection, never through the gateway.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.audit import verify
from tests.governance.gateway import BACKEND, Gateway, Gateways, policy
from tests.support.mcp_client import http_backend_url
from tests.support.sshd import SshdServer

RULES = policy("gov-bg-runs.yaml")


def _records(audit: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]


def _lines(sshd: SshdServer, path: str) -> list[str]:
    return sshd.run(f"cat {path} 2>/dev/null").stdout.split()


def _pids(sshd: SshdServer, marker: str) -> list[int]:
    """Processes on the host whose command line holds ``marker`` (the listing itself excluded)."""
    listing = sshd.check("ps -eo pid=,args=")
    return [int(line.split(None, 1)[0]) for line in listing.splitlines()
            if marker in line and "ps -eo" not in line]


def _wait_for(predicate: object, timeout: float, step: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(step)
    return False


@pytest.fixture
def target(sshd: SshdServer) -> Iterator[str]:
    path = f"/tmp/sshwall-bg-{uuid.uuid4().hex}"
    yield path
    sshd.run(f"rm -f {path} {path}.flag")


def _connect(gw: Gateway, sshd: SshdServer) -> str:
    connected = gw.call("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user,
                                    "privateKey": sshd.client_key_text, "rememberPassword": False})
    assert connected.allowed, connected.text
    return str(connected.structured["connectionId"])


def _lists_task(text: str, sshd: SshdServer) -> bool:
    """Whether a ``listBackgroundTasks`` reply names the (unnamed) test connection, as Mcp Ssh does:
    by its name, which defaults to ``user@host`` (the ids are not in that reply)."""
    return f"连接: {sshd.user}@{sshd.host}\n主机: {sshd.host}\n用户: {sshd.user}\n" in text


def _start(gateways: Gateways, sshd: SshdServer, audit: Path, *extra: str) -> Gateway:
    return gateways.start(RULES, upstream=BACKEND, audit=audit, extra=list(extra),
                          backend_args=[f"--known-hosts={sshd.known_hosts_path}"])


def test_a_second_start_on_a_connection_is_denied_and_nothing_is_orphaned(
    gateways: Gateways, sshd: SshdServer, target: str, tmp_path: Path
) -> None:
    audit = tmp_path / "audit.jsonl"
    gw = _start(gateways, sshd, audit)
    cid = _connect(gw, sshd)
    first = {"connectionId": cid, "command": f"sleep 1; echo a >> {target}", "interval": 4000}
    second = {"connectionId": cid, "command": f"echo b >> {target}", "interval": 4000}
    # Both in flight at once: on Mcp Ssh each would see no timer, and the first would be orphaned.
    one, two = gw.call_many([("backgroundExecute", first), ("backgroundExecute", second)])
    assert one.allowed, one.text
    assert two.denied, two.text
    assert "tools.backgroundExecute.background" in two.first_line
    assert "still starting" in two.first_line and "orphan timer that no stop reaches" in two.first_line

    # Once started it is still the connection's one task: a replacement is refused too.
    again = gw.call("backgroundExecute", second)
    assert again.denied and "already has a background task" in again.first_line, again.text

    assert gw.call("stopBackground", {"connectionId": cid}).allowed
    settled = _lines(sshd, target)
    time.sleep(5.0)  # more than an interval: nothing runs any more
    assert _lines(sshd, target) == settled
    assert settled and set(settled) == {"a"}, settled  # the denied command never ran
    listed = gw.call("listBackgroundTasks", {})
    assert listed.allowed and listed.text == "当前没有运行中的后台任务", listed.text
    # After the stop the connection takes a new task.
    assert gw.call("backgroundExecute", second).allowed
    assert gw.call("stopBackground", {"connectionId": cid}).allowed
    gw.close()
    assert verify(audit).ok


@pytest.fixture
def http_backend(sshd: SshdServer, tmp_path: Path) -> Iterator[str]:
    """The built-in backend already serving streamable HTTP: its URL. Started before the
    gateway, so the gateway's short --timeout is spent on tool calls, not on the backend's start."""
    with http_backend_url(["--known-hosts", str(sshd.known_hosts_path)], tmp_path / "backend.log", timeout=60) as url:
        yield url


def test_a_start_whose_first_run_outlasts_the_gateway_timeout_stays_counted_and_is_ttl_stopped(
    gateways: Gateways, sshd: SshdServer, target: str, tmp_path: Path, http_backend: str
) -> None:
    """The true end-to-end run of a maybe-started task (its bounds, to the millisecond, are in
    ``tests/proxy/test_limitguard_clock.py`` and ``test_limitguard_tasks.py``)."""
    # Slower numbers than the shared policy: the gateway's --timeout (4 s) below a first run of
    # 5 s, below run_timeout 6 s; interval 8 s, TTL 8 s (stopped after the timer is set at 5 s).
    rules = tmp_path / "slow-first-run.yaml"
    rules.write_text(RULES.read_text().replace("interval: {min: 4s}", "interval: {min: 8s}")
                     .replace("ttl: 8s, run_timeout: 2s", "ttl: 8s, run_timeout: 6s"))
    audit = tmp_path / "audit.jsonl"
    gw = gateways.start(rules, upstream=BACKEND, audit=audit,
                        extra=["--timeout", "4", "--upstream-url", http_backend])
    cid = _connect(gw, sshd)
    command = f"test -e {target} || sleep 5; echo x >> {target}"  # only the first run is slow
    t0 = time.monotonic()
    timed_out = gw.call("backgroundExecute", {"connectionId": cid, "command": command, "interval": 8000})
    assert timed_out.is_error and not timed_out.denied, timed_out.text

    # The upstream starts the task anyway (Mcp Ssh's reply waits for the first run, and the
    # timer starts when it ends): sshwall has not forgotten it.
    again = gw.call("backgroundExecute", {"connectionId": cid, "command": f"echo y >> {target}", "interval": 8000})
    assert again.denied and "may have started" in again.first_line, again.text
    assert _wait_for(lambda: _lists_task(gw.call("listBackgroundTasks", {}).text, sshd), 8.0), "never started"
    timer_from = time.monotonic()  # the timer runs from here, or a little earlier

    # Its TTL stop comes from the gateway; then nothing runs any more.
    assert _wait_for(lambda: any(r.get("kind") == "ttl-stop" for r in _records(audit)), 14.0 - (time.monotonic() - t0))
    assert _wait_for(lambda: not _lists_task(gw.call("listBackgroundTasks", {}).text, sshd), 5.0)
    settled = _lines(sshd, target)
    # Past the next slot the timer would have run in (every 8 s from when it was set), and then some.
    now = time.monotonic()
    time.sleep(timer_from + 8.0 * (1 + int((now - timer_from) // 8.0)) + 1.5 - now)
    assert _lines(sshd, target) == settled, "the task kept running after its TTL"
    assert settled and "y" not in settled, settled
    stops = [r for r in _records(audit) if r.get("kind") == "ttl-stop"]
    assert stops[0]["connection_id"] == cid and stops[0]["detail"] == "stopped", stops
    # Forgotten only after that stop reached its timer: the connection takes a task again.
    fresh = gw.call("backgroundExecute", {"connectionId": cid, "command": f"echo z >> {target}", "interval": 8000})
    assert fresh.allowed, fresh.text
    assert gw.call("stopBackground", {"connectionId": cid}).allowed
    gw.close()
    assert verify(audit).ok


def test_run_timeout_leaves_no_process_on_the_host_after_the_stop(
    gateways: Gateways, sshd: SshdServer, target: str, tmp_path: Path
) -> None:
    """The pair of the control below: the same task and the same stop, with the run bound. The
    stop is the client's (the TTL's stop is the same upstream call; that it comes at the TTL is
    ``tests/governance/test_ttl_sshd.py``, once, and the clock tests)."""
    audit = tmp_path / "audit.jsonl"
    gw = _start(gateways, sshd, audit)
    cid = _connect(gw, sshd)
    marker = f"100.{random.randrange(10**6, 10**7)}"  # `sleep 100.NNNNNNN`: only this test's runs
    # The first run is quick (it leaves the flag); every later one would sleep 100 s.
    command = f"test -e {target}.flag && sleep {marker}; echo x > {target}.flag"
    started = gw.call("backgroundExecute", {"connectionId": cid, "command": command, "interval": 4000})
    assert started.allowed, started.text
    try:
        assert _wait_for(lambda: bool(_pids(sshd, marker)), 8.0), "no run ever started sleeping"
        # A stop does not end the run in progress (the control shows it); the bound does.
        assert gw.call("stopBackground", {"connectionId": cid}, timeout=60).allowed
        # Every run ends within run_timeout + kill_after (3 s) of its start.
        assert _wait_for(lambda: not _pids(sshd, marker), 4.0), f"left on the host: {_pids(sshd, marker)}"
        time.sleep(4.5)  # past another interval: no new run started after the stop
        assert not _pids(sshd, marker)
    finally:
        leftover = _pids(sshd, marker)
        if leftover:
            sshd.run("kill " + " ".join(map(str, leftover)))
        gw.close()

    decision = next(r for r in _records(audit) if r.get("kind") == "decision" and r.get("tool") == "backgroundExecute")
    assert decision["arguments"]["command"] == command  # decided on the agent's text
    assert decision["forwarded"]["command"].startswith("timeout -k 1s 2s bash -c ")  # sshwall's own words
    assert verify(audit).ok


def test_without_a_run_timeout_the_stop_leaves_the_run_on_the_host(
    gateways: Gateways, sshd: SshdServer, target: str, tmp_path: Path
) -> None:
    """The control: what the run bound protects from (the built-in backend, like Mcp Ssh, does
    not end a run in progress when the task is stopped)."""
    rules = tmp_path / "unbounded.yaml"
    rules.write_text(RULES.read_text().replace(", run_timeout: 2s, kill_after: 1s", ""))
    gw = gateways.start(rules, upstream=BACKEND, backend_args=[f"--known-hosts={sshd.known_hosts_path}"])
    cid = _connect(gw, sshd)
    marker = f"100.{random.randrange(10**6, 10**7)}"
    command = f"test -e {target}.flag && sleep {marker}; echo x > {target}.flag"
    try:
        assert gw.call("backgroundExecute", {"connectionId": cid, "command": command, "interval": 4000}).allowed
        assert _wait_for(lambda: bool(_pids(sshd, marker)), 8.0)
        assert gw.call("stopBackground", {"connectionId": cid}, timeout=60).allowed
        time.sleep(1.0)
        assert _pids(sshd, marker), "the stop ended the run: the control no longer shows the danger"
    finally:
        leftover = _pids(sshd, marker)
        if leftover:
            sshd.run("kill " + " ".join(map(str, leftover)))
        gw.close()


def test_commands_that_never_end_are_denied_for_scheduled_work_only(
    gateways: Gateways, sshd: SshdServer, target: str, tmp_path: Path
) -> None:
    gw = _start(gateways, sshd, tmp_path / "audit.jsonl")
    cid = _connect(gw, sshd)
    sshd.check(f"echo line > {target}")
    follow = gw.call("backgroundExecute", {"connectionId": cid, "command": f"tail -f {target}", "interval": 5000})
    assert follow.denied, follow.text
    assert "run until killed" in follow.first_line and "scheduled work must end on its own" in follow.first_line
    # The command set accepts it where the upstream's timeout ends it (executeCommand).
    once = gw.call("executeCommand", {"connectionId": cid, "command": f"tail -f {target}", "timeout": 1000}, timeout=60)
    assert not once.denied, once.text
    listed = gw.call("listBackgroundTasks", {})
    assert listed.text == "当前没有运行中的后台任务", listed.text
    gw.close()
