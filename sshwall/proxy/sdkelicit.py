"""The elicitation channel in the SDK frontend (``sshwall.proxy.sdk``), in both eras.

``asking`` gives a ``tools/call``'s ``Caller`` the ``ask`` its era and the client allow
(``sshwall.proxy.elicitation`` has the wire shapes and the rule of form mode):

- **2025 era** (streamable HTTP): ``ServerSession.elicit_form`` with the call's request id, so
  that the question rides the call's own SSE stream; only when the client declared form-mode
  elicitation in its ``initialize``. An error answer, or no channel back to the client
  (``MCPError``, ``NoBackChannelError``), is ``ClientCannotAsk``: the next channel is tried.
- **2026-07-28** (HTTP and stdio): the ``ask`` raises ``InputRequired``: the call is answered
  with an ``input_required`` result whose ``requestState`` is the approval id; only when this
  request's envelope declares form-mode elicitation. The client's retry carries
  ``requestState`` and ``inputResponses``: ``Caller.resume`` is the approval id and the ``ask``
  returns the answer under ``INPUT_KEY`` at once (none, or not an elicitation result: a
  malformed answer, which the guard denies).

``Asking.pending`` is the ``input_required`` result this call's ``ask`` raised, so that the
frontend returns as ``InputRequiredResult`` only sshwall's own question, never an upstream's
result that claims to be one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import BaseModel, ValidationError

from sshwall.errors import ClientCannotAsk, InputRequired
from sshwall.proxy.caller import Ask, Caller, Question
from sshwall.proxy.elicitation import INPUT_KEY, declares_form, input_required


@dataclass
class Asking:
    """What one call's ``ask`` did: the ``input_required`` result it raised, if any."""

    pending: dict[str, Any] | None = None

    def is_pending(self, raw: Any) -> bool:
        """Whether ``raw`` (what the firewall answered) is this call's own question."""
        return self.pending is not None and raw is self.pending


def asking(caller: Caller, ctx: Any, params: Any) -> tuple[Caller, Asking]:
    """``caller`` for one ``tools/call`` the SDK serves, with the ``ask`` (and ``resume``) its
    era and the client's declared capabilities allow."""
    record = Asking()
    session = getattr(ctx, "session", None)
    declared = declares_form(_capabilities(session))
    if getattr(ctx, "protocol_version", None) in MODERN_PROTOCOL_VERSIONS:
        state = getattr(params, "request_state", None)
        if isinstance(state, str) and state:
            return replace(caller, resume=state, ask=_answered(state, _response(params))), record
        return (replace(caller, ask=_input_required(record)) if declared else caller), record
    if declared and session is not None:
        return replace(caller, ask=_elicit(session, getattr(ctx, "request_id", None))), record
    return caller, record


def _capabilities(session: Any) -> Any:
    """The client capabilities a session knows (the ``initialize``'s, or this request's
    envelope's), as the wire object."""
    caps = getattr(session, "client_capabilities", None)
    if isinstance(caps, BaseModel):
        return caps.model_dump(by_alias=True, mode="json", exclude_none=True)
    return caps


def _response(params: Any) -> Any:
    """The client's answer under ``INPUT_KEY`` in a retried call's ``inputResponses``."""
    responses = getattr(params, "input_responses", None)
    answer = responses.get(INPUT_KEY) if isinstance(responses, Mapping) else None
    if isinstance(answer, BaseModel):
        return answer.model_dump(by_alias=True, mode="json", exclude_none=True)
    return answer


def _elicit(session: Any, request_id: Any) -> Ask:
    async def ask(question: Question) -> Mapping[str, Any]:
        try:
            result = await session.elicit_form(question.message, dict(question.schema), related_request_id=request_id)
        except MCPError as err:  # NoBackChannelError is one: no stream back to this client
            raise ClientCannotAsk(f"the client cannot be asked: {err}") from None
        except ValidationError as err:  # an answer that is not an elicitation result
            return {"malformed": str(err)[:200]}
        dumped: dict[str, Any] = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return dumped

    return ask


def _input_required(record: Asking) -> Ask:
    async def ask(question: Question) -> Mapping[str, Any]:
        record.pending = input_required(question)
        raise InputRequired(record.pending)

    return ask


def _answered(state: str, answer: Any) -> Ask:
    async def ask(question: Question) -> Mapping[str, Any]:
        if question.approval_id != state or not isinstance(answer, Mapping):
            return {"malformed": f"no answer to {INPUT_KEY} for approval {state}"}
        return answer

    return ask


__all__ = ["Asking", "asking"]
