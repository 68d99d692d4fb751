"""A background task's time to live, enforced by the gateway against a real sshd.

client -> ``sshwall serve`` (policy ``background: {ttl: 3s}``) -> built-in backend -> sshd. The
task appends a line to a file every second and the client never stops it; what happened on the
host is read over the fixture's own SSH connection, not through the gateway.
"""

from __future__ import annotations

import json
import time
import uuid
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
        t0 = time.monotonic()
        assert started.allowed, started.text

        time.sleep(max(0.0, t0 + 6.0 - time.monotonic()))
        at_6s = _lines(sshd, target)
        time.sleep(3.0)
        at_9s = _lines(sshd, target)

        # It ran every second until the TTL (first run at once, then ~3 more), then never again.
        assert at_6s >= 3, f"the task barely ran: {at_6s} lines"
        assert at_6s <= TTL_S + 3, f"the task ran past its TTL: {at_6s} lines after 6 s"
        assert at_9s == at_6s, f"the task kept running after its TTL: {at_6s} lines at 6 s, {at_9s} at 9 s"

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
