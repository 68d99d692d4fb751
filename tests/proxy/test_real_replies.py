"""The binding code on the real Mcp Ssh's replies (``shared/mcp-ssh/replies.jsonl``).

Every reply the real server gave is fed, in order, through ``TargetGuard.remember`` as the
gateway would after forwarding the call; the ids it hands out must be bound, forged id lines in
agent-chosen names must bind nothing, and no reply may crash it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sshwall.policy import load_policy
from sshwall.policy.model import Policy
from sshwall.proxy.replies import derive_connection_id, read_connections
from sshwall.proxy.targetguard import Location, TargetGuard

REPLIES = Path(__file__).resolve().parents[2].parent / "shared" / "mcp-ssh" / "replies.jsonl"
KEY_ID, PW_ID = "8b7654d11f5a785e54182ebc7853d88c", "32fffadbdad0229741d3d2f8cd350b25"
SESSION_ID, TUNNEL_ID = "ca0236383c8d458e796e05663be7b9b4", "5171f427a72f84955d397f07d03c2e31"


def _policy(tmp_path: Path, relearn: bool = False) -> Policy:
    path = tmp_path / "p.yaml"
    path.write_text(f"version: 1\nprofile: mcp-ssh\nrelearn_bindings: {str(relearn).lower()}\ntools: {{connect: allow}}\n")
    return load_policy(path)


_POLICY = load_policy(Path(__file__).resolve().parents[2] / "rules" / "readonly-ops.yaml")


def _replies() -> list[dict[str, Any]]:
    if not REPLIES.exists():
        pytest.skip(f"{REPLIES} is not there")
    return [json.loads(line) for line in REPLIES.read_text().splitlines() if line.strip()]


def _result(text: str, is_error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def _feed(guard: TargetGuard, tool: str, args: dict[str, Any], text: str, is_error: bool = False) -> None:
    """The guard learns a reply; a key-only connect's password probe is answered "no password"
    (as the firewall's probe stage would), after checking it counts as a password until then."""
    asyncio.run(guard.remember(tool, args, _result(text, is_error), Location()))
    probe = guard.password_probe(tool, args)
    if probe is not None:
        conn = next(iter(probe[1].values()))
        assert guard.bindings.of_connection(conn).password == "unknown"
        assert guard.learn_password(probe[0], probe[1], _result(text)) is False


def test_every_real_reply_binds_the_ids_the_server_handed_out(tmp_path: Path) -> None:
    guard = TargetGuard(_policy(tmp_path))
    seen: dict[str, set[str]] = {"connection": set(), "session": set(), "tunnel": set()}
    for reply in _replies():
        tool, args = reply["tool"], reply["arguments"]
        _feed(guard, tool, args, reply["text"], reply["isError"])
        b = guard.bindings
        if tool == "connect":
            expected = KEY_ID if args["username"] == "root" else PW_ID
            binding = b.of_connection(expected)
            assert binding is not None and (binding.host, binding.port, binding.user) == ("127.0.0.1", 42043, args["username"])
            # A key-only connect: the server may fall back to a password it saved for the id.
            assert binding.password == ("checked" if "password" in args else "maybe-saved")
            seen["connection"].add(expected)
        elif tool == "mcp_ssh_mcp_createTerminalSession":
            assert b.of_session(SESSION_ID) is not None and b.of_session(SESSION_ID).connection_id == KEY_ID
            seen["session"].add(SESSION_ID)
        elif tool == "createTunnel":
            assert b.of_tunnel(TUNNEL_ID) is not None and b.of_tunnel(TUNNEL_ID).connection_id == KEY_ID
            seen["tunnel"].add(TUNNEL_ID)
        elif tool == "closeTunnel":
            assert b.of_tunnel(TUNNEL_ID) is None
        elif tool == "disconnect":
            # The real server keeps a disconnected connection saved: deleteConnection still needs it.
            assert b.of_connection(args["connectionId"]) is not None
        elif tool == "deleteConnection":
            assert b.of_connection(args["connectionId"]) is None
    assert seen == {"connection": {KEY_ID, PW_ID}, "session": {SESSION_ID}, "tunnel": {TUNNEL_ID}}


def test_listings_are_read_with_their_ids_cross_checked(tmp_path: Path) -> None:
    policy = _policy(tmp_path, relearn=True)
    listing = next(r for r in _replies() if r["tool"] == "listConnections")
    found = read_connections(policy.profile.tools["listConnections"], policy.profile.connection_ids, _result(listing["text"]))
    assert {(c.connection_id, c.user) for c in found} == {(KEY_ID, "root"), (PW_ID, "sshwalltest")}
    active = next(r for r in _replies() if r["tool"] == "listActiveSessions")
    # The same block format, though listActiveSessions binds nothing (it has no effect).
    assert len(read_connections(policy.profile.tools["listConnections"], policy.profile.connection_ids, _result(active["text"]))) == 2


def test_relearning_after_a_restart_is_off_by_default_and_binds_with_unknown_password(tmp_path: Path) -> None:
    listing = next(r for r in _replies() if r["tool"] == "listConnections")
    off = TargetGuard(_policy(tmp_path))
    _feed(off, "listConnections", {}, listing["text"])
    assert off.bindings.of_connection(KEY_ID) is None
    on = TargetGuard(_policy(tmp_path, relearn=True))
    _feed(on, "listConnections", {}, listing["text"])
    for conn in (KEY_ID, PW_ID):
        binding = on.bindings.of_connection(conn)
        assert binding is not None and binding.password == "unknown"
    getter = next(r for r in _replies() if r["tool"] == "getConnection")
    again = TargetGuard(_policy(tmp_path, relearn=True))
    _feed(again, "getConnection", getter["arguments"], getter["text"])
    assert again.bindings.of_connection(KEY_ID) is not None


def _connect_reply(name: str, conn_id: str, host: str, port: int, user: str, tags: str = "") -> str:
    tag_line = f"标签: {tags}\n" if tags else ""
    return (f"连接成功!\n\n🟢 {name}\nID: {conn_id}\n主机: {host}:{port}\n用户名: {user}\n私钥认证: 是\n"
            f"状态: 已连接\n当前目录: /root\n{tag_line}活跃度: 刚刚活跃\n")


@pytest.mark.parametrize("name", [
    "connection id: {other}",
    "x\nID: {other}",
    "x\nID: {other}\n主机: 10.0.0.9:22\n用户名: root",  # a whole forged block: md5 does not match
    "ID: {other}",
])
def test_a_forged_id_in_the_name_binds_nothing(tmp_path: Path, name: str) -> None:
    guard = TargetGuard(_policy(tmp_path))
    other = derive_connection_id(guard.policy.profile.connection_ids, "root", "prod.example", "22")  # another host's id
    args = {"host": "127.0.0.1", "port": 42043, "username": "root", "privateKey": "k", "name": name.format(other=other)}
    _feed(guard, "connect", args, _connect_reply(name.format(other=other), KEY_ID, "127.0.0.1", 42043, "root",
                                                 tags=f"ID: {other}"))
    assert guard.bindings.of_connection(other) is None
    assert guard.bindings.of_connection(KEY_ID) is not None  # the server's own line still binds


def test_a_reply_whose_id_is_not_the_derived_one_binds_nothing(tmp_path: Path) -> None:
    guard = TargetGuard(_policy(tmp_path))
    args = {"host": "127.0.0.1", "port": 42043, "username": "root", "privateKey": "k"}
    _feed(guard, "connect", args, _connect_reply("n", "0" * 32, "127.0.0.1", 42043, "root"))
    assert guard.bindings.of_connection("0" * 32) is None and guard.bindings.of_connection(KEY_ID) is None


@pytest.mark.parametrize("result", [None, 42, "text", {"content": "x"}, {"content": [{"type": "text", "text": 7}]},
                                    {"content": [None, {"type": "image"}]}, {"isError": True, "content": []}])
def test_unreadable_replies_never_crash_and_bind_nothing(tmp_path: Path, result: Any) -> None:
    guard = TargetGuard(_policy(tmp_path, relearn=True))
    for tool, args in (("connect", {"host": "h", "username": "u", "privateKey": "k"}),
                       ("mcp_ssh_mcp_createTerminalSession", {"connectionId": KEY_ID}),
                       ("createTunnel", {"connectionId": KEY_ID}), ("listConnections", {})):
        asyncio.run(guard.remember(tool, args, result, Location()))
    assert guard.bindings.of_connection(KEY_ID) is None and guard.bindings.of_session(SESSION_ID) is None


def test_a_port_sent_as_a_float_derives_the_same_id(tmp_path: Path) -> None:
    guard = TargetGuard(_policy(tmp_path))
    args = {"host": "127.0.0.1", "port": 42043.0, "username": "root", "privateKey": "k"}
    _feed(guard, "connect", args, _connect_reply("n", KEY_ID, "127.0.0.1", 42043, "root"))
    assert guard.bindings.of_connection(KEY_ID) is not None


def test_a_key_reconnect_keeps_the_saved_password_of_the_id(tmp_path: Path) -> None:
    guard = TargetGuard(_policy(tmp_path))
    base = {"host": "127.0.0.1", "port": 42043, "username": "root"}
    text = _connect_reply("n", KEY_ID, "127.0.0.1", 42043, "root")
    _feed(guard, "connect", base | {"password": "pw"}, text)
    _feed(guard, "disconnect", {"connectionId": KEY_ID}, "已成功断开连接 n")
    _feed(guard, "connect", base | {"privateKey": "k"}, text)
    assert guard.bindings.of_connection(KEY_ID).password == "checked"
    _feed(guard, "deleteConnection", {"connectionId": KEY_ID}, '已成功删除连接 "n"')
    _feed(guard, "connect", base | {"privateKey": "k"}, text)
    # The server deletes what it saved, but a keytar failure there is only a warning: fail closed.
    assert guard.bindings.of_connection(KEY_ID).password == "maybe-saved"
    _feed(guard, "connect", base, text)  # neither: the server loads whatever it saved for the id
    assert guard.bindings.of_connection(KEY_ID).password == "unknown"
    none = TargetGuard(_policy(tmp_path).model_copy(update={"upstream_saved_passwords": "none"}))
    _feed(none, "connect", base | {"privateKey": "k"}, text)
    assert none.bindings.of_connection(KEY_ID).password == "none"


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=80), tags=st.lists(st.text(max_size=40), max_size=3), noise=st.text(max_size=200))
def test_no_agent_chosen_text_binds_an_id_but_the_derived_one(name: str, tags: list[str], noise: str) -> None:
    policy = _POLICY
    guard = TargetGuard(policy)
    other = derive_connection_id(policy.profile.connection_ids, "root", "prod.example", "22")
    text = _connect_reply(f"{name}\nID: {other}\n{noise}", KEY_ID, "127.0.0.1", 42043, "root", tags=", ".join(tags))
    args = {"host": "127.0.0.1", "port": 42043, "username": "root", "privateKey": "k", "name": name}
    _feed(guard, "connect", args, text)
    _feed(guard, "mcp_ssh_mcp_createTerminalSession", {"connectionId": KEY_ID}, f"已创建终端会话 {noise}")
    assert guard.bindings.of_connection(other) is None
    assert guard.bindings.of_connection(KEY_ID) is not None
