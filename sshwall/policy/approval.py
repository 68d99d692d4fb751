"""The ``approval:`` section: how a ``prompt`` verdict is put to a human (docs/approval.md).

A call whose verdict is ``prompt`` (a tool rule, a program spec or subcommand, a host group
says so) waits for an approval bound to that exact call. This section says which channels are
tried, in order (``elicitation``: the MCP client asks its user; ``queue``: the request waits in
the state backend for ``sshwall approvals approve ID`` or ``POST /approvals/ID``), how long a
call waits, who may answer from the queue, how long a yes stays good for the identical call,
and where pending requests are announced.
"""

from __future__ import annotations

import math
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from sshwall.policy.base import Frozen

Channel = Literal["elicitation", "queue"]


class ApprovalRule(Frozen):
    """How calls that need approval are approved (see the module doc)."""

    channels: tuple[Channel, ...] = Field(
        default=("elicitation", "queue"),
        description="tried in order: elicitation when the client declared it, then the queue",
    )
    timeout: float = Field(default=120.0, description="seconds a call waits for an answer; then it is denied")
    approvers: tuple[str, ...] = Field(
        default=(), description="identities that may answer queued requests (never the requester); empty: nobody"
    )
    reuse: float = Field(
        default=0.0, description="seconds a yes stays valid for the identical call; 0: it is used once"
    )
    webhook: str | None = Field(default=None, description="http(s) URL told of every pending request (JSON, with text)")

    @field_validator("channels")
    @classmethod
    def _channels(cls, value: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if len(set(value)) != len(value):
            raise ValueError("approval.channels lists a channel twice")
        return value

    @field_validator("timeout")
    @classmethod
    def _timeout(cls, value: float) -> float:
        if not math.isfinite(value) or not 0 < value <= 86400:
            raise ValueError("approval.timeout must be a number of seconds in (0, 86400]")
        return value

    @field_validator("reuse")
    @classmethod
    def _reuse(cls, value: float) -> float:
        if not math.isfinite(value) or not 0 <= value <= 86400:
            raise ValueError("approval.reuse must be a number of seconds in [0, 86400]")
        return value

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None:
            parts = urlsplit(value)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"approval.webhook {value!r} is not an http(s) URL")
        return value


__all__ = ["ApprovalRule", "Channel"]
