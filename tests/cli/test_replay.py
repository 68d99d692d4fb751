"""``sshwall replay``: an audit log recorded by the in-process firewall (a real policy, a real
audit log, an upstream answering in Mcp Ssh's reply formats), decided again under other
policies through the real CLI entry point.

What is checked: against a stricter policy exactly the calls that change are listed, with
counts by change, tool and rule, and the exit code is 1; against the same policy nothing
changes (exit 0); calls holding redacted values are reported as such, never guessed; a call
lands where it landed (the connect is replayed into a binding); the JSON shape.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from sshwall.audit import AuditLog, verify
from sshwall.cli import main
from sshwall.policy import load_policy
from sshwall.proxy.firewall import Caller, Firewall

POLICY = """
version: 1
profile: mcp-ssh
default: deny
upstream_saved_passwords: none
hosts:
  lab: {match: [127.0.0.1, 127.0.0.2], users: [ops], commands: ops}
tools:
  connect: allow
  getConnection: allow
  executeCommand: {commands: ops}
commands:
  ops:
    programs: {uptime: {}, df: {}, cat: {}%(extra)s}
"""
STRICTER = POLICY.replace("df: {}, ", "").replace("127.0.0.1, 127.0.0.2", "127.0.0.1") % {"extra": ", free: {}"}
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n"


class RealFormats:
    """An upstream answering in Mcp Ssh's formats: a connect names the id the server derives."""

    async def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        name, args = params["name"], params.get("arguments") or {}
        if name == "connect":
            conn = hashlib.md5(f"{args['username']}@{args['host']}:{args.get('port') or 22}".encode()).hexdigest()
            text = (f"连接成功!\n\n🟢 {args['username']}\nID: {conn}\n主机: {args['host']}:{args.get('port') or 22}\n"
                    f"用户名: {args['username']}\n状态: 已连接\n当前目录: /home/{args['username']}\n")
        elif name == "getConnection":
            text = f"🟢 n\nID: {args['connectionId']}\n主机: 127.0.0.1:22\n用户名: ops\n私钥认证: 是\n状态: 已连接\n"
        else:
            text = "ok"
        return {"content": [{"type": "text", "text": text}]}


def _conn(host: str) -> str:
    return hashlib.md5(f"ops@{host}:22".encode()).hexdigest()


def record(tmp_path: Path, mode: str = "enforce") -> tuple[Path, Path]:
    """Run a session of calls through the firewall (in ``mode``); the policy file and the audit log."""
    rules = tmp_path / "old.yaml"
    rules.write_text(POLICY % {"extra": ""})
    log = tmp_path / "audit.jsonl"
    a, b = _conn("127.0.0.1"), _conn("127.0.0.2")

    async def go() -> None:
        audit = AuditLog(log, fsync=False)
        firewall = Firewall(load_policy(rules), RealFormats(), audit, mode=mode)
        calls: list[tuple[str, dict[str, Any]]] = [
            ("connect", {"host": "127.0.0.1", "port": 22, "username": "ops", "privateKey": KEY}),   # redacted key
            ("connect", {"host": "127.0.0.2", "port": 22, "username": "ops", "privateKey": KEY}),
            ("executeCommand", {"connectionId": a, "command": "uptime"}),                         # same
            ("executeCommand", {"connectionId": a, "command": "df -h"}),                          # newly denied
            ("executeCommand", {"connectionId": a, "command": "df /"}),                           # newly denied
            ("executeCommand", {"connectionId": b, "command": "uptime"}),                         # host gone: denied
            ("executeCommand", {"connectionId": a, "command": "rm -rf /tmp/x"}),                  # same (denied)
            ("executeCommand", {"connectionId": "c-nope", "command": "uptime"}),                  # unknown id: same
            ("executeCommand", {"connectionId": a, "command": "free -m"}),                        # newly allowed
            ("executeCommand", {"connectionId": a, "command": "cat https://ops:hunter2secret@x/y"}),  # redacted
        ]
        for tool, args in calls:
            await firewall.call_tool({"name": tool, "arguments": args}, Caller("alice"))
        audit.close()

    asyncio.run(go())
    assert verify(log).ok
    return rules, log


def replay(log: Path, rules: Path, *extra: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["replay", str(log), "--rules", str(rules), *extra], out=out, err=err)
    return code, out.getvalue() + err.getvalue()


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, Path, Path]:
    rules, log = record(tmp_path)
    stricter = tmp_path / "new.yaml"
    stricter.write_text(STRICTER)
    return rules, log, stricter


def test_the_same_policy_changes_nothing(recorded: tuple[Path, Path, Path]) -> None:
    rules, log, _ = recorded
    code, text = replay(log, rules, "--json")
    assert code == 0, text
    doc = json.loads(text)
    assert doc["replayed"] == 10 and doc["breaks"] is False
    counts = doc["counts"]
    assert counts["same"] == 7 and counts["not-replayed"] == 3
    assert sum(v for k, v in counts.items() if k not in ("same", "not-replayed")) == 0


def test_a_stricter_policy_lists_exactly_the_calls_that_change(recorded: tuple[Path, Path, Path]) -> None:
    _, log, stricter = recorded
    code, text = replay(log, stricter, "--json")
    assert code == 1, text
    doc = json.loads(text)
    assert doc["breaks"] is True
    changed = {c["seq"]: (c["change"], c["summary"]) for c in doc["calls"] if c["change"] != "not-replayed"}
    seqs = {c["seq"]: c for c in doc["calls"]}
    summaries = sorted(s for _, s in changed.values())
    assert summaries == ["$ df -h", "$ df /", "$ free -m", "$ uptime"], changed
    kinds = sorted(k for k, _ in changed.values())
    assert kinds == ["newly-allowed", "newly-denied", "newly-denied", "newly-denied"]
    assert doc["counts"]["newly-denied"] == 3 and doc["counts"]["newly-allowed"] == 1
    groups = {(g["change"], g["tool"], g["rule"]): g["count"] for g in doc["groups"]}
    assert groups[("newly-denied", "executeCommand", "ops.programs")] == 2
    assert groups[("newly-denied", "executeCommand", "hosts.unknown-connection")] == 1  # its connect is gone
    assert groups[("newly-allowed", "executeCommand", "ops.programs")] == 1
    for call in seqs.values():
        assert call["identity"] == "alice"
        if call["change"] == "newly-denied":
            assert call["old"]["decision"] == "allow" and call["new"]["decision"] == "deny" and call["new"]["reasons"]


def test_redacted_calls_are_reported_not_guessed(recorded: tuple[Path, Path, Path]) -> None:
    _, log, stricter = recorded
    _, text = replay(log, stricter, "--json")
    doc = json.loads(text)
    redacted = [c for c in doc["calls"] if c["change"] == "not-replayed"]
    assert [c["tool"] for c in redacted] == ["connect", "connect", "executeCommand"]
    assert all(c["note"] == "depends on redacted values: not replayed" and c["new"] is None for c in redacted)
    assert "hunter2secret" not in text and "[redacted]" in redacted[2]["summary"]


def test_the_text_report(recorded: tuple[Path, Path, Path]) -> None:
    _, log, stricter = recorded
    code, text = replay(log, stricter)
    assert code == 1
    assert "newly denied: 3, newly allowed: 1" in text
    assert "newly denied (3):" in text and "executeCommand  ops.programs  x2" in text
    assert "#" in text and "df -h" in text and "FAIL: calls that were allowed are denied" in text
    assert "not replayed (3):" in text and "depends on redacted values" in text


def test_bad_usage_exits_2(tmp_path: Path, recorded: tuple[Path, Path, Path]) -> None:
    rules, log, _ = recorded
    assert replay(tmp_path / "missing.jsonl", rules)[0] == 2
    assert main(["replay", str(log)], out=io.StringIO(), err=io.StringIO()) == 2  # --rules is required
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nprofile: mcp-ssh\nnonsense: true\n")
    assert replay(log, broken)[0] == 2


def test_unreadable_lines_are_counted(tmp_path: Path, recorded: tuple[Path, Path, Path]) -> None:
    rules, log, _ = recorded
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(log.read_bytes() + b'{"half a rec')
    code, text = replay(torn, rules, "--json")
    assert code == 0 and len(json.loads(text)["unreadable"]) == 1


def test_same_decision_other_rules(recorded: tuple[Path, Path, Path], tmp_path: Path) -> None:
    rules, log, _ = recorded
    other = tmp_path / "rm.yaml"
    other.write_text(rules.read_text().replace("cat: {}", 'cat: {}, rm: {decision: deny, reason: "never rm"}'))
    code, text = replay(log, other, "--json")
    assert code == 0, text
    doc = json.loads(text)
    assert doc["counts"]["other-reasons"] == 1 and doc["counts"]["same"] == 6
    (call,) = [c for c in doc["calls"] if c["change"] == "other-reasons"]
    assert call["summary"] == "$ rm -rf /tmp/x" and call["old"]["rules"] == ["ops.programs"]
    assert call["new"]["rules"] == ["ops.rm"]


def test_a_shadow_log_replays_like_an_enforcing_one(tmp_path: Path) -> None:
    rules, log = record(tmp_path, mode="shadow")
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert any(r.get("would") == "would-deny" for r in records) and all(r["mode"] == "shadow" for r in records)
    code, text = replay(log, rules, "--json")
    assert code == 0, text
    assert json.loads(text)["counts"]["same"] == 7
    stricter = tmp_path / "new.yaml"
    stricter.write_text(STRICTER)
    code, text = replay(log, stricter, "--json")
    assert code == 1 and json.loads(text)["counts"]["newly-denied"] == 3
