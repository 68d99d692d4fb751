"""What the frontends need of an upstream MCP server, whatever carries it.

``sshwall.proxy.stdio_upstream`` runs it as a child process, ``sshwall.proxy.http_upstream``
speaks streamable HTTP to it; both answer an error with ``RpcError`` and a failure (death, hang,
unreachable) with another ``UpstreamError`` (``sshwall.errors``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from sshwall.proxy.jsonrpc import Message

Handler = Callable[[Message], Awaitable[None]]
"""Receives a message the upstream sends on its own (a notification or a request)."""
Notice = Callable[[str, str], None]
"""``notice(kind, detail)``: something the upstream side did that the audit log should show."""

DEFAULT_RESTART_AFTER_TIMEOUTS = 3
"""Requests in a row that time out before a stdio upstream counts as hung and is restarted."""


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


