"""The shipped on-call policy (rules/oncall-approve.yaml): each ``prompt`` spec is exactly as wide
as intended, the diagnostics stay allowed, everything else is denied.

Decided in process by the engine for the many cases, and through ``sshwall check`` (a real
process: exit 0 allow, 1 deny, 3 prompt) for the ones the issue names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.policy import load_policy

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "rules" / "oncall-approve.yaml"
POLICY = load_policy(RULES)

PROMPT = [
    "systemctl restart nginx",
    "systemctl restart nginx.service",
    "systemctl reload nginx",
    "systemctl try-restart redis-server",
    "systemctl restart postgresql",
    "systemctl restart postgresql@15-main",
    "systemctl restart app-billing",
    "systemctl restart app-web-2.service",
    "systemctl -q restart nginx",
    "systemctl restart -- nginx",
    "sudo -n systemctl restart nginx",
    "sudo -n -u root systemctl reload nginx",
    "systemctl restart nginx && systemctl status nginx",
    "systemctl status nginx; systemctl restart nginx",
    "logrotate -f /etc/logrotate.d/nginx",
    "logrotate --force /etc/logrotate.d/rsyslog",
    "logrotate -f -v /etc/logrotate.d/postgresql-common",
    "sudo -n logrotate -f /etc/logrotate.d/nginx",
]

DENY = [
    # units not listed, globs systemctl would expand, several units at once
    "systemctl restart sshd", "systemctl restart ssh.service", "systemctl restart 'app-*'",
    "systemctl restart 'nginx*'", "systemctl restart app-", "systemctl restart app-x.socket",
    "systemctl restart app-x@y", "systemctl restart nginx redis-server", "systemctl restart",
    "systemctl restart -- -nginx", "systemctl reload-or-restart nginx",
    "systemctl restart NGINX", "systemctl restart nginx.service.d",
    # other verbs
    "systemctl stop nginx", "systemctl start nginx", "systemctl kill nginx", "systemctl enable nginx",
    "systemctl mask nginx", "systemctl daemon-reload", "systemctl isolate rescue.target", "systemctl reboot",
    "systemctl edit nginx", "systemctl set-property nginx CPUQuota=1%",
    # flags that change how the job runs or where
    "systemctl --no-block restart nginx", "systemctl restart --no-block nginx", "systemctl --force restart nginx",
    "systemctl --job-mode=replace-irreversibly restart nginx", "systemctl --user restart nginx",
    "systemctl -H evil restart nginx", "systemctl -M box restart nginx", "systemctl --now restart nginx",
    "systemctl restart --wait nginx", "systemctl -i restart nginx",
    # composition around an approved verb
    "systemctl restart nginx; rm -rf /", "systemctl restart nginx && sh -c id", "systemctl restart nginx &",
    "systemctl restart $(echo nginx)", "systemctl restart `echo nginx`", "systemctl restart ${UNIT}",
    "systemctl restart nginx > /etc/passwd", "timeout 5 systemctl restart nginx", "env systemctl restart nginx",
    "sudo -s systemctl restart nginx", "sudo -E systemctl restart nginx", "sudo -- sh -c 'systemctl restart nginx'",
    "bash -c 'systemctl restart nginx'", "xargs systemctl restart < /tmp/units",
    # log rotation: only a forced rotation of one packaged config
    "logrotate -f /etc/passwd", "logrotate -f /etc/logrotate.conf", "logrotate -f /etc/logrotate.d/../passwd",
    "logrotate -f /etc/logrotate.d/..", "logrotate -f /etc/logrotate.d/.hidden", "logrotate -f /tmp/evil.conf",
    "logrotate -f /etc/logrotate.d/nginx /etc/logrotate.d/rsyslog", "logrotate /etc/logrotate.d/nginx",
    "logrotate -f -s /tmp/state /etc/logrotate.d/nginx", "logrotate -f --state=/tmp/s /etc/logrotate.d/nginx",
    "logrotate -f -m /tmp/evil /etc/logrotate.d/nginx", "logrotate -f -l /tmp/log /etc/logrotate.d/nginx",
    "logrotate -f '/etc/logrotate.d/*'",
    # journal maintenance stays denied (a per-flag decision does not exist)
    "journalctl --rotate", "journalctl --vacuum-time=1d", "journalctl -f",
    # the diagnostics' own refusals
    "cat /etc/shadow", "rm -rf /", "python3 -c 'print(1)'", "dd if=/dev/zero of=/dev/sda",
]

ALLOW = [
    "systemctl status nginx", "systemctl is-active nginx", "systemctl list-units --failed",
    "journalctl -u nginx -n 100 --no-pager", "journalctl -p err -b", "df -h", "free -m", "uptime",
    "ps aux", "ps -ef | grep nginx", "ss -tlnp", "tail -n 50 /var/log/syslog", "du -sh /var/log",
    "cat /etc/nginx/nginx.conf", "grep -i error /var/log/syslog | tail -n 20", "uname -a", "id", "date -u",
]


def _decide(command: str, tool: str = "executeCommand") -> Decision:
    arguments: dict[str, object] = {"connectionId": "c1", "command": command}
    if tool == "backgroundExecute":
        arguments["interval"] = 60000
    return evaluate(POLICY, ToolCall(tool, arguments)).decision


@pytest.mark.parametrize("command", PROMPT)
def test_restarts_and_rotations_need_approval(command: str) -> None:
    assert _decide(command) == Decision.PROMPT


@pytest.mark.parametrize("command", DENY)
def test_everything_else_is_denied(command: str) -> None:
    assert _decide(command) == Decision.DENY


@pytest.mark.parametrize("command", ALLOW)
def test_diagnostics_are_allowed(command: str) -> None:
    assert _decide(command) == Decision.ALLOW


@pytest.mark.parametrize("command", PROMPT[:4] + ["logrotate -f /etc/logrotate.d/nginx"])
def test_scheduled_work_is_never_put_to_approval(command: str) -> None:
    # backgroundExecute would repeat an approved restart every interval: read-only only there
    assert _decide(command, "backgroundExecute") == Decision.DENY


def test_the_approval_section_is_as_shipped() -> None:
    rule = POLICY.approval
    assert rule.channels == ("elicitation", "queue")
    assert rule.timeout == 120
    assert rule.approvers == ("oncall-lead", "sre")
    assert rule.reuse == 0


def test_the_prompt_reason_is_shown() -> None:
    verdict = evaluate(POLICY, ToolCall("executeCommand", {"connectionId": "c1", "command": "systemctl restart nginx"}))
    assert list(verdict.rules) == ["oncall.systemctl.restart"]
    assert "on-call human approves" in verdict.reasons[0]


@pytest.mark.parametrize(("command", "code"), [
    ("systemctl restart nginx", 3),
    ("logrotate -f /etc/logrotate.d/nginx", 3),
    ("systemctl status nginx", 0),
    ("systemctl restart sshd", 1),
    ("systemctl restart nginx; rm -rf /", 1),
    ("systemctl --no-block restart nginx", 1),
    ("logrotate -f /etc/passwd", 1),
])
def test_sshwall_check_exit_codes(command: str, code: int) -> None:
    done = subprocess.run([sys.executable, "-m", "sshwall.cli", "check", "--rules", str(RULES), "--", command],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == code, done.stdout + done.stderr


def test_the_shipped_examples_pass() -> None:
    done = subprocess.run([sys.executable, "-m", "sshwall.cli", "test", "--rules", str(RULES)],
                          capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 failed" in done.stdout
