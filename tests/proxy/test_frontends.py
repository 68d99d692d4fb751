"""Both frontends driven in-process by an SDK client: the stdio relay (legacy era), the SDK
frontend on stdio (2026-07-28 era) and the SDK server of ``--listen`` (both eras, on memory
streams instead of HTTP), each over the same frontend core in front of ``fake_upstream.py``.

The same assertions hold for every frontend: ``tools/list`` filtered, a denied call refused
with a readable result and never forwarded, an allowed call forwarded, an upstream error
passed with its code, message and data, progress routed to its request. Where they differ
is the one deliberate rule of docs/frontends.md: an upstream's own notifications and requests
reach the client only where the connection has a single client (stdio).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import ClientSession
from mcp.shared.exceptions import MCPError

from tests.proxy.frontends import Era, RawStdio, open_server, open_stdio, received, running_core, sdk_server, session_on

pytestmark = pytest.mark.anyio

Opener = Callable[..., AbstractAsyncContextManager[ClientSession]]
FRONTENDS: dict[str, tuple[Opener, Era]] = {
    "stdio-legacy": (open_stdio, "legacy"),  # the relay
    "stdio-modern": (open_stdio, "modern"),  # the SDK frontend on stdio
    "server-legacy": (open_server, "legacy"),  # the SDK server of --listen
    "server-modern": (open_server, "modern"),
}
SINGLE_CLIENT = {"stdio-legacy", "stdio-modern"}
MODERN_META = {  # the 2026-07-28 per-request envelope
    types.PROTOCOL_VERSION_META_KEY: "2026-07-28",
    types.CLIENT_INFO_META_KEY: {"name": "raw", "version": "0"},
    types.CLIENT_CAPABILITIES_META_KEY: {},
}


@pytest.fixture
def anyio_backend() -> str:
    """The gateway runs on asyncio."""
    return "asyncio"


@pytest.fixture(params=sorted(FRONTENDS))
def frontend(request: pytest.FixtureRequest) -> str:
    """Which frontend a test drives."""
    return str(request.param)


class Seen:
    """Notifications the client received."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    async def __call__(self, message: Any) -> None:
        self.items.append(message)


@asynccontextmanager
async def _session(frontend: str, tmp_path: Path, **client: Any) -> AsyncIterator[ClientSession]:
    opener, era = FRONTENDS[frontend]
    async with running_core(tmp_path) as core, opener(core, era, **client) as session:
        yield session


def _text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _run(command: str) -> dict[str, str]:
    return {"connectionId": "c1", "command": command}


async def test_tools_list_filtered_denied_refused_allowed_forwarded(frontend: str, tmp_path: Path) -> None:
    async with _session(frontend, tmp_path) as session:
        listed = await session.list_tools()
        assert [t.name for t in listed.tools] == ["executeCommand"]  # listConnections is denied: hidden
        denied = await session.call_tool("executeCommand", _run("rm -rf /"))
        assert denied.is_error and _text(denied).startswith("sshwall: denied"), _text(denied)
        hidden = await session.call_tool("listConnections", {})
        assert hidden.is_error and _text(hidden).startswith("sshwall: denied")
        allowed = await session.call_tool("executeCommand", _run("echo hello"))
        assert not allowed.is_error and _text(allowed).startswith("hello\npid="), _text(allowed)
    calls = [m["params"] for m in received(tmp_path) if m.get("method") == "tools/call"]
    assert calls == [{"name": "executeCommand", "arguments": _run("echo hello")}], calls


async def test_upstream_error_passes_with_its_code_message_and_data(frontend: str, tmp_path: Path) -> None:
    async with _session(frontend, tmp_path) as session:
        with pytest.raises(MCPError) as caught:
            await session.call_tool("executeCommand", _run("fail"))
        assert (caught.value.code, caught.value.message) == (-32042, "fake failure")
        assert caught.value.data == {"why": "asked to fail", "n": 1}
        assert not (await session.call_tool("executeCommand", _run("echo after"))).is_error  # still up


async def test_progress_reaches_the_request_it_belongs_to(frontend: str, tmp_path: Path) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))

    async with _session(frontend, tmp_path) as session:
        result = await session.call_tool("executeCommand", _run("progress"), progress_callback=on_progress)
        assert "progressed with token" in _text(result) and "None" not in _text(result)
    assert seen == [(1, 2, "half way")]
    if frontend not in SINGLE_CLIENT:  # the upstream saw a token of the gateway's, not the client's
        assert "progressed with token 'sshwall-progress-" in _text(result), _text(result)


async def test_clients_sharing_an_upstream_get_only_their_own_progress(tmp_path: Path) -> None:
    seen: dict[str, list[float]] = {"a": [], "b": []}

    def on_progress(name: str) -> Callable[[float, float | None, str | None], Awaitable[None]]:
        async def record(progress: float, total: float | None, message: str | None) -> None:
            seen[name].append(progress)
        return record

    async with running_core(tmp_path) as core:
        server = await sdk_server(core)
        async with session_on(server, "legacy") as a, session_on(server, "legacy") as b:
            async with anyio.create_task_group() as tg:  # same request ids, so the same tokens
                for name, session in (("a", a), ("b", b)):
                    for _ in range(3):
                        tg.start_soon(lambda s=session, n=name: s.call_tool(
                            "executeCommand", _run("progress"), progress_callback=on_progress(n)))
    assert seen == {"a": [1, 1, 1], "b": [1, 1, 1]}, seen


async def test_upstream_notifications_reach_a_single_client_only(frontend: str, tmp_path: Path) -> None:
    seen = Seen()
    async with _session(frontend, tmp_path, message_handler=seen) as session:
        assert _text(await session.call_tool("executeCommand", _run("notify"))) == "notified"
        await anyio.sleep(0.2)  # a notification would be on its way by now
    changed = [m for m in seen.items if isinstance(m, types.ToolListChangedNotification)]
    assert len(changed) == (1 if frontend in SINGLE_CLIENT else 0), seen.items


async def test_upstream_requests_reach_a_legacy_stdio_client_only(frontend: str, tmp_path: Path) -> None:
    async with _session(frontend, tmp_path) as session:
        text = _text(await session.call_tool("executeCommand", _run("ask")))
    assert text.startswith("client said "), text
    if frontend == "stdio-legacy":
        assert "sshwall cannot pass" not in text  # the client itself answered
    else:  # the gateway answered for a client it cannot reach (or an era without such requests)
        assert "sshwall cannot pass roots/list" in text and "-32601" in text, text


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_malformed_frames_get_precise_errors_and_the_gateway_stays_up(era: Era, tmp_path: Path) -> None:
    raw = RawStdio()
    async with running_core(tmp_path) as core, anyio.create_task_group() as tg:
        raw.start(tg, core, max_bytes=4096)
        if era == "modern":
            await raw.send({"jsonrpc": "2.0", "id": 0, "method": "server/discover", "params": {"_meta": MODERN_META}})
        else:
            await raw.send(b"not json at all\n")  # the very first frame garbage: still the relay
            assert (await raw.receive())["error"]["code"] == -32700
            await raw.send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
                "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "0"}}})
        assert "result" in await raw.receive()
        cases: list[tuple[bytes | dict[str, Any], int, str]] = [
            (b"{\"jsonrpc\": \"2.0\", \"id\": 5, \"method\": \n", -32700, "not JSON"),
            (b"[1, 2]\n", -32600, "JSON object"),
            (b"x" * 5000 + b"\n", -32600, "size limit"),
            ({"jsonrpc": "2.0", "method": "tools/call", "params": {"name": "executeCommand"}}, -32600, "notification"),
            ({"jsonrpc": "2.0", "id": 7, "method": "Tools/Call", "params": {}}, -32601, "matched exactly"),
            ({"id": 8, "method": "ping"}, -32600, "jsonrpc"),
        ]
        for frame, code, words in cases:
            await raw.send(frame)
            answer = await raw.receive()
            assert answer["error"]["code"] == code and words in answer["error"]["message"], (frame, answer)
        meta = {"_meta": MODERN_META} if era == "modern" else {}
        await raw.send({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": meta})
        answer = await raw.receive()
        assert answer["id"] == 9 and [t["name"] for t in answer["result"]["tools"]] == ["executeCommand"], answer
        await raw.close()
        tg.cancel_scope.cancel()
    assert not [m for m in received(tmp_path) if m.get("method", "").casefold() == "tools/call"]
