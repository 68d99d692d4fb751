"""Identities must not cross: two (and more) real tokens over HTTP, one real gateway, real sshd.

Client (MCP SDK over streamable HTTP) -> `sshwall serve --listen` -> built-in backend -> sshd.
Alice opens things; Bob (the policy for everyone) may not use them; the operator may list and
stop them; the on-call identity's grant keeps it on the staging hosts.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from sshwall.audit import verify
from sshwall.lab import free_port
from tests.support.sshd import SshdFactory, SshdServer

TOKENS = {
    "alice": "alice-token-0123456789",
    "bob": "bob-token-0123456789abc",
    "oncall": "oncall-token-0123456789",
    "boss": "boss-token-01234567890",
}


@pytest.fixture(scope="module")
def hosts(sshd: SshdServer, sshd_factory: SshdFactory) -> tuple[SshdServer, SshdServer]:
    return sshd, sshd_factory.start("staging-ids", listen="127.0.0.2")


@pytest.fixture(scope="module")
def gateway(hosts: tuple[SshdServer, SshdServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    prod, staging = hosts
    work = tmp_path_factory.mktemp("identities")
    (work / "tokens").write_text("".join(f"{who}: {token}\n" for who, token in TOKENS.items()))
    known = work / "known_hosts"
    known.write_text(prod.known_hosts_path.read_text() + staging.known_hosts_path.read_text())
    policy = work / "policy.yaml"
    policy.write_text(textwrap.dedent(f"""
        version: 1
        profile: mcp-ssh
        default: deny
        # A fresh built-in backend holds no password saved before this gateway (terminals).
        upstream_saved_passwords: none
        hosts:
          prod: {{match: [127.0.0.1], users: [{prod.user}], ports: [{prod.port}], commands: ops}}
          staging: {{match: [127.0.0.2], users: [{staging.user}], ports: [{staging.port}], commands: ops}}
        grants:
          oncall: {{hosts: [staging], tools: [connect, executeCommand, deleteConnection]}}
          boss: {{operator: true}}
        tools:
          connect: allow
          disconnect: allow
          deleteConnection: allow
          listConnections: allow
          stopAllBackgroundTasks: allow
          executeCommand: {{commands: ops}}
          backgroundExecute: {{commands: ops, interval: {{min: 1s, max: 1h}}}}
          stopBackground: allow
          mcp_ssh_mcp_createTerminalSession: allow
          mcp_ssh_mcp_writeToTerminal: {{terminal: {{commands: ops}}}}
          createTunnel: allow
          closeTunnel: allow
        commands:
          ops:
            programs: {{uptime: {{}}, "true": {{}}, echo: {{}}}}
    """))
    audit = work / "audit.jsonl"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(policy), "--audit", str(audit),
                             "--listen", f"127.0.0.1:{port}", "--tokens", str(work / "tokens"),
                             f"--backend-arg=--known-hosts={known}"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120  # a busy machine takes a while to import the SDK
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail("the gateway did not start listening")
            time.sleep(0.1)
    yield port, audit
    proc.terminate()
    proc.wait(10)


def _call(port: int, who: str, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    """(isError, text) of one tool call made by ``who`` in a session of its own."""
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> tuple[bool, str]:
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKENS[who]}"}, timeout=60)
        url = f"http://127.0.0.1:{port}/mcp"
        async with streamable_http_client(url, http_client=client) as streams, ClientSession(streams[0], streams[1]) as session:
            await session.initialize()
            result = await session.call_tool(tool, arguments)
            return bool(result.is_error), "\n".join(getattr(c, "text", "") for c in result.content)

    return anyio.run(run)


def _connect(port: int, who: str, server: SshdServer, host: str) -> tuple[bool, str]:
    return _call(port, who, "connect", {"host": host, "port": server.port, "username": server.user,
                                        "privateKey": server.client_key_text, "rememberPassword": False})


def _id(text: str) -> str:
    return text.split("ID: ", 1)[1].split("\n", 1)[0].strip()


def _post(port: int, who: str, body: dict[str, Any], session: str | None = None) -> tuple[int, dict[str, str]]:
    headers = {"content-type": "application/json", "accept": "application/json, text/event-stream",
               "authorization": f"Bearer {TOKENS[who]}"}
    if session is not None:
        headers["mcp-session-id"] = session
    request = urllib.request.Request(f"http://127.0.0.1:{port}/mcp", data=json.dumps(body).encode(), headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:
            return reply.status, {k.lower(): v for k, v in reply.headers.items()}
    except urllib.error.HTTPError as err:
        return err.code, {}


def test_a_session_belongs_to_the_identity_that_opened_it(gateway) -> None:
    port, _ = gateway
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    status, headers = _post(port, "alice", init)
    assert status == 200 and headers.get("mcp-session-id")
    session = headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 2, "method": "ping"}
    assert _post(port, "bob", ping, session)[0] == 403  # Bob's token on Alice's session
    assert _post(port, "boss", ping, session)[0] == 403  # an operator does not use sessions either
    assert _post(port, "bob", ping, "no-such-session")[0] == 404
    assert _post(port, "alice", {"jsonrpc": "2.0", "method": "notifications/initialized"}, session)[0] in (200, 202)
    assert _post(port, "alice", ping, session)[0] == 200


def test_ids_terminals_tunnels_and_tasks_stay_with_their_owner(gateway, hosts) -> None:
    port, audit = gateway
    prod, _ = hosts
    failed, text = _connect(port, "alice", prod, "127.0.0.1")
    assert not failed, text
    conn = _id(text)
    assert _call(port, "alice", "executeCommand", {"connectionId": conn, "command": "uptime"})[0] is False
    failed, text = _call(port, "bob", "executeCommand", {"connectionId": conn, "command": "uptime"})
    assert failed and text.startswith("sshwall: denied") and "identity.not-owner" in text, text
    # Bob connecting to the same user@host:port would get Alice's live connection back.
    failed, text = _connect(port, "bob", prod, "127.0.0.1")
    assert failed and "identity.not-owner" in text, text
    # A terminal session.
    failed, text = _call(port, "alice", "mcp_ssh_mcp_createTerminalSession", {"connectionId": conn})
    assert not failed and text.startswith("已创建终端会话 "), text
    term = text.split()[-1]
    failed, text = _call(port, "bob", "mcp_ssh_mcp_writeToTerminal", {"sessionId": term, "data": "true\n"})
    assert failed and "identity.not-owner" in text and "terminal session" in text, text
    assert _call(port, "alice", "mcp_ssh_mcp_writeToTerminal", {"sessionId": term, "data": "true\n"})[0] is False
    # A tunnel: Bob may not close it, the operator may.
    failed, text = _call(port, "alice", "createTunnel", {"connectionId": conn, "localPort": free_port(),
                                                         "remoteHost": "127.0.0.1", "remotePort": prod.port})
    assert not failed, text
    tunnel = text.rsplit("隧道ID: ", 1)[1].strip()
    failed, text = _call(port, "bob", "closeTunnel", {"tunnelId": tunnel})
    assert failed and "identity.not-owner" in text, text
    assert _call(port, "boss", "closeTunnel", {"tunnelId": tunnel})[0] is False
    # A background task: Bob may neither stop it nor stop all; the operator may.
    failed, text = _call(port, "alice", "backgroundExecute", {"connectionId": conn, "command": "true", "interval": 60000})
    assert not failed, text
    failed, text = _call(port, "bob", "stopBackground", {"connectionId": conn})
    assert failed and "identity.not-owner" in text, text
    failed, text = _call(port, "bob", "stopAllBackgroundTasks", {})
    assert failed and "identity.upstream-wide" in text, text
    failed, text = _call(port, "bob", "listConnections", {})
    assert failed and "identity.upstream-wide" in text, text
    failed, text = _call(port, "boss", "listConnections", {})
    assert not failed and conn in text, text
    failed, text = _call(port, "boss", "executeCommand", {"connectionId": conn, "command": "true"})
    assert failed and "identity.not-owner" in text, text  # an operator stops, it does not run
    failed, text = _call(port, "boss", "stopBackground", {"connectionId": conn})
    assert not failed and "已停止" in text, text
    # Every record names the identity that made the call, and the chain holds.
    records = [json.loads(line) for line in audit.read_text().splitlines()]
    refused = [r for r in records if r.get("tool") == "executeCommand" and r.get("decision") == "deny"]
    assert refused and {r.get("identity") for r in refused} >= {"bob", "boss"}
    assert any(r.get("identity") == "alice" and r.get("tool") == "backgroundExecute" for r in records)
    assert verify(audit).ok
    assert _call(port, "alice", "deleteConnection", {"connectionId": conn})[0] is False


def test_a_grant_keeps_an_identity_on_its_host_groups_and_tools(gateway, hosts) -> None:
    port, _ = gateway
    prod, staging = hosts
    failed, text = _connect(port, "oncall", prod, "127.0.0.1")
    assert failed and "grants.oncall.hosts" in text and "staging" in text, text
    failed, text = _connect(port, "oncall", staging, "127.0.0.2")
    assert not failed, text
    conn = _id(text)
    assert _call(port, "oncall", "executeCommand", {"connectionId": conn, "command": "uptime"})[0] is False
    failed, text = _call(port, "oncall", "mcp_ssh_mcp_createTerminalSession", {"connectionId": conn})
    assert failed and "grants.oncall.tools" in text, text
    # The policy for everyone still lets Bob reach prod (no grant: no narrowing).
    failed, text = _connect(port, "bob", prod, "127.0.0.1")
    assert not failed, text
    assert _call(port, "bob", "deleteConnection", {"connectionId": _id(text)})[0] is False
    assert _call(port, "oncall", "deleteConnection", {"connectionId": conn})[0] is False
