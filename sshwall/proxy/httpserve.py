"""Serving the HTTP frontend with uvicorn, bounded against slow and idle clients.

uvicorn starts its keep-alive timer only once a response is complete, and checks its
concurrency limit only once a request's headers are in: a client that trickles its headers is
never timed out and never refused. The protocol here adds the two missing bounds:

- a connection over ``max_connections`` is answered ``503`` at once and closed;
- a request's headers must be complete within ``header_timeout_s`` of the connection opening or
  of the previous response (else ``408`` and the connection is closed).

Idle keep-alive connections close after ``keepalive_s`` (uvicorn's own timer), a header block
still incomplete past ``MAX_HEADER_BYTES`` is refused (``400``), and the body is bounded in time and size by
``sshwall.proxy.httpframes``. The only module that imports uvicorn.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from sshwall.proxy.httplimits import HttpLimits

log = logging.getLogger("sshwall.http")

MAX_HEADER_BYTES = 16 * 1024
"""The most of an incomplete request line and header block buffered (h11's incomplete-event limit)."""


def _raw_response(status: str, message: str) -> bytes:
    body = json.dumps({"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": message}}).encode()
    head = (f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: close\r\nretry-after: 1\r\n\r\n")
    return head.encode() + body


def bounded_protocol(limits: HttpLimits) -> type[asyncio.Protocol]:
    """An h11 protocol class for uvicorn that enforces ``limits`` on every connection."""

    class BoundedH11(H11Protocol):
        """uvicorn's h11 protocol with a connection cap and a header deadline."""

        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections:
                log.warning("refusing a connection: %d open (--http-max-connections %d)",
                            len(self.connections) - 1, limits.max_connections)
                transport.write(_raw_response("503 Service Unavailable", (
                    f"sshwall: too many open connections (--http-max-connections {limits.max_connections}); "
                    "try again later")))
                transport.close()
                return
            self._arm()

        def handle_events(self) -> None:
            super().handle_events()
            if self._in_request():
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and not self._in_request():
                self._arm()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _in_request(self) -> bool:
            return self.cycle is not None and not self.cycle.response_complete

        def _arm(self) -> None:
            self._disarm()
            self._header_timer = self.loop.call_later(limits.header_timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self._in_request():
                return
            self.transport.write(_raw_response("408 Request Timeout", (
                f"sshwall: the request headers did not come within {limits.header_timeout_s:g} s "
                "(--http-header-timeout)")))
            self.transport.close()

    return BoundedH11


async def run_http(app: Any, host: str, port: int, limits: HttpLimits) -> None:
    """Serve the ASGI ``app`` at HOST:PORT until cancelled."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on",
                            http=bounded_protocol(limits), timeout_keep_alive=limits.keepalive_s,  # type: ignore[arg-type]
                            h11_max_incomplete_event_size=MAX_HEADER_BYTES)
    await uvicorn.Server(config).serve()
