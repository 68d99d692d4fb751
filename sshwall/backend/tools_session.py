"""Tool handlers for connections, commands and background tasks.

Each handler takes the backend state and its validated arguments and returns a ``ToolResult``;
errors raised as ``SshwallError`` become ``isError`` results in ``sshwall.backend.dispatch``.
"""

from __future__ import annotations

import functools
import logging
import shlex
import time

from sshwall.backend.background import BackgroundStatus, BackgroundTask
from sshwall.backend.connections import ConnectionInfo
from sshwall.backend.models import (
    BackgroundArgs, ConnectArgs, ConnectionArgs, ExecuteArgs, NoArgs, ToolResult, failed, listing, ok,
)
from sshwall.backend.ssh import Credentials, ExecResult, open_session
from sshwall.backend.state import BackendState, in_thread

log = logging.getLogger(__name__)


def with_cwd(command: str, cwd: str | None) -> str:
    """The script that runs ``command`` in ``cwd`` (``~`` and ``~/...`` expand as in a shell)."""
    if not cwd:
        return command
    if cwd == "~" or cwd.startswith("~/"):
        target = "~/" + shlex.quote(cwd[2:]) if cwd[2:] else "~"
    else:
        target = shlex.quote(cwd)
    return f"cd -- {target} || exit 1\n{command}"


def exec_text(result: ExecResult) -> str:
    """A command's outcome as text: stdout, then stderr and a non-zero exit status if any."""
    parts = []
    if result.stdout:
        parts.append(result.stdout.rstrip("\n"))
    if result.stderr:
        parts.append("[stderr]\n" + result.stderr.rstrip("\n"))
    if result.exit_status != 0:
        parts.append(f"[exit status {result.exit_status}]")
    return "\n".join(parts) or "(no output; exit status 0)"


def exec_data(result: ExecResult) -> dict[str, object]:
    """A command's outcome as structured content."""
    return {"stdout": result.stdout, "stderr": result.stderr, "exitStatus": result.exit_status}


async def connect(state: BackendState, args: ConnectArgs) -> ToolResult:
    """``connect``: verify the host key, authenticate, register the connection."""
    if not args.password and not args.private_key:
        return failed("connect needs a password or a privateKey")
    if not 0 < args.port < 65536:
        return failed(f"port {args.port} is not a valid TCP port")
    creds = Credentials(args.username, args.password, args.private_key, args.passphrase)
    session = await in_thread(open_session, args.host, args.port, creds, state.config.host_keys)
    info = ConnectionInfo(
        state.connections.new_id(), args.host, args.port, args.username, args.name,
        tuple(args.tags or ()), creds.method, session.host_key_type, session.host_key_fingerprint,
        time.time(),
    )
    state.connections.add(info, session)
    log.info(
        "connected %s: %s@%s:%s auth=%s host key %s", info.connection_id, info.username,
        info.host, info.port, info.auth, info.host_key_fingerprint,
    )
    return ok(f"Connected.\nconnectionId: {info.connection_id}\n{info.describe('connected')}", info.as_data())


async def disconnect(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``disconnect``: stop what runs over the connection and close it (it stays listed)."""
    state.connections.info(args.connection_id)
    await in_thread(state.release, args.connection_id)
    await in_thread(state.connections.disconnect, args.connection_id)
    return ok(f"Disconnected {args.connection_id}.", {"connectionId": args.connection_id})


async def delete_connection(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``deleteConnection``: as ``disconnect``, then forget the id."""
    state.connections.info(args.connection_id)
    await in_thread(state.release, args.connection_id)
    await in_thread(state.connections.delete, args.connection_id)
    return ok(f"Deleted {args.connection_id}.", {"connectionId": args.connection_id})


async def list_connections(state: BackendState, args: NoArgs) -> ToolResult:
    """``listConnections``."""
    rows = state.connections.snapshot()
    data = {"connections": [info.as_data() | {"status": status} for info, status, _ in rows]}
    return listing("Connections", [info.describe(status) for info, status, _ in rows], data)


async def get_connection(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``getConnection``."""
    info, status = state.connections.info(args.connection_id)
    busy = state.background.active(args.connection_id)
    text = info.describe(status) + f"\nBackground task: {'running' if busy else 'none'}"
    return ok(text, info.as_data() | {"status": status, "backgroundTask": busy})


async def execute_command(state: BackendState, args: ExecuteArgs) -> ToolResult:
    """``executeCommand``: run once, wait for the exit status (or the timeout)."""
    session = state.connections.session(args.connection_id)
    timeout_ms = state.config.command_timeout_ms if args.timeout is None else args.timeout
    if timeout_ms <= 0:
        return failed("timeout must be a positive number of milliseconds")
    result = await in_thread(session.exec, with_cwd(args.command, args.cwd), timeout_ms / 1000)
    return ok(exec_text(result), exec_data(result))


async def current_directory(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``getCurrentDirectory``: where a new command starts."""
    session = state.connections.session(args.connection_id)
    result = await in_thread(session.exec, "pwd", state.config.command_timeout_ms / 1000)
    if result.exit_status != 0:
        return failed("pwd failed: " + exec_text(result))
    cwd = result.stdout.strip()
    return ok(cwd, {"cwd": cwd})


async def background_execute(state: BackendState, args: BackgroundArgs) -> ToolResult:
    """``backgroundExecute``: run now, then every ``interval`` ms until stopped."""
    if args.interval <= 0:
        return failed("interval must be a positive number of milliseconds")
    session = state.connections.session(args.connection_id)
    run = functools.partial(
        session.exec, with_cwd(args.command, args.cwd), state.config.command_timeout_ms / 1000
    )
    first = await in_thread(run)
    task = BackgroundTask(args.connection_id, args.command, args.cwd, args.interval, time.time())
    status = BackgroundStatus(task, runs=1, last_exit=first.exit_status, last_run_at=time.time())
    replaced = await in_thread(state.background.start, status, run)
    log.info("background task on %s every %s ms", args.connection_id, args.interval)
    text = (
        f"Background task started on {args.connection_id}: runs every {args.interval} ms until "
        f"stopBackground.{' It replaced the previous task.' if replaced else ''}\n"
        f"First run:\n{exec_text(first)}"
    )
    data = {"connectionId": args.connection_id, "interval": args.interval, "replaced": replaced}
    return ok(text, data | {"firstRun": exec_data(first)})


async def stop_background(state: BackendState, args: ConnectionArgs) -> ToolResult:
    """``stopBackground``."""
    state.connections.info(args.connection_id)
    status = await in_thread(state.background.stop, args.connection_id)
    if status is None:
        return ok(f"No background task on {args.connection_id}.", {"stopped": False})
    return ok(
        f"Stopped the background task on {args.connection_id} after {status.runs} run(s).",
        {"stopped": True, "runs": status.runs},
    )


async def list_background(state: BackendState, args: NoArgs) -> ToolResult:
    """``listBackgroundTasks``."""
    tasks = state.background.snapshot()
    data = {"tasks": [
        {"connectionId": s.task.connection_id, "command": s.task.command, "interval": s.task.interval_ms,
         "runs": s.runs, "lastExitStatus": s.last_exit, "lastError": s.last_error}
        for s in tasks
    ]}
    return listing("Background tasks", [s.describe() for s in tasks], data)


async def stop_all_background(state: BackendState, args: NoArgs) -> ToolResult:
    """``stopAllBackgroundTasks``."""
    count = await in_thread(state.background.stop_all)
    return ok(f"Stopped {count} background task(s).", {"stopped": count})


async def list_active_sessions(state: BackendState, args: NoArgs) -> ToolResult:
    """``listActiveSessions``: connected connections and open terminals."""
    live = [(info, used) for info, status, used in state.connections.snapshot() if status == "connected"]
    terminals = state.terminals.snapshot()
    lines = [
        f"{info.connection_id} {info.username}@{info.host}:{info.port} (idle {time.time() - used:.0f} s)"
        for info, used in live
    ] + [t.describe() for t in terminals]
    data = {
        "connections": [info.connection_id for info, _ in live],
        "terminals": [t.session_id for t in terminals],
    }
    return ok("Active sessions:\n" + "\n".join(lines) if lines else "No active sessions.", data)
