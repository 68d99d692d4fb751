"""One ``tools/call`` of the backend: find the tool, validate, run, turn failures into results.

Whatever goes wrong comes back as an ``isError`` result with a readable message, never as an
exception out of here: the server keeps serving. Secrets given to ``connect`` are scrubbed
from every message, logged or returned.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from sshwall.backend import replytext
from sshwall.backend import tools_io as io
from sshwall.backend import tools_session as sess
from sshwall.backend.models import (
    TOOLS,
    Args,
    ConnectArgs,
    ToolResult,
    describe_invalid,
    failed,
)
from sshwall.backend.state import BackendState
from sshwall.errors import NotConnected, SshwallError

log = logging.getLogger(__name__)

Handler = Callable[[BackendState, Any], Awaitable[ToolResult]]

HANDLERS: Mapping[str, Handler] = MappingProxyType({
    "connect": sess.connect,
    "disconnect": sess.disconnect,
    "listConnections": sess.list_connections,
    "getConnection": sess.get_connection,
    "deleteConnection": sess.delete_connection,
    "executeCommand": sess.execute_command,
    "backgroundExecute": sess.background_execute,
    "stopBackground": sess.stop_background,
    "getCurrentDirectory": sess.current_directory,
    "uploadFile": io.upload_file,
    "downloadFile": io.download_file,
    "batchUploadFiles": io.batch_upload,
    "batchDownloadFiles": io.batch_download,
    "getFileTransferStatus": io.transfer_status,
    "listFileTransfers": io.list_transfers,
    "listActiveSessions": sess.list_active_sessions,
    "listBackgroundTasks": sess.list_background,
    "stopAllBackgroundTasks": sess.stop_all_background,
    "mcp_ssh_mcp_createTerminalSession": io.create_terminal,
    "mcp_ssh_mcp_writeToTerminal": io.write_terminal,
    "createTunnel": io.create_tunnel,
    "closeTunnel": io.close_tunnel,
    "listTunnels": io.list_tunnels,
})
assert HANDLERS.keys() == TOOLS.keys(), "every tool needs exactly one handler"


def _secrets(args: Args | None) -> tuple[str, ...]:
    if not isinstance(args, ConnectArgs):
        return ()
    return tuple(s for s in (args.password, args.private_key, args.passphrase) if s)


def redact(text: str, secrets: tuple[str, ...]) -> str:
    """``text`` with every secret (and every line of a multi-line key) replaced by ``***``."""
    for secret in secrets:
        text = text.replace(secret, "***")
        for line in secret.splitlines():
            if len(line.strip()) >= 8:
                text = text.replace(line.strip(), "***")
    return text


async def call_tool(state: BackendState, name: str, arguments: Mapping[str, object] | None) -> ToolResult:
    """Run one tool call; always returns a result."""
    spec = TOOLS.get(name)
    if spec is None:
        return failed(f"unknown tool {name!r}; this backend serves Mcp Ssh's tools: {', '.join(TOOLS)}")
    try:
        args = spec.args.model_validate(dict(arguments or {}))
    except ValidationError as exc:
        return failed(describe_invalid(name, exc))
    secrets = _secrets(args)
    try:
        result = await HANDLERS[name](state, args)
    except NotConnected as exc:  # the real server's words for every tool that needs a session
        return failed(replytext.not_connected(exc.name))
    except SshwallError as exc:
        message = redact(f"{name} failed: {exc}", secrets)
        log.info("%s", message)
        return failed(message)
    except Exception as exc:  # the server must outlive any bug in a handler
        message = redact(f"{name} failed: internal error ({type(exc).__name__}: {exc})", secrets)
        # No traceback for connect: an exception's text could carry a secret.
        log.error("%s", message, exc_info=not secrets)
        return failed(message)
    if secrets:
        result = ToolResult(redact(result.text, secrets), result.data, result.is_error)
    return result
