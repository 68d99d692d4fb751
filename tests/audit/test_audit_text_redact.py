"""Secrets inside command text and free-text arguments never reach the audit log; the rest of
the command stays as it was, readable."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sshwall.audit import (
    AuditLog,
    decision_event,
    notice_event,
    redact,
    secret_argument_names,
    verify,
)
from sshwall.audit.textsecrets import is_secret_name, redact_text
from sshwall.policy.load import load_profile

S = "hunter2-Zq9"  # the secret in every case below

CASES = [
    (f"sshpass -p {S} ssh db1 uptime", "sshpass -p [redacted] ssh db1 uptime"),
    (f"sshpass -p{S} ssh db1 uptime", "sshpass -p[redacted] ssh db1 uptime"),
    (f"sshpass -p '{S}' ssh db1", "sshpass -p [redacted] ssh db1"),
    (f"mysql -uroot -p{S} -e 'select 1'", "mysql -uroot -p[redacted] -e 'select 1'"),
    (f"mysql --password={S} -h db", "mysql --password=[redacted] -h db"),
    (f"/usr/bin/mysqldump -p'{S}' app", "/usr/bin/mysqldump -p[redacted] app"),
    (f"PGPASSWORD={S} psql -h db -c 'select 1'", "PGPASSWORD=[redacted] psql -h db -c 'select 1'"),
    (f"export MYSQL_PWD='{S} x'; mysql", "export MYSQL_PWD=[redacted]; mysql"),
    (f"env SSHPASS={S} sshpass -e ssh h", "env SSHPASS=[redacted] sshpass -e ssh h"),
    (f"curl -u bob:{S} https://x", "curl -u bob:[redacted] https://x"),
    (f"curl -ubob:{S} https://x", "curl -ubob:[redacted] https://x"),
    (f"curl --user=bob:{S} https://x", "curl --user=bob:[redacted] https://x"),
    (f"curl -H 'Authorization: Bearer {S}' -H 'Accept: json' https://x",
     "curl -H 'Authorization: Bearer [redacted]' -H 'Accept: json' https://x"),
    (f'curl -H "X-Api-Key: {S}" https://x', "curl -H 'X-Api-Key: [redacted]' https://x"),
    (f"curl https://bob:{S}@example.com/p", "curl https://bob:[redacted]@example.com/p"),
    (f"git clone https://oauth2:{S}@gitlab.example/o/r", "git clone https://oauth2:[redacted]@gitlab.example/o/r"),
    (f"psql postgresql://app:{S}@db:5432/app", "psql postgresql://app:[redacted]@db:5432/app"),
    (f"psql 'host=db user=x password={S}'", "psql 'host=db user=x password=[redacted]'"),
    (f"sudo -u root mysql -p{S}", "sudo -u root mysql -p[redacted]"),
    (f"timeout 5 nice redis-cli -a {S} ping", "timeout 5 nice redis-cli -a [redacted] ping"),
    (f"sh -c 'mysql -p{S} -e \"show tables\"'", "sh -c 'mysql -p[redacted] -e \"show tables\"'"),
    (f'ssh db1 "sshpass -p {S} scp a b:"', 'ssh db1 "sshpass -p [redacted] scp a b:"'),
    (f"echo {S} | sudo -S apt-get update", "echo [redacted] | sudo -S apt-get update"),
    (f"sudo -S id <<< '{S}'", "sudo -S id <<< [redacted]"),
    (f"docker login -u me -p {S} reg.example", "docker login -u me -p [redacted] reg.example"),
    (f"openssl rsa -in k -passin pass:{S} -passout env:X", "openssl rsa -in k -passin pass:[redacted] -passout env:X"),
    (f"smbclient //srv/share -U admin%{S}", "smbclient //srv/share -U admin%[redacted]"),
    (f"ldapsearch -x -D cn=admin -w {S} -b dc=x", "ldapsearch -x -D cn=admin -w [redacted] -b dc=x"),
    (f"mount -o username=bob,password={S} //s/x /mnt", "mount -o username=bob,password=[redacted] //s/x /mnt"),
    (f"wget --password {S} http://x", "wget --password [redacted] http://x"),
    (f"kubectl --token={S} get pods", "kubectl --token=[redacted] get pods"),
    (f"vault login {S}", "vault login [redacted]"),
    ("gh api -H 'Authorization: token ghp_abcdefghijklmnopqrstuvwxyz123456' /user",
     "gh api -H 'Authorization: token [redacted]' /user"),
]

BENIGN = [
    "ssh -o PasswordAuthentication=no host uptime", "grep -i password /var/log/auth.log", "cat /etc/passwd",
    "getent passwd root", "awk -F: '{print $1}' /etc/passwd", "mysql -p appdb", "mysql -e 'show status'",
    "docker run -p 8080:80 nginx", "curl -s https://example.com/health?x=1", "ps aux | grep token",
    "git log --author=bob --since=2.days", "export PATH=$PATH:/usr/local/bin", "cd /tmp && PWD=/x ls",
    "psql -h db -U app -c 'select 1'", "grep 'passwd:' /etc/nsswitch.conf", "kubectl get secret -n x",
    "echo hello | sudo tee /tmp/x", "sshpass -f /run/pw ssh host", "PGPASSWORD=$PW psql",
    "docker login --password-stdin < /run/token", "wget --password-file=x http://a", "scp f user@host:/tmp/",
    "journalctl --since='1 hour ago' -u nginx", "curl -u bob https://x", "df -h; free -m; uptime",
]


@pytest.mark.parametrize(("command", "expected"), CASES)
def test_secrets_in_commands_are_redacted(command: str, expected: str) -> None:
    out, found = redact_text(command)
    assert out == expected
    secret = S if S in command else "ghp_abcdefghijklmnopqrstuvwxyz123456"
    assert secret not in out and any(secret in f for f in found)
    assert redact_text(out)[0] == out  # redacting twice changes nothing more


@pytest.mark.parametrize("command", BENIGN)
def test_commands_without_secrets_are_kept(command: str) -> None:
    assert redact_text(command) == (command, [])


def test_secret_names() -> None:
    for name in ("PGPASSWORD", "MYSQL_PWD", "SSHPASS", "api_key", "--password", "client-secret", "REDISCLI_AUTH"):
        assert is_secret_name(name), name
    for name in ("PWD", "OLDPWD", "PATH", "--password-file", "PasswordAuthentication", "author", "TOKEN_FILE"):
        assert not is_secret_name(name), name


def test_free_text_arguments_of_connect() -> None:
    secrets = secret_argument_names(load_profile("mcp-ssh").tools["connect"])
    args = {"host": "db1", "username": "ops", "password": S, "name": f"db1 (root password: {S})",
            "tags": [f"token={S}", "prod", f"https://ops:{S}@vault.example"]}
    out = redact(args, secrets)
    assert S not in json.dumps(out)
    assert out["name"] == "db1 (root password: [redacted])"
    assert out["tags"] == ["token=[redacted]", "prod", "https://ops:[redacted]@vault.example"]


def test_a_secret_found_in_the_arguments_is_scrubbed_from_the_reasons() -> None:
    event = decision_event(
        tool="executeCommand", arguments={"command": f"mysql -p{S} -e 'select 1'"}, decision="deny",
        rules=["ops.flags"], reasons=[f"flag `-p{S}` of mysql is not allowed"],
    )
    assert S not in json.dumps(event)
    assert event["reasons"] == ["flag `-p[redacted]` of mysql is not allowed"]


def test_secrets_in_text_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        for command, _ in CASES:
            log.append(decision_event(tool="executeCommand", arguments={"connectionId": "c1", "command": command},
                                      decision="allow"))
        # Notices too (a background task's command), and callers that build events by hand.
        log.append(notice_event("ttl-stop", detail="stopped", command=f"sshpass -p {S} ssh h"))
        log.append({"tool": "executeCommand", "arguments": {"command": f"curl -u a:{S} x"}, "decision": "deny"})
    data = path.read_text("utf-8")
    assert S not in data and "ghp_" not in data
    assert "sshpass -p [redacted] ssh db1 uptime" in data  # still readable
    assert verify(path).ok


def test_text_redaction_is_fast_and_bounded() -> None:
    text = " ".join(f"mysql -p{S}{i} -e x; curl -u u:{S} https://h/{i}" for i in range(100))[:4096]
    started = time.perf_counter()
    out = redact({"command": text})
    assert time.perf_counter() - started < 0.5
    assert S not in out["command"]
    # A secret straddling the 4096-character cut is still redacted.
    long = "x" * 4054 + f" sshpass -p {S} ssh h " + "y" * 200
    kept = redact({"command": long})["command"]
    assert kept.startswith("x" * 4054 + " sshpass -p [redac") and S[:5] not in kept
