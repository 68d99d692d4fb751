"""The backend as an MCP server: the ONLY module of ``sshwall.backend`` importing the MCP SDK.

It uses the SDK's low-level ``Server`` so that tool schemas, ``isError`` and
``structuredContent`` are exactly what ``sshwall.backend.models`` and the handlers say. Served
over stdio (``run_stdio``) or streamable HTTP (``run_http``); stdout carries nothing but
JSON-RPC in stdio mode, logs go to stderr.
"""

from __future__ import annotations

import logging
from typing import Any, cast

import mcp_types as types
import uvicorn
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

import sshwall
from sshwall.backend.config import BackendConfig
from sshwall.backend.dispatch import call_tool
from sshwall.backend.models import TOOLS, input_schema
from sshwall.backend.state import BackendState, in_thread
from sshwall.backend.stdio import claimed_stdio

log = logging.getLogger(__name__)

SERVER_NAME = "sshwall-backend"
INSTRUCTIONS = (
    "SSH access with Mcp Ssh's tools. connect returns a connectionId that the other tools take. "
    "Host keys must be known (known_hosts) or pinned by the operator; unknown hosts are refused."
)


def build_server(state: BackendState) -> Server[object]:
    """An MCP server whose tools act on ``state`` (usable in-process, e.g. by ``mcp.Client``)."""
    tools = [
        types.Tool(name=spec.name, description=spec.description, input_schema=input_schema(spec))
        for spec in TOOLS.values()
    ]

    async def list_tools(ctx: object, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call(ctx: object, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await call_tool(state, params.name, params.arguments)
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=result.text)],
            structured_content=dict(result.data) if result.data is not None else None,
            is_error=result.is_error,
        )

    return Server(
        SERVER_NAME,
        version=sshwall.__version__,
        instructions=INSTRUCTIONS,
        on_list_tools=list_tools,
        on_call_tool=call,
    )


async def _shutdown(state: BackendState) -> None:
    await in_thread(state.close)
    log.info("backend stopped")


async def run_stdio(config: BackendConfig) -> None:
    """Serve one MCP client over stdin/stdout until it closes stdin."""
    state = BackendState(config=config)
    server = build_server(state)
    try:
        with claimed_stdio() as pipes:
            # Our event-loop-driven pipes when possible; the SDK's thread-backed files otherwise.
            streams = stdio_server(*cast("tuple[Any, Any]", pipes)) if pipes else stdio_server()
            async with streams as (read_stream, write_stream):
                log.info("backend serving MCP over stdio")
                await server.run(read_stream, write_stream, server.create_initialization_options())
    finally:
        await _shutdown(state)


async def run_http(config: BackendConfig, host: str, port: int) -> None:
    """Serve streamable HTTP at ``http://HOST:PORT/mcp``; all clients share one state."""
    state = BackendState(config=config)
    server = build_server(state)
    app = server.streamable_http_app(host=host)
    uv_config = uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False)
    log.info("backend serving MCP over streamable HTTP at http://%s:%s/mcp", host, port)
    try:
        await uvicorn.Server(uv_config).serve()
    finally:
        await _shutdown(state)
