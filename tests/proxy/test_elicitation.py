"""The elicitation channel of approval, with real SDK clients (``mcp.Client`` with an
elicitation callback), over every client-side transport and era.

In process (fast, every case): the frontend core over ``fake_upstream.py`` (a real child
process that records what reaches it), served by the stdio relay (2025 era), the SDK frontend
on stdio (2026-07-28) and the SDK server of ``--listen`` in both eras (on memory streams
instead of HTTP). ``echo`` needs approval; the client's user approves, declines, cancels or
answers without a yes/no; a client without the capability is never asked; a forged
``requestState`` unlocks nothing; an unanswered question times out and is withdrawn from the
client.

End to end (``test_approved_command_runs_on_the_host_and_the_declined_one_does_not``): a real
``sshwall serve`` process with the built-in backend against the sshd fixture, over stdio in both
eras and over streamable HTTP in both eras: ``touch`` needs approval; the approved one makes
its file on the host, the declined one does not (checked over the fixture's own SSH), and the
audit chain verifies with the approval events in it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import pytest
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.context import ClientRequestContext
from mcp.shared.memory import create_client_server_memory_streams

from sshwall.audit import AuditLog, verify
from sshwall.engine import load_checked
from sshwall.proxy.elicitation import INPUT_KEY
from sshwall.proxy.firewall import Firewall
from sshwall.proxy.frontend import FrontendCore
from tests.proxy.frontends import RawStdio, received, running_core, sdk_server, stdio_streams
from tests.proxy.gateway import Reply, audit_records, gateway_env, http_server, serve_argv
from tests.support.sshd import REPO_ROOT, SshdServer

pytestmark = pytest.mark.anyio

FRONTENDS = ["stdio-legacy", "stdio-modern", "server-legacy", "server-modern"]
LEGACY = ["stdio-legacy", "server-legacy"]
MODERN_META = {  # the 2026-07-28 per-request envelope, with form-mode elicitation declared
    types.PROTOCOL_VERSION_META_KEY: "2026-07-28",
    types.CLIENT_INFO_META_KEY: {"name": "raw", "version": "0"},
    types.CLIENT_CAPABILITIES_META_KEY: {"elicitation": {"form": {}}},
}

POLICY = """\
version: 1
name: elicitation
description: echo needs a human's yes (in-process elicitation tests)
profile: mcp-ssh
default: deny
approval: {channels: [elicitation], timeout: %(timeout)s}
tools:
  executeCommand: {commands: fake}
commands:
  fake:
    programs:
      echo: {decision: prompt, reason: "echo needs a human here"}
"""


@pytest.fixture
def anyio_backend() -> str:
    """The gateway runs on asyncio."""
    return "asyncio"


# -- the client's user ------------------------------------------------------------------------


class User:
    """The elicitation callback: answers every question with ``reply`` and keeps the questions."""

    def __init__(self, action: str = "accept", content: dict[str, Any] | None = None, delay: float = 0) -> None:
        self.action = action
        self.content = content
        self.delay = delay
        self.asked: list[types.ElicitRequestFormParams] = []

    async def __call__(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestFormParams), params
        self.asked.append(params)
        if self.delay:
            await anyio.sleep(self.delay)
        return types.ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]


def approve() -> User:
    return User("accept", {"approve": True})


# -- the frontends in process -------------------------------------------------------------------


def core_with(tmp_path: Path, timeout: float = 10) -> AbstractAsyncContextManager[FrontendCore]:
    """The frontend core over the fake upstream, under POLICY (approval by elicitation only)."""
    return running_core(tmp_path, POLICY % {"timeout": timeout})


@asynccontextmanager
async def server_streams(core: FrontendCore) -> AsyncIterator[tuple[Any, Any]]:
    """Client streams on the SDK server of ``--listen`` (memory streams instead of HTTP)."""
    server = await sdk_server(core)
    async with create_client_server_memory_streams() as ((c_read, c_write), (s_read, s_write)):
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: server.run(s_read, s_write, server.create_initialization_options()))
            yield c_read, c_write
            tg.cancel_scope.cancel()


@asynccontextmanager
async def client_of(frontend: str, tmp_path: Path, user: User | None, timeout: float = 10) -> AsyncIterator[Client]:
    """An SDK ``Client`` (with ``user`` as its elicitation callback, or none) of ``frontend``."""
    where, era = frontend.split("-")
    streams = stdio_streams if where == "stdio" else server_streams
    async with core_with(tmp_path, timeout) as core, streams(core) as transport:
        client = Client(_Streams(transport), mode="legacy" if era == "legacy" else "auto",
                        elicitation_callback=user, read_timeout_seconds=30)
        async with client:
            assert (client.protocol_version >= "2026") == (era == "modern"), client.protocol_version
            yield client


class _Streams(AbstractAsyncContextManager[tuple[Any, Any]]):
    """Streams already open, as a ``Transport``."""

    def __init__(self, streams: tuple[Any, Any]) -> None:
        self.streams = streams

    async def __aenter__(self) -> tuple[Any, Any]:
        return self.streams

    async def __aexit__(self, *exc: object) -> None:
        return None


def _run(command: str) -> dict[str, str]:
    return {"connectionId": "c1", "command": command}


def _text(result: types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, types.TextContent))


def _forwarded(tmp_path: Path) -> list[dict[str, Any]]:
    return [m["params"] for m in received(tmp_path) if m.get("method") == "tools/call"]


def _events(tmp_path: Path) -> list[str]:
    return [r.get("kind", "decision") for r in audit_records(tmp_path / "audit.jsonl")]


# -- the cases, in process ----------------------------------------------------------------------


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_approved_call_goes_on_with_the_question_shown(frontend: str, tmp_path: Path) -> None:
    user = approve()
    async with client_of(frontend, tmp_path, user) as client:
        result = await client.call_tool("executeCommand", _run("echo approved"))
        assert not result.is_error and _text(result).startswith("approved\npid="), _text(result)
    [asked] = user.asked
    assert "executeCommand" in asked.message and "command: echo approved" in asked.message, asked.message
    assert "needs approval because: echo needs a human here" in asked.message, asked.message
    assert asked.requested_schema["properties"]["approve"]["type"] == "boolean"
    # Only the call, as the client sent it: no inputResponses or requestState reach the upstream.
    assert _forwarded(tmp_path) == [{"name": "executeCommand", "arguments": _run("echo approved")}]
    events = _events(tmp_path)
    assert "approval-requested" in events and "approval-approved" in events, events
    [decision] = [r for r in audit_records(tmp_path / "audit.jsonl") if r.get("kind", "decision") == "decision"]
    assert decision["decision"] == "allow" and decision.get("approval"), decision
    assert verify(tmp_path / "audit.jsonl").ok


@pytest.mark.parametrize("frontend", FRONTENDS)
@pytest.mark.parametrize(("action", "content", "words"), [
    ("decline", None, "chose decline"),
    ("cancel", None, "chose cancel"),
    ("accept", {"approve": False}, "with approve: false"),
    ("accept", {}, "has no yes/no"),  # malformed: accept without `approve`
    ("accept", {"approve": "yes"}, "has no yes/no"),
])
async def test_anything_but_a_yes_denies_with_the_reason(frontend: str, action: str, content: dict[str, Any] | None,
                                                        words: str, tmp_path: Path) -> None:
    user = User(action, content)
    async with client_of(frontend, tmp_path, user) as client:
        result = await client.call_tool("executeCommand", _run("echo declined"))
    text = _text(result)
    assert result.is_error and text.startswith("sshwall: denied (rule approval.denied)"), text
    assert words in text, text
    assert len(user.asked) == 1
    assert _forwarded(tmp_path) == []
    assert "approval-denied" in _events(tmp_path)


@pytest.mark.parametrize("frontend", FRONTENDS)
async def test_a_client_without_the_capability_is_not_asked_and_the_call_is_denied(frontend: str, tmp_path: Path) -> None:
    async with client_of(frontend, tmp_path, None) as client:
        result = await client.call_tool("executeCommand", _run("echo unasked"))
    text = _text(result)
    assert result.is_error and "(rule approval.unreachable)" in text, text
    assert "the client did not declare the capability" in text and "sshwall approvals approve" in text, text
    assert _forwarded(tmp_path) == []


@pytest.mark.parametrize("frontend", LEGACY)
async def test_an_error_answer_means_the_client_cannot_be_asked(frontend: str, tmp_path: Path) -> None:
    async def refuse(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ErrorData:
        return types.ErrorData(code=-32600, message="the user closed the dialog window")

    async with client_of(frontend, tmp_path, refuse) as client:  # type: ignore[arg-type]
        result = await client.call_tool("executeCommand", _run("echo refused"))
    text = _text(result)
    assert result.is_error and "(rule approval.unreachable)" in text, text
    assert "the user closed the dialog window" in text, text
    assert _forwarded(tmp_path) == []


@pytest.mark.parametrize("frontend", LEGACY)
async def test_an_unanswered_question_times_out(frontend: str, tmp_path: Path) -> None:
    user = User("accept", {"approve": True}, delay=5)  # answers too late: the yes counts for nothing
    async with client_of(frontend, tmp_path, user, timeout=1) as client:
        with anyio.fail_after(4):
            result = await client.call_tool("executeCommand", _run("echo too late"))
    text = _text(result)
    assert result.is_error and "(rule approval.timeout)" in text and "within 1 s" in text, text
    assert _forwarded(tmp_path) == []
    assert "approval-expired" in _events(tmp_path)


async def test_relay_asks_under_its_own_ids_and_withdraws_an_unanswered_question(tmp_path: Path) -> None:
    raw = RawStdio()
    async with core_with(tmp_path, timeout=1) as core, anyio.create_task_group() as tg:
        raw.start(tg, core)
        await raw.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "raw", "version": "0"}}})
        assert (await raw.receive())["result"]["protocolVersion"] == "2025-06-18"
        await raw.send({"jsonrpc": "2.0", "id": "sshwall-ask-1", "method": "tools/call",
                        "params": {"name": "executeCommand", "arguments": _run("echo raw")}})
        ask = await raw.receive()
        assert ask["method"] == "elicitation/create" and ask["id"].startswith("sshwall-ask-"), ask
        # 2025-06-18 has no `mode`; the question is the form of the one boolean.
        assert set(ask["params"]) == {"message", "requestedSchema"}, ask
        assert ask["params"]["requestedSchema"]["required"] == ["approve"]
        cancelled = await raw.receive()  # nobody answers within the policy's 1 s
        assert cancelled["method"] == "notifications/cancelled", cancelled
        assert cancelled["params"]["requestId"] == ask["id"]
        answer = await raw.receive()
        assert answer["id"] == "sshwall-ask-1", answer  # the client's own id, which looks like ours
        assert "approval.timeout" in answer["result"]["content"][0]["text"], answer
        # A late answer to the withdrawn question approves nothing and goes nowhere.
        await raw.send({"jsonrpc": "2.0", "id": ask["id"], "result": {"action": "accept", "content": {"approve": True}}})
        await raw.send({"jsonrpc": "2.0", "id": 3, "method": "ping"})
        assert (await raw.receive()) == {"jsonrpc": "2.0", "id": 3, "result": {}}
        await raw.close()
        tg.cancel_scope.cancel()
    assert _forwarded(tmp_path) == []


async def test_relay_client_cancelling_the_call_withdraws_the_question(tmp_path: Path) -> None:
    raw = RawStdio()
    async with core_with(tmp_path) as core, anyio.create_task_group() as tg:
        raw.start(tg, core)
        await raw.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "raw", "version": "0"}}})
        await raw.receive()
        await raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "executeCommand", "arguments": _run("echo cancelled")}})
        ask = await raw.receive()
        assert ask["method"] == "elicitation/create", ask
        await raw.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 2}})
        cancelled = await raw.receive()
        assert cancelled["method"] == "notifications/cancelled" and cancelled["params"]["requestId"] == ask["id"]
        with anyio.fail_after(5):
            while "approval-withdrawn" not in _events(tmp_path):
                await anyio.sleep(0.05)
        await raw.close()
        tg.cancel_scope.cancel()
    assert _forwarded(tmp_path) == []


async def test_relay_asks_a_url_only_client_nothing_and_closing_fails_the_question(tmp_path: Path) -> None:
    raw = RawStdio()
    async with core_with(tmp_path) as core, anyio.create_task_group() as tg:
        raw.start(tg, core)
        await raw.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {"url": {}}},
            "clientInfo": {"name": "raw", "version": "0"}}})
        await raw.receive()
        await raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "executeCommand", "arguments": _run("echo url only")}})
        answer = await raw.receive()
        assert "the client did not declare the capability" in answer["result"]["content"][0]["text"], answer
        tg.cancel_scope.cancel()
    raw = RawStdio()
    async with core_with(tmp_path) as core, anyio.create_task_group() as tg:
        raw.start(tg, core)
        await raw.send({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {"elicitation": {"form": {}}},
            "clientInfo": {"name": "raw", "version": "0"}}})
        await raw.receive()
        await raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
                        "params": {"name": "executeCommand", "arguments": _run("echo gone")}})
        ask = await raw.receive()
        assert ask["params"]["mode"] == "form", ask  # 2025-11-25 names the mode
        await raw.close()  # the client goes away while its user is asked
        answer = await raw.receive()
        text = answer["result"]["content"][0]["text"]
        assert "(rule approval.unreachable)" in text and "the client closed the connection" in text, text
        tg.cancel_scope.cancel()
    assert _forwarded(tmp_path) == []


@pytest.mark.parametrize("frontend", ["stdio-modern", "server-modern"])
async def test_modern_request_state_unlocks_only_the_call_it_was_asked_for(frontend: str, tmp_path: Path) -> None:
    yes = {INPUT_KEY: types.ElicitResult(action="accept", content={"approve": True})}
    async with client_of(frontend, tmp_path, approve()) as client:
        session: ClientSession = client.session
        first = await session.call_tool("executeCommand", _run("echo one"), allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        assert first.input_requests is not None and INPUT_KEY in first.input_requests
        state = first.request_state
        assert isinstance(state, str) and state
        # Its state and a yes, on another command: not this call's approval.
        other = await session.call_tool("executeCommand", _run("echo two"), input_responses=yes, request_state=state,
                                        allow_input_required=True)
        assert isinstance(other, types.CallToolResult) and other.is_error, other
        assert "(rule approval.mismatch)" in _text(other), _text(other)
        # A state that names no request.
        unknown = await session.call_tool("executeCommand", _run("echo one"), input_responses=yes,
                                          request_state="0000000000", allow_input_required=True)
        assert isinstance(unknown, types.CallToolResult) and "(rule approval.unknown)" in _text(unknown)
        # A retry without the answer is a malformed answer: denied, and the request is done.
        bare = await session.call_tool("executeCommand", _run("echo one"), request_state=state, allow_input_required=True)
        assert isinstance(bare, types.CallToolResult) and "(rule approval.denied)" in _text(bare), _text(bare)
        again = await session.call_tool("executeCommand", _run("echo one"), input_responses=yes, request_state=state,
                                        allow_input_required=True)
        assert isinstance(again, types.CallToolResult) and again.is_error, _text(again)
    assert _forwarded(tmp_path) == []


@pytest.mark.parametrize("frontend", ["stdio-modern", "server-modern"])
async def test_modern_question_never_answered_expires_at_its_deadline(frontend: str, tmp_path: Path) -> None:
    yes = {INPUT_KEY: types.ElicitResult(action="accept", content={"approve": True})}
    async with client_of(frontend, tmp_path, approve(), timeout=1) as client:
        first = await client.session.call_tool("executeCommand", _run("echo later"), allow_input_required=True)
        assert isinstance(first, types.InputRequiredResult), first
        assert "approval-expired" not in _events(tmp_path)
        with anyio.fail_after(5):  # no call waits on it, yet it expires (and is audited) on time
            while "approval-expired" not in _events(tmp_path):
                await anyio.sleep(0.05)
        late = await client.session.call_tool("executeCommand", _run("echo later"), input_responses=yes,
                                              request_state=first.request_state, allow_input_required=True)
        assert isinstance(late, types.CallToolResult) and "(rule approval.expired)" in _text(late), _text(late)
    assert _forwarded(tmp_path) == []


class _ClaimingUpstream:
    """An upstream whose ``tools/call`` result claims to be an ``input_required`` one."""

    timeout = 10.0
    initialize_result: dict[str, Any] | None = None

    async def initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        self.initialize_result = {"protocolVersion": "2025-11-25", "capabilities": {"tools": {}},
                                  "serverInfo": {"name": "claiming", "version": "0"}}
        return self.initialize_result

    async def request(self, method: str, params: Any, timeout: float | None = None, client_id: Any = None) -> Any:
        if method == "tools/list":
            return {"tools": [{"name": "executeCommand", "inputSchema": {"type": "object"}}]}
        return {"resultType": "input_required", "requestState": "theirs", "content": [{"type": "text", "text": "done"}],
                "inputRequests": {"pw": {"method": "elicitation/create", "params": {
                    "mode": "form", "message": "your password?", "requestedSchema": {"type": "object", "properties": {}}}}}}

    async def notify(self, method: str, params: Any) -> None: ...
    async def respond(self, frame: dict[str, Any]) -> None: ...
    async def cancel(self, client_id: Any, reason: str | None = None) -> None: ...
    async def close(self) -> None: ...


async def test_only_sshwall_answers_input_required_never_the_upstream(tmp_path: Path) -> None:
    rules = tmp_path / "allow.yaml"
    rules.write_text(POLICY % {"timeout": 10} + "      uptime: {}\n")
    upstream = _ClaimingUpstream()
    audit = AuditLog(tmp_path / "audit.jsonl")
    core = FrontendCore(Firewall(load_checked(rules), upstream.request, audit), upstream)  # type: ignore[arg-type]
    raw = RawStdio()
    try:
        async with anyio.create_task_group() as tg:  # the SDK frontend on stdio, read on the wire
            raw.start(tg, core)
            await raw.send({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
                "name": "executeCommand", "arguments": _run("uptime"), "_meta": MODERN_META}})
            answer = await raw.receive()
            await raw.close()
            tg.cancel_scope.cancel()
    finally:
        audit.close()
    result = answer["result"]
    assert result.get("resultType", "complete") == "complete", answer  # not the upstream's claim
    assert "inputRequests" not in result and "requestState" not in result, answer
    assert result["content"][0]["text"] == "done", answer


# -- end to end: a gateway process, the built-in backend, the sshd --------------------------------

E2E_POLICY = """\
version: 1
name: elicitation-e2e
description: touch needs a human's yes
profile: mcp-ssh
default: deny
approval: {channels: [elicitation], timeout: 10}
tools:
  connect: allow
  disconnect: allow
  executeCommand: {commands: ops}
commands:
  ops:
    programs:
      touch: {decision: prompt, reason: "touch changes the host", min_operands: 1, max_operands: 1}
"""


@contextmanager
def gateway(transport: str, tmp_path: Path, upstream: list[str]) -> Iterator[tuple[Any, Path]]:
    """``sshwall serve`` under E2E_POLICY: (a ``Client`` target, the audit path)."""
    rules = tmp_path / "e2e.yaml"
    rules.write_text(E2E_POLICY)
    audit = tmp_path / f"audit-{transport}.jsonl"
    argv = serve_argv(rules, audit, upstream)
    log = tmp_path / f"serve-{transport}.log"
    if transport == "stdio":
        yield StdioServerParameters(command=argv[0], args=argv[1:], env=gateway_env(), cwd=REPO_ROOT), audit
    else:
        with http_server(argv, log) as url:
            yield url, audit


@pytest.mark.parametrize("transport", ["stdio", "http"])
async def test_approved_command_runs_on_the_host_and_the_declined_one_does_not(
    transport: str, tmp_path: Path, sshd: SshdServer, upstream: list[str]
) -> None:
    marks = tmp_path / "marks"
    sshd.check(f"mkdir -p '{marks}'")
    with gateway(transport, tmp_path, upstream) as (target, audit):
        for era in ("legacy", "modern"):
            user = User()
            async with Client(target, mode="legacy" if era == "legacy" else "auto", elicitation_callback=user,
                              read_timeout_seconds=60) as client:
                assert (client.protocol_version >= "2026") == (era == "modern")
                connected = await client.call_tool("connect", {
                    "host": sshd.host, "port": sshd.port, "username": sshd.user, "privateKey": sshd.client_key_text})
                assert not connected.is_error, _text(connected)
                cid = Reply(_text(connected), connected.structured_content, False).find_id("connectionId")
                user.action, user.content = "accept", {"approve": True}
                yes = await client.call_tool("executeCommand", {"connectionId": cid, "command": f"touch {marks}/{era}-yes"})
                assert not yes.is_error, _text(yes)
                user.action, user.content = "decline", None
                no = await client.call_tool("executeCommand", {"connectionId": cid, "command": f"touch {marks}/{era}-no"})
                assert no.is_error and "(rule approval.denied)" in _text(no), _text(no)
                assert len(user.asked) == 2 and f"{era}-yes" in user.asked[0].message
    # On the host, read over the fixture's own SSH (not through the gateway).
    listed = sshd.run(f"ls '{marks}'").stdout.split()
    assert sorted(listed) == ["legacy-yes", "modern-yes"], listed
    kinds = [r.get("kind", "decision") for r in audit_records(audit)]
    assert kinds.count("approval-approved") == 2 and kinds.count("approval-denied") == 2, kinds
    assert verify(audit).ok, json.dumps(audit_records(audit)[-3:])
