"""A background task's time to live, enforced by the gateway against a real sshd.

client -> ``sshwall serve`` (policy ``background: {ttl: 3s}``) -> built-in backend -> sshd. The
task appends a line to a file every second and the client never stops it; what happened on the
host is read over the fixture's own SSH connection, not through the gateway. This is the true
end-to-end run of the TTL; its boundaries (a millisecond before, at, after; re-sent stops;
replicas) are driven on the limit guard's clock in ``tests/proxy/test_limitguard_clock.py``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from sshwall.audit import verify
from tests.governance.gateway import BACKEND, Gateways, policy
from tests.support.sshd import SshdServer

TTL_S = 3.0


def _lines(sshd: SshdServer, path: str) -> int:
    result = sshd.run(f"cat {path} 2>/dev/null | wc -l")
    return int(result.stdout.strip() or 0)


def _records(audit: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in audit.read_text().splitlines() if line.strip()]


def _epoch(stamp: object) -> float:
    """An audit record's ``time`` (RFC 3339, ms) in seconds since the epoch."""
    return datetime.fromisoformat(str(stamp).replace("Z", "+00:00")).timestamp()


def _wait_for(predicate: Callable[[], bool], timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def test_task_is_stopped_when_its_ttl_runs_out(gateways: Gateways, sshd: SshdServer, tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    target = f"/tmp/sshwall-gov-ttl-{uuid.uuid4().hex}"
    gw = gateways.start(
        policy("gov-ttl.yaml"), upstream=BACKEND, audit=audit,
        backend_args=[f"--known-hosts={sshd.known_hosts_path}"],
    )
    connected = gw.call("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user,
                                    "privateKey": sshd.client_key_text, "rememberPassword": False})
    assert connected.allowed, connected.text
    cid = connected.structured["connectionId"]
    try:
        started = gw.call("backgroundExecute", {"connectionId": cid, "command": f"echo x >> {target}", "interval": 1000})
        assert started.allowed, started.text

        # The gateway's own stop (its reaper looks once a second), then three intervals of quiet.
        # The stop's reply waits for a run in flight, so none lands after the record.
        assert _wait_for(lambda: any(r.get("kind") == "ttl-stop" for r in _records(audit)), TTL_S + 7.0), gw.log()
        at_stop = _lines(sshd, target)
        time.sleep(3.0)
        after = _lines(sshd, target)

        # It ran every second until the TTL (first run at once, then ~3 more), then never again.
        assert at_stop >= 3, f"the task barely ran: {at_stop} lines"
        assert at_stop <= TTL_S + 3, f"the task ran past its TTL: {at_stop} lines at its stop"
        assert after == at_stop, f"the task kept running after its TTL: {at_stop} lines at the stop, {after} later"
        # Not stopped early: the stop is stamped a TTL or more after the decision that let it in
        # (both on the gateway's clock; the decision is written just after the admission, so
        # the margin is for the audit writer's lag, far below the reaper's 1 s step).
        decision_at = next(r for r in _records(audit) if r.get("kind") == "decision" and r.get("tool") == "backgroundExecute")
        stop_at = next(r for r in _records(audit) if r.get("kind") == "ttl-stop")
        waited = _epoch(stop_at["time"]) - _epoch(decision_at["time"])
        assert TTL_S - 0.25 <= waited < TTL_S + 5.0, f"stopped {waited:.3f} s after the start, TTL {TTL_S} s"

        listed = gw.call("listBackgroundTasks", {})
        assert listed.allowed and listed.text == "当前没有运行中的后台任务", listed.text

        stops = [r for r in _records(audit) if r.get("kind") == "ttl-stop"]
        assert len(stops) == 1, stops
        assert stops[0]["connection_id"] == cid
        assert stops[0]["detail"] == "stopped"
        assert stops[0]["identity"] == "local"
        assert stops[0]["interval_ms"] == 1000
        decisions = [r for r in _records(audit) if r.get("kind") == "decision" and r.get("tool") == "backgroundExecute"]
        assert [d["decision"] for d in decisions] == ["allow"]
        assert "BEGIN OPENSSH PRIVATE KEY" not in audit.read_text()  # the key was redacted
    finally:
        gw.call("disconnect", {"connectionId": cid})
        gw.close()
        sshd.run(f"rm -f {target}")

    report = verify(audit)
    assert report.ok, str(report)
    assert report.records == len(_records(audit))
