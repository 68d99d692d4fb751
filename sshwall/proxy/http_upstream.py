"""A streamable-HTTP upstream (``--upstream-url``), spoken to in the legacy handshake era.

Each request is one POST; the answer is a JSON body or a server-sent-event stream that carries
the upstream's notifications and requests before the answer. The session id the upstream gives
at initialize is sent back on every later request. The only module that imports httpx2.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import Awaitable
from typing import Any

import httpx2

from sshwall.errors import RpcError, UpstreamDied, UpstreamError, UpstreamTimeout
from sshwall.proxy.jsonrpc import Message
from sshwall.proxy.upstream import Handler

log = logging.getLogger("sshwall.upstream.http")


class HttpUpstream:
    """The ``Upstream`` interface (as ``StdioUpstream`` has it), over streamable HTTP."""

    def __init__(self, url: str, *, on_message: Handler, timeout: float = 120.0) -> None:
        self.url = url
        self.timeout = timeout
        self._on_message = on_message
        self._client = httpx2.AsyncClient(timeout=httpx2.Timeout(timeout, connect=10.0))
        self._ids = itertools.count(1)
        self._session: str | None = None
        self._version: str | None = None
        self._by_client: dict[Any, int] = {}
        self._side: set[asyncio.Task[None]] = set()  # cancellations on their way (never awaited by a caller)
        self.initialize_result: dict[str, Any] | None = None

    def _headers(self) -> dict[str, str]:
        headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
        if self._session:
            headers["mcp-session-id"] = self._session
        if self._version:
            headers["mcp-protocol-version"] = self._version
        return headers

    async def initialize(self, params: Message) -> dict[str, Any]:
        """The legacy handshake; remembers the session id and protocol version."""
        self._session = None
        result = await self.request("initialize", params)
        if not isinstance(result, dict):
            raise UpstreamError("upstream answered initialize without a result object")
        self.initialize_result = result
        self._version = str(result.get("protocolVersion") or "") or None
        await self._post_frame({"jsonrpc": "2.0", "method": "notifications/initialized"})
        return result

    async def request(self, method: str, params: Any, timeout: float | None = None, client_id: Any = None) -> Any:
        """POST one request and wait for its answer."""
        msg_id = next(self._ids)
        if client_id is not None:
            self._by_client[client_id] = msg_id
        frame: Message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            frame["params"] = params
        try:
            answer = await self._bounded(self._post(frame, msg_id, method), msg_id, method, timeout or self.timeout)
        finally:
            if client_id is not None:
                self._by_client.pop(client_id, None)
        if "error" in answer:
            err = answer["error"]
            raise RpcError(err if isinstance(err, dict) else {"message": str(err)})
        return answer.get("result")

    async def _bounded(self, answer: Awaitable[Message], msg_id: int, method: str, timeout: float) -> Message:
        """Wait for an answer at most ``timeout`` s; a timeout or a caller who gives up (the client
        cancelled) sends the upstream ``notifications/cancelled``, without waiting for that POST."""
        try:
            return await asyncio.wait_for(answer, timeout)
        except TimeoutError:
            self._cancel_later(msg_id, "timeout")
            raise UpstreamTimeout(f"upstream did not answer {method} within {timeout:g} s") from None
        except asyncio.CancelledError:
            self._cancel_later(msg_id, "cancelled")
            raise

    def _cancel_later(self, msg_id: int, reason: str) -> None:
        self._spawn({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": msg_id, "reason": reason}})

    def _spawn(self, frame: Message) -> None:
        """POST ``frame`` in the background: no caller (nor the relay's read loop) waits on it."""
        task = asyncio.get_running_loop().create_task(self._post_frame(frame))
        self._side.add(task)
        task.add_done_callback(self._side.discard)

    async def _post(self, frame: Message, msg_id: int, method: str) -> Message:
        try:
            async with self._client.stream("POST", self.url, json=frame, headers=self._headers()) as resp:
                if method == "initialize" and resp.headers.get("mcp-session-id"):
                    self._session = resp.headers["mcp-session-id"]
                if resp.status_code >= 400:
                    body = (await resp.aread())[:500].decode("utf-8", "replace")
                    raise UpstreamError(f"upstream answered HTTP {resp.status_code} to {method}: {body}")
                kind = resp.headers.get("content-type", "")
                if kind.startswith("application/json"):
                    return _as_answer(json.loads(await resp.aread()), msg_id)
                if kind.startswith("text/event-stream"):
                    return await self._events(resp, msg_id)
                raise UpstreamError(f"upstream answered {method} with content type {kind!r}")
        except httpx2.HTTPError as err:
            raise UpstreamError(f"upstream at {self.url} unreachable: {err}") from err

    async def _events(self, resp: Any, msg_id: int) -> Message:
        data: list[str] = []
        async for line in resp.aiter_lines():
            if line.startswith("data:"):
                data.append(line[5:].lstrip())
                continue
            if line or not data:
                continue
            msg = json.loads("\n".join(data))
            data = []
            if isinstance(msg, dict) and "method" not in msg and msg.get("id") == msg_id:
                return msg
            if isinstance(msg, dict) and "method" in msg:
                await self._on_message(msg)
        raise UpstreamDied("upstream closed the event stream before answering")

    async def notify(self, method: str, params: Any) -> None:
        """POST a notification (best effort, in the background)."""
        frame: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            frame["params"] = params
        self._spawn(frame)

    async def respond(self, frame: Message) -> None:
        """POST the client's answer to an upstream request (best effort, in the background)."""
        self._spawn(frame)

    async def _post_frame(self, frame: Message) -> None:
        """POST a frame that needs no answer (a notification or the client's response)."""
        try:
            await self._client.post(self.url, json=frame, headers=self._headers())
        except httpx2.HTTPError as err:
            log.warning("could not send %s upstream: %s", frame.get("method", "a response"), err)

    async def cancel(self, client_id: Any, reason: str | None = None) -> None:
        """Pass a client's cancellation on, with the upstream's id."""
        upstream_id = self._by_client.get(client_id)
        if upstream_id is not None:
            await self.notify("notifications/cancelled", {"requestId": upstream_id, **({"reason": reason} if reason else {})})

    async def close(self) -> None:
        """End the session (DELETE, as the transport asks) and close the client."""
        if self._session:
            try:
                await self._client.delete(self.url, headers=self._headers())
            except httpx2.HTTPError:
                pass
        if self._side:
            await asyncio.wait(self._side, timeout=3)
        await self._client.aclose()


def _as_answer(body: Any, msg_id: int) -> Message:
    if isinstance(body, dict) and body.get("id") == msg_id:
        return body
    if isinstance(body, list):
        for item in body:
            if isinstance(item, dict) and item.get("id") == msg_id:
                return item
    raise UpstreamError("upstream answered with a message that is not the response to the request")
