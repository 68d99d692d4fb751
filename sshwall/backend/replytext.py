"""Reply texts in the real Mcp Ssh's formats (``shared/mcp-ssh/replies.jsonl``).

The gateway reads ids only from these texts (never from ``structuredContent``, which the real
server does not send), so answering in the same words makes every test against the built-in
backend exercise the same parsing as production: the agent-chosen ``name`` first, the
server's ``ID:`` / ``主机:`` / ``用户名:`` lines, ``已创建终端会话 <id>``, ``隧道ID: <id>``.
"""

from __future__ import annotations

import hashlib

from sshwall.backend.connections import ConnectionInfo, Status

_EMOJI = {"connected": "🟢", "disconnected": "⚪", "lost": "🔴"}
_STATUS = {"connected": "已连接", "disconnected": "已断开", "lost": "错误"}


def connection_id(username: str, host: str, port: int) -> str:
    """The id Mcp Ssh gives a target: md5 of ``user@host:port`` as written at connect."""
    return hashlib.md5(f"{username}@{host}:{port}".encode()).hexdigest()  # noqa: S324 - an id, not security


def display_name(info: ConnectionInfo) -> str:
    """The name shown first in a block: the agent's ``name``, else ``user@host``."""
    return info.name or f"{info.username}@{info.host}"


def connection_block(info: ConnectionInfo, status: Status, cwd: str | None, with_password: bool = False) -> str:
    """One connection as the real server formats it (trailing newline included)."""
    lines = [f"{_EMOJI[status]} {display_name(info)}", f"ID: {info.connection_id}",
             f"主机: {info.host}:{info.port}", f"用户名: {info.username}"]
    if with_password and "password" in info.auth:
        lines.append("密码: ********")
    if "key" in info.auth:
        lines.append("私钥认证: 是")
    lines.append(f"状态: {_STATUS[status]}")
    if cwd:
        lines.append(f"当前目录: {cwd}")
    if info.tags:
        lines.append(f"标签: {', '.join(info.tags)}")
    # Not in the real server's replies: the built-in backend also shows the key it verified.
    lines.append(f"主机密钥: {info.host_key_type} {info.host_key_fingerprint}")
    return "\n".join(lines) + "\n"


def connected(block: str) -> str:
    """``connect``'s reply."""
    return f"连接成功!\n\n{block}"


def listed(blocks: list[str]) -> str:
    """``listConnections``' reply."""
    return "已保存的连接:\n\n" + "\n---\n".join(blocks) if blocks else "当前没有保存的连接"


def disconnected(info: ConnectionInfo) -> str:
    """``disconnect``'s reply."""
    return f"已成功断开连接 {display_name(info)}"


def deleted(info: ConnectionInfo) -> str:
    """``deleteConnection``'s reply."""
    return f'已成功删除连接 "{display_name(info)}"'


def terminal_created(session_id: str) -> str:
    """``mcp_ssh_mcp_createTerminalSession``'s reply."""
    return f"已创建终端会话 {session_id}"


def tunnel_created(local_port: int, remote_host: str, remote_port: int, tunnel_id: str) -> str:
    """``createTunnel``'s reply."""
    return f"隧道已创建\n本地端口: {local_port}\n远程: {remote_host}:{remote_port}\n隧道ID: {tunnel_id}"


def tunnel_closed(tunnel_id: str) -> str:
    """``closeTunnel``'s reply."""
    return f"隧道 {tunnel_id} 已关闭"


def background_started(command: str, interval_ms: int, info: ConnectionInfo) -> str:
    """``backgroundExecute``'s reply (the interval in seconds, as JavaScript prints ``ms / 1000``)."""
    return (f"已在后台启动命令: {command}\n间隔: {interval_ms / 1000:g}秒\n连接: {display_name(info)}\n\n"
            "使用 stopBackground 工具可停止此后台任务。")


def background_stopped(info: ConnectionInfo) -> str:
    """``stopBackground``'s reply when it stopped a task."""
    return f"已停止连接 {display_name(info)} 的后台任务"


def no_background(info: ConnectionInfo) -> str:
    """``stopBackground``'s reply when the connection has no task."""
    return f"连接 {display_name(info)} 没有正在运行的后台任务"


def all_background_stopped(count: int) -> str:
    """``stopAllBackgroundTasks``' reply."""
    return f"已停止所有 {count} 个后台任务" if count else "当前没有运行中的后台任务"
