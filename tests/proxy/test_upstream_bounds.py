"""Every request is answered within ``--timeout``, even when the upstream stops reading.

The faults are real: the fake upstream (a subprocess) is stopped with SIGSTOP and its stdin
pipe is filled with big frames, so that writing the next frame would block; or it hangs on
calls while it keeps reading. The gateway must answer every call (and a ping) in time, never
send a frame whose caller gave up, kill an upstream that left N requests in a row unanswered,
start it again with the handshake replayed, and keep an audit chain that verifies.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.audit import verify
from tests.proxy.gateway import (
    FAKE_UPSTREAM,
    POLICIES,
    RawGateway,
    audit_records,
    decisions,
    serve_argv,
)

POLICY = POLICIES / "e2e-all.yaml"
TIMEOUT = 3.0
MARGIN = 2.5  # scheduling slack on a busy machine: far below the 30 s the fault used to take
BIG = 512 * 1024  # one frame bigger than a pipe (64 KiB) plus the writer's buffer mark (64 KiB)


def _start(tmp_path: Path, *options: str) -> tuple[RawGateway, Path, Path]:
    audit, record = tmp_path / "audit.jsonl", tmp_path / "record.jsonl"
    argv = serve_argv(POLICY, audit, [*options, "--", sys.executable, str(FAKE_UPSTREAM), "--record", str(record)])
    gateway = RawGateway(argv, tmp_path / "serve.log")
    gateway.initialize()
    return gateway, audit, record


@pytest.fixture
def stopped(tmp_path: Path) -> Iterator[list[int]]:
    """Pids this test stopped with SIGSTOP: continued (if still there) at the end."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def _received(record: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.startswith("{")]


def _starts(record: Path) -> list[int]:
    return [int(line.split()[1]) for line in record.read_text().splitlines() if line.startswith("start ")]


def _echo(gateway: RawGateway, text: str) -> int:
    """An echo call that must succeed; the pid of the upstream that answered."""
    answer = gateway.call_tool("executeCommand", {"connectionId": "c1", "command": f"echo {text}"})
    out = answer["result"]["content"][0]["text"]
    assert out.startswith(text), answer
    return int(out.rsplit("pid=", 1)[1])


def _fill_the_pipe(gateway: RawGateway, n: int = 2) -> list[int]:
    """Send ``n`` big forwarded requests (tools/list, not decided): the first fills the stopped
    upstream's stdin pipe, the others wait behind it. Returns their ids."""
    ids = []
    for _ in range(n):
        msg_id = gateway.next_id()
        gateway.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/list", "params": {"cursor": "x" * BIG}})
        ids.append(msg_id)
    return ids


def _send_calls(gateway: RawGateway, n: int) -> list[int]:
    ids = []
    for k in range(n):
        msg_id = gateway.next_id()
        gateway.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                      "params": {"name": "executeCommand", "arguments": {"connectionId": "c1", "command": f"echo call-{k}"}}})
        ids.append(msg_id)
    return ids


def _outcomes(audit: Path) -> list[dict[str, object]]:
    return [r for r in audit_records(audit) if r.get("kind") == "outcome"]


def _one_outcome_each(audit: Path) -> None:
    """Every forwarded decision has exactly one outcome record, and the chain verifies."""
    report = verify(audit)
    assert report.ok, str(report)
    forwarded = sorted(r["seq"] for r in decisions(audit) if r["upstream"] == "pending")
    assert sorted(r["ref"] for r in _outcomes(audit)) == forwarded  # type: ignore[type-var]


def test_a_stopped_upstream_with_a_full_pipe_gets_every_call_and_a_ping_answered_in_time(
    tmp_path: Path, stopped: list[int]
) -> None:
    gateway, audit, record = _start(tmp_path, "--timeout", str(TIMEOUT), "--restart-after-timeouts", "0")
    try:
        pid = _echo(gateway, "before")
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)
        sent = time.monotonic()
        big = _fill_the_pipe(gateway)
        calls = _send_calls(gateway, 40)
        gateway.ping(timeout=1.0)  # answered at once: never behind the calls
        assert time.monotonic() - sent < 1.5
        for msg_id in big + calls:
            answer = gateway.response(msg_id, timeout=TIMEOUT + MARGIN - (time.monotonic() - sent))
            assert answer["error"]["code"] == -32000, answer
            assert "did not answer" in answer["error"]["message"], answer
        assert time.monotonic() - sent < TIMEOUT + MARGIN
        os.kill(pid, signal.SIGCONT)
        assert _echo(gateway, "after") == pid, "restarted although --restart-after-timeouts 0"
    finally:
        assert gateway.close() == 0, gateway.log_text()[-3000:]
    # A call that timed out while still queued was never sent: the upstream saw none of them.
    seen = [m for m in _received(record) if m.get("method") == "tools/call"]
    assert [m["params"]["arguments"]["command"] for m in seen] == ["echo before", "echo after"]  # type: ignore[index]
    timeouts = [r for r in _outcomes(audit) if r["upstream"] == "timeout"]
    assert len(timeouts) == 40 and all("did not answer" in str(r["detail"]) for r in timeouts)
    _one_outcome_each(audit)


def test_a_stopped_upstream_is_killed_after_3_timeouts_and_restarted(tmp_path: Path, stopped: list[int]) -> None:
    gateway, audit, record = _start(tmp_path, "--timeout", str(TIMEOUT))  # the default: 3
    try:
        pid = _echo(gateway, "before")
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)
        sent = time.monotonic()
        big = _fill_the_pipe(gateway)
        calls = _send_calls(gateway, 10)
        errors = [gateway.response(msg_id, timeout=TIMEOUT + MARGIN)["error"]["message"] for msg_id in big + calls]
        assert time.monotonic() - sent < TIMEOUT + MARGIN
        assert any("killed as hung: 3 requests in a row" in e for e in errors), errors
        started = time.monotonic()
        new_pid = _echo(gateway, "after")  # starts it again, handshake replayed
        assert new_pid != pid and _starts(record) == [pid, new_pid]
        assert time.monotonic() - started < TIMEOUT
        gateway.ping()
    finally:
        assert gateway.close() == 0, gateway.log_text()[-3000:]
    inits = [m for m in _received(record) if m.get("method") == "initialize"]
    assert len(inits) == 2 and inits[0]["params"] == inits[1]["params"], inits
    kinds = [r["kind"] for r in audit_records(audit)]
    assert kinds.count("upstream-killed") == 1 and kinds.count("upstream-restart") == 1, kinds
    assert kinds.index("upstream-killed") < kinds.index("upstream-restart")
    outcomes = [r["upstream"] for r in _outcomes(audit)]
    assert outcomes.count("upstream-died") >= 1 and outcomes.count("ok") == 2, outcomes
    _one_outcome_each(audit)


def test_only_timeouts_in_a_row_count_and_a_hung_upstream_is_restarted(tmp_path: Path) -> None:
    # The upstream keeps reading but never answers "hang" calls (a wedged worker).
    gateway, audit, record = _start(tmp_path, "--timeout", "1", "--restart-after-timeouts", "2")
    hang = {"connectionId": "c1", "command": "hang"}
    try:
        pid = _echo(gateway, "first")
        for _ in range(2):  # hang, answer, hang: never 2 in a row, so no restart
            answer = gateway.call_tool("executeCommand", hang, timeout=5)
            assert "did not answer" in answer["error"]["message"], answer
            assert _echo(gateway, "between") == pid
        answer = gateway.call_tool("executeCommand", hang, timeout=5)
        assert "did not answer" in answer["error"]["message"], answer
        answer = gateway.call_tool("executeCommand", hang, timeout=5)  # the 2nd in a row
        assert "did not answer" in answer["error"]["message"], answer
        new_pid = _echo(gateway, "restarted")
        assert new_pid != pid and _starts(record) == [pid, new_pid]
    finally:
        assert gateway.close() == 0, gateway.log_text()[-3000:]
    kinds = [r["kind"] for r in audit_records(audit)]
    assert kinds.count("upstream-killed") == 1 and kinds.count("upstream-restart") == 1, kinds
    _one_outcome_each(audit)
