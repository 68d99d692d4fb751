"""Mcp Ssh's 23 tools as data: argument models, JSON schemas, and the result value.

Names, argument names, JSON types and optionality are exactly Mcp Ssh's (see
``shared/mcp-ssh-tools.md``), so a tool profile written for Mcp Ssh fits the built-in backend
unchanged. Arguments are validated strictly (no ``"22"`` for ``22``); unknown extra arguments
are ignored, as Mcp Ssh's zod schemas do. Numbers are JSON numbers, as in the real schema
(``60000.0`` is an interval); handlers take the whole value and refuse fractions where they
matter (ports, terminal sizes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

JsonObject = Mapping[str, object]


class Args(BaseModel):
    """Base of every tool's arguments: camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(
        frozen=True, strict=True, extra="ignore", alias_generator=to_camel,
        validate_by_name=True, validate_by_alias=True,
    )


class NoArgs(Args):
    """Tools without arguments."""


class ConnectionArgs(Args):
    """Tools that take only a connection id."""

    connection_id: str


class ConnectArgs(Args):
    """``connect``: secrets are excluded from ``repr`` and never logged."""

    host: str
    port: float = 22
    username: str
    password: str | None = Field(default=None, repr=False)
    private_key: str | None = Field(default=None, repr=False)
    passphrase: str | None = Field(default=None, repr=False)
    name: str | None = None
    remember_password: bool = True
    tags: list[str] | None = None


class ExecuteArgs(ConnectionArgs):
    """``executeCommand``: ``timeout`` in milliseconds; ``force`` accepted and ignored."""

    command: str
    cwd: str | None = None
    timeout: float | None = None
    force: bool | None = None


class BackgroundArgs(ConnectionArgs):
    """``backgroundExecute``: ``interval`` in milliseconds."""

    command: str
    interval: float = 10000
    cwd: str | None = None


class UploadArgs(ConnectionArgs):
    """``uploadFile``: a file of the backend's machine to the SSH host."""

    local_path: str
    remote_path: str


class DownloadArgs(ConnectionArgs):
    """``downloadFile``: a file of the SSH host to the backend's machine."""

    remote_path: str
    local_path: str | None = None


class UploadItem(Args):
    """One item of ``batchUploadFiles``."""

    local_path: str
    remote_path: str


class DownloadItem(Args):
    """One item of ``batchDownloadFiles``."""

    remote_path: str
    local_path: str | None = None


class BatchUploadArgs(ConnectionArgs):
    """``batchUploadFiles``."""

    files: list[UploadItem]


class BatchDownloadArgs(ConnectionArgs):
    """``batchDownloadFiles``."""

    files: list[DownloadItem]


class TransferArgs(Args):
    """``getFileTransferStatus``."""

    transfer_id: str


class TerminalArgs(ConnectionArgs):
    """``mcp_ssh_mcp_createTerminalSession``."""

    rows: float | None = None
    cols: float | None = None
    term: str | None = None


class WriteArgs(Args):
    """``mcp_ssh_mcp_writeToTerminal``: ``data`` is sent verbatim (control characters included)."""

    session_id: str
    data: str


class TunnelArgs(ConnectionArgs):
    """``createTunnel``: a local forward bound to 127.0.0.1."""

    local_port: float
    remote_host: str
    remote_port: float
    description: str | None = None


class TunnelIdArgs(Args):
    """``closeTunnel``."""

    tunnel_id: str


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, what it does, and its argument model."""

    name: str
    description: str
    args: type[Args]


_SPECS = (
    ToolSpec("connect", "Open an SSH connection (password or private key text) and return its connection id. The host key must be known or pinned.", ConnectArgs),
    ToolSpec("disconnect", "Close a connection; it stays listed until deleteConnection.", ConnectionArgs),
    ToolSpec("listConnections", "List the connections of this session (kept in memory only).", NoArgs),
    ToolSpec("getConnection", "Show one connection's details.", ConnectionArgs),
    ToolSpec("deleteConnection", "Close and forget a connection.", ConnectionArgs),
    ToolSpec("executeCommand", "Run a shell command on the host; returns stdout, stderr and the exit status. timeout is in milliseconds.", ExecuteArgs),
    ToolSpec("backgroundExecute", "Run a command now, then again every interval milliseconds (default 10000) until stopped. One task per connection; a new one replaces the old.", BackgroundArgs),
    ToolSpec("stopBackground", "Stop the connection's background task.", ConnectionArgs),
    ToolSpec("getCurrentDirectory", "The remote working directory of a new command (the login directory).", ConnectionArgs),
    ToolSpec("uploadFile", "Copy a local file (on the backend's machine) to the host over SFTP.", UploadArgs),
    ToolSpec("downloadFile", "Copy a file of the host to the backend's machine over SFTP (default: the download folder).", DownloadArgs),
    ToolSpec("batchUploadFiles", "Upload several files.", BatchUploadArgs),
    ToolSpec("batchDownloadFiles", "Download several files.", BatchDownloadArgs),
    ToolSpec("getFileTransferStatus", "One file transfer's status.", TransferArgs),
    ToolSpec("listFileTransfers", "Recent file transfers.", NoArgs),
    ToolSpec("listActiveSessions", "Connected SSH connections and open terminal sessions.", NoArgs),
    ToolSpec("listBackgroundTasks", "Running background tasks.", NoArgs),
    ToolSpec("stopAllBackgroundTasks", "Stop every background task.", NoArgs),
    ToolSpec("mcp_ssh_mcp_createTerminalSession", "Open an interactive shell on a PTY; returns a session id and the first output.", TerminalArgs),
    ToolSpec("mcp_ssh_mcp_writeToTerminal", "Write raw data (keystrokes) into a terminal session; returns the output that follows.", WriteArgs),
    ToolSpec("createTunnel", "Forward 127.0.0.1:localPort on the backend's machine to remoteHost:remotePort as seen from the SSH host (localPort 0 picks a free port).", TunnelArgs),
    ToolSpec("closeTunnel", "Close a tunnel.", TunnelIdArgs),
    ToolSpec("listTunnels", "List open tunnels.", NoArgs),
)

TOOLS: Mapping[str, ToolSpec] = MappingProxyType({spec.name: spec for spec in _SPECS})
"""Every tool by name, in Mcp Ssh's order."""


class _McpSsh(GenerateJsonSchema):
    """Schemas shaped like Mcp Ssh's: optional means absent, not null."""

    def nullable_schema(self, schema: core_schema.NullableSchema) -> JsonSchemaValue:
        return self.generate_inner(schema["schema"])

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _inline(node: Any, defs: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline(defs[node["$ref"].rsplit("/", 1)[-1]], defs)
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "properties":  # keys here are argument names, never schema keywords
                out[key] = {name: _inline(sub, defs) for name, sub in value.items()}
            elif key not in ("title", "description", "$defs") and not (key == "default" and value is None):
                out[key] = _inline(value, defs)
        return out
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    return node


def input_schema(spec: ToolSpec) -> dict[str, Any]:
    """The tool's JSON Schema (``type: object``; refs inlined; no titles or docstrings)."""
    raw = spec.args.model_json_schema(by_alias=True, schema_generator=_McpSsh)
    schema: dict[str, Any] = _inline(raw, raw.get("$defs", {}))
    schema.setdefault("properties", {})
    return schema


def describe_invalid(tool: str, exc: ValidationError) -> str:
    """A validation failure as text, built from locations and messages only (never the input)."""
    problems = [
        f"{'.'.join(str(part) for part in err['loc']) or '(arguments)'}: {err['msg']}"
        for err in exc.errors(include_input=False, include_url=False)
    ]
    return f"invalid arguments for {tool}: " + "; ".join(problems)


@dataclass(frozen=True)
class ToolResult:
    """What a tool returns: text for the model, optional structured data, and the error flag."""

    text: str
    data: JsonObject | None = None
    is_error: bool = False


def ok(text: str, data: JsonObject | None = None) -> ToolResult:
    """A successful result."""
    return ToolResult(text, data, False)


def failed(text: str, data: JsonObject | None = None) -> ToolResult:
    """An ``isError`` result."""
    return ToolResult(text, data, True)
