"""``sshwall check`` decides by the gateway's own stage: host groups' command sets and grants."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from sshwall.cli import main

POLICY = """\
version: 1
profile: mcp-ssh
tools:
  executeCommand: {commands: diag}
commands:
  diag:
    programs: {uptime: {}}
  lab:
    programs: {uptime: {}, hostname: {}}
hosts:
  prod: {match: [10.0.0.0/8], commands: diag}
  lab: {match: [127.0.0.1], commands: lab}
grants:
  viewer: {commands: diag}
  prod-only: {hosts: [prod]}
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "hosts.yaml"
    path.write_text(POLICY, encoding="utf-8")
    return path


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_host_group_command_set_applies(rules: Path) -> None:
    assert cli("check", "--rules", str(rules), "--", "hostname")[0] == 1  # the tool's set: diag
    code, out, _ = cli("check", "--rules", str(rules), "--group", "lab", "--", "hostname")
    assert code == 0, out
    assert cli("check", "--rules", str(rules), "--group", "prod", "--", "hostname")[0] == 1


def test_identity_grant_narrows(rules: Path) -> None:
    code, out, _ = cli("check", "--rules", str(rules), "--group", "lab", "--identity", "viewer", "--json", "--", "hostname")
    assert code == 1
    assert any(rule.startswith("grants.viewer.commands:") for rule in json.loads(out)["rules"])
    code, out, _ = cli("check", "--rules", str(rules), "--group", "lab", "--identity", "prod-only", "--json", "--", "uptime")
    assert code == 1 and json.loads(out)["rules"] == ["grants.prod-only.hosts"]
    assert cli("check", "--rules", str(rules), "--group", "prod", "--identity", "prod-only", "--", "uptime")[0] == 0


def test_unknown_group_is_usage_error(rules: Path) -> None:
    code, out, err = cli("check", "--rules", str(rules), "--group", "nope", "--", "uptime")
    assert code == 2 and out == ""
    assert err.startswith("sshwall: ") and "no such host group" in err


def test_batch_line_group(rules: Path, tmp_path: Path) -> None:
    call = {"tool": "executeCommand", "arguments": {"connectionId": "c9", "command": "hostname"}}
    batch = tmp_path / "in.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in (
        call, {**call, "group": "lab"}, {**call, "group": "nope"}, {**call, "group": 5})) + "\n")
    code, out, _ = cli("check", "--rules", str(rules), "--batch", str(batch))
    assert code == 0
    got = [json.loads(line) for line in out.splitlines()]
    assert [g["decision"] for g in got] == ["deny", "allow", "deny", "deny"]
    assert got[2]["rules"] == got[3]["rules"] == ["input.malformed"]
    code, out, _ = cli("check", "--rules", str(rules), "--group", "lab", "--batch", str(batch))
    assert [json.loads(line)["decision"] for line in out.splitlines()] == ["allow", "allow", "deny", "deny"]


def test_test_is_the_policy_for_everyone_unless_identity(rules: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"tool": "executeCommand", "arguments": {"connectionId": "c", "command": "uptime"},
                                  "expect": "allow"}) + "\n")
    code, out, _ = cli("test", "--rules", str(rules), str(corpus))
    assert code == 0 and out.splitlines()[-1] == "1 passed, 0 failed"
    code, out, _ = cli("test", "--rules", str(rules), "--identity", "prod-only", str(corpus))
    assert code == 1 and out.splitlines()[-1] == "0 passed, 1 failed"
