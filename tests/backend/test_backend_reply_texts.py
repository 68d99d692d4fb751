"""The backend's reply texts, word for word against the real Mcp Ssh's (``shared/mcp-ssh/replies.jsonl``).

Each formatter is fed the facts of one recorded exchange (the connection, the transfer, the
tunnel) and must give back exactly the text the real server gave. Times are rebuilt in the
local time zone from the recorded ``toLocaleString()`` texts, so the test holds in any zone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sshwall.backend import replyfiles, replytext
from sshwall.backend.connections import ConnectionInfo
from sshwall.backend.transfers import Transfer

REPLIES = Path(__file__).resolve().parents[2].parent / "shared" / "mcp-ssh" / "replies.jsonl"
KEY_ID, PW_ID = "8b7654d11f5a785e54182ebc7853d88c", "32fffadbdad0229741d3d2f8cd350b25"


@pytest.fixture(scope="module")
def real() -> list[dict[str, Any]]:
    """Every recorded exchange."""
    if not REPLIES.exists():
        pytest.skip(f"{REPLIES} is not there")
    return [json.loads(line) for line in REPLIES.read_text().splitlines() if line.strip()]


def _text(real: list[dict[str, Any]], tool: str, nth: int = 0) -> str:
    return [r["text"] for r in real if r["tool"] == tool][nth]


def _at(hour: int, minute: int, second: int, fraction: float = 0.0) -> float:
    """12/1/2026 at this local time, as a timestamp."""
    return time.mktime((2026, 12, 1, hour, minute, second, 0, 0, -1)) + fraction


def _conns() -> tuple[ConnectionInfo, ConnectionInfo]:
    at = _at(11, 59, 39)
    key = ConnectionInfo(KEY_ID, "127.0.0.1", 42043, "root", "key-bb84e2", (), "key", "ssh-ed25519", "SHA256:k", at,
                         "/root")
    pw = ConnectionInfo(PW_ID, "127.0.0.1", 42043, "sshwalltest", "pw-bb84e2", (), "password", "ssh-ed25519",
                        "SHA256:k", at, "/home/sshwalltest")
    return key, pw


def test_the_ids_are_the_servers() -> None:
    key, pw = _conns()
    assert replytext.connection_id("root", "127.0.0.1", 42043) == key.connection_id
    assert replytext.connection_id("sshwalltest", "127.0.0.1", 42043) == pw.connection_id


def test_connection_replies(real: list[dict[str, Any]]) -> None:
    key, pw = _conns()
    now = time.time()
    key_block = replytext.connection_block(key, "connected", key.cwd, now, with_password=True)
    assert key_block == _text(real, "getConnection")
    blocks = [replytext.connection_block(c, "connected", c.cwd, now) for c in (key, pw)]
    assert replytext.connected(blocks[0]) == _text(real, "connect", 0)
    assert replytext.connected(blocks[1]) == _text(real, "connect", 1)
    assert replytext.listed(blocks) == _text(real, "listConnections")
    # Once disconnected: no 活跃度 line, the status and emoji change.
    gone = replytext.connection_block(key, "disconnected", key.cwd, None)
    assert gone.startswith("⚪ key-bb84e2\n") and "状态: 已断开\n" in gone and "活跃度" not in gone


def test_execute_command_replies(real: list[dict[str, Any]]) -> None:
    key, pw = _conns()
    assert replytext.command_output("sshwalltest\npw-ok\n", "", 0, pw) == _text(real, "executeCommand", 0)
    # The prompt shows the connection's folder, not the call's cwd.
    assert replytext.command_output("/tmp/mcpssh-remote-bb84e2\nexec-ok\n", "", 0, key) == _text(
        real, "executeCommand", 1)
    assert replytext.command_output("", "", 0, key) == "\n[root@127.0.0.1 /root]$ "
    assert replytext.command_output("a\n", "b\n", 2, key) == "a\n错误输出:\nb\n命令退出码: 2\n\n[root@127.0.0.1 /root]$ "
    assert replytext.command_output("", "oops", 1, key) == "错误输出:\noops\n命令退出码: 1\n\n[root@127.0.0.1 /root]$ "


def test_background_and_session_lists(real: list[dict[str, Any]]) -> None:
    key, _ = _conns()
    now = time.time()
    assert replytext.background_list([replytext.background_block(key, "connected", now)]) == _text(
        real, "listBackgroundTasks")
    assert replytext.background_list([]) == "当前没有运行中的后台任务"
    assert replytext.since(now - 125, now) == "2分钟前活跃" and replytext.since(now - 7300, now) == "2小时前活跃"
    assert replytext.active_sessions([]) == "当前没有活跃的会话"


def test_terminal_and_tunnel_replies(real: list[dict[str, Any]]) -> None:
    key, _ = _conns()
    created = real[[r["tool"] for r in real].index("mcp_ssh_mcp_createTerminalSession")]
    session = created["text"].rsplit(" ", 1)[1]
    assert replytext.terminal_created(session) == created["text"]
    assert replytext.terminal_written(session) == _text(real, "mcp_ssh_mcp_writeToTerminal")
    tunnel = _text(real, "createTunnel").rsplit(" ", 1)[1]
    assert replytext.tunnel_created(58135, "127.0.0.1", 35943, tunnel) == _text(real, "createTunnel")
    block = replytext.tunnel_block(tunnel, 58135, "127.0.0.1:35943", key, "t")
    assert replytext.tunnel_list([block]) == _text(real, "listTunnels")
    assert replytext.tunnel_list([]) == "当前没有活跃的隧道"
    assert replytext.terminal_unavailable(KEY_ID) == f"创建终端会话失败: 连接 {KEY_ID} 不可用或未连接"
    assert replytext.not_connected(key.display_name) == "错误: 连接 key-bb84e2 未连接"


def _transfers() -> list[Transfer]:
    local, remote = "/tmp/drive-direct-ryq83wqv/local", "/tmp/mcpssh-remote-bb84e2"
    rows = [
        ("3e9286d74842fdebd5af1bef533a26cf", "upload", "up1.txt", "up1.txt", (12, 0, 1, 0.5), (12, 0, 2, 0.398)),
        ("2d8cfc141c79c65a978f9b80b646cedf", "download", "r1.txt", "r1.txt", (12, 0, 4, 0.5), (12, 0, 5, 0.1)),
        ("3d58fad3a4ec4809d2f27fff34a96647", "upload", "up1.txt", "b1.txt", (12, 0, 5, 0.1), (12, 0, 6, 0.1)),
        ("25bea56428d063777ae3302680865f91", "upload", "up2.txt", "b2.txt", (12, 0, 6, 0.1), (12, 0, 8, 0.1)),
        ("d001b8c16d375776654f504b846453a8", "download", "r1.txt", "r1.txt", (12, 0, 11, 0.1), (12, 0, 11, 0.5)),
        ("3df044c93e26681ddf5562394a85442e", "download", "r2.txt", "r2.txt", (12, 0, 13, 0.1), (12, 0, 13, 0.5)),
    ]
    return [
        Transfer(tid, KEY_ID, direction, f"{local}/{lname}", f"{remote}/{rname}", "completed", 11, 11,
                 _at(*start), _at(*end))  # type: ignore[arg-type]
        for tid, direction, lname, rname, start, end in rows
    ]


def test_transfer_replies(real: list[dict[str, Any]]) -> None:
    records = _transfers()
    assert replyfiles.one(records[0]) == _text(real, "uploadFile")
    assert replyfiles.one(records[1]) == _text(real, "downloadFile")
    assert replyfiles.batch("upload", records[2:4]) == _text(real, "batchUploadFiles")
    assert replyfiles.batch("download", records[4:]) == _text(real, "batchDownloadFiles")
    assert replyfiles.listed(records) == _text(real, "listFileTransfers")
    assert replyfiles.listed([]) == "没有文件传输记录"
    # 11 B in 898 ms, as the server prints a speed below 1 KiB (every digit of the double).
    assert replyfiles.status(records[0]) == _text(real, "getFileTransferStatus")
    assert replyfiles.file_size(2048) == "2.00 KB" and replyfiles.file_size(5 * 1024**3) == "5.00 GB"
