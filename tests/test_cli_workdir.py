"""``sshwall check --cwd DIR --home DIR``: relative paths, ``~`` and ``cd`` under a known folder."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sshwall.cli import main

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "rules" / "readonly-ops.yaml"


def cli(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


@pytest.mark.parametrize(
    ("flags", "command", "code"),
    [
        ((), "cat syslog", 1),  # the folder may be anything: /etc/sudoers.d too
        (("--cwd", "/var/log"), "cat syslog", 0),
        (("--cwd", "/etc"), "cat shadow", 1),
        (("--cwd", "/etc"), "cat passwd", 0),
        (("--cwd", "/root"), "cd /etc/ssh && cat sshd_config", 0),
        (("--cwd", "/root"), "cd /root/.ssh && cat id_rsa", 1),
        (("--cwd", "/etc/ssh"), "cat ../shadow", 1),
        (("--home", "/root"), "cat ~/.bashrc", 0),
        (("--home", "/root"), "cat ~/.ssh/id_rsa", 1),
        (("--home", "/root"), "cd && cat .bashrc", 0),
        ((), "cd && cat .bashrc", 1),
    ],
)
def test_check_with_folder_and_home(flags: tuple[str, ...], command: str, code: int) -> None:
    got, out = cli("check", "--rules", str(SHIPPED), *flags, "--", command)
    assert got == code, out


def test_relative_flags_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("check", "--rules", str(SHIPPED), "--cwd", "var/log", "--", "ls")[0] == 2
    assert cli("check", "--rules", str(SHIPPED), "--home", "~", "--", "ls")[0] == 2
    assert "absolute" in capsys.readouterr().err


def test_batch_uses_the_flags_and_each_lines_own_keys(tmp_path: Path) -> None:
    lines = [
        {"tool": "executeCommand", "arguments": {"connectionId": "c", "command": "cat syslog"}},
        {"tool": "executeCommand", "arguments": {"connectionId": "c", "command": "cat shadow"}, "cwd": "/etc"},
        {"tool": "executeCommand", "arguments": {"connectionId": "c", "command": "cat passwd"}, "cwd": "/etc"},
        {"tool": "executeCommand", "arguments": {"connectionId": "c", "command": "cat ~/.bashrc"}, "home": "/root"},
        {"tool": "executeCommand", "arguments": {"connectionId": "c", "command": "ls"}, "cwd": "relative"},
        # the tool's own cwd argument, with the connection's folder (--cwd) as the fallback
        {"tool": "executeCommand", "arguments": {"connectionId": "c", "command": "cat syslog", "cwd": "/var/log"}},
    ]
    batch = tmp_path / "in.jsonl"
    batch.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code, out = cli("check", "--rules", str(SHIPPED), "--cwd", "/var/log", "--batch", str(batch))
    assert code == 0
    got = [json.loads(x)["decision"] for x in out.splitlines()]
    assert got == ["allow", "deny", "allow", "allow", "deny", "allow"]
    assert "absolute" in json.loads(out.splitlines()[4])["reasons"][0]
    # without --cwd, the first line is strict again
    code, out = cli("check", "--rules", str(SHIPPED), "--batch", str(batch))
    strict = [json.loads(x)["decision"] for x in out.splitlines()]
    assert (strict[0], strict[5]) == ("deny", "deny")  # the fallback folder is unknown too


def test_real_process_exit_codes() -> None:
    base = [sys.executable, "-m", "sshwall.cli", "check", "--rules", str(SHIPPED)]
    allowed = subprocess.run([*base, "--cwd", "/var/log", "--", "tail -n 20 syslog"], capture_output=True, text=True, cwd=REPO, check=False)
    denied = subprocess.run([*base, "--cwd", "/etc", "--", "tail -n 20 shadow"], capture_output=True, text=True, cwd=REPO, check=False)
    assert (allowed.returncode, denied.returncode) == (0, 1), (allowed.stdout, denied.stdout)
    assert "protected path" in denied.stdout
