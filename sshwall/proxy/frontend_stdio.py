"""The stdio side of the gateway: one client on stdin/stdout, in the era it opens with.

The first frame goes through the one intake (``sshwall.proxy.frontend.intake``) and is decoded
once: a 2026-07-28 request (its ``_meta`` envelope) hands the connection to the SDK frontend,
anything else (``initialize``, garbage) to the stdio relay. Either way the one client gets what
the upstream sends on its own (docs/frontends.md).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

from sshwall.proxy.firewall import Caller
from sshwall.proxy.frontend import FrontendCore, intake, is_modern
from sshwall.proxy.jsonrpc import MAX_FRAME_BYTES, LineReader
from sshwall.proxy.relay import StdioRelay

Write = Callable[[bytes], Awaitable[None]]


async def serve_stdio(core: FrontendCore, caller: Caller, reader: LineReader, write: Write) -> None:
    """Serve one client that reads ``write`` and writes ``reader`` until it closes its side."""
    try:
        first = intake(await reader.next_frame())
    except EOFError:
        return
    if first.message is not None and is_modern(first.message):
        from sshwall.proxy.sdk import serve_stdio_modern  # the MCP SDK only when it is needed

        await serve_stdio_modern(core, caller, first.message, reader, write)
        return
    relay = StdioRelay(core, write, caller)
    core.peer = relay.from_upstream  # one client: it gets what the upstream sends on its own
    try:
        await relay.handle(first)
        await relay.run(reader)
    finally:
        core.peer = None


async def process_stdio(max_message_bytes: int) -> tuple[LineReader, Write]:
    """This process's stdin as a bounded frame reader and its stdout as a locked writer."""
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader(limit=1 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    out = sys.stdout.buffer
    lock = asyncio.Lock()

    async def write(data: bytes) -> None:
        async with lock:
            out.write(data)
            out.flush()

    return LineReader(stdin.read, min(max_message_bytes, MAX_FRAME_BYTES)), write
