"""The approval queue on the gateway's HTTP listener: ``GET /approvals``, ``GET|POST /approvals/ID``.

- ``GET /approvals``: the pending requests as a JSON list of summaries (``?all=1``: every state);
- ``GET /approvals/ID``: one request in full;
- ``POST /approvals/ID`` with ``{"decision": "approve" | "deny", "note": "..."}``: the bearer
  token's identity answers it through the ``http`` channel; 200 with the request as it now
  stands, 403 when that identity may not answer it (it asked itself, or is not one of its
  approvers), 409 when it is no longer pending or has expired, 404 for an unknown id, 400 for
  a body that is not exactly that object.

An identity sees only the requests it asked for or is an approver of (a shared gateway keeps
identities apart). The routes need to know who answers: they sit inside ``require_token``
(``sshwall.proxy.tokens``), which answers 401 without a valid token, and without ``--tokens``
every request to them is answered 403 (fail closed: an approver must be identified). Every
other path goes to the MCP app unchanged. A body is bounded in size and in time.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qsl

from sshwall.errors import ApprovalError, StateError
from sshwall.limits.approvals import OPEN, ApprovalRequest, ApprovalStore
from sshwall.proxy.httpframes import (
    Receive,
    Send,
    read_body,  # the frame guard's bounded reader
)
from sshwall.proxy.tokens import IDENTITY_KEY, ASGIApp, Scope

PREFIX = "/approvals"
CHANNEL = "http"
MAX_BODY_BYTES = 64 * 1024
MAX_NOTE_CHARS = 2000
NEED_TOKENS = "sshwall: approvals over HTTP need --tokens: an approver must be identified by a bearer token"


def mount_approvals(app: ASGIApp, store: ApprovalStore, body_timeout_s: float = 10.0,
                    max_bytes: int = MAX_BODY_BYTES) -> ASGIApp:
    """Wrap ``app`` so that ``/approvals`` and ``/approvals/ID`` answer from ``store``."""

    async def routed(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope.get("type") != "http" or (path != PREFIX and not path.startswith(PREFIX + "/")):
            await app(scope, receive, send)
            return
        state = scope.get("state")
        identity = state.get(IDENTITY_KEY) if isinstance(state, dict) else None
        if not isinstance(identity, str):
            await reply(send, 403, {"error": NEED_TOKENS})
            return
        rest = path[len(PREFIX):].strip("/")
        try:
            if not rest:
                await _collection(scope, send, store, identity)
            elif "/" in rest:
                await reply(send, 404, {"error": f"sshwall: no such route {path}"})
            else:
                await _one(scope, receive, send, store, identity, rest, body_timeout_s, max_bytes)
        except StateError as failed:
            await reply(send, 503, {"error": f"sshwall: the state backend failed: {failed}"})

    return routed


async def reply(send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Send one JSON response."""
    data = json.dumps(body, separators=(",", ":"), sort_keys=True).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()),
                            (b"cache-control", b"no-store"), *(headers or [])]})
    await send({"type": "http.response.body", "body": data})


def visible(request: ApprovalRequest, identity: str) -> bool:
    """Whether ``identity`` may see ``request``: it asked for it or may answer it."""
    return identity == request.identity or identity in request.approvers


async def _collection(scope: Scope, send: Send, store: ApprovalStore, identity: str) -> None:
    if scope.get("method") != "GET":
        await reply(send, 405, {"error": "sshwall: /approvals answers GET only"}, [(b"allow", b"GET")])
        return
    query = dict(parse_qsl(bytes(scope.get("query_string", b"")).decode("latin-1"), keep_blank_values=True))
    every = query.get("all", "0").lower()
    if every not in ("0", "1", "true", "false", "yes", "no", ""):
        await reply(send, 400, {"error": f"sshwall: all={every!r}: write all=1 or all=0"})
        return
    requests = await store.list(None if every in ("1", "true", "yes") else OPEN)
    await reply(send, 200, [r.summary() for r in requests if visible(r, identity)])


async def _one(scope: Scope, receive: Receive, send: Send, store: ApprovalStore, identity: str, request_id: str,
               body_timeout_s: float, max_bytes: int) -> None:
    method = scope.get("method")
    if method not in ("GET", "POST"):
        await reply(send, 405, {"error": "sshwall: /approvals/ID answers GET and POST"}, [(b"allow", b"GET, POST")])
        return
    request = await store.get(request_id)
    if request is None:
        await reply(send, 404, {"error": f"sshwall: there is no approval request {request_id}"})
        return
    if method == "GET":
        if not visible(request, identity):
            await reply(send, 403, {"error": f"sshwall: {identity} neither asked for approval request {request_id} "
                                             "nor is one of its approvers"})
            return
        await reply(send, 200, asdict(request))
        return
    try:
        async with asyncio.timeout(body_timeout_s):
            body = await read_body(receive, max_bytes)
    except TimeoutError:
        await reply(send, 408, {"error": f"sshwall: the request body took over {body_timeout_s:g} s"},
                    [(b"connection", b"close")])
        return
    if body is None:  # the client went away
        return
    if len(body) > max_bytes:
        await reply(send, 413, {"error": f"sshwall: a body over the limit of {max_bytes} bytes"})
        return
    decision = parse_decision(body)
    if isinstance(decision, str):
        await reply(send, 400, {"error": f"sshwall: {decision}"})
        return
    approve, note = decision
    try:
        done = await store.answer(request_id, approve, by=identity, channel=CHANNEL, note=note)
    except ApprovalError as refused:
        await reply(send, await _refusal_status(store, request_id), {"error": f"sshwall: {refused}"})
        return
    await reply(send, 200, asdict(done))


def parse_decision(body: bytes) -> tuple[bool, str | None] | str:
    """``(approve, note)`` from a POST body, or what is wrong with it (only exactly
    ``{"decision": "approve" | "deny"}``, with an optional string ``note``, is understood)."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 'the body must be JSON: {"decision": "approve" or "deny", "note": "..."}'
    if not isinstance(data, dict):
        return 'the body must be a JSON object: {"decision": "approve" or "deny", "note": "..."}'
    unknown = sorted(set(data) - {"decision", "note"})
    if unknown:
        return f"unknown key(s) {', '.join(map(repr, unknown))}: only decision and note"
    decision = data.get("decision")
    if decision not in ("approve", "deny"):
        return f'decision must be "approve" or "deny", not {json.dumps(decision)}'
    note = data.get("note")
    if note is not None and not isinstance(note, str):
        return "note must be a string"
    if note is not None and len(note) > MAX_NOTE_CHARS:
        return f"note is longer than {MAX_NOTE_CHARS} characters"
    return decision == "approve", note


async def _refusal_status(store: ApprovalStore, request_id: str) -> int:
    """The status of a refused answer: 404 gone, 409 no longer pending or expired, else 403
    (the identity has no right to answer it)."""
    current = await store.get(request_id)
    if current is None:
        return 404
    if current.state != "pending" or time.time() >= current.expires:
        return 409
    return 403

