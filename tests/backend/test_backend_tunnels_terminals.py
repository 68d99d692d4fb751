"""Tunnels really forward TCP (to an echo server on 127.0.0.1); terminals run a real PTY shell."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from sshwall.backend.terminals import TerminalManager
from tests.support.echo import echo_server
from tests.support.echo import roundtrip as _roundtrip
from tests.support.mcp_client import BackendClient
from tests.support.sshd import SshdServer, free_port

DEADLINE_S = 60.0
"""How long a test waits for terminal output it expects (CI machines can be very busy)."""


def _until(backend: BackendClient, session: str, data: str, done: Callable[[str], bool]) -> str:
    """Write ``data``, then read on until ``done(output so far)`` or the deadline."""
    text = str((backend.ok("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": data}).data or {})["output"])
    deadline = time.monotonic() + DEADLINE_S
    while not done(text) and time.monotonic() < deadline:
        more = backend.ok("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": ""}).data or {}
        text += str(more["output"])
        if more["closed"]:
            break
    return text


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    """A TCP echo server on 127.0.0.1 (the tunnel's remote end, reached by sshd)."""
    with echo_server() as port:
        yield port


def test_tunnel_forwards_tcp(backend: BackendClient, conn: str, echo_port: int) -> None:
    local_port = free_port()
    reply = backend.ok("createTunnel", {"connectionId": conn, "localPort": local_port, "remoteHost": "127.0.0.1",
                                        "remotePort": echo_port, "description": "echo"})
    data = reply.data or {}
    assert data["localHost"] == "127.0.0.1" and data["localPort"] == local_port
    payload = bytes(range(256)) * 400
    assert _roundtrip(local_port, payload) == payload
    assert _roundtrip(local_port, b"again") == b"again"  # a second connection through the same tunnel
    listed = backend.ok("listTunnels")
    assert [t["tunnelId"] for t in (listed.data or {})["tunnels"]] == [data["tunnelId"]]
    assert listed.text.startswith(f"活跃的隧道:\n\nID: {data['tunnelId']}\n本地端口: {local_port}\n"
                                  f"远程: 127.0.0.1:{echo_port}\n连接: "), listed.text
    assert listed.text.endswith("\n描述: echo\n\n---\n\n"), listed.text

    backend.ok("closeTunnel", {"tunnelId": data["tunnelId"]})
    with pytest.raises(OSError):
        _roundtrip(local_port, b"closed?")
    none = backend.ok("listTunnels")
    assert not (none.data or {})["tunnels"] and none.text == "当前没有活跃的隧道"
    assert backend.call("closeTunnel", {"tunnelId": data["tunnelId"]}).is_error


def test_tunnel_on_port_zero_and_unreachable_target(backend: BackendClient, conn: str, echo_port: int) -> None:
    reply = backend.ok("createTunnel", {"connectionId": conn, "localPort": 0, "remoteHost": "127.0.0.1",
                                        "remotePort": echo_port})
    port = int((reply.data or {})["localPort"])
    assert port > 0 and _roundtrip(port, b"zero") == b"zero"
    backend.ok("closeTunnel", {"tunnelId": (reply.data or {})["tunnelId"]})

    dead = backend.ok("createTunnel", {"connectionId": conn, "localPort": 0, "remoteHost": "127.0.0.1",
                                       "remotePort": free_port()})
    try:  # the tunnel accepts, the SSH host cannot connect, the connection is dropped
        assert _roundtrip(int((dead.data or {})["localPort"]), b"x") == b""
    except ConnectionResetError:
        pass
    assert "could not open" in backend.log_text()
    backend.ok("closeTunnel", {"tunnelId": (dead.data or {})["tunnelId"]})
    taken = backend.call("createTunnel", {"connectionId": conn, "localPort": echo_port,
                                          "remoteHost": "127.0.0.1", "remotePort": echo_port})
    assert taken.is_error and "cannot listen" in taken.text


def test_terminal_session_runs_a_shell(backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str) -> None:
    opened = backend.call("mcp_ssh_mcp_createTerminalSession", {"connectionId": conn, "rows": 30, "cols": 100})
    if opened.is_error and os.geteuid() != 0 and "chown(/dev/pts" in sshd.log_path.read_text():
        # An unprivileged sshd can only hand out a PTY if devpts already gives it the tty group
        # (mount option gid=5); this machine's devpts does not.
        pytest.skip("unprivileged sshd cannot set up a PTY on this machine (devpts without gid=5)")
    assert not opened.is_error, opened.text
    session = str((opened.data or {})["sessionId"])
    assert session in (backend.ok("listActiveSessions").data or {})["terminals"]

    # A busy machine delivers the echo and the command's output in pieces: read on (an empty
    # write) until what the test expects has come, within a generous deadline.
    out = _until(backend, session, "echo sshwall-$((6*7)); stty size\n", lambda t: "sshwall-42" in t and "30 100" in t)
    assert "sshwall-42" in out and "30 100" in out
    sent = backend.ok("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": f"touch '{remote_dir}/from-pty'\n"})
    assert sent.text == f"数据已发送到终端 {session}", sent.text  # the output is in the data only
    deadline = time.monotonic() + DEADLINE_S
    while not sshd.path_exists(f"{remote_dir}/from-pty") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert sshd.path_exists(f"{remote_dir}/from-pty")

    ended = backend.ok("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": "exit\n"})
    deadline = time.monotonic() + DEADLINE_S
    while not (ended.data or {})["closed"] and time.monotonic() < deadline:
        ended = backend.ok("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": ""})
    assert (ended.data or {})["closed"] is True
    assert backend.call("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": "x"}).is_error


def test_terminal_read_waits_for_slow_first_output() -> None:
    """A host slower than the quiet window: the read waits for the first output, then settles."""
    ours, theirs = socket.socketpair()
    manager = TerminalManager()
    info = manager.open("c1", "xterm", 80, 24, ours)

    def slow_shell() -> None:
        time.sleep(1.5)  # five quiet windows before anything comes
        theirs.sendall(b"first ")
        time.sleep(0.1)
        theirs.sendall(b"second\n")

    threading.Thread(target=slow_shell, daemon=True).start()
    started = time.monotonic()
    out = manager.read(info.session_id)
    assert out.text == "first second\n" and not out.closed
    assert time.monotonic() - started < 5.0
    theirs.close()
    assert manager.read(info.session_id).closed  # the end is seen at once, not after the wait
