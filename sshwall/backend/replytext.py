"""Reply texts in the real Mcp Ssh's formats (``shared/mcp-ssh/replies.jsonl``).

The gateway reads ids only from these texts (never from ``structuredContent``, which the real
server does not send), so answering in the same words makes every test against the built-in
backend exercise the same parsing as production: the agent-chosen ``name`` first, the
server's ``ID:`` / ``主机:`` / ``用户名:`` lines, ``已创建终端会话 <id>``, ``隧道ID: <id>``.
"""

from __future__ import annotations

import hashlib
import time

from sshwall.backend.connections import ConnectionInfo, Status

_EMOJI = {"connected": "🟢", "disconnected": "⚪", "lost": "🔴"}
_STATUS = {"connected": "已连接", "disconnected": "已断开", "lost": "错误"}


def connection_id(username: str, host: str, port: int) -> str:
    """The id Mcp Ssh gives a target: md5 of ``user@host:port`` as written at connect."""
    return hashlib.md5(f"{username}@{host}:{port}".encode()).hexdigest()  # noqa: S324 - an id, not security


def display_name(info: ConnectionInfo) -> str:
    """The name shown first in a block: the agent's ``name``, else ``user@host``."""
    return info.display_name


def local_time(when: float) -> str:
    """A time as Node's ``Date.toLocaleString()`` writes it in en-US: ``12/1/2026, 11:59:39 AM``."""
    t = time.localtime(when)
    hour = t.tm_hour % 12 or 12
    return f"{t.tm_mon}/{t.tm_mday}/{t.tm_year}, {hour}:{t.tm_min:02d}:{t.tm_sec:02d} {'AM' if t.tm_hour < 12 else 'PM'}"


def since(when: float, now: float | None = None) -> str:
    """How long ago ``when`` was, in the server's words (``刚刚活跃``, ``3分钟前活跃``...)."""
    ms = ((time.time() if now is None else now) - when) * 1000
    if ms < 60_000:
        return "刚刚活跃"
    for unit_ms, unit in ((86_400_000, "天"), (3_600_000, "小时"), (60_000, "分钟")):
        if ms >= unit_ms:
            return f"{int(ms // unit_ms)}{unit}前活跃"
    return "刚刚活跃"  # unreachable


def connection_block(info: ConnectionInfo, status: Status, cwd: str | None, active: float | None = None,
                     with_password: bool = False) -> str:
    """One connection as the real server formats it (trailing newline included).

    ``active`` is when the connection was last used (the server's ``活跃度``), None once it is
    disconnected; ``最后使用`` is when it was connected, as the real server records it.
    """
    lines = [f"{_EMOJI[status]} {display_name(info)}", f"ID: {info.connection_id}",
             f"主机: {info.host}:{info.port}", f"用户名: {info.username}"]
    if with_password and "password" in info.auth:
        lines.append("密码: ********")  # the real server prints one * per character
    if "key" in info.auth:
        lines.append("私钥认证: 是")
    lines.append(f"状态: {_STATUS[status]}")
    lines.append(f"最后使用: {local_time(info.connected_at)}")
    if cwd:
        lines.append(f"当前目录: {cwd}")
    if info.tags:
        lines.append(f"标签: {', '.join(info.tags)}")
    if active is not None:
        lines.append(f"活跃度: {since(active)}")
    return "\n".join(lines) + "\n"


def prompt(info: ConnectionInfo) -> str:
    """The prompt ``executeCommand`` ends with: the connection's folder, not the call's ``cwd``."""
    return f"[{info.username}@{info.host} {info.cwd or '~'}]$ "


def command_output(stdout: str, stderr: str, exit_status: int | None, info: ConnectionInfo) -> str:
    """``executeCommand``'s reply: trimmed stdout, ``错误输出:``, ``命令退出码:``, then the prompt."""
    out, err = stdout.strip(), stderr.strip()  # node-ssh trims both
    text = out
    if err:
        text += ("\n" if text else "") + f"错误输出:\n{err}"
    if exit_status != 0:
        text += f"\n命令退出码: {'null' if exit_status is None else exit_status}"
    return text + ("\n" if text else "") + "\n" + prompt(info)


def not_connected(name: str) -> str:
    """The reply of a tool that needs a connection which is not connected (``name``: its
    ``ConnectionInfo.display_name``)."""
    return f"错误: 连接 {name} 未连接"


def terminal_unavailable(connection_id: str) -> str:
    """``mcp_ssh_mcp_createTerminalSession``'s reply on a connection that is not connected."""
    return f"创建终端会话失败: 连接 {connection_id} 不可用或未连接"


def active_sessions(blocks: list[str]) -> str:
    """``listActiveSessions``' reply (each block already ends with its ``上次活动:`` line)."""
    return "活跃会话:\n\n" + "".join(b + "\n---\n\n" for b in blocks) if blocks else "当前没有活跃的会话"


def background_block(info: ConnectionInfo, status: Status, last_run: float) -> str:
    """One task of ``listBackgroundTasks`` (the status as the server's raw enum value)."""
    raw = {"connected": "connected", "disconnected": "disconnected", "lost": "error"}[status]
    return (f"连接: {display_name(info)}\n主机: {info.host}\n用户: {info.username}\n状态: {raw}\n"
            f"最后执行: {since(last_run)}\n")


def background_list(blocks: list[str]) -> str:
    """``listBackgroundTasks``' reply."""
    return "运行中的后台任务:\n\n" + "".join(b + "\n---\n\n" for b in blocks) if blocks else "当前没有运行中的后台任务"


def tunnel_block(tunnel_id: str, local_port: int, remote: str, info: ConnectionInfo | None,
                 description: str | None) -> str:
    """One tunnel of ``listTunnels``."""
    text = f"ID: {tunnel_id}\n本地端口: {local_port}\n远程: {remote}\n"
    if info is not None:
        text += f"连接: {display_name(info)} ({info.host})\n"
    if description:
        text += f"描述: {description}\n"
    return text


def tunnel_list(blocks: list[str]) -> str:
    """``listTunnels``' reply."""
    return "活跃的隧道:\n\n" + "".join(b + "\n---\n\n" for b in blocks) if blocks else "当前没有活跃的隧道"


def terminal_written(session_id: str) -> str:
    """``mcp_ssh_mcp_writeToTerminal``'s reply (the output is not in the text: see the data)."""
    return f"数据已发送到终端 {session_id}"


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
