"""A command whose channel closes (timeout, cancellation) ends on the host, in both wrapper forms.

Processes are counted with ``ps`` on the host of the session's real sshd. The cancellation path
through the gateway is in tests/proxy/test_cancellation.py.
"""

from __future__ import annotations

import time

import pytest

from sshwall.backend.ssh import killable
from tests.support.mcp_client import BackendClient
from tests.support.sshd import SshdServer


def _count(sshd: SshdServer, command: str) -> int:
    return sum(1 for line in sshd.check("ps -eo args=").splitlines() if line.strip() == command)


def _wait_gone(sshd: SshdServer, command: str, timeout: float) -> float:
    started = time.monotonic()
    while _count(sshd, command):
        assert time.monotonic() - started < timeout, f"{command!r} still runs on the host"
        time.sleep(0.1)
    return time.monotonic() - started


def test_a_timed_out_command_ends_on_the_host(backend: BackendClient, conn: str, sshd: SshdServer) -> None:
    command = "sleep 7.32"
    reply = backend.call("executeCommand", {"connectionId": conn, "command": command, "timeout": 1000})
    assert reply.is_error and "timed out" in reply.text, reply
    _wait_gone(sshd, command, 4)


def test_a_command_ignoring_sigterm_is_killed_2_s_later(backend: BackendClient, conn: str, sshd: SshdServer) -> None:
    command = "sleep 7.33"
    reply = backend.call("executeCommand", {"connectionId": conn, "command": f"trap '' TERM; {command}", "timeout": 1000})
    assert reply.is_error, reply
    _wait_gone(sshd, command, 6)


@pytest.mark.parametrize("posix", [True, False], ids=["login-shell", "via-sh"])
def test_both_wrapper_forms_keep_output_status_and_stop_on_close(posix: bool, sshd: SshdServer) -> None:
    client = sshd.open_client()
    try:
        transport = client.get_transport()
        assert transport is not None
        chan = transport.open_session()
        chan.exec_command(killable("echo out; echo err >&2; cat; echo \"it's $((6*7))\"; exit 3", posix))
        out, err = chan.makefile("rb").read(), chan.makefile_stderr("rb").read()
        assert (out, err, chan.recv_exit_status()) == (b"out\nit's 42\n", b"err\n", 3)  # cat reads /dev/null

        command = "sleep 7.34" if posix else "sleep 7.35"
        chan = transport.open_session()
        chan.exec_command(killable(command, posix))
        deadline = time.monotonic() + 10
        while not _count(sshd, command):
            assert time.monotonic() < deadline, "the command never started"
            time.sleep(0.1)
        chan.close()
        _wait_gone(sshd, command, 4)
    finally:
        client.close()
