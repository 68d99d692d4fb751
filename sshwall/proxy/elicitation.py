"""The elicitation channel of approval: asking the MCP client's user about one exact call.

The approval guard (``sshwall.proxy.approvals``) asks through ``Caller.ask``; each frontend
builds that ``ask`` for its era and transport (docs/approval.md):

- **2025 era, stdio relay** (``RelayAsks``): a server-to-client JSON-RPC request
  ``elicitation/create`` in form mode, under an id of sshwall's own (``sshwall-ask-N``, apart
  from the ``sshwall-N`` ids the relay gives the upstream's requests), sent while the
  ``tools/call`` it is about is pending. The 2025 specs have no ``_meta`` key that names a
  related request (only ``io.modelcontextprotocol/related-task``, for tasks), so on stdio the
  tie is the timing; over streamable HTTP the SDK frontend sends it on the call's own stream.
- **2025 era, SDK frontend** (HTTP): ``ServerSession.elicit_form`` with the call's request id
  (``sshwall.proxy.sdkelicit``).
- **2026-07-28** (HTTP and stdio): no server-to-client requests; the ``tools/call`` is answered
  with an ``input_required`` result (``input_required``) holding the same question under
  ``INPUT_KEY``, and the client calls again with its user's answer (``sshwall.proxy.sdkelicit``).

Only a client that declared form-mode elicitation is asked: ``elicitation: {}`` (form, for
backward compatibility) or ``{"form": {...}}``; one that declared only ``url`` is not.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sshwall.errors import ClientCannotAsk
from sshwall.proxy.caller import Question
from sshwall.proxy.jsonrpc import Message

log = logging.getLogger("sshwall.elicitation")

INPUT_KEY = "sshwall-approval"
"""The key of the approval question in an ``input_required`` result (and of its answer)."""

MODE_SINCE = "2025-11-25"
"""The first protocol version whose ``elicitation/create`` params carry ``mode`` (2025-06-18
has only ``message`` and ``requestedSchema``)."""

METHOD = "elicitation/create"


def declares_form(capabilities: Any) -> bool:
    """Whether client ``capabilities`` (the wire object) declare form-mode elicitation."""
    if not isinstance(capabilities, Mapping):
        return False
    elicitation = capabilities.get("elicitation")
    if not isinstance(elicitation, Mapping):
        return False
    if not elicitation:  # `{}`: form mode (the spec's backward-compatible reading)
        return True
    return isinstance(elicitation.get("form"), Mapping)


def form_params(question: Question, protocol_version: str | None) -> dict[str, Any]:
    """The params of an ``elicitation/create`` in form mode, as ``protocol_version`` spells them."""
    params: dict[str, Any] = {"message": question.message, "requestedSchema": _plain(question.schema)}
    if protocol_version is None or protocol_version >= MODE_SINCE:
        params = {"mode": "form", **params}
    return params


def input_required(question: Question) -> dict[str, Any]:
    """The 2026-07-28 ``input_required`` result that puts ``question`` to the client; its
    ``requestState`` is the approval id (the guard checks that the retried call is the same
    call, so a forged state unlocks nothing)."""
    return {
        "resultType": "input_required",
        "inputRequests": {INPUT_KEY: {"method": METHOD, "params": form_params(question, None)}},
        "requestState": question.approval_id,
    }


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a (maybe read-only) mapping."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class RelayAsks:
    """The stdio relay's own requests to its client (``elicitation/create``), and their answers.

    ``handshake`` and ``negotiated`` learn, from the client's ``initialize`` and its result,
    whether the client can be asked and how to spell the question; ``ask`` is the ``Caller.ask``
    of its calls; ``answer`` takes a client response meant for one of these requests; ``close``
    (the client went away) fails every question still open.
    """

    PREFIX = "sshwall-ask-"

    def __init__(self, send: Callable[[Message], Awaitable[None]]) -> None:
        self._send = send
        self._ids = itertools.count(1)
        self._open: dict[str, asyncio.Future[Message]] = {}
        self.capabilities: Any = None
        self.version: str | None = None
        self._closed: str | None = None

    def handshake(self, params: Any) -> None:
        """The client's ``initialize`` params: its capabilities and the version it asks for."""
        if isinstance(params, Mapping):
            self.capabilities = params.get("capabilities")
            version = params.get("protocolVersion")
            self.version = version if isinstance(version, str) else None

    def negotiated(self, result: Any) -> None:
        """The ``initialize`` result the client got: the version both sides speak."""
        version = result.get("protocolVersion") if isinstance(result, Mapping) else None
        if isinstance(version, str):
            self.version = version

    @property
    def can_ask(self) -> bool:
        """Whether the client declared form-mode elicitation (and is still there)."""
        return self._closed is None and declares_form(self.capabilities)

    async def ask(self, question: Question) -> Mapping[str, Any]:
        """Send ``question`` as ``elicitation/create`` and return the client's result."""
        if self._closed is not None:
            raise ClientCannotAsk(self._closed)
        our_id = f"{self.PREFIX}{next(self._ids)}"
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._open[our_id] = future
        try:
            await self._send({"jsonrpc": "2.0", "id": our_id, "method": METHOD,
                              "params": form_params(question, self.version)})
            reply = await future
        except asyncio.CancelledError:  # timed out, or the call was cancelled: the client may drop it
            await self._cancel(our_id)
            raise
        finally:
            self._open.pop(our_id, None)
        if "error" in reply:
            err = reply.get("error")
            text = err.get("message") if isinstance(err, Mapping) else None
            raise ClientCannotAsk(f"the client answered elicitation/create with an error: {str(text or err)[:200]}")
        result = reply.get("result")
        return result if isinstance(result, Mapping) else {"malformed": result}

    async def _cancel(self, our_id: str) -> None:
        if self._closed is not None:
            return
        try:
            await self._send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                              "params": {"requestId": our_id, "reason": "sshwall no longer waits for this answer"}})
        except Exception as err:  # noqa: BLE001 - any write failure: the cancellation must go on as it is
            log.debug("cannot cancel %s: %s", our_id, err)

    def answer(self, msg: Message) -> bool:
        """Take a client response if it answers one of these requests (True), else leave it."""
        msg_id = msg.get("id")
        future = self._open.get(msg_id) if isinstance(msg_id, str) else None
        if future is None:
            return isinstance(msg_id, str) and msg_id.startswith(self.PREFIX)  # a late answer: ours, dropped
        if not future.done():
            future.set_result(msg)
        return True

    def close(self, why: str = "the client closed the connection") -> None:
        """The client is gone: every open question fails with ``ClientCannotAsk``."""
        self._closed = why
        for future in self._open.values():
            if not future.done():
                future.set_exception(ClientCannotAsk(why))


__all__ = ["INPUT_KEY", "METHOD", "RelayAsks", "declares_form", "form_params", "input_required"]
