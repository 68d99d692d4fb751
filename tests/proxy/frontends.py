"""In-process frontends for tests: the frontend core over a real stdio upstream, and an SDK
client over memory streams in front of each transport.

``running_core`` starts ``fake_upstream.py`` (a real child process, through ``StdioUpstream``)
behind a real ``Firewall`` and ``FrontendCore``. The client side runs in this process:

- ``stdio``: ``serve_stdio`` (the relay, or the SDK frontend for a 2026-07-28 client, chosen
  by the first frame) reads newline-framed bytes and writes bytes, as on a real stdin/stdout;
  ``open_stdio`` puts an SDK ``ClientSession`` on those bytes, ``RawStdio`` sends bytes no
  SDK client would.
- ``server``: the SDK server that ``--listen`` puts behind streamable HTTP (``build_server``),
  run on memory streams: several clients may share its upstream, as over HTTP.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

import anyio
import mcp_types as types
from anyio.abc import TaskGroup
from mcp import ClientSession
from mcp.server.lowlevel import Server
from mcp.shared.memory import create_client_server_memory_streams
from mcp.shared.message import SessionMessage

from sshwall.audit import AuditLog
from sshwall.engine import load_checked
from sshwall.proxy.firewall import Caller, Firewall
from sshwall.proxy.frontend import FrontendCore
from sshwall.proxy.frontend_stdio import serve_stdio
from sshwall.proxy.jsonrpc import LineReader, Message
from sshwall.proxy.sdk import build_server, client_handshake
from sshwall.proxy.stdio_upstream import StdioUpstream

FAKE_UPSTREAM = Path(__file__).resolve().parent / "fake_upstream.py"
CALLER = Caller(identity="local", session="in-process")
Era = Literal["legacy", "modern"]

POLICY = """\
version: 1
name: frontends
description: in-process frontend tests (executeCommand with the fake upstream's commands)
profile: mcp-ssh
default: deny
hide_denied_tools: true
tools:
  executeCommand: {commands: fake}
commands:
  fake:
    programs:
      echo: {}
      progress: {}
      notify: {}
      fail: {}
      ask: {}
"""


@asynccontextmanager
async def running_core(tmp_path: Path, policy: str = POLICY) -> AsyncIterator[FrontendCore]:
    """A frontend core: the fake upstream process behind a firewall with an audit log, under
    ``policy`` (YAML text)."""
    rules = tmp_path / "frontends.yaml"
    rules.write_text(policy)
    core: FrontendCore | None = None

    async def from_upstream(msg: Message) -> None:
        assert core is not None
        await core.from_upstream(msg)

    upstream = StdioUpstream([sys.executable, str(FAKE_UPSTREAM), "--record", str(tmp_path / "fake.jsonl")],
                             on_message=from_upstream, timeout=10)
    audit = AuditLog(tmp_path / "audit.jsonl")
    core = FrontendCore(Firewall(load_checked(rules), upstream.request, audit), upstream)
    try:
        yield core
    finally:
        await upstream.close()
        audit.close()


def received(tmp_path: Path) -> list[dict[str, Any]]:
    """Every frame the fake upstream received."""
    path = tmp_path / "fake.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


class RawStdio:
    """Bytes to and from ``serve_stdio``, as a client's stdin/stdout carry them."""

    def __init__(self) -> None:
        self._in_send, self._in_recv = anyio.create_memory_object_stream[bytes](100)
        self._out_send, self.out = anyio.create_memory_object_stream[bytes](100)

    async def _read(self, _n: int) -> bytes:
        try:
            return await self._in_recv.receive()
        except anyio.EndOfStream:
            return b""

    async def _write(self, data: bytes) -> None:
        for line in data.splitlines():
            await self._out_send.send(line)

    def start(self, tg: TaskGroup, core: FrontendCore, max_bytes: int = 1 << 20) -> None:
        """Serve ``core`` on these bytes in ``tg``."""
        tg.start_soon(serve_stdio, core, CALLER, LineReader(self._read, max_bytes), self._write)

    async def send(self, data: bytes | Message) -> None:
        """One frame (a dict is encoded and newline-terminated; bytes go as they are)."""
        await self._in_send.send(data if isinstance(data, bytes) else json.dumps(data).encode() + b"\n")

    async def receive(self, timeout: float = 10) -> Message:
        """The next frame the gateway wrote."""
        with anyio.fail_after(timeout):
            return json.loads(await self.out.receive())

    async def close(self) -> None:
        """The client closes its side."""
        await self._in_send.aclose()


@asynccontextmanager
async def stdio_streams(core: FrontendCore) -> AsyncIterator[tuple[Any, Any]]:
    """Client streams (read, write) on ``serve_stdio``'s bytes (the relay, or the SDK frontend
    on stdio)."""
    raw = RawStdio()
    c2s_send, c2s_recv = anyio.create_memory_object_stream[SessionMessage](16)
    s2c_send, s2c_recv = anyio.create_memory_object_stream[SessionMessage | Exception](16)

    async def client_to_gateway() -> None:
        async with c2s_recv:
            async for item in c2s_recv:
                await raw.send(item.message.model_dump_json(by_alias=True, exclude_unset=True).encode() + b"\n")
        await raw.close()

    async def gateway_to_client() -> None:
        async with s2c_send:
            async for line in raw.out:
                await s2c_send.send(SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False)))

    async with anyio.create_task_group() as tg:
        raw.start(tg, core)
        tg.start_soon(client_to_gateway)
        tg.start_soon(gateway_to_client)
        yield s2c_recv, c2s_send
        tg.cancel_scope.cancel()


@asynccontextmanager
async def open_stdio(core: FrontendCore, era: Era, **client: Any) -> AsyncIterator[ClientSession]:
    """An SDK client on ``serve_stdio``'s bytes, opened in ``era``."""
    async with stdio_streams(core) as (read, write), ClientSession(read, write, **client) as session:
        await (session.initialize() if era == "legacy" else session.discover())
        yield session


async def sdk_server(core: FrontendCore) -> Server[Any]:
    """The SDK server of ``--listen`` over ``core`` (its upstream initialized first, as there)."""
    await core.upstream.initialize(client_handshake())
    return build_server(core, lambda ctx: CALLER)


@asynccontextmanager
async def session_on(server: Server[Any], era: Era, **client: Any) -> AsyncIterator[ClientSession]:
    """One more client session of ``server`` (memory streams instead of an HTTP session)."""
    async with create_client_server_memory_streams() as ((c_read, c_write), (s_read, s_write)):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: server.run(s_read, s_write, server.create_initialization_options()))
            async with ClientSession(c_read, c_write, **client) as session:
                await (session.initialize() if era == "legacy" else session.discover())
                yield session
            tg.cancel_scope.cancel()


@asynccontextmanager
async def open_server(core: FrontendCore, era: Era, **client: Any) -> AsyncIterator[ClientSession]:
    """An SDK client of the SDK server of ``--listen`` over ``core``."""
    async with session_on(await sdk_server(core), era, **client) as session:
        yield session
