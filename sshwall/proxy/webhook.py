"""Telling a webhook of a pending approval request (the policy's ``approval.webhook``).

``announce`` POSTs one JSON object whose ``text`` is a sentence a chat incoming-webhook shows as
it is, and whose other fields name the request for a machine: who wants to run what, where, why,
until when, and the command that approves it. It never raises: it answers None when the webhook
took it (a 2xx), else what went wrong, which the caller audits. The webhook's URL is a secret
(chat webhooks carry their token in the path): a failure names only its scheme and host.
Redirects are not followed.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import httpx2

from sshwall.limits.approvals import ApprovalRequest

TIMEOUT_S = 5.0
TEXT_COMMAND_CHARS = 500
"""The most of the command the sentence quotes (the ``command`` field has all of it)."""


def payload(request: ApprovalRequest, approve_command: str) -> dict[str, Any]:
    """The JSON object ``announce`` posts for ``request``."""
    return {
        "text": sentence(request, approve_command),
        "id": request.id,
        "identity": request.identity,
        "tool": request.tool,
        "host": request.host,
        "user": request.user,
        "command": request.command,
        "reasons": list(request.reasons),
        "expires": request.expires,
        "approve": approve_command,
    }


def sentence(request: ApprovalRequest, approve_command: str) -> str:
    """``identity wants to run COMMAND on user@host (tool), reason; approve with: ...``."""
    where = request.host or "no host"
    if request.host and request.user:
        where = f"{request.user}@{request.host}"
    if request.command:
        command = request.command
        if len(command) > TEXT_COMMAND_CHARS:
            command = command[: TEXT_COMMAND_CHARS - 1] + "…"
        what = f"run {command} on {where} ({request.tool})"
    else:
        what = f"call {request.tool} on {where}"
    reasons = "; ".join(request.reasons) or "the policy asks for approval"
    expires = time.strftime("%H:%M:%SZ", time.gmtime(request.expires))
    return (f"{request.identity} wants to {what}, {reasons}; approve with: {approve_command} "
            f"(request {request.id}, expires {expires})")


def _where(url: str) -> str:
    """The URL without its path, query and credentials."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
    except ValueError:
        return "the webhook"


async def announce(url: str, request: ApprovalRequest, approve_command: str, *,
                   timeout_s: float = TIMEOUT_S) -> str | None:
    """POST ``request`` to the webhook ``url``; None on a 2xx, else why not (never raises)."""
    where = _where(url)
    try:
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(timeout_s), follow_redirects=False) as client:
            response = await client.post(url, json=payload(request, approve_command))
    except httpx2.TimeoutException:
        return f"webhook {where} did not answer within {timeout_s:g} s"
    except httpx2.HTTPError as failed:
        detail = str(failed).replace(url, where) or type(failed).__name__
        return f"webhook {where} could not be reached: {detail}"
    except Exception as failed:  # noqa: BLE001 - a webhook's failure is audited, never raised
        return f"webhook {where} failed: {type(failed).__name__}"
    if 200 <= response.status_code < 300:
        return None
    return f"webhook {where} answered HTTP {response.status_code}"
