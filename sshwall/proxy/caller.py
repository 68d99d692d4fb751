"""Who is calling: one small value, in a module of its own so that the pure path of a call
(``Firewall.preview``, what ``sshwall check`` decides by) names it without loading the rate
caps and task registry (``sshwall.limits``) that the limit guard needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Question:
    """What the approval stage asks a client's user: an ``elicitation/create`` in form mode
    (``message`` and ``schema``) about approval request ``approval_id``."""

    approval_id: str
    message: str
    schema: Mapping[str, Any]


Ask = Callable[[Question], Awaitable[Mapping[str, Any]]]
"""Asks the client's user and returns the elicitation result (``{"action": ..., "content":
...}``); raises ``ClientCannotAsk`` when the client cannot be asked, ``InputRequired`` in the
2026-07-28 era (the question goes back as the call's result)."""


@dataclass(frozen=True)
class Caller:
    """Who is calling: the identity whose grant applies, the MCP session, the bound host.

    ``ask``: how to ask this client's user for approval (set by the frontend when the client
    declared the elicitation capability); ``resume``: the approval request a 2026-07-28 client's
    retried call answers (its ``requestState``).
    """

    identity: str = "local"
    session: str = "stdio"
    host: str | None = None
    ask: Ask | None = field(default=None, compare=False, repr=False)
    resume: str | None = None


__all__ = ["Ask", "Caller", "Question"]
