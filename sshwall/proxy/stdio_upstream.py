"""The upstream MCP server as a child process speaking JSON-RPC over stdio.

Frames are relayed as dicts. Lines that are not JSON (Mcp Ssh prints log lines on stdout) are
skipped and logged. A request that gets no answer within its time bound (writing it included),
or whose upstream dies, fails with ``UpstreamError``; an upstream that leaves several requests in
a row unanswered is killed as hung. The next request starts the upstream again and replays the
handshake the client made, so one crash or hang never takes the gateway down.

This module keeps the process and the time bounds; the read loop and the table of requests
awaiting answers are in ``sshwall.proxy.upstreamframes``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from sshwall.errors import RpcError, UpstreamDied, UpstreamError, UpstreamTimeout
from sshwall.proxy.jsonrpc import LineReader, Message, encode
from sshwall.proxy.outbox import Outbox, Outgoing
from sshwall.proxy.upstream import DEFAULT_RESTART_AFTER_TIMEOUTS, Handler, Notice
from sshwall.proxy.upstreamframes import PendingRequests, read_frames

log = logging.getLogger("sshwall.upstream")


class StdioUpstream:
    """One upstream process; requests are matched to answers by the ids this class assigns.

    Every request is answered within its time bound, writing included: frames go through an
    ``Outbox``, so a stopped upstream with a full stdin pipe delays nobody, and a frame still
    queued when its caller gives up is never sent. After ``restart_after_timeouts`` requests in
    a row timed out (0: never) the upstream counts as hung: it is killed, the requests still
    waiting fail at once, and the next request starts it again with the handshake replayed, as
    after a death.
    """

    def __init__(
        self,
        argv: Sequence[str],
        *,
        on_message: Handler,
        timeout: float = 120.0,
        env: dict[str, str] | None = None,
        max_frame_bytes: int = 64 * 1024 * 1024,
        restart_after_timeouts: int = DEFAULT_RESTART_AFTER_TIMEOUTS,
        on_notice: Notice | None = None,
    ) -> None:
        if not argv:
            raise UpstreamError("no upstream command given")
        self.argv = list(argv)
        self.timeout = timeout
        self.restart_after_timeouts = restart_after_timeouts
        self._on_message = on_message
        self._on_notice = on_notice
        self._env = env
        self._max = max_frame_bytes
        self._proc: asyncio.subprocess.Process | None = None
        self._outbox: Outbox | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending = PendingRequests()
        self._lock = asyncio.Lock()
        self._handshake: Message | None = None  # the initialize params to replay after a restart
        self._killed: str | None = None  # why this gateway killed the current process
        self._timeouts = 0  # requests in a row that timed out
        self.initialize_result: dict[str, Any] | None = None
        self.restarts = 0

    @property
    def alive(self) -> bool:
        """True while the child process runs (and was not given up as hung)."""
        return self._proc is not None and self._proc.returncode is None and self._killed is None

    async def start(self) -> None:
        """Start the child process if it is not running (replaying the handshake on a restart)."""
        async with self._lock:
            if self.alive:
                return
            restarting = self._proc is not None
            if restarting and self._reader is not None:
                # The old process is gone or being killed: its waiters fail before a new one starts.
                await asyncio.gather(self._reader, return_exceptions=True)
            self._killed = None
            if restarting:
                self.restarts += 1
                log.warning("restarting upstream %s (restart %d)", self.argv[0], self.restarts)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self.argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=sys.stderr.fileno() if _has_fileno(sys.stderr) else None,
                    env=self._env if self._env is not None else dict(os.environ),
                    limit=1024 * 1024,
                )
            except OSError as err:
                raise UpstreamError(f"cannot start upstream {self.argv[0]!r}: {err.strerror or err}") from err
            assert proc.stdout is not None and proc.stdin is not None
            self._proc = proc
            self._timeouts = 0
            self._outbox = Outbox(proc.stdin)
            self._reader = asyncio.create_task(self._read(proc, LineReader(proc.stdout.read, self._max)))
            if restarting and self._handshake is not None:
                try:
                    await self._initialize(self._handshake)
                except BaseException:
                    self._kill("the handshake replayed after a restart failed")
                    raise
                self._notice("upstream-restart", f"restart {self.restarts}: pid {proc.pid}, handshake replayed")

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

        The whole of it (starting a stopped upstream, writing, waiting) takes at most
        ``timeout`` s (default ``self.timeout``). ``client_id`` is the id the client gave the
        request, so that its cancellation can be passed on (``cancel``).
        """
        bound = timeout or self.timeout
        deadline = asyncio.get_running_loop().time() + bound
        if not self.alive:
            try:
                await asyncio.wait_for(self.start(), bound)
            except TimeoutError:
                raise UpstreamTimeout(f"upstream did not start within {bound:g} s") from None
        return await self._request(method, params, bound, client_id, deadline)

    async def cancel(self, client_id: Any, reason: str | None = None) -> None:
        """Pass a client's ``notifications/cancelled`` on, with the upstream's id."""
        upstream_id = self._pending.upstream_id(client_id)
        if upstream_id is not None and self._pending.first_cancel(upstream_id):
            params: Message = {"requestId": upstream_id}
            if reason:
                params["reason"] = reason
            await self.notify("notifications/cancelled", params)

    async def _request(self, method: str, params: Any, bound: float | None = None, client_id: Any = None,
                       deadline: float | None = None) -> Any:
        loop = asyncio.get_running_loop()
        bound = bound or self.timeout
        deadline = deadline if deadline is not None else loop.time() + bound
        msg_id = self._pending.new_id()
        fut: asyncio.Future[Message] = loop.create_future()
        frame: Message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            frame["params"] = params
        item = self._put(frame, fut)  # raises at once when the upstream cannot take it
        self._pending.add(msg_id, fut, client_id)
        try:
            answer = await asyncio.wait_for(fut, max(0.0, deadline - loop.time()))
        except TimeoutError:
            self._abandon(msg_id, item, "timeout")
            self._timed_out(method)
            raise UpstreamTimeout(f"upstream did not answer {method} within {bound:g} s") from None
        except asyncio.CancelledError:
            self._abandon(msg_id, item, "cancelled")
            raise
        finally:
            self._pending.done(msg_id, client_id)
        if "error" in answer:
            raise RpcError(answer["error"] if isinstance(answer["error"], dict) else {"message": str(answer["error"])})
        return answer.get("result")

    def _abandon(self, msg_id: int, item: Outgoing, reason: str) -> None:
        """The caller gave up on request ``msg_id``: take its frame back, or cancel it upstream."""
        outbox = self._outbox
        if outbox is not None and outbox.withdraw(item):
            return  # it never reached the upstream
        if self.alive and self._pending.first_cancel(msg_id):
            self._send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                        "params": {"requestId": msg_id, "reason": reason}})

    def _timed_out(self, method: str) -> None:
        self._timeouts += 1
        limit = self.restart_after_timeouts
        if limit > 0 and self._timeouts >= limit and self.alive:
            self._kill(f"upstream killed as hung: {self._timeouts} requests in a row got no answer "
                       f"within {self.timeout:g} s (the last: {method})")

    def _kill(self, why: str) -> None:
        """Give the current process up: kill it; its waiting requests fail with ``why``."""
        proc = self._proc
        if proc is None or proc.returncode is not None or self._killed is not None:
            return
        self._killed = why
        log.warning("%s; pid %d", why, proc.pid)
        self._notice("upstream-killed", f"{why}; pid {proc.pid}")
        if self._outbox is not None:
            self._outbox.close(UpstreamDied(why))
        self._pending.fail_all(why)
        try:
            proc.kill()  # SIGKILL: a stopped (SIGSTOP) process dies too
        except ProcessLookupError:
            pass

    def _notice(self, kind: str, detail: str) -> None:
        if self._on_notice is not None:
            try:
                self._on_notice(kind, detail)
            except Exception:  # a notice must never fail a request
                log.exception("recording the %s notice failed", kind)

    def _put(self, frame: Message, fut: asyncio.Future[Message] | None = None) -> Outgoing:
        """Queue ``frame`` for the upstream; ``UpstreamError`` when it cannot take it."""
        outbox = self._outbox
        if outbox is None or not self.alive:
            raise UpstreamDied(self._killed or "upstream is not running")

        def failed(err: UpstreamError) -> None:
            if fut is not None and not fut.done():
                fut.set_exception(err)

        return outbox.put(encode(frame), failed)

    def _send(self, frame: Message) -> None:
        """Queue a frame that needs no answer; dropped (and logged) when it cannot be queued."""
        try:
            self._put(frame)
        except UpstreamError as err:
            log.warning("%s not sent upstream: %s", frame.get("method", "a response"), err)

    async def notify(self, method: str, params: Any) -> None:
        """Send a notification (best effort: never waits; a dead or stuck upstream drops it)."""
        frame: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            frame["params"] = params
        self._send(frame)

    async def respond(self, frame: Message) -> None:
        """Send the client's answer to a request the upstream made (queued, never waits)."""
        self._put(frame)

    async def _read(self, proc: asyncio.subprocess.Process, reader: LineReader) -> None:
        """The read loop of one process (``read_frames``); when it ends, what waits on it fails."""
        try:
            await read_frames(reader, self._max, self._answered, self._on_message)
        finally:
            code = await proc.wait()
            why = self._killed if self._proc is proc and self._killed else f"upstream exited (code {code}) before answering"
            if self._proc is proc and self._outbox is not None:
                self._outbox.close(UpstreamDied(why))
            self._pending.fail_all(why)

    def _answered(self, msg: Message) -> None:
        self._timeouts = 0  # it answers: not hung
        self._pending.answer(msg)

    async def close(self) -> None:
        """Stop the child process."""
        proc = self._proc
        if proc is None or proc.returncode is not None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            await asyncio.wait_for(proc.wait(), 3)
        except (TimeoutError, ConnectionError):
            proc.kill()
            await proc.wait()
        if self._outbox is not None:
            await self._outbox.aclose()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)


def _has_fileno(stream: Any) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True
