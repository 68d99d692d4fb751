"""A cancelled ``tools/call`` ends with exactly one ``cancelled`` outcome record, the upstream is
told, and the built-in backend stops the remote command.

Cancellations are real: ``notifications/cancelled`` on raw stdio (legacy and 2026-07-28 eras),
and a client closing its HTTP response stream on the 2026-07-28 wire. The remote command is a
real process on the session's sshd, counted with ``ps`` on the host.
"""

from __future__ import annotations

import http.client
import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

import mcp_types
import pytest

from sshwall.audit import verify
from tests.proxy.gateway import (
    FAKE_UPSTREAM,
    POLICIES,
    RawGateway,
    audit_records,
    decisions,
    http_server,
    serve_argv,
    upstream_command,
)
from tests.support.sshd import SshdServer

POLICY = POLICIES / "e2e-all.yaml"
SLEEP = "sleep 7.31"  # distinctive: no other process on the host has exactly this command line
MODERN = "2026-07-28"
MODERN_META = {
    mcp_types.PROTOCOL_VERSION_META_KEY: MODERN,
    mcp_types.CLIENT_INFO_META_KEY: {"name": "sshwall-cancel-test", "version": "0"},
    mcp_types.CLIENT_CAPABILITIES_META_KEY: {},
}


def _sleeping(sshd: SshdServer) -> int:
    """Processes on the host whose command line is exactly ``SLEEP``."""
    return sum(1 for line in sshd.check("ps -eo args=").splitlines() if line.strip() == SLEEP)


def _wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.1)


def _records_of(audit: Path, request_id: object) -> list[tuple[str, str]]:
    return [(r["kind"], r["upstream"]) for r in audit_records(audit) if r.get("request_id") == request_id]


def _chain_and_outcomes_hold(audit: Path) -> None:
    report = verify(audit)
    assert report.ok, str(report)
    forwarded = sorted(r["seq"] for r in decisions(audit) if r["upstream"] == "pending")
    refs = sorted(r["ref"] for r in audit_records(audit) if r.get("kind") == "outcome")
    assert refs == forwarded, "a forwarded call without exactly one outcome record"


def _modern(params: dict[str, Any]) -> dict[str, Any]:
    return {"_meta": MODERN_META, **params}


@pytest.mark.parametrize("era", ["legacy", "modern"])
def test_a_cancelled_command_stops_on_the_host(era: str, sshd: SshdServer, upstream: list[str], tmp_path: Path) -> None:
    if upstream_command() is not None:
        pytest.skip("counts the built-in backend's remote processes")
    audit = tmp_path / "audit.jsonl"
    gateway = RawGateway(serve_argv(POLICY, audit, upstream), tmp_path / "serve.log")
    wrap = _modern if era == "modern" else (lambda p: p)
    try:
        if era == "legacy":
            gateway.initialize()
        else:
            assert "result" in gateway.request("server/discover", {"_meta": MODERN_META}, timeout=30)
        connected = gateway.request("tools/call", wrap({"name": "connect", "arguments": {
            "host": sshd.host, "port": sshd.port, "username": sshd.user, "privateKey": sshd.client_key_text}}), timeout=30)
        connection = connected["result"]["structuredContent"]["connectionId"]
        before = _sleeping(sshd)
        msg_id = gateway.next_id()
        gateway.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                      "params": wrap({"name": "executeCommand", "arguments": {"connectionId": connection, "command": SLEEP}})})
        _wait(lambda: _sleeping(sshd) == before + 1, 15, f"{SLEEP!r} runs on the host")
        cancelled = time.monotonic()
        gateway.send({"jsonrpc": "2.0", "method": "notifications/cancelled",
                      "params": {"requestId": msg_id, "reason": "the user pressed stop"}})
        _wait(lambda: _sleeping(sshd) == before, 5, f"the cancelled {SLEEP!r} ends on the host")
        assert time.monotonic() - cancelled < 5  # well before the 7.31 s it would have run
        _wait(lambda: ("outcome", "cancelled") in _records_of(audit, msg_id), 5, "the outcome is recorded")
        with pytest.raises(AssertionError, match="no response"):
            gateway.response(msg_id, timeout=1)  # a cancelled request gets no answer
        still = gateway.request("tools/call", wrap({"name": "executeCommand", "arguments": {
            "connectionId": connection, "command": "echo alive"}}), timeout=30)
        assert "alive" in still["result"]["content"][0]["text"], still
    finally:
        gateway.close()
    assert _records_of(audit, msg_id) == [("decision", "pending"), ("outcome", "cancelled")]
    _chain_and_outcomes_hold(audit)


def _post_modern_call(port: int, msg_id: int, command: str) -> socket.socket:
    """POST a 2026-07-28 tools/call and return the socket, its response still open."""
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call", "params": _modern(
        {"name": "executeCommand", "arguments": {"connectionId": "c1", "command": command}})}).encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("POST", "/mcp", body, {
        "content-type": "application/json", "accept": "application/json, text/event-stream",
        "mcp-protocol-version": MODERN, "mcp-method": "tools/call", "mcp-name": "executeCommand",
    })
    assert conn.sock is not None
    return conn.sock


def test_closing_the_http_response_stream_cancels_the_call(tmp_path: Path) -> None:
    audit, record = tmp_path / "audit.jsonl", tmp_path / "record.jsonl"
    argv = serve_argv(POLICY, audit, ["--", sys.executable, str(FAKE_UPSTREAM), "--record", str(record)])
    with http_server(argv, tmp_path / "serve.log") as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        sock = _post_modern_call(port, 77, "sleep 5")

        def received() -> list[dict[str, Any]]:
            return [json.loads(line) for line in record.read_text().splitlines() if line.startswith("{")]

        def forwarded() -> list[dict[str, Any]]:
            return [m for m in received() if m.get("method") == "tools/call"
                    and m["params"]["arguments"]["command"] == "sleep 5"]

        _wait(lambda: record.exists() and bool(forwarded()), 15, "the call reaches the upstream")
        sock.close()  # the client goes away: on this wire, that is the cancellation
        _wait(lambda: ("outcome", "cancelled") in _records_of(audit, 77), 5, "the outcome is recorded")
        upstream_id = forwarded()[0]["id"]
        _wait(lambda: any(m.get("method") == "notifications/cancelled" and m["params"]["requestId"] == upstream_id
                          for m in received()), 5, "the upstream is told")
        time.sleep(5.5)  # the fake upstream answers anyway after 5 s: no second outcome
    assert _records_of(audit, 77) == [("decision", "pending"), ("outcome", "cancelled")]
    _chain_and_outcomes_hold(audit)
