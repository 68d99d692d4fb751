"""Messages around a ``tools/call`` pass through, in every transport and era.

During a ``tools/call`` the upstream may send progress notifications for the client's
``progressToken`` and, in the legacy era, may ask the client something (``roots/list``,
sampling, elicitation); the client may give up on the call, and the upstream must hear of it.
DESIGN.md: everything that is not ``tools/call`` passes through untouched. An SDK client drives
the fake upstream (``fake_upstream.py``: ``progress``, ``ask``, ``sleep``) through ``sshwall serve``.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.shared.exceptions import MCPError

from tests.proxy.gateway import FAKE_UPSTREAM, POLICIES, GatewayClient, serve_argv, start_gateway

COMBOS = ["stdio-legacy", "stdio-modern", "http-legacy", "http-modern"]


@pytest.fixture(scope="module", params=COMBOS)
def gw(request: pytest.FixtureRequest, gateway_dir: Path) -> Iterator[GatewayClient]:
    """``sshwall serve`` (e2e-all) in front of the fake upstream, one transport and era."""
    transport, era = request.param.split("-")
    audit = gateway_dir / f"audit-{request.param}.jsonl"
    record = gateway_dir / f"fake-{request.param}.jsonl"
    upstream = ["--", sys.executable, str(FAKE_UPSTREAM), "--record", str(record)]
    argv = serve_argv(POLICIES / "e2e-all.yaml", audit, upstream)
    with start_gateway(transport, era, argv, audit, gateway_dir / f"serve-{request.param}.log") as client:
        yield client


def test_progress_from_the_upstream_reaches_the_client(gw: GatewayClient, request: pytest.FixtureRequest) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    result = gw.portal.call(lambda: gw.session.call_tool(
        "executeCommand", {"connectionId": "c1", "command": "progress"}, read_timeout_seconds=10,
        progress_callback=on_progress))
    assert not result.is_error and "progressed with token" in result.content[0].text  # the token went up
    assert seen == [(1, 2, "half way")]


def test_a_request_from_the_upstream_is_answered_by_the_client(gw: GatewayClient, request: pytest.FixtureRequest) -> None:
    if gw.era == "modern":
        pytest.skip("the 2026-07-28 era has no server-to-client requests (roots/list) to pass through")
    # The SDK client answers roots/list (with an error: it declares no roots); any answer counts.
    reply = gw.ok("executeCommand", {"connectionId": "c1", "command": "ask"})
    assert reply.text.startswith("client said "), reply.text


def test_a_client_giving_up_on_a_call_cancels_it_upstream(gw: GatewayClient, gateway_dir: Path) -> None:
    record = gateway_dir / f"fake-{gw.label}.jsonl"
    with pytest.raises(MCPError):  # the SDK client times out and cancels the request
        gw.call("executeCommand", {"connectionId": "c1", "command": "sleep 3"}, timeout=0.5)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _cancels(record):
        time.sleep(0.05)
    received = _frames(record)
    sleeper = next(m for m in received if m.get("method") == "tools/call"
                   and m["params"]["arguments"]["command"] == "sleep 3")
    assert [c["params"]["requestId"] for c in _cancels(record)] == [sleeper["id"]]
    assert gw.ok("executeCommand", {"connectionId": "c1", "command": "echo after"}).text.startswith("after")


def _frames(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines() if line.startswith("{")]


def _cancels(record: Path) -> list[dict[str, Any]]:
    return [m for m in _frames(record) if m.get("method") == "notifications/cancelled"]
