"""Redaction: secrets never reach the audit log; sizes stay bounded."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sshwall.audit import (
    REDACTED,
    AuditLog,
    decision_event,
    redact,
    sanitize,
    secret_argument_names,
    verify,
)
from sshwall.audit.redact import MAX_ITEMS, MAX_STRING, NOT_AN_OBJECT, clip
from sshwall.policy.load import load_profile

SECRETS = ("hunter2-pw", "KEYTEXT-abc", "pass-phrase-xyz")
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nKEYTEXT-abc\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture(scope="module")
def connect_secrets() -> set[str]:
    return secret_argument_names(load_profile("mcp-ssh").tools["connect"])


def connect_args() -> dict[str, object]:
    return {
        "host": "db1.internal", "port": 22, "username": "ops",
        "password": "hunter2-pw", "privateKey": PEM, "passphrase": "pass-phrase-xyz",
        "name": "db1", "rememberPassword": True, "tags": ["prod"],
    }


def test_profile_secret_names(connect_secrets: set[str]) -> None:
    assert connect_secrets == {"password", "privateKey", "passphrase"}
    profile = load_profile("mcp-ssh")
    assert secret_argument_names(profile.tools["executeCommand"]) == set()
    assert secret_argument_names(None) == set()
    with_secrets = {name for name, tool in profile.tools.items() if secret_argument_names(tool)}
    assert with_secrets == {"connect"}


def test_connect_secrets_at_top_level(connect_secrets: set[str]) -> None:
    out = redact(connect_args(), connect_secrets)
    assert out["password"] == out["privateKey"] == out["passphrase"] == REDACTED
    assert out["host"] == "db1.internal" and out["port"] == 22 and out["tags"] == ["prod"]
    assert out["rememberPassword"] is True  # a flag about a password is not a password
    assert not any(s in json.dumps(out) for s in SECRETS)


def test_secret_names_without_the_patterns() -> None:
    out = redact({"pin": "1234", "nested": [{"pin": 5678}], "pinned": "x"}, {"pin"})
    assert out == {"pin": REDACTED, "nested": [{"pin": REDACTED}], "pinned": "x"}


def test_nested_and_case_insensitive_by_key_pattern() -> None:
    args = {
        "opts": {"auth": {"Password": "hunter2-pw", "chain": [{"private_key": "KEYTEXT-abc"}]}},
        "list": [[{"PASSPHRASE": "pass-phrase-xyz"}]],
        "headers": {"Authorization": "Bearer t0k", "X-Api-Key": "k3y", "apikey": "k4y", "token": "t"},
        "client_secret": {"any": "shape"}, "password": None, "command": "uptime",
    }
    out = redact(args)  # no profile at all: the key patterns still catch them
    text = json.dumps(out)
    for secret in (*SECRETS, "t0k", "k3y", "k4y", "shape"):
        assert secret not in text
    assert out["opts"]["auth"]["chain"][0]["private_key"] == REDACTED
    assert out["password"] is None and out["command"] == "uptime"


def test_pem_private_key_inside_any_string() -> None:
    out = redact({"command": f"cat > /tmp/k <<'EOF'\n{PEM}EOF", "cut": "x -----BEGIN RSA PRIVATE KEY-----\nMIIE"})
    assert "KEYTEXT" not in out["command"] and "[redacted private key]" in out["command"]
    assert out["command"].startswith("cat > /tmp/k") and out["command"].endswith("EOF")
    assert out["cut"] == "x [redacted private key]"


def test_secrets_never_reach_the_file(tmp_path: Path, connect_secrets: set[str]) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append(decision_event(tool="connect", arguments=connect_args(), decision="allow",
                                  secret_names=connect_secrets))
        # A caller that forgets to redact: the log's own sanitising still catches them.
        log.append({"tool": "connect", "arguments": connect_args(), "decision": "deny"})
        log.append({"tool": "connect", "password": "hunter2-pw", "decision": "deny"})
    data = path.read_text("utf-8")
    assert not any(s in data for s in SECRETS)
    assert data.count(REDACTED) == 7
    assert verify(path).records == 3


def test_ten_megabyte_argument_is_truncated(tmp_path: Path) -> None:
    big = "A" * 10_000_000
    started = time.perf_counter()
    out = redact({"command": big})
    assert time.perf_counter() - started < 1.0
    kept = MAX_STRING - len(f"…[truncated {10_000_000 - 4060} chars]")
    assert out["command"] == "A" * kept + f"…[truncated {10_000_000 - kept} chars]"
    assert len(out["command"]) <= MAX_STRING
    assert redact(out) == out  # idempotent: redacting twice cuts nothing more
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log:
        log.append(decision_event(tool="executeCommand", arguments={"command": big}, decision="deny"))
    assert path.stat().st_size < 6000


def test_clip() -> None:
    assert clip("abc", 5) == "abc"
    for n in (4097, 5000, 12345, 10**6):
        assert len(clip("x" * n)) == MAX_STRING
        assert clip("x" * n).endswith("chars]")


def test_size_is_bounded_for_hostile_shapes() -> None:
    wide = {f"k{i}": "v" * 4000 for i in range(1000)}
    out = sanitize(wide)
    assert isinstance(out, dict)
    assert len(json.dumps(out)) < 80_000
    assert "more keys not logged" in json.dumps(out)
    long_list = sanitize(list(range(10_000)))
    assert isinstance(long_list, list) and len(long_list) == MAX_ITEMS + 1
    assert long_list[-1] == f"…[{10_000 - MAX_ITEMS} more items not logged]"


def test_arguments_that_are_not_an_object() -> None:
    assert redact(["a", 1]) == {NOT_AN_OBJECT: ["a", 1]}
    assert redact(None) == {NOT_AN_OBJECT: None}
    assert redact("password=x") == {NOT_AN_OBJECT: "password=[redacted]"}  # text rules still apply
