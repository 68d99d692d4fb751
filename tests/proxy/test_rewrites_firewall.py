"""The sudo-password rewrite and the numbers, decided in the firewall with real-format replies.

The test sshd takes keys only, so a password connection cannot be made end to end; here the
``Firewall`` runs with a forward that answers as the real Mcp Ssh does (texts of
``shared/mcp-ssh/replies.jsonl``) and records what it was sent, so each test sees which calls
would have reached the upstream.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.engine.rewrites import ConnectionFacts
from sshwall.policy import load_policy
from sshwall.policy.model import Policy
from sshwall.proxy.caller import Caller
from sshwall.proxy.firewall import Firewall

HOST, PORT, USER = "10.0.0.5", 22, "ops"
CONN = hashlib.md5(f"{USER}@{HOST}:{PORT}".encode()).hexdigest()


def _policy() -> Policy:
    return load_policy("rules/readonly-ops.yaml")


class RealFormats:
    """A forward that answers like the real server and remembers every call it got."""

    def __init__(self, live_password: bool = False) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.live_password = live_password  # getConnection shows the live connection's password line

    async def __call__(self, method: str, params: Any, *, client_id: Any = None) -> Any:
        name, args = params["name"], params.get("arguments") or {}
        self.sent.append((name, args))
        if name == "connect":
            conn = hashlib.md5(f"{args['username']}@{args['host']}:{args.get('port') or 22}".encode()).hexdigest()
            text = (f"连接成功!\n\n🟢 {args.get('name') or args['username']}\nID: {conn}\n主机: {args['host']}:{args.get('port') or 22}\n"
                    f"用户名: {args['username']}\n状态: 已连接\n当前目录: /home/{args['username']}\n")
        elif name == "getConnection":
            secret = "密码: ********\n" if self.live_password else ""
            text = f"🟢 n\nID: {args['connectionId']}\n主机: {HOST}:{PORT}\n用户名: {USER}\n{secret}私钥认证: 是\n状态: 已连接\n"
        else:
            text = "ok\n\n[ops@10.0.0.5 /home/ops]$ "
        return {"content": [{"type": "text", "text": text}]}


def _run(firewall: Firewall, tool: str, args: dict[str, Any]) -> dict[str, Any]:
    return asyncio.run(firewall.call_tool({"name": tool, "arguments": args}, Caller("test")))


def _denied(result: dict[str, Any]) -> bool:
    return bool(result.get("isError")) and result["content"][0]["text"].startswith("sshwall: denied")


@pytest.fixture
def on_password() -> tuple[Firewall, RealFormats]:
    """A firewall whose connection CONN was opened with an (inert) password."""
    forward = RealFormats()
    fw = Firewall(_policy(), forward)
    assert not _run(fw, "connect", {"host": HOST, "port": PORT, "username": USER, "password": "s3cret pass#1"}).get("isError")
    assert fw.targets.bindings.of_connection(CONN).password == "checked"
    return fw, forward


def _exec(fw: Firewall, command: str, tool: str = "executeCommand") -> dict[str, Any]:
    args: dict[str, Any] = {"connectionId": CONN, "command": command}
    if tool == "backgroundExecute":
        args["interval"] = 60000
    return _run(fw, tool, args)


@pytest.mark.parametrize("command", ["sudo -n true", "sudo -n systemctl status cron", "uptime; sudo -n true",
                                     "sudo -n journalctl -u cron | grep error"])
def test_sudo_commands_that_cannot_print_the_password_are_forwarded(on_password, command: str) -> None:
    fw, forward = on_password
    assert not _denied(_exec(fw, command)), command
    assert forward.sent[-1] == ("executeCommand", {"connectionId": CONN, "command": command})


@pytest.mark.parametrize("command", ["sudo -n cat", "cat; sudo -n true", "sudo -n grep -c x /etc/hostname",
                                     "{ head -1; } ; sudo -n true", "sudo -n cat /dev/stdin", "sudo -n df -h $(cat)"])
@pytest.mark.parametrize("tool", ["executeCommand", "backgroundExecute"])
def test_a_first_command_that_may_read_stdin_would_print_the_password(on_password, command: str, tool: str) -> None:
    fw, forward = on_password
    before = len(forward.sent)
    reply = _exec(fw, command, tool)
    assert _denied(reply) and "pipes the connection's password" in reply["content"][0]["text"], command
    assert len(forward.sent) == before  # nothing reached the upstream


def test_the_word_sudo_elsewhere_is_decided_on_the_rewritten_form(on_password) -> None:
    fw, _ = on_password
    command = "sudo -n true; ls /var/log/sudo.log"  # the upstream runs `ls /var/log/sudo -S.log`
    reply = _exec(fw, command)
    assert _denied(reply) and "sudo -S.log" in reply["content"][0]["text"]
    # The same command on a key connection is fine where no saved password can exist; by
    # default the upstream may fall back to a saved one, so it is decided on both forms.
    plain = Firewall(_policy().model_copy(update={"upstream_saved_passwords": "none"}), RealFormats())
    assert not _run(plain, "connect", {"host": HOST, "port": PORT, "username": USER, "privateKey": "KEY"}).get("isError")
    assert not _denied(_exec(plain, command))
    maybe = Firewall(_policy(), RealFormats())
    assert not _run(maybe, "connect", {"host": HOST, "port": PORT, "username": USER, "privateKey": "KEY"}).get("isError")
    assert _denied(_exec(maybe, command))


def test_a_connection_with_a_password_sshwall_never_saw_denies_sudo(on_password) -> None:
    fw = Firewall(_policy(), RealFormats())
    # Neither password nor key: the upstream loads what it saved for the id (unseen by sshwall).
    assert not _run(fw, "connect", {"host": HOST, "port": PORT, "username": USER}).get("isError")
    reply = _exec(fw, "sudo -n true")
    assert _denied(reply) and "never saw" in reply["content"][0]["text"]
    assert not _denied(_exec(fw, "uptime"))  # no sudo: no rewrite
    unknown = Firewall(_policy(), RealFormats())  # an id opened before this gateway started
    assert _denied(_exec(unknown, "sudo -n true"))


@pytest.mark.parametrize("password", ["a$b", "a`id`", 'a"b', "a\\b", "a!b", "a\nb"])
def test_passwords_that_are_not_inert_inside_double_quotes_are_refused_at_connect(password: str) -> None:
    verdict = evaluate(_policy(), ToolCall("connect", {"host": HOST, "username": USER, "password": password}))
    assert verdict.decision == Decision.DENY and "tools.connect.password-rewrite" in verdict.rules


def test_a_password_next_to_a_key_is_refused() -> None:
    verdict = evaluate(_policy(), ToolCall("connect", {"host": HOST, "username": USER, "password": "fine", "privateKey": "K"}))
    assert verdict.decision == Decision.DENY and any("next to a private key" in r for r in verdict.reasons)


@pytest.mark.parametrize(("value", "ok"), [(60000, True), (60000.0, True), (60000.5, True), (3_600_000, True),
                                           (2147483648, False), (float("inf"), False), (float("nan"), False),
                                           (-60000, False), (0, False), (0.5, False), (True, False), ("60000", False)])
def test_intervals_are_json_numbers_within_what_node_honours(value: object, ok: bool) -> None:
    # e2e-all allows 300 ms to 1 h; the profile's own bound is Node's 2^31-1 ms.
    policy = load_policy("fixtures/policies/e2e-all.yaml")
    verdict = evaluate(policy, ToolCall("backgroundExecute", {"connectionId": CONN, "command": "date", "interval": value}))
    assert (verdict.decision == Decision.ALLOW) is ok, (value, verdict.reasons)


@pytest.mark.parametrize(("args", "ok"), [({"port": 22.0}, True), ({"port": 22.5}, False), ({"port": -22}, False),
                                          ({"port": 70000}, False), ({"port": float("nan")}, False)])
def test_ports_are_whole_json_numbers(args: dict[str, object], ok: bool) -> None:
    verdict = evaluate(_policy(), ToolCall("connect", {"host": HOST, "username": USER, "privateKey": "K", **args}))
    assert (verdict.decision == Decision.ALLOW) is ok, verdict.reasons


@pytest.mark.parametrize(("args", "ok"), [({"timeout": 5000.0}, True), ({"timeout": -1}, False),
                                          ({"timeout": float("inf")}, False)])
def test_timeouts_are_non_negative_finite_numbers(args: dict[str, object], ok: bool) -> None:
    verdict = evaluate(_policy(), ToolCall("executeCommand", {"connectionId": CONN, "command": "uptime", **args}),
                       connection=ConnectionFacts("none"))
    assert (verdict.decision == Decision.ALLOW) is ok, verdict.reasons


@pytest.mark.parametrize(("command", "force", "ok"), [
    ("echo 'tmux send-keys -t x y Enter'", None, False),
    ("grep 'tmux send-keys -t $(id) y C-m' /etc/hostname", None, False),
    ("echo 'tmux new-session -d -s x'", True, False),
    ("echo 'tmux send-keys -t x y Enter'; true", True, False),
    ("echo 'tmux send-keys -t x y Enter'", True, True),  # force skips the only follow-up
    ("echo 'tmux kill-session -t x'", None, True),  # only the reply's wording changes
    ("echo tmux", None, True),
])
def test_tmux_followups(command: str, force: object, ok: bool) -> None:
    args: dict[str, object] = {"connectionId": CONN, "command": command}
    if force is not None:
        args["force"] = force
    verdict = evaluate(_policy(), ToolCall("executeCommand", args), connection=ConnectionFacts("none"))
    assert (verdict.decision == Decision.ALLOW) is ok, verdict.reasons
    if not ok:
        assert "tools.executeCommand.tmux-followups" in verdict.rules


def test_a_key_connect_handed_back_with_a_live_password_is_found_by_the_probe() -> None:
    # Mcp Ssh returns a live connection to the same target as is: a key-only connect after a
    # gateway restart may land on one that was opened with a password.
    forward = RealFormats(live_password=True)
    fw = Firewall(_policy(), forward)
    assert not _run(fw, "connect", {"host": HOST, "port": PORT, "username": USER, "privateKey": "KEY"}).get("isError")
    assert forward.sent[-1] == ("getConnection", {"connectionId": CONN})
    assert fw.targets.bindings.of_connection(CONN).password == "unknown"
    assert _denied(_exec(fw, "sudo -n true"))
    clean = RealFormats(live_password=False)
    fw2 = Firewall(_policy(), clean)
    assert not _run(fw2, "connect", {"host": HOST, "port": PORT, "username": USER, "privateKey": "KEY"}).get("isError")
    # No live password: only a saved one the upstream may fall back to (see test_saved_passwords).
    assert fw2.targets.bindings.of_connection(CONN).password == "maybe-saved"
    assert not _denied(_exec(fw2, "sudo -n true"))
