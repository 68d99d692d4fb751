"""Issue 10: the terminal auto-password and the default download path, through the real gateway.

Client -> ``sshwall serve`` -> built-in backend -> sshd, all real processes. The backend runs
with ``--emulate-mcp-ssh-rewrites``, so, as the real Mcp Ssh does, it types the connection's
password into a terminal whose output shows ``Password:``; unlike it, the backend authenticates
a password-only reconnect with the key the id had (the test sshd takes keys only); without ``--download-dir`` it saves a download without ``localPath``
to ``$HOME/Downloads/<basename>`` (the gateway and the backend run under a temporary HOME). Each
attack is first shown to work against the bare backend, then denied through sshwall with nothing
happening on the host or on the gateway's machine.
"""

from __future__ import annotations

import hashlib
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.lab import StdioClient
from tests.support.sshd import SshdServer


def _text(result: dict) -> str:
    return "\n".join(b.get("text", "") for b in result.get("content") or [])


def _denied(result: dict) -> bool:
    return bool(result.get("isError")) and _text(result).startswith("sshwall: denied")


def _id_of(server: SshdServer) -> str:
    return hashlib.md5(f"{server.user}@{server.host}:{server.port}".encode()).hexdigest()


def _marker(sshd: SshdServer) -> str:
    path = f"/tmp/sshwall-autopw-{uuid.uuid4().hex}"
    assert not sshd.path_exists(path)
    return path


def _appears(sshd: SshdServer, path: str, within_s: float = 5.0) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if sshd.path_exists(path):
            return True
        time.sleep(0.2)
    return False


def _backend(home: Path, known: Path) -> list[str]:
    return ["env", f"HOME={home}", sys.executable, "-m", "sshwall.cli", "backend", f"--known-hosts={known}",
            "--emulate-mcp-ssh-rewrites"]


def _gateway(home: Path, policy: Path, known: Path) -> list[str]:
    return ["env", f"HOME={home}", sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(policy),
            f"--backend-arg=--known-hosts={known}", "--backend-arg=--emulate-mcp-ssh-rewrites"]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The HOME of the gateway and its backend: the real server's ~/Downloads lies here."""
    return tmp_path_factory.mktemp("gateway-home")


@pytest.fixture(scope="module")
def bare(sshd: SshdServer, home: Path) -> Iterator[StdioClient]:
    """The emulating backend with nothing in front of it (its own HOME)."""
    client = StdioClient(_backend(home / "bare", sshd.known_hosts_path))
    client.initialize()
    yield client
    client.close()


@pytest.fixture(scope="module")
def gateway(sshd: SshdServer, home: Path) -> Iterator[StdioClient]:
    """Terminals and downloads allowed, with terminal lines and local paths checked."""
    (home / "gw").mkdir()
    policy = home / "policy.yaml"
    policy.write_text(textwrap.dedent(f"""
        version: 1
        name: upstream-behaviour
        profile: mcp-ssh
        default: deny
        tools:
          connect: allow
          disconnect: allow
          deleteConnection: allow
          getConnection: allow
          mcp_ssh_mcp_createTerminalSession: allow
          mcp_ssh_mcp_writeToTerminal: {{terminal: {{commands: term}}}}
          downloadFile: {{local_paths: {{allow: ["{home}/inbox/**"]}}}}
          batchDownloadFiles: {{local_paths: {{allow: ["{home}/inbox/**"]}}}}
        commands:
          term:
            operators: [sequence]
            programs: {{uptime: {{}}, "true": {{}}, echo: {{}}}}
    """))
    client = StdioClient(_gateway(home / "gw", policy, sshd.known_hosts_path))
    client.initialize()
    yield client
    client.close()


def _password_connection(client: StdioClient, server: SshdServer, password: str) -> dict:
    """Key connect, disconnect, then a password-only connect: the connection now holds this
    password. The built-in backend authenticates it with the old key (a test convenience, the
    test sshd takes keys only); the real server would authenticate with the password itself,
    which changes nothing for sshwall, whose checks of the password come before either."""
    first = client.call("connect", {"host": server.host, "port": server.port, "username": server.user,
                                    "privateKey": server.client_key_text, "rememberPassword": False})
    assert not first.get("isError"), _text(first)
    assert not client.call("disconnect", {"connectionId": _id_of(server)}).get("isError")
    return client.call("connect", {"host": server.host, "port": server.port, "username": server.user,
                                   "password": password, "rememberPassword": False})


# -- the password typed into a terminal --------------------------------------------------------


def test_the_terminal_auto_password_is_real_against_the_bare_upstream(bare: StdioClient, sshd: SshdServer) -> None:
    marker = _marker(sshd)
    reply = _password_connection(bare, sshd, f"x;touch {marker}")
    assert not reply.get("isError"), _text(reply)
    opened = bare.call("mcp_ssh_mcp_createTerminalSession", {"connectionId": _id_of(sshd)})
    session = _text(opened).split()[-1]
    # The PTY echoes the typed `Password:`: the upstream types the password + Enter at the prompt.
    bare.call("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": "echo Password:\n"})
    assert _appears(sshd, marker), "the emulated auto-password should have run the password as a command line"
    bare.call("deleteConnection", {"connectionId": _id_of(sshd)})
    sshd.run(f"rm -f {marker}")


def test_a_password_that_is_not_an_allowed_line_closes_terminals(gateway: StdioClient, sshd: SshdServer) -> None:
    marker = _marker(sshd)
    reply = _password_connection(gateway, sshd, f"x;touch {marker}")
    assert not reply.get("isError"), _text(reply)  # inert inside double quotes: the sudo rewrite is safe
    opened = gateway.call("mcp_ssh_mcp_createTerminalSession", {"connectionId": _id_of(sshd)})
    assert _denied(opened), _text(opened)
    assert "auto-password" in _text(opened) and "Password:" in _text(opened)
    assert "touch" not in _text(opened)  # the reason never shows the password
    time.sleep(0.5)
    assert not sshd.path_exists(marker)
    assert not gateway.call("deleteConnection", {"connectionId": _id_of(sshd)}).get("isError")


def test_a_password_that_is_an_allowed_line_keeps_terminals_but_lines_must_end(gateway: StdioClient, sshd: SshdServer) -> None:
    reply = _password_connection(gateway, sshd, "uptime")
    assert not reply.get("isError"), _text(reply)
    opened = gateway.call("mcp_ssh_mcp_createTerminalSession", {"connectionId": _id_of(sshd)})
    assert not opened.get("isError"), _text(opened)
    session = _text(opened).split()[-1]
    half = gateway.call("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": "echo "})
    assert _denied(half) and "end its line" in _text(half)  # the password would land after `echo `
    typed = gateway.call("mcp_ssh_mcp_writeToTerminal", {"sessionId": session, "data": "echo Password:\n"})
    assert not typed.get("isError"), _text(typed)
    assert not gateway.call("deleteConnection", {"connectionId": _id_of(sshd)}).get("isError")


# -- downloadFile without localPath ------------------------------------------------------------


def test_the_default_download_path_is_real_against_the_bare_upstream(bare: StdioClient, sshd: SshdServer, home: Path) -> None:
    assert not bare.call("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user,
                                     "privateKey": sshd.client_key_text}).get("isError")
    reply = bare.call("downloadFile", {"connectionId": _id_of(sshd), "remotePath": "/etc/hostname"})
    assert not reply.get("isError"), _text(reply)
    assert (home / "bare" / "Downloads" / "hostname").is_file()
    bare.call("deleteConnection", {"connectionId": _id_of(sshd)})


@pytest.mark.parametrize("arguments", [
    {"remotePath": "/etc/hostname"},
    {"remotePath": "/etc/hostname", "localPath": ""},
])
def test_a_download_without_local_path_is_checked_where_it_lands(gateway: StdioClient, sshd: SshdServer, home: Path,
                                                                 arguments: dict) -> None:
    assert not gateway.call("connect", {"host": sshd.host, "port": sshd.port, "username": sshd.user,
                                        "privateKey": sshd.client_key_text}).get("isError")
    conn = _id_of(sshd)
    reply = gateway.call("downloadFile", {"connectionId": conn, **arguments})
    assert _denied(reply), _text(reply)
    assert f"{home}/gw/Downloads/hostname" in _text(reply)  # the path the upstream would really write
    batch = gateway.call("batchDownloadFiles", {"connectionId": conn, "files": [{"remotePath": "/etc/hostname"}]})
    assert _denied(batch), _text(batch)
    assert not (home / "gw" / "Downloads").exists()
    # The same file with an allowed localPath is downloaded.
    ok = gateway.call("downloadFile", {"connectionId": conn, "remotePath": "/etc/hostname",
                                       "localPath": f"{home}/inbox/hostname"})
    assert not ok.get("isError"), _text(ok)
    assert (home / "inbox" / "hostname").is_file()
    gateway.call("deleteConnection", {"connectionId": conn})
