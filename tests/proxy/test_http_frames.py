"""Frames the SDK would misread never pass the HTTP frontend (nor the stdio relay) unanswered.

Raw HTTP to a real ``sshwall serve --listen`` in front of a recording upstream: a request whose
id has an odd type, a ``tools/call`` sent as a notification, a look-alike method name and a batch
are each answered with a JSON-RPC error (HTTP 400, id null; a look-alike with a valid id gets
its own error), and the upstream never receives them. The stdio relay answers the same frames
the same way.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.proxy.gateway import FAKE_UPSTREAM, RawGateway
from tests.proxy.rawhttp import POLICY, HttpGateway

CALL = {"name": "listConnections", "arguments": {}}
ODD_IDS = [1.5, True, {}, None, [1]]


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpGateway, str]]:
    gateway = HttpGateway(tmp_path_factory.mktemp("frames"))
    try:
        _, session = gateway.open_session()
        assert session
        yield gateway, session
    finally:
        gateway.close()


@pytest.fixture
def stdio(tmp_path: Path) -> Iterator[tuple[RawGateway, Path]]:
    (tmp_path / "policy.yaml").write_text(POLICY)
    record = tmp_path / "upstream.jsonl"
    raw = RawGateway([sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(tmp_path / "policy.yaml"),
                      "--audit", str(tmp_path / "audit.jsonl"), "--", sys.executable, str(FAKE_UPSTREAM),
                      "--record", str(record)], tmp_path / "gateway.log")
    raw.send({"jsonrpc": "2.0", "id": "init", "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
    assert "result" in raw.response("init")
    raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    try:
        yield raw, record
    finally:
        raw.proc.terminate()
        raw.proc.wait(10)


def _tool_calls(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in frames if "tools/call" in str(f.get("method", "")).casefold()]


def _stdio_frames(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.startswith("{")] if record.exists() else []


def test_a_valid_call_passes_and_is_decided(gw: tuple[HttpGateway, str]) -> None:
    gateway, session = gw
    reply = gateway.post({"jsonrpc": "2.0", "id": 5, "method": "tools/call", "params": CALL}, session)
    assert reply.status == 200 and reply.message["id"] == 5 and "result" in reply.message
    assert any(d.get("tool") == "listConnections" for d in gateway.decisions())


@pytest.mark.parametrize("odd", ODD_IDS, ids=[json.dumps(i) for i in ODD_IDS])
def test_odd_id_gets_invalid_request_over_http(gw: tuple[HttpGateway, str], odd: Any) -> None:
    gateway, session = gw
    before = len(_tool_calls(gateway.upstream_frames()))
    reply = gateway.post({"jsonrpc": "2.0", "id": odd, "method": "tools/call", "params": CALL}, session)
    assert reply.status == 400, reply
    assert reply.message["id"] is None and reply.message["error"]["code"] == -32600
    assert "id must be a string or an integer" in reply.message["error"]["message"]
    assert len(_tool_calls(gateway.upstream_frames())) == before


def test_tools_call_as_notification_is_refused_over_http(gw: tuple[HttpGateway, str]) -> None:
    gateway, session = gw
    before = len(_tool_calls(gateway.upstream_frames()))
    reply = gateway.post({"jsonrpc": "2.0", "method": "tools/call", "params": CALL}, session)
    assert reply.status == 400 and reply.message["id"] is None
    assert reply.message["error"]["code"] == -32600 and "notification" in reply.message["error"]["message"]
    gateway.post({"jsonrpc": "2.0", "id": "after", "method": "ping"}, session)  # the upstream had its chance
    assert len(_tool_calls(gateway.upstream_frames())) == before


@pytest.mark.parametrize("method", ["Tools/Call", "tools/call ", "/tools/call", "TOOLS/CALL", "tools/List"])
def test_look_alike_methods_are_refused_over_http(gw: tuple[HttpGateway, str], method: str) -> None:
    gateway, session = gw
    reply = gateway.post({"jsonrpc": "2.0", "id": 9, "method": method, "params": CALL}, session)
    assert reply.message["id"] == 9 and reply.message["error"]["code"] == -32601
    assert "matched exactly" in reply.message["error"]["message"]
    notified = gateway.post({"jsonrpc": "2.0", "method": method, "params": CALL}, session)
    assert notified.status == 400 and notified.message["error"]["code"] == -32601
    assert not [f for f in gateway.upstream_frames() if f.get("method") == method]


def test_a_batch_is_refused_over_http(gw: tuple[HttpGateway, str]) -> None:
    gateway, session = gw
    before = len(_tool_calls(gateway.upstream_frames()))
    reply = gateway.post([{"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": CALL},
                          {"jsonrpc": "2.0", "method": "tools/call", "params": CALL}], session)
    assert reply.status == 400 and reply.message["error"]["code"] == -32600
    assert len(_tool_calls(gateway.upstream_frames())) == before


def test_the_stdio_relay_answers_the_same_frames_the_same_way(stdio: tuple[RawGateway, Path]) -> None:
    raw, record = stdio
    for odd in ODD_IDS:
        raw.send({"jsonrpc": "2.0", "id": odd, "method": "tools/call", "params": CALL})
        got = raw.receive()
        assert got["id"] is None and got["error"]["code"] == -32600, got
    raw.send({"jsonrpc": "2.0", "method": "tools/call", "params": CALL})
    got = raw.receive()
    assert got["id"] is None and got["error"]["code"] == -32600 and "notification" in got["error"]["message"]
    raw.send({"jsonrpc": "2.0", "id": 21, "method": "Tools/Call", "params": CALL})
    got = raw.response(21)
    assert got["error"]["code"] == -32601
    raw.send({"jsonrpc": "2.0", "method": "TOOLS/CALL", "params": CALL})
    assert raw.receive()["error"]["code"] == -32601
    raw.send_bytes(json.dumps([{"jsonrpc": "2.0", "method": "tools/call", "params": CALL}]).encode() + b"\n")
    assert raw.receive()["error"]["code"] == -32600
    raw.send({"jsonrpc": "2.0", "id": 22, "method": "tools/call", "params": CALL})  # a real one still passes
    assert "result" in raw.response(22)
    calls = [f for f in _stdio_frames(record) if "tools/call" in str(f.get("method", "")).casefold()]
    assert len(calls) == 1 and calls[0]["method"] == "tools/call" and "id" in calls[0]


def test_the_sdk_frontend_on_stdio_refuses_them_too(tmp_path: Path) -> None:
    """A 2026-07-28 client on stdio is served by the SDK frontend: same refusals there."""
    (tmp_path / "policy.yaml").write_text(POLICY)
    record = tmp_path / "upstream.jsonl"
    raw = RawGateway([sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(tmp_path / "policy.yaml"),
                      "--", sys.executable, str(FAKE_UPSTREAM), "--record", str(record)], tmp_path / "gateway.log")
    meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "0"}}
    try:
        raw.send({"jsonrpc": "2.0", "id": 1, "method": "server/discover", "params": {"_meta": meta}})
        assert "result" in raw.response(1)
        raw.send({"jsonrpc": "2.0", "method": "tools/call", "params": {**CALL, "_meta": meta}})
        got = raw.receive()
        assert got["id"] is None and got["error"]["code"] == -32600 and "notification" in got["error"]["message"]
        raw.send({"jsonrpc": "2.0", "id": 2, "method": "Tools/Call", "params": {**CALL, "_meta": meta}})
        assert raw.response(2)["error"]["code"] == -32601
        raw.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {**CALL, "_meta": meta}})
        assert "result" in raw.response(3)
    finally:
        raw.proc.terminate()
        raw.proc.wait(10)
    calls = [f for f in _stdio_frames(record) if "tools/call" in str(f.get("method", "")).casefold()]
    assert len(calls) == 1 and calls[0]["id"] is not None
