"""HTTP clients identified by bearer tokens: 401 without one, and each token its own grant."""

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

import anyio
import pytest

from sshwall.lab import free_port

REPO = Path(__file__).resolve().parents[2]
TRIVIAL = [sys.executable, str(REPO / "bench" / "trivial_upstream.py")]
ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    work = tmp_path_factory.mktemp("tokens")
    (work / "tokens").write_text(f"alice: {ALICE}\nbob: {BOB}\n")
    (work / "p.yaml").write_text(textwrap.dedent("""
        version: 1
        # listConnections reads every identity's connections: on a shared gateway only an
        # operator may call it (docs/identities.md).
        grants: {alice: {operator: true}, bob: {operator: true}}
        tools:
          listConnections: {limits: [{counter: lc, window: minute, max: 2, scope: grant}]}
    """))
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(work / "p.yaml"),
                             "--listen", f"127.0.0.1:{port}", "--tokens", str(work / "tokens"), "--", *TRIVIAL],
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(10)


def _calls(port: int, token: str, n: int) -> list[str]:
    import httpx2
    from mcp import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> list[str]:
        out = []
        client = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
        async with streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=client) as streams:
            async with ClientSession(streams[0], streams[1]) as session:
                await session.initialize()
                for _ in range(n):
                    result = await session.call_tool("listConnections", {})
                    out.append(result.content[0].text)
        return out

    return anyio.run(run)


def test_no_token_is_refused_with_401(gateway: int) -> None:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "ping"}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{gateway}/mcp", data=body,
                                     headers={"content-type": "application/json", "accept": "application/json, text/event-stream"})
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=5)
    assert err.value.code == 401


def test_each_token_is_its_own_grant(gateway: int) -> None:
    alice = _calls(gateway, ALICE, 3)
    assert alice[:2] == ["ok", "ok"]
    assert alice[2].startswith("sshwall: denied (rule limits.lc)") and "grant=alice" in alice[2]
    assert _calls(gateway, BOB, 1) == ["ok"]  # bob's grant is untouched
