"""The `openssl` option family (OpenSSL 3 opt_next, BIND nslookup) on the shipped policy's specs."""

from __future__ import annotations

from pathlib import Path

import pytest

from sshwall.analysis import Word
from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.engine.argspec import parse_args
from sshwall.policy import load_policy

POLICY = load_policy(Path(__file__).resolve().parents[2] / "rules" / "readonly-ops.yaml")
PROGRAMS = POLICY.commands["diagnostics"].programs


def parse(program: str, *words: str):
    return parse_args(program, PROGRAMS[program], tuple(Word(w, w) for w in words))


def test_attached_value_is_the_options_value() -> None:
    res = parse("openssl", "x509", "-in=/etc/ssl/certs/a.pem", "-noout")
    assert not res.problems
    assert [(u.kind, u.word.text) for u in res.uses] == [("read", "/etc/ssl/certs/a.pem")]


def test_separate_value_and_denied_attached() -> None:
    assert [(u.kind, u.word.text) for u in parse("openssl", "x509", "-in", "/x.pem").uses] == [("read", "/x.pem")]
    assert any("`-out=` is not allowed" in p for p in parse("openssl", "x509", "-out=/tmp/x").problems)


def test_switch_given_a_value_and_double_dash() -> None:
    assert any("takes no value" in p for p in parse("openssl", "x509", "-noout=1").problems)
    assert any("not in the allowed flags" in p for p in parse("openssl", "x509", "--in", "/etc/hosts").problems)


def test_expression_tokens_are_operands_here() -> None:
    # find skips `!` `(` as operators; openssl reads them as file names.
    res = parse("openssl", "verify", "!")
    assert [(u.kind, u.word.text) for u in res.uses] == [("read", "!")]


def test_options_end_at_the_first_operand() -> None:
    # opt_next stops at the first operand: `-CAfile` after it is a certificate file name.
    res = parse("openssl", "verify", "/a.pem", "-CAfile", "/b.pem")
    assert [u.word.text for u in res.uses] == ["/a.pem", "-CAfile", "/b.pem"]


def test_nslookup_values_are_attached_only() -> None:
    res = parse("nslookup", "-type", "mx", "example.com")
    assert not res.problems  # `-type` alone: nslookup says "Invalid option", mx is the name
    assert [u.word.text for u in res.uses if u.what == "operand"] == ["mx", "example.com"]
    assert [u.word.text for u in parse("nslookup", "-type=mx", "example.com").uses if u.what != "operand"] == ["mx"]


@pytest.mark.parametrize(
    ("command", "decision"),
    [
        ("nslookup", Decision.DENY),
        ("nslookup -debug", Decision.DENY),
        ("nslookup - 10.0.0.1", Decision.DENY),
        ("nslookup example.com -", Decision.DENY),
        ("nslookup -type=txt example.com 10.0.0.1", Decision.ALLOW),
        ("getent shadow", Decision.DENY),
        ("getent -s ldap hosts x", Decision.DENY),
        ("getent ahosts example.com", Decision.ALLOW),
        ("sysctl -w kernel.panic=0", Decision.DENY),
        ("sysctl kernel.panic=0", Decision.DENY),
        ("sysctl --load=/etc/sysctl.conf", Decision.DENY),
        ("sysctl -ar ipv4", Decision.ALLOW),
        ("openssl x509 -in /etc/ssl/certs/a.pem -noout -engine pkcs11", Decision.DENY),
        ("openssl verify -crl_download /etc/ssl/certs/a.pem", Decision.DENY),
        ("openssl s_client -connect example.com:443", Decision.DENY),
        ("sar -o 1 2", Decision.DENY),
        ("sar -f /var/log/sysstat/sa01 -u ALL", Decision.ALLOW),
        ("pidstat -U root 1 2", Decision.ALLOW),
        ("pidstat 1 2 -e id", Decision.DENY),
        ("kubectl rollout status deploy/web -w=false", Decision.ALLOW),
        ("kubectl rollout status secret/x --watch=false", Decision.DENY),
    ],
)
def test_decisions(command: str, decision: Decision) -> None:
    call = ToolCall("executeCommand", {"connectionId": "c1", "command": command})
    assert evaluate(POLICY, call).decision == decision
