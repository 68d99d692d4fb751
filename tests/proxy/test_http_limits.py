"""The HTTP frontend bounds slow, idle and piled-up clients (raw sockets to a real gateway).

Trickled headers and bodies are cut off (408), a connection over the cap is refused at once
(503), idle keep-alive connections are closed, idle MCP sessions expire (their id then answers
404), and sessions are capped per identity (429) and in all (503), with room freed when a
session ends.
"""

from __future__ import annotations

import selectors
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy.rawhttp import HttpGateway

ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"
PARTIAL = b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.settimeout(10)
    return sock


def _read_all(sock: socket.socket, timeout: float) -> tuple[bytes, float]:
    """Everything until the server closes (and how long that took), within ``timeout``."""
    started = time.monotonic()
    sock.settimeout(timeout)
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"the server kept the connection open for {timeout} s; got {data!r}") from None
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data, time.monotonic() - started


@pytest.fixture(scope="module")
def slow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpGateway]:
    gateway = HttpGateway(tmp_path_factory.mktemp("slow"), ["--http-header-timeout", "1.5", "--http-body-timeout", "1.5",
                                                              "--http-keepalive", "1", "--http-max-connections", "40"])
    try:
        yield gateway
    finally:
        gateway.close()


def test_trickled_headers_are_cut_off(slow: HttpGateway) -> None:
    sock = _connect(slow.port)
    sock.sendall(PARTIAL)
    started = time.monotonic()
    try:
        while time.monotonic() - started < 6:  # a byte every 0.2 s: always sending, never done
            sock.sendall(b"X")
            time.sleep(0.2)
    except (BrokenPipeError, ConnectionResetError):
        pass
    data, _ = _read_all(sock, 5)
    assert time.monotonic() - started < 6, "the trickling client was never cut off"
    assert data.startswith(b"HTTP/1.1 408") and b"--http-header-timeout" in data


def test_a_silent_connection_is_closed(slow: HttpGateway) -> None:
    data, took = _read_all(_connect(slow.port), 10)
    assert data.startswith(b"HTTP/1.1 408") and took < 5


def test_a_trickled_body_is_cut_off(slow: HttpGateway) -> None:
    sock = _connect(slow.port)
    sock.sendall(PARTIAL + b"Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
                 b"Content-Length: 200\r\n\r\n{\"jsonrpc\"")
    data, took = _read_all(sock, 10)
    assert data.startswith(b"HTTP/1.1 408") and b"request body took over" in data and took < 5


def test_an_idle_keep_alive_connection_is_closed(slow: HttpGateway) -> None:
    sock = _connect(slow.port)
    sock.sendall(b"GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
    data, took = _read_all(sock, 10)
    assert data.startswith(b"HTTP/1.1 ") and took < 5


def test_connections_over_the_cap_are_refused_with_503(slow: HttpGateway) -> None:
    held = []
    for _ in range(40):  # the cap: each sends half its headers and waits
        sock = _connect(slow.port)
        sock.sendall(PARTIAL)
        held.append(sock)
    time.sleep(0.3)
    refused = []
    for _ in range(15):
        data, took = _read_all(_connect(slow.port), 5)
        refused.append(data)
        assert took < 2
    assert all(d.startswith(b"HTTP/1.1 503") and b"--http-max-connections 40" in d for d in refused), refused[:1]
    for sock in held:
        sock.close()
    time.sleep(0.5)
    reply = slow.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})  # room again (400: no session, but served)
    assert reply.status in (200, 400) and reply.status != 503


def test_the_default_cap_holds_against_many_trickling_clients(tmp_path: Path) -> None:
    """600 clients that never finish their headers: the default cap (512) refuses the rest."""
    gateway = HttpGateway(tmp_path / "defaults")
    held: list[socket.socket] = []
    try:
        for _ in range(600):
            sock = _connect(gateway.port)
            sock.sendall(PARTIAL)
            held.append(sock)
        answered: dict[socket.socket, bytes] = {}
        with selectors.DefaultSelector() as sel:
            for sock in held:
                sel.register(sock, selectors.EVENT_READ)
            deadline = time.monotonic() + 5
            settled = None  # once 88 are in, one more second to see that no more come
            while time.monotonic() < min(deadline, settled or deadline):
                if settled is None and len(answered) >= 88:
                    settled = time.monotonic() + 1.0
                for key, _ in sel.select(0.2):
                    sock = key.fileobj  # type: ignore[assignment]
                    answered[sock] = sock.recv(4096)
                    sel.unregister(sock)
        assert len(answered) == 600 - 512
        assert all(d.startswith(b"HTTP/1.1 503") for d in answered.values())
    finally:
        for sock in held:
            sock.close()
        gateway.close()


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpGateway]:
    work: Path = tmp_path_factory.mktemp("sessions")
    (work / "tokens").write_text(f"alice: {ALICE}\nbob: {BOB}\n")
    gateway = HttpGateway(work, ["--tokens", str(work / "tokens"), "--http-session-idle", "2",
                                 "--http-max-sessions-per-identity", "2", "--http-max-sessions", "3"])
    try:
        yield gateway
    finally:
        gateway.close()


def _ping(gateway: HttpGateway, session: str, token: str) -> int:
    return gateway.post({"jsonrpc": "2.0", "id": "p", "method": "ping"}, session, token).status


def test_sessions_are_capped_per_identity_and_in_all(sessions: HttpGateway) -> None:
    opened = [sessions.open_session(ALICE)[1] for _ in range(2)]
    assert all(opened)
    over, none = sessions.open_session(ALICE)
    assert over.status == 429 and none is None
    assert "'alice' already has 2 open sessions" in over.message["error"]["message"]
    bobs, bob_session = sessions.open_session(BOB)  # bob has his own share...
    assert bobs.status == 200 and bob_session
    full, _ = sessions.open_session(BOB)  # ...but the gateway's total (3) is reached
    assert full.status == 503 and "--http-max-sessions 3" in full.message["error"]["message"]
    ended = sessions.post(None, opened[0], ALICE, method="DELETE")
    assert ended.status == 200
    again, session = sessions.open_session(ALICE)  # an ended session frees its place at once
    assert again.status == 200 and session
    for s, token in ((opened[1], ALICE), (session, ALICE), (bob_session, BOB)):
        sessions.post(None, s, token, method="DELETE")


def test_idle_sessions_expire(sessions: HttpGateway) -> None:
    _, session = sessions.open_session(ALICE)
    assert session and _ping(sessions, session, ALICE) == 200
    time.sleep(1.0)
    assert _ping(sessions, session, ALICE) == 200  # in use: not idle
    time.sleep(2 + 2.0)  # idle longer than --http-session-idle 2
    assert _ping(sessions, session, ALICE) == 404
    # the expired sessions gave their places back: alice can open her full share again
    assert all(sessions.open_session(ALICE)[1] for _ in range(2))

