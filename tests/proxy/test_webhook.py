"""The approval webhook: a real HTTP server on 127.0.0.1 receives what ``announce`` posts."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import anyio
import pytest

from sshwall.limits.approvals import ApprovalRequest
from sshwall.proxy.webhook import announce

APPROVE = "sshwall approvals approve 1a2b3c --state sqlite:///var/lib/sshwall/state.db"


def _request(**changes: Any) -> ApprovalRequest:
    now = time.time()
    fields: dict[str, Any] = {
        "id": "1a2b3c", "key": "k", "identity": "agent-7", "tool": "executeCommand",
        "arguments": {"connectionId": "c1", "command": "systemctl restart nginx"}, "revision": "r1",
        "created": now, "expires": now + 120, "host": "web1", "user": "ops", "command": "systemctl restart nginx",
        "programs": ("systemctl",), "reasons": ("restarting a service needs an operator's yes",),
        "approvers": ("alice",),
    }
    fields.update(changes)
    return ApprovalRequest(**fields)


class Hook:
    """A tiny webhook receiver: records each POST, answers ``status`` after ``delay`` seconds."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.status = 200
        self.delay = 0.0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                hook.bodies.append(json.loads(self.rfile.read(length)))
                hook.headers.append({k.lower(): v for k, v in self.headers.items()})
                hook.paths.append(self.path)
                time.sleep(hook.delay)
                try:
                    self.send_response(hook.status)
                    self.send_header("content-length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the client gave up (the timeout test)
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/services/T000/B000/SECRETTOKEN"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    receiver = Hook()
    try:
        yield receiver
    finally:
        receiver.close()


def _announce(url: str, request: ApprovalRequest, **kw: Any) -> str | None:
    async def go() -> str | None:
        return await announce(url, request, APPROVE, **kw)

    return anyio.run(go)


def test_the_webhook_receives_the_request_and_its_sentence(hook: Hook) -> None:
    request = _request()
    assert _announce(hook.url, request) is None
    [body] = hook.bodies
    assert hook.paths == ["/services/T000/B000/SECRETTOKEN"]
    assert hook.headers[0]["content-type"] == "application/json"
    assert {k: body[k] for k in ("id", "identity", "tool", "host", "user", "command", "reasons", "expires", "approve")} == {
        "id": "1a2b3c", "identity": "agent-7", "tool": "executeCommand", "host": "web1", "user": "ops",
        "command": "systemctl restart nginx", "reasons": ["restarting a service needs an operator's yes"],
        "expires": request.expires, "approve": APPROVE,
    }
    assert body["text"].startswith(
        "agent-7 wants to run systemctl restart nginx on ops@web1 (executeCommand), "
        f"restarting a service needs an operator's yes; approve with: {APPROVE}")
    assert "1a2b3c" in body["text"]


def test_a_call_without_a_command_is_named_by_its_tool(hook: Hook) -> None:
    assert _announce(hook.url, _request(tool="uploadFile", command=None, reasons=())) is None
    text = hook.bodies[0]["text"]
    assert text.startswith("agent-7 wants to call uploadFile on ops@web1, the policy asks for approval; approve with:")
    assert hook.bodies[0]["command"] is None


def test_a_refusing_webhook_is_reported_without_its_secret_path(hook: Hook) -> None:
    hook.status = 500
    problem = _announce(hook.url, _request())
    assert problem is not None and "HTTP 500" in problem
    assert "SECRETTOKEN" not in problem and "127.0.0.1" in problem
    hook.status = 302  # a redirect is not a delivery
    problem = _announce(hook.url, _request())
    assert problem is not None and "HTTP 302" in problem


def test_a_slow_webhook_times_out_and_the_call_returns(hook: Hook) -> None:
    hook.delay = 2.0
    started = time.monotonic()
    problem = _announce(hook.url, _request(), timeout_s=0.5)
    assert time.monotonic() - started < 1.8
    assert problem is not None and "did not answer within 0.5 s" in problem
    assert "SECRETTOKEN" not in problem


def test_an_unreachable_or_malformed_webhook_is_reported_never_raised() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    problem = _announce(f"http://127.0.0.1:{port}/hook/SECRETTOKEN", _request())
    assert problem is not None and "could not be reached" in problem and "SECRETTOKEN" not in problem
    for url in ("not a url", "ftp://127.0.0.1/x", "http://[::1"):
        problem = _announce(url, _request())
        assert problem is not None and problem.startswith("webhook ")
