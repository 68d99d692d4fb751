"""``/approvals`` on the gateway's HTTP listener: bearer tokens name who answers.

The routes are driven through httpx2's ASGI transport over the same layers ``serve_http``
stacks (``require_token`` outside, the MCP app inside), and once through a real uvicorn
listener from ``serve_http`` itself, where ``/mcp`` must keep working as before.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest

from sshwall.limits.approvals import ApprovalRequest, MemoryApprovals
from sshwall.proxy.approvalroutes import NEED_TOKENS, mount_approvals
from sshwall.proxy.tokens import require_token

pytestmark = pytest.mark.anyio

ALICE, BOB, AGENT = "alice-token-0123456789", "bob-token-0123456789ab", "agent-token-0123456789"
TOKENS = {"alice": ALICE, "bob": BOB, "agent-7": AGENT}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def request_of(request_id: str, **changes: Any) -> ApprovalRequest:
    now = time.time()
    fields: dict[str, Any] = {
        "id": request_id, "key": f"key-{request_id}", "identity": "agent-7", "tool": "executeCommand",
        "arguments": {"connectionId": "c1", "command": "systemctl restart nginx", "password": "[redacted]"},
        "revision": "rev1", "created": now, "expires": now + 120, "host": "web1", "user": "ops", "port": 22,
        "host_key": "SHA256:abc", "command": "systemctl restart nginx", "programs": ("systemctl",),
        "reasons": ("restarting a service needs an operator's yes",), "rules": ("programs.systemctl",),
        "approvers": ("alice",),
    }
    fields.update(changes)
    return ApprovalRequest(**fields)


async def mcp_app(scope: Any, receive: Any, send: Any) -> None:
    """Stands in for the MCP app: says which path reached it."""
    body = json.dumps({"mcp": scope["path"]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
async def store() -> MemoryApprovals:
    approvals = MemoryApprovals()
    await approvals.create(request_of("r1"))
    await approvals.create(request_of("r2", identity="agent-9", command="journalctl --rotate"))
    await approvals.create(request_of("done", state="denied", by="alice", channel="cli"))
    await approvals.create(request_of("old", created=time.time() - 300, expires=time.time() - 1))
    return approvals


@pytest.fixture
async def client(store: MemoryApprovals) -> AsyncIterator[httpx2.AsyncClient]:
    app = require_token(mount_approvals(mcp_app, store, body_timeout_s=0.5), TOKENS)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw") as http:
        yield http


def auth(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_without_a_valid_token_the_queue_answers_401(client: httpx2.AsyncClient) -> None:
    assert (await client.get("/approvals")).status_code == 401
    assert (await client.post("/approvals/r1", json={"decision": "approve"},
                              headers=auth("not-a-token-0123456789"))).status_code == 401


async def test_without_tokens_nobody_is_identified_and_the_routes_refuse(store: MemoryApprovals) -> None:
    app = mount_approvals(mcp_app, store)
    async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw") as http:
        for response in (await http.get("/approvals"), await http.get("/approvals/r1"),
                         await http.post("/approvals/r1", json={"decision": "approve"})):
            assert response.status_code == 403
            assert response.json()["error"] == NEED_TOKENS
        assert (await http.post("/mcp", json={})).json() == {"mcp": "/mcp"}
    assert (await store.get("r1")).state == "pending"  # type: ignore[union-attr]


async def test_other_paths_reach_the_mcp_app(client: httpx2.AsyncClient) -> None:
    for path in ("/mcp", "/approvalsX", "/"):
        assert (await client.post(path, json={}, headers=auth(BOB))).json() == {"mcp": path}


async def test_the_list_shows_pending_requests_an_identity_may_see(client: httpx2.AsyncClient) -> None:
    listed = await client.get("/approvals", headers=auth(ALICE))
    assert listed.status_code == 200 and listed.headers["content-type"] == "application/json"
    # "old" is still pending in the store until the gateway ends it: listed, but it cannot be answered.
    assert [r["id"] for r in listed.json()] == ["old", "r1", "r2"]
    r1 = next(r for r in listed.json() if r["id"] == "r1")
    assert r1 == request_of("r1", created=r1["created"], expires=r1["expires"]).summary() | {
        "reasons": ["restarting a service needs an operator's yes"]}
    every = await client.get("/approvals?all=1", headers=auth(ALICE))
    assert sorted(r["id"] for r in every.json()) == ["done", "old", "r1", "r2"]
    # bob is no approver and asked for nothing; the agent sees only its own requests.
    assert (await client.get("/approvals?all=1", headers=auth(BOB))).json() == []
    assert sorted(r["id"] for r in (await client.get("/approvals?all=true", headers=auth(AGENT))).json()) == [
        "done", "old", "r1"]
    assert (await client.get("/approvals?all=maybe", headers=auth(ALICE))).status_code == 400
    assert (await client.post("/approvals", headers=auth(ALICE))).status_code == 405


async def test_one_request_in_full(client: httpx2.AsyncClient) -> None:
    shown = await client.get("/approvals/r1", headers=auth(ALICE))
    assert shown.status_code == 200
    body = shown.json()
    assert body["arguments"]["password"] == "[redacted]"
    assert (body["host_key"], body["revision"], body["programs"], body["rules"]) == (
        "SHA256:abc", "rev1", ["systemctl"], ["programs.systemctl"])
    assert (await client.get("/approvals/r1", headers=auth(BOB))).status_code == 403
    assert (await client.get("/approvals/nope", headers=auth(ALICE))).status_code == 404
    assert (await client.get("/approvals/r1/more", headers=auth(ALICE))).status_code == 404
    assert (await client.put("/approvals/r1", headers=auth(ALICE))).status_code == 405


async def test_an_approver_approves_with_a_note(client: httpx2.AsyncClient, store: MemoryApprovals) -> None:
    done = await client.post("/approvals/r1", json={"decision": "approve", "note": "go"}, headers=auth(ALICE))
    assert done.status_code == 200, done.text
    assert {k: done.json()[k] for k in ("id", "state", "by", "channel", "note")} == {
        "id": "r1", "state": "approved", "by": "alice", "channel": "http", "note": "go"}
    stored = await store.get("r1")
    assert stored is not None and (stored.state, stored.by, stored.channel) == ("approved", "alice", "http")
    again = await client.post("/approvals/r1", json={"decision": "deny"}, headers=auth(ALICE))
    assert again.status_code == 409 and "is approved, not pending" in again.json()["error"]


async def test_an_approver_denies(client: httpx2.AsyncClient, store: MemoryApprovals) -> None:
    done = await client.post("/approvals/r2", json={"decision": "deny"}, headers=auth(ALICE))
    assert done.status_code == 200 and done.json()["state"] == "denied"
    assert (await store.get("r2")).state == "denied"  # type: ignore[union-attr]


async def test_refused_answers_say_why(client: httpx2.AsyncClient, store: MemoryApprovals) -> None:
    itself = await client.post("/approvals/r1", json={"decision": "approve"}, headers=auth(AGENT))
    assert itself.status_code == 403 and "cannot approve it itself" in itself.json()["error"]
    stranger = await client.post("/approvals/r1", json={"decision": "approve"}, headers=auth(BOB))
    assert stranger.status_code == 403 and "bob is not an approver of request r1" in stranger.json()["error"]
    expired = await client.post("/approvals/old", json={"decision": "approve"}, headers=auth(ALICE))
    assert expired.status_code == 409 and "expired" in expired.json()["error"]
    ended = await client.post("/approvals/done", json={"decision": "approve"}, headers=auth(ALICE))
    assert ended.status_code == 409 and "is denied, not pending" in ended.json()["error"]
    unknown = await client.post("/approvals/nope", json={"decision": "approve"}, headers=auth(ALICE))
    assert unknown.status_code == 404
    assert (await store.get("r1")).state == "pending"  # type: ignore[union-attr]


@pytest.mark.parametrize("body", [
    b"", b"not json", b"[]", b'"approve"', b'{"decision": "yes"}', b'{"decision": true}', b"{}",
    b'{"decision": "approve", "by": "alice"}', b'{"decision": "approve", "note": 5}',
    json.dumps({"decision": "approve", "note": "x" * 3000}).encode(), b'\xff\xfe{"decision": "approve"}',
])
async def test_a_body_that_is_not_exactly_a_decision_is_400(client: httpx2.AsyncClient, store: MemoryApprovals,
                                                            body: bytes) -> None:
    response = await client.post("/approvals/r1", content=body, headers=auth(ALICE))
    assert response.status_code == 400, response.text
    assert (await store.get("r1")).state == "pending"  # type: ignore[union-attr]


async def test_a_body_is_bounded_in_size_and_time(store: MemoryApprovals, client: httpx2.AsyncClient) -> None:
    big = json.dumps({"decision": "approve", "note": "x" * 70_000}).encode()
    assert (await client.post("/approvals/r1", content=big, headers=auth(ALICE))).status_code == 413
    app = require_token(mount_approvals(mcp_app, store, body_timeout_s=0.3), TOKENS)
    sent: list[dict[str, Any]] = []
    calls = 0

    async def trickle() -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            return {"type": "http.request", "body": b'{"decision":', "more_body": True}
        await asyncio.sleep(30)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/approvals/r1", "query_string": b"",
             "headers": [(b"authorization", f"Bearer {ALICE}".encode())]}
    started = time.monotonic()
    await app(scope, trickle, send)
    assert time.monotonic() - started < 5
    assert sent[0]["status"] == 408
    assert (await store.get("r1")).state == "pending"  # type: ignore[union-attr]


async def test_serve_http_mounts_the_queue_beside_mcp(store: MemoryApprovals) -> None:
    from mcp.server.lowlevel import Server

    from sshwall.proxy.sdk import serve_http

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    task = asyncio.create_task(serve_http(Server("t"), f"127.0.0.1:{port}", 1 << 20, TOKENS, approvals=store))
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx2.AsyncClient(base_url=base, timeout=5) as http:
            for _ in range(100):
                try:
                    await http.get("/approvals")
                    break
                except httpx2.TransportError:
                    await asyncio.sleep(0.05)
            assert (await http.get("/approvals")).status_code == 401
            init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
            headers = {**auth(ALICE), "accept": "application/json, text/event-stream"}
            mcp = await http.post("/mcp", json=init, headers=headers)
            assert mcp.status_code == 200 and "mcp-session-id" in mcp.headers
            assert '"serverInfo"' in mcp.text
            listed = await http.get("/approvals", headers=auth(ALICE))
            assert [r["id"] for r in listed.json()] == ["old", "r1", "r2"]
            done = await http.post("/approvals/r1", json={"decision": "approve"}, headers=auth(ALICE))
            assert done.status_code == 200 and done.json()["state"] == "approved"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_a_failing_state_backend_is_503() -> None:
    from sshwall.limits import open_state

    with socket.socket() as sock:  # a port nobody listens on: the real Redis client fails
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    state = await open_state(f"redis://127.0.0.1:{port}/0?timeout=0.5")
    try:
        app = require_token(mount_approvals(mcp_app, state.approvals), TOKENS)
        async with httpx2.AsyncClient(transport=httpx2.ASGITransport(app=app), base_url="http://gw") as http:
            for response in (await http.get("/approvals", headers=auth(ALICE)),
                             await http.post("/approvals/r1", json={"decision": "approve"}, headers=auth(ALICE))):
                assert response.status_code == 503
                assert "the state backend failed" in response.json()["error"]
    finally:
        await state.close()
