"""Event-loop-driven stdin/stdout for the stdio transport.

The SDK's default stdio transport reads and writes through ``anyio.wrap_file``, which costs a
worker-thread round trip for every line read, every write and every flush. On the hot path of
``executeCommand`` that was a third of the backend's overhead, so when stdin and stdout are
pipes or sockets (as they are under an MCP client) the backend claims them here instead: the
wire moves to private non-blocking descriptors watched by the event loop, and fd 0 / fd 1 are
pointed at /dev/null and stderr so that stray reads and prints of any library cannot touch the
JSON-RPC stream (the same protection the SDK gives). Anything else (a terminal, a file) keeps
the SDK's default transport.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager

import anyio


def _is_pipe_or_socket(fd: int) -> bool:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


class LineReader:
    """Async iterator over the lines of a non-blocking descriptor (decoded as UTF-8)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._buffer = b""

    def __aiter__(self) -> LineReader:
        return self

    async def __anext__(self) -> str:
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line, self._buffer = self._buffer[: newline + 1], self._buffer[newline + 1 :]
                return line.decode("utf-8", "replace")
            try:
                chunk = os.read(self._fd, 1 << 16)
            except BlockingIOError:
                await anyio.wait_readable(self._fd)
                continue
            if not chunk:
                if self._buffer:
                    line, self._buffer = self._buffer, b""
                    return line.decode("utf-8", "replace")
                raise StopAsyncIteration
            self._buffer += chunk


class Writer:
    """``write``/``flush`` onto a non-blocking descriptor; every write is complete on return."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    async def write(self, text: str) -> None:
        """Write all of ``text`` (UTF-8)."""
        data = memoryview(text.encode("utf-8"))
        while data:
            try:
                written = os.write(self._fd, data)
            except BlockingIOError:
                await anyio.wait_writable(self._fd)
                continue
            data = data[written:]

    async def flush(self) -> None:
        """Nothing is buffered."""


@contextmanager
def claimed_stdio() -> Iterator[tuple[LineReader, Writer] | None]:
    """Claim fd 0/1 for the wire (``None`` when they are not both pipes or sockets)."""
    if not (_is_pipe_or_socket(0) and _is_pipe_or_socket(1)):
        yield None
        return
    wire_in, wire_out = os.dup(0), os.dup(1)
    saved_in, saved_out = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    try:
        os.dup2(devnull, 0)
        os.dup2(2, 1)
        os.set_blocking(wire_in, False)
        os.set_blocking(wire_out, False)
        yield LineReader(wire_in), Writer(wire_out)
    finally:
        os.set_blocking(wire_in, True)  # the flag lives on the shared open file description
        os.set_blocking(wire_out, True)
        os.dup2(saved_in, 0)
        os.dup2(saved_out, 1)
        for fd in (devnull, wire_in, wire_out, saved_in, saved_out):
            os.close(fd)
