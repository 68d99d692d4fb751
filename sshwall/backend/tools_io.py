"""Tool handlers for file transfers, tunnels and terminal sessions."""

from __future__ import annotations

import functools

from sshwall.backend import replyfiles, replytext
from sshwall.backend.emulate import terminal_autotype
from sshwall.backend.models import (
    BatchDownloadArgs,
    BatchUploadArgs,
    DownloadArgs,
    NoArgs,
    TerminalArgs,
    ToolResult,
    TransferArgs,
    TunnelArgs,
    TunnelIdArgs,
    UploadArgs,
    WriteArgs,
    failed,
    ok,
)
from sshwall.backend.state import BackendState, in_thread
from sshwall.backend.terminals import AutoType
from sshwall.backend.transfers import (
    Transfer,
    default_download_path,
    download,
    missing_local_files,
    upload,
)
from sshwall.errors import NotConnected, UsageError

DEFAULT_TERM = "xterm"
DEFAULT_COLS = 80
DEFAULT_ROWS = 24


def _whole(value: float) -> int | None:
    """A JSON number that is a whole number, as an int; None for a fraction."""
    return int(value) if float(value).is_integer() else None


def _one(record: Transfer) -> ToolResult:
    data = record.as_data()
    return (failed if record.status == "failed" else ok)(replyfiles.one(record), data)


def _batch(direction: str, records: list[Transfer]) -> ToolResult:
    """As the real server: a batch whose files failed one by one is still a success, with counts."""
    data = {"transferIds": [r.transfer_id for r in records], "transfers": [r.as_data() for r in records]}
    return ok(replyfiles.batch(direction, records), data)


def _missing(paths: list[str]) -> ToolResult | None:
    missing = missing_local_files(paths)
    if not missing:
        return None
    if len(paths) == 1:
        return failed(f'错误: 本地文件 "{missing[0]}" 不存在')
    return failed("错误: 以下本地文件不存在:\n" + "\n".join(missing))


async def upload_file(state: BackendState, args: UploadArgs) -> ToolResult:
    """``uploadFile``."""
    session = state.connections.session(args.connection_id)
    if (problem := _missing([args.local_path])) is not None:
        return problem
    return _one(await in_thread(
        upload, state.transfers, session, args.connection_id, args.local_path, args.remote_path
    ))


async def download_file(state: BackendState, args: DownloadArgs) -> ToolResult:
    """``downloadFile`` (to the download folder when ``localPath`` is absent)."""
    session = state.connections.session(args.connection_id)
    local = args.local_path or default_download_path(state.config.download_dir, args.remote_path)
    return _one(await in_thread(
        download, state.transfers, session, args.connection_id, args.remote_path, local
    ))


async def batch_upload(state: BackendState, args: BatchUploadArgs) -> ToolResult:
    """``batchUploadFiles``: checks every local file first, then uploads one by one."""
    session = state.connections.session(args.connection_id)
    if not args.files:
        return failed("files is empty")
    if (problem := _missing([item.local_path for item in args.files])) is not None:
        return problem
    records = [
        await in_thread(upload, state.transfers, session, args.connection_id, i.local_path, i.remote_path)
        for i in args.files
    ]
    return _batch("upload", records)


async def batch_download(state: BackendState, args: BatchDownloadArgs) -> ToolResult:
    """``batchDownloadFiles``."""
    session = state.connections.session(args.connection_id)
    if not args.files:
        return failed("files is empty")
    records = []
    for item in args.files:
        local = item.local_path or default_download_path(state.config.download_dir, item.remote_path)
        records.append(await in_thread(
            download, state.transfers, session, args.connection_id, item.remote_path, local
        ))
    return _batch("download", records)


async def transfer_status(state: BackendState, args: TransferArgs) -> ToolResult:
    """``getFileTransferStatus``."""
    try:
        record = state.transfers.get(args.transfer_id)
    except UsageError:
        return failed(f"错误: 传输 {args.transfer_id} 不存在")
    return ok(replyfiles.status(record), record.as_data())


async def list_transfers(state: BackendState, args: NoArgs) -> ToolResult:
    """``listFileTransfers``."""
    records = state.transfers.snapshot()
    data = {"transfers": [r.as_data() for r in records]}
    return ok(replyfiles.listed(records), data)


async def create_tunnel(state: BackendState, args: TunnelArgs) -> ToolResult:
    """``createTunnel``: listens on 127.0.0.1 only."""
    session = state.connections.session(args.connection_id)
    local, remote = _whole(args.local_port), _whole(args.remote_port)
    if local is None or remote is None or not (0 <= local < 65536 and 0 < remote < 65536):
        return failed("localPort and remotePort must be whole TCP port numbers")
    opener = functools.partial(session.open_forward, args.remote_host, remote)
    info = state.tunnels.create(args.connection_id, local, args.remote_host, remote, args.description, opener)
    return ok(replytext.tunnel_created(info.local_port, args.remote_host, remote, info.tunnel_id), info.as_data())


async def close_tunnel(state: BackendState, args: TunnelIdArgs) -> ToolResult:
    """``closeTunnel``."""
    info = await in_thread(state.tunnels.close, args.tunnel_id)
    return ok(replytext.tunnel_closed(info.tunnel_id), info.as_data())


async def list_tunnels(state: BackendState, args: NoArgs) -> ToolResult:
    """``listTunnels``."""
    tunnels = state.tunnels.snapshot()
    data = {"tunnels": [t.as_data() for t in tunnels]}
    blocks = []
    for t in tunnels:
        known = state.connections.find(t.connection_id)
        blocks.append(replytext.tunnel_block(t.tunnel_id, t.local_port, f"{t.remote_host}:{t.remote_port}",
                                             known[0] if known else None, t.description))
    return ok(replytext.tunnel_list(blocks), data)


async def create_terminal(state: BackendState, args: TerminalArgs) -> ToolResult:
    """``mcp_ssh_mcp_createTerminalSession``: returns the session id and the first output."""
    try:
        session = state.connections.session(args.connection_id)
    except NotConnected:
        return failed(replytext.terminal_unavailable(args.connection_id))
    cols, rows = _whole(args.cols or DEFAULT_COLS), _whole(args.rows or DEFAULT_ROWS)
    if cols is None or rows is None or not (0 < cols <= 1000 and 0 < rows <= 1000):
        return failed("rows and cols must be whole numbers between 1 and 1000")
    term = args.term or DEFAULT_TERM
    stream = await in_thread(session.open_shell, term, cols, rows)
    autotype = None
    if state.config.emulate_rewrites:
        rw = terminal_autotype()
        autotype = AutoType(rw.triggers, rw.typed, rw.replaces_next_write,
                            functools.partial(state.connections.password, args.connection_id))
    info = state.terminals.open(args.connection_id, term, cols, rows, stream, autotype)
    first = await in_thread(state.terminals.read, info.session_id)
    # The real server answers with this one line only; the first output is in the data.
    return ok(replytext.terminal_created(info.session_id),
              {"sessionId": info.session_id, "output": first.text, "closed": first.closed})


async def write_terminal(state: BackendState, args: WriteArgs) -> ToolResult:
    """``mcp_ssh_mcp_writeToTerminal``: the real server's one line; the output is in the data.

    The real server has no tool that reads a terminal; the backend's tests read what a write
    (an empty ``data`` just reads pending output) brought back from ``structuredContent``.
    """
    out = await in_thread(state.terminals.write, args.session_id, args.data)
    return ok(replytext.terminal_written(args.session_id),
              {"sessionId": args.session_id, "output": out.text, "closed": out.closed})

