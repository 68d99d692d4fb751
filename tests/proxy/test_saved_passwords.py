"""Issue 10: the upstream falls back to a password it saved for the id (``maybe-saved``).

Mcp Ssh's sudo rewrite and terminal auto-password use the live connection's password, else the
one it saved for the connection id earlier (``rememberPassword`` defaults to true). A key-only
connect through a freshly started gateway therefore may still get a password pasted into its
sudo commands or typed into its terminals. The firewall runs here with a forward that answers
in the real server's formats (``RealFormats``) and records what reached it.
"""

from __future__ import annotations

from typing import Any

import pytest

from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.engine.autopassword import terminal_problems
from sshwall.engine.rewrites import ConnectionFacts
from sshwall.policy import load_policy
from sshwall.policy.model import Policy
from sshwall.profiles import TerminalAutoPassword
from sshwall.proxy.firewall import Firewall
from tests.proxy.test_rewrites_firewall import (
    CONN,
    HOST,
    PORT,
    USER,
    RealFormats,
    _denied,
    _run,
)

KEY = {"host": HOST, "port": PORT, "username": USER, "privateKey": "KEY"}


def _policy(saved: str = "possible", path: str = "rules/readonly-ops.yaml") -> Policy:
    return load_policy(path).model_copy(update={"upstream_saved_passwords": saved})


def _firewall(saved: str = "possible", path: str = "rules/readonly-ops.yaml") -> tuple[Firewall, RealFormats]:
    forward = RealFormats()
    fw = Firewall(_policy(saved, path), forward)
    assert not _run(fw, "connect", KEY).get("isError")
    return fw, forward


def _exec(fw: Firewall, command: str) -> dict[str, Any]:
    return _run(fw, "executeCommand", {"connectionId": CONN, "command": command})


def _text(reply: dict[str, Any]) -> str:
    return str(reply["content"][0]["text"])


def test_a_key_only_connect_may_have_a_saved_password() -> None:
    fw, forward = _firewall()
    assert fw.targets.bindings.of_connection(CONN).password == "maybe-saved"
    assert forward.sent[-1] == ("getConnection", {"connectionId": CONN})  # the live-password probe still runs
    before = len(forward.sent)
    reply = _exec(fw, "cat && sudo -n true")  # the upstream would run `echo "SAVED" | cat && sudo -S -n true`
    assert _denied(reply), _text(reply)
    assert "saved" in _text(reply) and "upstream_saved_passwords: none" in _text(reply)
    assert "`cat` may read standard input" in _text(reply)
    assert len(forward.sent) == before  # nothing reached the upstream


@pytest.mark.parametrize("command", ["sudo -n true", "sudo -n systemctl status nginx", "uptime",
                                     "sudo -n journalctl -u cron | grep error"])
def test_sudo_commands_that_cannot_print_it_are_forwarded(command: str) -> None:
    fw, forward = _firewall()
    reply = _exec(fw, command)
    assert not _denied(reply), _text(reply)
    assert forward.sent[-1] == ("executeCommand", {"connectionId": CONN, "command": command})


@pytest.mark.parametrize("command", [
    "cat && sudo -n true", "sudo -n cat /etc/hostname", "head -1 /etc/hostname; sudo -n true",
    "sudo -n true; ls /var/log/sudo.log", "sudo -n true", "sudo -n systemctl status nginx", "uptime",
    "echo sudo", "sudo -n systemctl restart nginx", "ls /root; sudo -n true", "sudo -S -n true",
])
def test_maybe_saved_is_the_strictest_of_both_forms(command: str) -> None:
    policy = _policy()
    call = ToolCall("executeCommand", {"connectionId": CONN, "command": command})
    plain = evaluate(policy, call, connection=ConnectionFacts("none")).decision
    rewritten = evaluate(policy, call, connection=ConnectionFacts("checked")).decision
    maybe = evaluate(policy, call, connection=ConnectionFacts("maybe-saved")).decision
    assert maybe == max(plain, rewritten, key=lambda d: d.severity), (command, plain, rewritten, maybe)


def test_terminals_are_denied_naming_the_fallback_and_the_switch() -> None:
    fw, forward = _firewall(path="fixtures/policies/e2e-all.yaml")
    before = len(forward.sent)
    reply = _run(fw, "mcp_ssh_mcp_createTerminalSession", {"connectionId": CONN})
    assert _denied(reply) and "auto-password" in _text(reply), _text(reply)
    assert "saved" in _text(reply) and "upstream_saved_passwords: none" in _text(reply)
    assert len(forward.sent) == before
    write = evaluate(_policy(path="fixtures/policies/e2e-all.yaml"),
                     ToolCall("mcp_ssh_mcp_writeToTerminal", {"sessionId": "s1", "data": "echo hi\n"}),
                     connection=ConnectionFacts("maybe-saved"))
    assert write.decision == Decision.DENY and "tools.mcp_ssh_mcp_writeToTerminal.auto-password" in write.rules


def test_upstream_saved_passwords_none_keeps_the_key_only_behaviour() -> None:
    fw, forward = _firewall(saved="none")
    assert fw.targets.bindings.of_connection(CONN).password == "none"
    assert not _denied(_exec(fw, "cat && sudo -n true"))  # nothing is piped: cat reads the empty stdin
    assert forward.sent[-1] == ("executeCommand", {"connectionId": CONN, "command": "cat && sudo -n true"})
    terminals, _ = _firewall(saved="none", path="fixtures/policies/e2e-all.yaml")
    assert not _denied(_run(terminals, "mcp_ssh_mcp_createTerminalSession", {"connectionId": CONN}))


def test_a_profile_without_the_fallback_is_not_affected() -> None:
    rw = TerminalAutoPassword(kind="terminal-auto-password", triggers=("Password:",))
    assert terminal_problems(rw, ConnectionFacts("maybe-saved"), "uptime\n", (), "") == []
    saved = rw.model_copy(update={"saved_password_fallback": True})
    assert "upstream_saved_passwords" in terminal_problems(saved, ConnectionFacts("maybe-saved"), "uptime\n", (), "")[0]


def test_a_checked_password_connect_stays_checked_and_a_later_key_connect_follows_what_was_saved() -> None:
    forward = RealFormats()
    fw = Firewall(_policy(), forward)
    pw = {"host": HOST, "port": PORT, "username": USER, "password": "s3cret pass#1"}
    assert not _run(fw, "connect", pw).get("isError")
    assert fw.targets.bindings.of_connection(CONN).password == "checked"
    # Saved (rememberPassword defaults to true): the store holds that checked password.
    assert not _run(fw, "connect", KEY).get("isError")
    assert fw.targets.bindings.of_connection(CONN).password == "checked"
    # Not saved: a reconnect without it falls back to whatever the store held before.
    fresh = Firewall(_policy(), RealFormats())
    assert not _run(fresh, "connect", {**pw, "rememberPassword": False}).get("isError")
    assert fresh.targets.bindings.of_connection(CONN).password == "checked"
    assert not _run(fresh, "connect", KEY).get("isError")
    assert fresh.targets.bindings.of_connection(CONN).password == "maybe-saved"
    # Neither key nor password: the upstream loads the saved one into the connection.
    assert not _run(fresh, "connect", {"host": HOST, "port": PORT, "username": USER}).get("isError")
    assert fresh.targets.bindings.of_connection(CONN).password == "unknown"
    assert _denied(_exec(fresh, "sudo -n true"))
