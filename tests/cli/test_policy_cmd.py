"""``sshwall policy show|diff``: the shown policy loads back as the same policy (YAML and JSON),
the diff names what changed by tool, command set and program, and the exit codes say equal (0),
different (1), bad policy or usage (2)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sshwall.cli import main
from sshwall.engine import ToolCall, evaluate
from sshwall.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
READONLY = REPO / "rules" / "readonly-ops.yaml"
SITE = REPO / "rules" / "examples" / "site-restart.yaml"

COMMANDS = [
    "systemctl restart app-web", "systemctl status nginx", "systemctl --user status x", "git log -1",
    "cat /etc/shadow", "ls -l /etc", "df -h && free -m", "curl -s http://127.0.0.1:9090/metrics", "rm -rf /",
]


def sshwall(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize("source", [SITE, READONLY], ids=["site-restart", "readonly-ops"])
def test_show_loads_back_as_the_same_policy(tmp_path: Path, fmt: str, source: Path) -> None:
    code, text, err = sshwall("policy", "show", "--rules", str(source), *(["--json"] if fmt == "json" else []))
    assert code == 0, err
    assert "extends" not in text and "include:" not in text and '"include"' not in text
    shown = tmp_path / f"shown.{fmt}"
    shown.write_text(text, encoding="utf-8")
    before, after = load_policy(source), load_policy(shown)
    assert after.revision == before.revision
    for tool in ("executeCommand", "backgroundExecute"):
        for command in COMMANDS:
            call = ToolCall(tool, {"connectionId": "c1", "command": command, "interval": 60000})
            assert evaluate(after, call).decision == evaluate(before, call).decision, (tool, command)
    if fmt == "json":
        assert json.loads(text)["profile"] == "mcp-ssh"  # by name, not expanded
    else:
        assert "\nprofile: mcp-ssh\n" in text and text.startswith("version: 1\nname: ")


def test_show_prints_the_merged_keys_in_a_stable_order(tmp_path: Path) -> None:
    write(tmp_path, "base.yaml", """
        version: 1
        name: base
        default: deny
        tools: {listConnections: allow, getConnection: allow}
        commands: {diag: {programs: {ls: {flags: [-l]}, uptime: {}}}}
    """)
    top = write(tmp_path, "top.yaml", """
        commands: {wide: {include: [diag], programs: {df: {}}}}
        tools: {getConnection: null, listTunnels: allow}
        extends: [./base.yaml]
        name: top
    """)
    code, text, _ = sshwall("policy", "show", "--rules", str(top))
    assert code == 0
    assert text == textwrap.dedent("""\
        version: 1
        name: top
        default: deny
        tools:
          listConnections: allow
          listTunnels: allow
        commands:
          diag:
            programs:
              ls:
                flags: [-l]
              uptime: {}
          wide:
            programs:
              ls:
                flags: [-l]
              uptime: {}
              df: {}
    """)
    assert sshwall("policy", "show", "--rules", str(top))[1] == text


def test_diff_names_each_change(tmp_path: Path) -> None:
    code, text, _ = sshwall("policy", "diff", str(READONLY), str(SITE))
    assert code == 1
    lines = text.splitlines()
    assert 'tool executeCommand: changed commands "diagnostics" -> "site"' in lines
    assert "command set site: added" in lines
    assert 'policy approval: changed approvers [] -> ["oncall-lead"]' in lines
    assert lines[-1] == f"{len(lines) - 1} change(s)"
    # a known change, program by program
    narrower = write(tmp_path, "narrower.yaml", """
        extends: [readonly-ops]
        tools: {listTunnels: null, closeTunnel: {decision: deny, reason: "not here"}}
        commands:
          diagnostics:
            max_length: 8192
            programs:
              git: null
              uptime: {max_operands: 0, flags: [-p]}
              hello: {max_operands: 0, flags: []}
    """)
    code, text, _ = sshwall("policy", "diff", str(READONLY), str(narrower), "--json")
    assert code == 1
    body = json.loads(text)
    assert body["equal"] is False and body["a"]["revision"] == load_policy(READONLY).revision
    got = {(c["kind"], c["name"], c["change"]): sorted(c.get("fields", {})) for c in body["changes"]}
    assert got == {
        ("tool", "listTunnels", "removed"): [],
        ("tool", "closeTunnel", "changed"): ["decision", "reason"],
        ("command set", "diagnostics", "changed"): ["max_length"],
        ("program", "diagnostics.git", "removed"): [],
        ("program", "diagnostics.uptime", "changed"): ["flags"],
        ("program", "diagnostics.hello", "added"): [],
    }
    changed = next(c for c in body["changes"] if c["name"] == "diagnostics")
    assert changed["fields"]["max_length"] == {"before": 16384, "after": 8192}
    # and back: the other way round
    code, text, _ = sshwall("policy", "diff", str(narrower), str(READONLY))
    assert code == 1 and "program diagnostics.git: added" in text and "tool listTunnels: added" in text


def test_diff_of_equal_policies_exits_0(tmp_path: Path) -> None:
    code, text, _ = sshwall("policy", "show", "--rules", str(SITE))
    shown = write(tmp_path, "shown.yaml", text)
    code, text, _ = sshwall("policy", "diff", str(SITE), str(shown))
    assert (code, text) == (0, "no changes: the policies are equal\n")
    code, text, _ = sshwall("policy", "diff", str(SITE), str(shown), "--json")
    assert code == 0 and json.loads(text)["changes"] == [] and json.loads(text)["equal"] is True


def test_exit_codes_of_a_real_process(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.yaml", "extends: [./missing.yaml]\n")

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "sshwall.cli", "policy", *argv],
                              capture_output=True, text=True, cwd=REPO, timeout=120)

    assert run("diff", str(READONLY), str(READONLY)).returncode == 0
    assert run("diff", str(READONLY), str(SITE)).returncode == 1
    failed = run("diff", str(READONLY), str(bad))
    assert failed.returncode == 2 and "sshwall policy:" in failed.stderr and "missing.yaml" in failed.stderr
    assert run("show", "--rules", str(bad)).returncode == 2
    assert run("diff", str(READONLY)).returncode == 2  # usage
    helped = run("diff", "--help")
    assert helped.returncode == 0 and "Exit 0 when they are equal" in " ".join(helped.stdout.split())
