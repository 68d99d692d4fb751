"""The upstream MCP server as a child process speaking JSON-RPC over stdio.

Frames are relayed as dicts. Lines that are not JSON (Mcp Ssh prints log lines on stdout) are
skipped and logged. A request that gets no answer within its time bound, or whose upstream
dies, fails with ``UpstreamError``; the next request starts the upstream again and replays the
handshake the client made, so one crash never takes the gateway down.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from sshwall.errors import UpstreamDied, UpstreamError, UpstreamTimeout
from sshwall.proxy.jsonrpc import FrameError, LineReader, Message, decode, encode, is_request

log = logging.getLogger("sshwall.upstream")

Handler = Callable[[Message], Awaitable[None]]


class Upstream(Protocol):
    """What the frontends need of an upstream, over stdio or HTTP."""

    timeout: float
    initialize_result: dict[str, Any] | None

    async def initialize(self, params: Message) -> dict[str, Any]: ...
    async def request(self, method: str, params: Any, timeout: float | None = None, client_id: Any = None) -> Any: ...
    async def notify(self, method: str, params: Any) -> None: ...
    async def respond(self, frame: Message) -> None: ...
    async def cancel(self, client_id: Any, reason: str | None = None) -> None: ...
    async def close(self) -> None: ...


async def bounded(answer: Awaitable[Message], upstream: Upstream, msg_id: int, method: str, timeout: float) -> Message:
    """Wait for an answer at most ``timeout`` s; a timeout or a caller who gives up (the client
    cancelled) sends the upstream ``notifications/cancelled`` for the request."""
    try:
        return await asyncio.wait_for(answer, timeout)
    except asyncio.TimeoutError:
        await upstream.notify("notifications/cancelled", {"requestId": msg_id, "reason": "timeout"})
        raise UpstreamTimeout(f"upstream did not answer {method} within {timeout:g} s") from None
    except asyncio.CancelledError:
        await asyncio.shield(upstream.notify("notifications/cancelled", {"requestId": msg_id, "reason": "cancelled"}))
        raise


class RpcError(UpstreamError):
    """The upstream answered a request with a JSON-RPC error."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message", "error")))
        self.error = error


class StdioUpstream:
    """One upstream process; requests are matched to answers by the ids this class assigns."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        on_message: Handler,
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
        max_frame_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if not argv:
            raise UpstreamError("no upstream command given")
        self.argv = list(argv)
        self.timeout = timeout
        self._on_message = on_message
        self._env = env
        self._max = max_frame_bytes
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Message]] = {}
        self._by_client: dict[Any, int] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._handshake: Message | None = None  # the initialize params to replay after a restart
        self.initialize_result: dict[str, Any] | None = None
        self.restarts = 0

    @property
    def alive(self) -> bool:
        """True while the child process runs."""
        return self._proc is not None and self._proc.returncode is None

    async def start(self) -> None:
        """Start the child process if it is not running."""
        async with self._lock:
            if self.alive:
                return
            restarting = self._proc is not None
            if restarting:
                self.restarts += 1
                log.warning("restarting upstream %s (restart %d)", self.argv[0], self.restarts)
            try:
                self._proc = await asyncio.create_subprocess_exec(
                    *self.argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
                    env=self._env if self._env is not None else dict(os.environ),
                    limit=1024 * 1024,
                )
            except OSError as err:
                raise UpstreamError(f"cannot start upstream {self.argv[0]!r}: {err.strerror or err}") from err
            assert self._proc.stdout is not None
            self._reader = asyncio.create_task(self._read(self._proc, LineReader(self._proc.stdout.read, self._max)))
            if restarting and self._handshake is not None:
                await self._initialize(self._handshake)

    async def initialize(self, params: Message) -> dict[str, Any]:
        """Run the legacy handshake (initialize, then notifications/initialized); remember it
        so that a restarted upstream is initialized the same way."""
        self._handshake = params
        await self.start()
        await self._initialize(params)
        assert self.initialize_result is not None
        return self.initialize_result

    async def _initialize(self, params: Message) -> None:
        self.initialize_result = await self._request("initialize", params)
        await self.notify("notifications/initialized", None)

    async def request(self, method: str, params: Any, timeout: float | None = None, client_id: Any = None) -> Any:
        """Send a request and wait for its result; ``RpcError`` for an error answer.

        ``client_id`` is the id the client gave the request, so that its cancellation can be
        passed on (``cancel``).
        """
        await self.start()
        return await self._request(method, params, timeout, client_id)

    async def cancel(self, client_id: Any, reason: str | None = None) -> None:
        """Pass a client's ``notifications/cancelled`` on, with the upstream's id."""
        upstream_id = self._by_client.get(client_id)
        if upstream_id is not None:
            params: Message = {"requestId": upstream_id}
            if reason:
                params["reason"] = reason
            await self.notify("notifications/cancelled", params)

    async def _request(self, method: str, params: Any, timeout: float | None = None, client_id: Any = None) -> Any:
        msg_id = next(self._ids)
        fut: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[msg_id] = fut
        if client_id is not None:
            self._by_client[client_id] = msg_id
        frame: Message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            frame["params"] = params
        try:
            await self._write(frame)
            answer = await bounded(fut, self, msg_id, method, timeout or self.timeout)
        finally:
            self._pending.pop(msg_id, None)
            if client_id is not None:
                self._by_client.pop(client_id, None)
        if "error" in answer:
            raise RpcError(answer["error"] if isinstance(answer["error"], dict) else {"message": str(answer["error"])})
        return answer.get("result")

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification (best effort: a dead upstream drops it)."""
        frame: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            frame["params"] = params
        try:
            await self._write(frame)
        except UpstreamError:
            pass

    async def respond(self, frame: Message) -> None:
        """Send the client's answer to a request the upstream made."""
        await self._write(frame)

    async def _write(self, frame: Message) -> None:
        proc = self._proc
        if proc is None or proc.returncode is not None or proc.stdin is None:
            raise UpstreamDied("upstream is not running")
        try:
            proc.stdin.write(encode(frame))
            await proc.stdin.drain()
        except (ConnectionError, RuntimeError) as err:
            raise UpstreamDied(f"upstream closed its input: {err}") from err

    async def _read(self, proc: asyncio.subprocess.Process, reader: LineReader) -> None:
        try:
            while True:
                try:
                    line = await reader.next_frame()
                except EOFError:
                    break
                if line is None:
                    log.warning("upstream sent a frame over %d bytes; dropped", self._max)
                    continue
                if not line.strip():
                    continue
                try:
                    msg = decode(line, self._max)
                except FrameError:
                    log.info("upstream: %s", line[:500].decode("utf-8", "replace"))
                    continue
                if "method" not in msg:
                    fut = self._pending.get(msg.get("id"))  # type: ignore[arg-type]
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                    continue
                try:
                    await self._on_message(msg)
                except Exception:  # noqa: BLE001 - a handler bug must not stop the reader
                    log.exception("handling upstream %s failed", "request" if is_request(msg) else "notification")
        finally:
            code = await proc.wait()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(UpstreamDied(f"upstream exited (code {code}) before answering"))

    async def close(self) -> None:
        """Stop the child process."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            await asyncio.wait_for(proc.wait(), 3)
        except (asyncio.TimeoutError, ConnectionError):
            proc.kill()
            await proc.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True
