"""Faults on both sides of ``sshwall serve``: client garbage, over-size messages, an upstream
that dies mid-call, is killed, hangs, or prints log lines on stdout. The gateway answers each
with a clear error, stays up, and its audit chain still verifies. Also: malformed tools/call
params, concurrent calls, upstream-to-client requests and client cancellations on raw stdio,
the same faults over HTTP, and the 2026-07-28 era on raw stdio.

The upstream is ``fake_upstream.py`` (a small stdio MCP server that misbehaves on request),
given after ``--``; the policy is e2e-all.yaml, so its ``executeCommand`` calls are forwarded.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import mcp_types
import pytest
from mcp.shared.exceptions import MCPError

from sshwall.audit import verify
from tests.proxy.gateway import (
    FAKE_UPSTREAM,
    POLICIES,
    READONLY_OPS,
    GatewayClient,
    RawGateway,
    audit_records,
    decisions,
    serve_argv,
    start_gateway,
)

POLICY = POLICIES / "e2e-all.yaml"
UPSTREAM_FAILED = "sshwall: upstream failed"
MODERN_META = {  # the 2026-07-28 per-request envelope
    mcp_types.PROTOCOL_VERSION_META_KEY: "2026-07-28",
    mcp_types.CLIENT_INFO_META_KEY: {"name": "sshwall-e2e-raw", "version": "0"},
    mcp_types.CLIENT_CAPABILITIES_META_KEY: {},
}
TEN_MB = 10 * 1024 * 1024
SMALL_LIMIT = 64 * 1024  # --max-message-bytes of the HTTP gateway below


def _fake(record: Path) -> list[str]:
    return ["--", sys.executable, str(FAKE_UPSTREAM), "--noisy", "--record", str(record)]


def _starts(record: Path) -> list[int]:
    """The pids of every start of the fake upstream, in order."""
    return [int(line.split()[1]) for line in record.read_text().splitlines() if line.startswith("start ")]


def _received(record: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.startswith("{")]


def _got(record: Path, command: str) -> bool:
    """Whether the upstream received an executeCommand call with ``command``."""
    for msg in _received(record):
        params = msg.get("params")
        if msg.get("method") == "tools/call" and isinstance(params, dict) and (params.get("arguments") or {}).get("command") == command:
            return True
    return False


def _cancels(record: Path) -> list[dict[str, object]]:
    return [m for m in _received(record) if m.get("method") == "notifications/cancelled"]


def _call(command: str) -> dict[str, object]:
    return {"connectionId": "c1", "command": command}


class Raw:
    """The module's raw stdio gateway and what it was sent."""

    def __init__(self, gateway: RawGateway, audit: Path, record: Path) -> None:
        self.gw = gateway
        self.audit = audit
        self.record = record
        self.tool_calls = 0  # tools/call requests sent: each must leave a decision record
        self.upstream_failures = 0  # forwarded calls the upstream failed: each leaves an error outcome
        self.cancelled = 0  # forwarded calls the client cancelled: each leaves a cancelled outcome

    def call(self, command: str, timeout: float = 30.0) -> dict[str, object]:
        self.tool_calls += 1
        return self.gw.call_tool("executeCommand", _call(command), timeout)

    def echo_works(self, text: str = "still here") -> int:
        """A call that must succeed; returns the pid of the upstream that answered it."""
        answer = self.call(f"echo {text}")
        assert "result" in answer, answer
        out = answer["result"]["content"][0]["text"]  # type: ignore[index]
        assert out.startswith(text), out
        return int(out.rsplit("pid=", 1)[1])


@pytest.fixture(scope="module")
def raw(gateway_dir: Path) -> Iterator[Raw]:
    """``sshwall serve --timeout 2`` on raw stdio in front of the noisy fake upstream."""
    audit, record = gateway_dir / "audit-raw.jsonl", gateway_dir / "fake-record.jsonl"
    gateway = RawGateway(serve_argv(POLICY, audit, ["--timeout", "2", *_fake(record)]), gateway_dir / "serve-raw.log")
    try:
        gateway.initialize()
        yield Raw(gateway, audit, record)
    finally:
        assert gateway.close() == 0, gateway.log_text()


def test_client_garbage_gets_json_rpc_errors_and_the_gateway_goes_on(raw: Raw) -> None:
    cases = [
        (b"this is not json\n", -32700, None),
        (b"[1, 2, 3]\n", -32600, None),
        (b"[]\n", -32600, None),
        (b'{"id": 41, "method": "ping"}\n', -32600, 41),  # no "jsonrpc": "2.0"
        (b'{"jsonrpc": "1.0", "id": 42, "method": "ping"}\n', -32600, 42),
        (b'{"jsonrpc": "2.0", "id": 43, "method": 7}\n', -32600, 43),
        (b'{"jsonrpc": "2.0", "id": 44}\n', -32600, 44),
        (b'{"jsonrpc": "2.0", "id": {"x": 1}, "method": "ping"}\n', -32600, None),
        (b'\xff\xfe not utf-8\n', -32700, None),
    ]
    for frame, code, msg_id in cases:
        raw.gw.send_bytes(frame)
        answer = raw.gw.receive()
        assert answer.get("jsonrpc") == "2.0" and answer.get("id") == msg_id, (frame, answer)
        assert answer["error"]["code"] == code and answer["error"]["message"], (frame, answer)
        raw.gw.ping()
    raw.gw.send_bytes(b"\n   \n")  # blank lines are not frames: no answer, no harm
    raw.gw.ping()
    raw.echo_works()


def test_a_10_mb_message_gets_an_error_and_the_gateway_stays_up(raw: Raw) -> None:
    msg_id = raw.gw.next_id()
    started = time.monotonic()
    raw.gw.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                 "params": {"name": "executeCommand", "arguments": _call("echo " + "x" * TEN_MB)}})
    answer = raw.gw.receive(timeout=30)
    assert time.monotonic() - started < 10
    assert answer["error"]["code"] == -32600 and "size limit" in answer["error"]["message"], answer
    assert not any("x" * 1000 in json.dumps(m) for m in _received(raw.record)), "the over-size call was forwarded"
    raw.gw.ping()
    raw.echo_works()


def test_an_upstream_dying_mid_call_fails_that_call_and_is_restarted(raw: Raw) -> None:
    first = raw.echo_works()
    started = time.monotonic()
    answer = raw.call("exit")
    raw.upstream_failures += 1
    assert time.monotonic() - started < 5
    assert answer["error"]["code"] == -32000, answer  # type: ignore[index]
    assert str(answer["error"]["message"]).startswith(UPSTREAM_FAILED), answer  # type: ignore[index]
    second = raw.echo_works()
    assert second != first, "the upstream was not restarted"
    raw.gw.ping()
    assert [m.get("method") for m in _received(raw.record)].count("initialize") >= 2, "no handshake replayed"


def test_an_upstream_killed_from_outside_mid_call(raw: Raw) -> None:
    pid = raw.echo_works()
    msg_id = raw.gw.next_id()
    raw.tool_calls += 1
    raw.gw.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                 "params": {"name": "executeCommand", "arguments": _call("sleep 30")}})
    deadline = time.monotonic() + 10
    while not _got(raw.record, "sleep 30") and time.monotonic() < deadline:
        time.sleep(0.05)  # until the call has reached the upstream
    assert _starts(raw.record)[-1] == pid
    os.kill(pid, signal.SIGKILL)  # the fake upstream this module's gateway started
    raw.upstream_failures += 1
    started = time.monotonic()
    answer = raw.gw.response(msg_id, timeout=10)
    assert time.monotonic() - started < 5
    assert str(answer["error"]["message"]).startswith(UPSTREAM_FAILED), answer
    assert raw.echo_works() != pid


def test_a_hung_upstream_call_times_out_and_is_cancelled(raw: Raw) -> None:
    started = time.monotonic()
    answer = raw.call("hang")
    raw.upstream_failures += 1
    elapsed = time.monotonic() - started
    assert 1.5 <= elapsed < 6, elapsed  # --timeout 2
    assert answer["error"]["code"] == -32000, answer  # type: ignore[index]
    message = str(answer["error"]["message"])  # type: ignore[index]
    assert message.startswith(UPSTREAM_FAILED) and "2 s" in message, message
    deadline = time.monotonic() + 5
    while not _cancels(raw.record) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _cancels(raw.record), "the upstream was not told to cancel the timed-out request"
    raw.echo_works()  # the same upstream goes on serving


def test_log_lines_on_the_upstreams_stdout_are_skipped(raw: Raw) -> None:
    # Every answer of the noisy fake upstream comes after a plain-text line; the start-up
    # lines include JSON that is not JSON-RPC. None of it reaches the client.
    answer = raw.gw.request("tools/list")
    assert [t["name"] for t in answer["result"]["tools"]] == ["executeCommand", "listConnections"]
    listed = raw.gw.call_tool("listConnections", {})
    raw.tool_calls += 1
    assert "result" in listed and not listed["result"].get("isError"), listed


def test_malformed_tool_calls_are_denied_results(raw: Raw) -> None:
    for params in (None, {}, {"name": 5}, {"name": "executeCommand", "arguments": [1, 2]},
                   {"name": "executeCommand", "arguments": "rm -rf /"}, {"name": "executeCommand"}):
        msg_id = raw.gw.next_id()
        frame: dict[str, object] = {"jsonrpc": "2.0", "id": msg_id, "method": "tools/call"}
        if params is not None:
            frame["params"] = params
        raw.tool_calls += 1
        raw.gw.send(frame)
        result = raw.gw.response(msg_id)["result"]
        assert result["isError"] is True and result["content"][0]["text"].startswith("sshwall: denied (rule "), result
    assert not _got(raw.record, "rm -rf /")
    raw.echo_works()


def test_concurrent_calls_each_get_their_own_answer(raw: Raw) -> None:
    ids = {}
    for n in range(20):
        msg_id = raw.gw.next_id()
        ids[msg_id] = f"answer-{n}"
        command = f"echo {ids[msg_id]}" if n % 2 else "sleep 0.2"
        raw.tool_calls += 1
        raw.gw.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                     "params": {"name": "executeCommand", "arguments": _call(command)}})
    for msg_id, text in ids.items():
        out = raw.gw.response(msg_id)["result"]["content"][0]["text"]
        n = int(text.split("-")[1])
        assert out.startswith(text if n % 2 else "slept"), (msg_id, text, out)


def test_a_request_from_the_upstream_reaches_the_client_and_its_answer_goes_back(raw: Raw) -> None:
    msg_id = raw.gw.next_id()
    raw.tool_calls += 1
    raw.gw.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                 "params": {"name": "executeCommand", "arguments": _call("ask")}})
    asked = raw.gw.receive()
    assert asked["method"] == "roots/list" and "id" in asked, asked
    raw.gw.send({"jsonrpc": "2.0", "id": asked["id"], "result": {"roots": [{"uri": "file:///e2e", "name": "e2e"}]}})
    out = raw.gw.response(msg_id)["result"]["content"][0]["text"]
    assert out == 'client said {"roots": [{"name": "e2e", "uri": "file:///e2e"}]}', out


def test_a_client_cancellation_reaches_the_upstream(raw: Raw) -> None:
    # Regression: the cancellation of a forwarded tools/call used to stop at the gateway.
    msg_id = raw.gw.next_id()
    raw.tool_calls += 1
    raw.cancelled += 1
    raw.gw.send({"jsonrpc": "2.0", "id": msg_id, "method": "tools/call",
                 "params": {"name": "executeCommand", "arguments": _call("sleep 1")}})
    deadline = time.monotonic() + 10
    while not _got(raw.record, "sleep 1") and time.monotonic() < deadline:
        time.sleep(0.05)
    before = len(_cancels(raw.record))
    raw.gw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": msg_id, "reason": "user"}})
    deadline = time.monotonic() + 5
    while len(_cancels(raw.record)) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    cancels = _cancels(raw.record)
    assert len(cancels) > before, "the upstream never heard of the cancellation"
    upstream_id = next(m["id"] for m in reversed(_received(raw.record))
                       if m.get("method") == "tools/call" and m["params"]["arguments"]["command"] == "sleep 1")  # type: ignore[index]
    assert cancels[-1]["params"]["requestId"] == upstream_id, cancels[-1]  # type: ignore[index]
    assert cancels[-1]["params"].get("reason") == "user", cancels[-1]  # type: ignore[union-attr]
    assert len(cancels) == before + 1, "the cancellation was sent upstream more than once"
    # The fake upstream ignores cancellations and answers after 1 s anyway: the gateway drops
    # that late answer, as the protocol asks of a cancelled request.
    with pytest.raises(AssertionError, match="no response"):
        raw.gw.response(msg_id, timeout=2)
    mine = [r for r in audit_records(raw.audit) if r.get("request_id") == msg_id]
    assert [(r["kind"], r["upstream"]) for r in mine] == [("decision", "pending"), ("outcome", "cancelled")], mine
    raw.echo_works()


def test_the_audit_chain_verifies_after_all_faults(raw: Raw) -> None:
    raw.gw.ping()
    report = verify(raw.audit)
    assert report.ok, str(report)
    recorded = decisions(raw.audit)
    assert len(recorded) == raw.tool_calls
    outcomes = [r for r in audit_records(raw.audit) if r.get("kind") == "outcome"]
    failed = [r for r in outcomes if r["upstream"] not in ("ok", "tool-error", "cancelled")]
    assert len(failed) == raw.upstream_failures, outcomes  # died, killed, timed out
    assert all(r["detail"] for r in failed)
    assert sum(r["upstream"] == "cancelled" for r in outcomes) == raw.cancelled
    # Every forwarded call ended with exactly one outcome record.
    forwarded = [r["seq"] for r in recorded if r["upstream"] == "pending"]
    assert sorted(r["ref"] for r in outcomes) == forwarded


# -- the same faults seen by an SDK client over streamable HTTP -------------------------------------


@pytest.fixture(scope="module")
def http_gw(gateway_dir: Path) -> Iterator[GatewayClient]:
    """``sshwall serve --listen`` (HTTP, 2026-07-28 era) in front of the fake upstream."""
    audit = gateway_dir / "audit-http.jsonl"
    argv = serve_argv(POLICY, audit, ["--timeout", "2", "--max-message-bytes", str(SMALL_LIMIT),
                                      *_fake(gateway_dir / "fake-http.jsonl")])
    with start_gateway("http", "modern", argv, audit, gateway_dir / "serve-http.log") as client:
        yield client


def test_http_over_size_and_died_calls_are_errors_and_the_gateway_recovers(http_gw: GatewayClient) -> None:
    for command in ("echo " + "x" * TEN_MB, "exit"):
        started = time.monotonic()
        with pytest.raises(MCPError) as raised:
            http_gw.call("executeCommand", _call(command), timeout=30)
        assert time.monotonic() - started < 6
        if command == "exit":
            assert str(raised.value).startswith(UPSTREAM_FAILED), str(raised.value)
        assert http_gw.ok("executeCommand", _call("echo fine")).text.startswith("fine")
    report = verify(http_gw.audit_path)
    assert report.ok, str(report)
    # The over-size request never reached the firewall; the other calls each left a decision.
    assert len(decisions(http_gw.audit_path)) == len(http_gw.calls) - 1


def test_an_over_size_command_let_through_by_the_frame_limit_is_denied_with_a_bounded_record(
    gateway_dir: Path,
) -> None:
    audit, record = gateway_dir / "audit-big.jsonl", gateway_dir / "fake-big.jsonl"
    argv = serve_argv(READONLY_OPS, audit, ["--max-message-bytes", str(16 * 1024 * 1024), *_fake(record)])
    gateway = RawGateway(argv, gateway_dir / "serve-big.log")
    try:
        gateway.initialize()
        answer = gateway.call_tool("executeCommand", _call("echo " + "x" * TEN_MB))
        result = answer["result"]
        assert result["isError"] is True and result["content"][0]["text"].startswith("sshwall: denied (rule "), result
        gateway.ping()
    finally:
        assert gateway.close() == 0
    assert verify(audit).ok
    assert audit.stat().st_size < 128 * 1024, "the audit record of a 10 MB argument is not bounded"
    assert not any(m.get("method") == "tools/call" for m in _received(record))


def test_http_honours_max_message_bytes(http_gw: GatewayClient) -> None:
    # Regression: --listen used to ignore --max-message-bytes (only the SDK's 4 MiB applied).
    # The gateway runs with --max-message-bytes 65536; this message is about 100 KB.
    before = len(decisions(http_gw.audit_path))
    with pytest.raises(MCPError):
        http_gw.call("executeCommand", _call("echo " + "y" * (100 * 1024)), timeout=10)
    assert len(decisions(http_gw.audit_path)) == before
    assert http_gw.ok("executeCommand", _call("echo " + "z" * 1000)).text.startswith("z")


# -- the 2026-07-28 era on raw stdio ---------------------------------------------------------------


@pytest.fixture(scope="module")
def modern_raw(gateway_dir: Path) -> Iterator[RawGateway]:
    """``sshwall serve`` on raw stdio, opened by a 2026-07-28 client (``server/discover``)."""
    audit, record = gateway_dir / "audit-modern.jsonl", gateway_dir / "fake-modern.jsonl"
    gateway = RawGateway(serve_argv(POLICY, audit, _fake(record)), gateway_dir / "serve-modern.log")
    try:
        answer = gateway.request("server/discover", {"_meta": MODERN_META}, timeout=30)
        assert "2026-07-28" in answer["result"]["supportedVersions"], answer
        yield gateway
    finally:
        gateway.close()


def _modern_echo_works(gateway: RawGateway) -> None:
    answer = gateway.request("tools/call", {"_meta": MODERN_META, "name": "executeCommand",
                                            "arguments": _call("echo modern")}, timeout=30)
    assert answer["result"]["content"][0]["text"].startswith("modern"), answer


def test_modern_stdio_serves_tools_after_discover(modern_raw: RawGateway) -> None:
    _modern_echo_works(modern_raw)


def test_modern_stdio_answers_garbage_with_json_rpc_errors(modern_raw: RawGateway) -> None:
    # Regression: in the 2026-07-28 era on stdio, malformed frames used to get no answer at all.
    cases = [
        (b"not json\n", -32700, None),
        (b"[1, 2]\n", -32600, None),
        (b'{"id": 91, "method": "tools/list"}\n', -32600, 91),  # no "jsonrpc": "2.0"
        (b'{"jsonrpc": "2.0", "id": 93, "method": "tools/call", "params": [1]}\n', -32600, 93),  # not MCP
    ]
    for frame, code, msg_id in cases:
        modern_raw.send_bytes(frame)
        answer = modern_raw.receive(timeout=5)
        assert answer.get("id") == msg_id and answer["error"]["code"] == code, (frame, answer)
    _modern_echo_works(modern_raw)


def test_modern_stdio_answers_an_over_size_frame_with_an_error(modern_raw: RawGateway) -> None:
    # Regression: the over-size frame used to be dropped silently in this era.
    modern_raw.send({"jsonrpc": "2.0", "id": 92, "method": "tools/call", "params": {
        "_meta": MODERN_META, "name": "executeCommand", "arguments": _call("echo " + "x" * TEN_MB)}})
    answer = modern_raw.receive(timeout=10)
    assert answer["error"]["code"] == -32600 and answer.get("id") in (None, 92), answer
    _modern_echo_works(modern_raw)
