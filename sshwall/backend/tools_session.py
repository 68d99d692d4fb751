"""Tool handlers for connections, commands and background tasks.

Each handler takes the backend state and its validated arguments and returns a ``ToolResult``;
errors raised as ``SshwallError`` become ``isError`` results in ``sshwall.backend.dispatch``.
"""

from __future__ import annotations

import functools
import logging
import shlex
import time

from anyio import to_thread

from sshwall.backend import replytext
from sshwall.backend.background import BackgroundStatus, BackgroundTask
from sshwall.backend.connections import ConnectionInfo
from sshwall.backend.emulate import merged_credentials, sudo_rewrite, tmux_precheck
from sshwall.backend.models import (
    BackgroundArgs,
    ConnectArgs,
    ConnectionArgs,
    ExecuteArgs,
    NoArgs,
    ToolResult,
    failed,
    ok,
)
from sshwall.backend.ssh import Credentials, open_session
from sshwall.backend.state import BackendState, cancellable, in_thread
from sshwall.targets.sshtools import ExecResult

log = logging.getLogger(__name__)
MAX_TIMER_MS = 2**31 - 1  # Node (the real server) clamps longer timers to 1 ms; refuse them


def with_cwd(command: str, cwd: str | None) -> str:
    """The script that runs ``command`` in ``cwd`` (``~`` and ``~/...`` expand as in a shell)."""
    if not cwd:
        return command
    if cwd == "~" or cwd.startswith("~/"):
        target = "~/" + shlex.quote(cwd[2:]) if cwd[2:] else "~"
    else:
        target = shlex.quote(cwd)
    return f"cd -- {target} || exit 1\n{command}"


def exec_data(result: ExecResult) -> dict[str, object]:
    """A command's outcome as structured content."""
    return {"stdout": result.stdout, "stderr": result.stderr, "exitStatus": result.exit_status}


def _port(value: float) -> int | None:
    """A JSON number that is a TCP port, else None."""
    return int(value) if float(value).is_integer() and 0 < value < 65536 else None


async def connect(state: BackendState, args: ConnectArgs) -> ToolResult:
    """``connect``: verify the host key, authenticate, register the connection.

    The id is Mcp Ssh's (md5 of ``user@host:port``); a connect to a target that is connected
    already returns that connection, as the real server does.
    """
    if not args.password and not args.private_key:
        return failed("connect needs a password or a privateKey")
    port = _port(args.port)
    if port is None:
        return failed(f"port {args.port} is not a valid TCP port")
    conn_id = replytext.connection_id(args.username, args.host, port)
    live = state.connections.live(conn_id)
    if live is not None:
        block = replytext.connection_block(live, "connected", live.cwd, state.connections.last_used(conn_id))
        return ok(replytext.connected(block), live.as_data())
    creds = Credentials(args.username, args.password, args.private_key, args.passphrase)
    if state.config.emulate_rewrites:
        creds = merged_credentials(state.connections.credentials(conn_id), creds)
    session = await in_thread(open_session, args.host, port, creds, state.config.host_keys)
    pwd = await in_thread(session.exec, "pwd", state.config.command_timeout_ms / 1000)
    info = ConnectionInfo(
        conn_id, args.host, port, args.username, args.name,
        tuple(args.tags or ()), creds.method, session.host_key_type, session.host_key_fingerprint,
        time.time(), pwd.stdout.strip() or None,
    )
    state.connections.add(info, session, creds if state.config.emulate_rewrites else None, args.remember_password)
    log.info(
        "connected %s: %s@%s:%s auth=%s host key %s", info.connection_id, info.username,
        info.host, info.port, info.auth, info.host_key_fingerprint,
    )
    block = replytext.connection_block(info, "connected", info.cwd, state.connections.last_used(conn_id))
    return ok(replytext.connected(block), info.as_data())


async def disconnect(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``disconnect``: stop what runs over the connection and close it (it stays listed)."""
    info, _ = state.connections.info(args.connection_id)
    await in_thread(state.release, args.connection_id)
    await in_thread(state.connections.disconnect, args.connection_id)
    return ok(replytext.disconnected(info), {"connectionId": args.connection_id})


async def delete_connection(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``deleteConnection``: as ``disconnect``, then forget the id."""
    info, _ = state.connections.info(args.connection_id)
    await in_thread(state.release, args.connection_id)
    await in_thread(state.connections.delete, args.connection_id)
    return ok(replytext.deleted(info), {"connectionId": args.connection_id})


async def list_connections(state: BackendState, args: NoArgs) -> ToolResult:
    """``listConnections``."""
    rows = state.connections.snapshot()
    data = {"connections": [info.as_data() | {"status": status} for info, status, _ in rows]}
    blocks = [replytext.connection_block(info, status, info.cwd, None if status == "disconnected" else used)
              for info, status, used in rows]
    return ok(replytext.listed(blocks), data)


async def get_connection(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``getConnection``."""
    info, status = state.connections.info(args.connection_id)
    busy = state.background.active(args.connection_id)
    used = state.connections.last_used(args.connection_id)
    text = replytext.connection_block(info, status, info.cwd, used, with_password=True)
    if busy:
        text += "后台任务: 活跃中\n"
    return ok(text, info.as_data() | {"status": status, "backgroundTask": busy})


def _as_run(state: BackendState, connection_id: str, command: str) -> str:
    """What runs for ``command``: itself, or Mcp Ssh's rewrite when emulating it."""
    if not state.config.emulate_rewrites:
        return command
    return sudo_rewrite(command, state.connections.password(connection_id))


async def execute_command(state: BackendState, args: ExecuteArgs) -> ToolResult:
    """``executeCommand``: run once, wait for the exit status (or the timeout)."""
    session = state.connections.session(args.connection_id)
    timeout_ms = state.config.command_timeout_ms if args.timeout is None else args.timeout
    if not 0 < timeout_ms <= MAX_TIMER_MS:
        return failed(f"timeout must be between 1 and {MAX_TIMER_MS} milliseconds")
    if state.config.emulate_rewrites and (follow := tmux_precheck(args.command, args.force)) is not None:
        await in_thread(session.exec, with_cwd(_as_run(state, args.connection_id, follow), args.cwd), 5.0)
    command = _as_run(state, args.connection_id, args.command)
    result = await cancellable(session.exec, with_cwd(command, args.cwd), timeout_ms / 1000)
    info, _ = state.connections.info(args.connection_id)
    text = replytext.command_output(result.stdout, result.stderr, result.exit_status, info)
    return ok(text, exec_data(result))


async def current_directory(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``getCurrentDirectory``: where a new command starts."""
    session = state.connections.session(args.connection_id)
    result = await in_thread(session.exec, "pwd", state.config.command_timeout_ms / 1000)
    if result.exit_status != 0:
        return failed(f"pwd failed (exit status {result.exit_status}): {result.stderr.strip()}")
    cwd = result.stdout.strip()
    return ok(cwd, {"cwd": cwd})


async def background_execute(state: BackendState, args: BackgroundArgs) -> ToolResult:
    """``backgroundExecute``: run now, then every ``interval`` ms until stopped."""
    if not 1 <= args.interval <= MAX_TIMER_MS:
        return failed(f"interval must be between 1 and {MAX_TIMER_MS} milliseconds")
    interval = int(args.interval)
    session = state.connections.session(args.connection_id)
    command = _as_run(state, args.connection_id, args.command)
    run = functools.partial(session.exec, with_cwd(command, args.cwd), state.config.command_timeout_ms / 1000)

    def first_then_schedule() -> tuple[ExecResult, bool]:
        first = run()
        task = BackgroundTask(args.connection_id, args.command, args.cwd, interval, time.time())
        status = BackgroundStatus(task, runs=1, last_exit=first.exit_status, last_run_at=time.time())
        return first, state.background.start(status, run)

    # As Mcp Ssh does: the first run is awaited, and the timer starts after it even when the
    # client stopped waiting (a cancellation abandons the wait, never the run or the timer).
    first, replaced = await to_thread.run_sync(first_then_schedule, abandon_on_cancel=True)
    log.info("background task on %s every %s ms", args.connection_id, interval)
    text = replytext.background_started(args.command, interval, state.connections.info(args.connection_id)[0])
    data = {"connectionId": args.connection_id, "interval": interval, "replaced": replaced}
    return ok(text, data | {"firstRun": exec_data(first)})


async def stop_background(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``stopBackground``."""
    info, _ = state.connections.info(args.connection_id)
    status = await in_thread(state.background.stop, args.connection_id)
    if status is None:
        return ok(replytext.no_background(info), {"stopped": False})
    return ok(replytext.background_stopped(info), {"stopped": True, "runs": status.runs})


async def list_background(state: BackendState, args: NoArgs) -> ToolResult:
    """``listBackgroundTasks``: the real server's blocks; the data adds commands and runs."""
    tasks = state.background.snapshot()
    data = {"tasks": [
        {"connectionId": s.task.connection_id, "command": s.task.command, "interval": s.task.interval_ms,
         "runs": s.runs, "lastExitStatus": s.last_exit, "lastError": s.last_error}
        for s in tasks
    ]}
    blocks = [
        replytext.background_block(*known, s.last_run_at or s.task.started_at)
        for s in tasks if (known := state.connections.find(s.task.connection_id)) is not None
    ]
    return ok(replytext.background_list(blocks), data)


async def stop_all_background(state: BackendState, args: NoArgs) -> ToolResult:
    """``stopAllBackgroundTasks``."""
    count = await in_thread(state.background.stop_all)
    return ok(replytext.all_background_stopped(count), {"stopped": count})


async def list_active_sessions(state: BackendState, args: NoArgs) -> ToolResult:
    """``listActiveSessions``: the connections in use, as the real server lists them.

    The text does not name terminals (the real server's does not); the data lists them.
    """
    busy = {s.task.connection_id: s for s in state.background.snapshot()}
    live = [(info, status, used) for info, status, used in state.connections.snapshot() if status != "disconnected"]
    blocks = []
    for info, status, used in live:
        block = replytext.connection_block(info, status, info.cwd, used)
        if info.connection_id in busy:
            block += "后台任务: 活跃中\n"
        block += f"上次活动: {replytext.since(used)}\n"
        if (task := busy.get(info.connection_id)) is not None:
            block += f"后台任务: 活跃中，最后执行: {replytext.since(task.last_run_at or task.task.started_at)}\n"
        blocks.append(block)
    data = {
        "connections": [info.connection_id for info, _, _ in live],
        "terminals": [t.session_id for t in state.terminals.snapshot()],
    }
    return ok(replytext.active_sessions(blocks), data)
