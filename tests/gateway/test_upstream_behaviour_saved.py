"""Issue 10: a password the upstream saved before this gateway started, through real gateways.

One built-in backend serves streamable HTTP with ``--emulate-mcp-ssh-rewrites`` (so, as the
real Mcp Ssh does, it saves a connect's password for the id and falls back to it in the sudo
rewrite and the terminal auto-password when the live connection has none) and outlives the
``sshwall serve`` processes in front of it, as a real server outlives a gateway restart. A first
gateway leaves a saved password behind; a key-only connect through a fresh gateway then lands
on it. Under ``upstream_saved_passwords: none`` the saved password leaks (the attack is real);
under the default ``possible`` nothing that could print it runs, and terminals are refused.
"""

from __future__ import annotations

import hashlib
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.lab import StdioClient
from tests.support.mcp_client import http_backend_url
from tests.support.sshd import SshdServer


def _text(result: dict) -> str:
    return "\n".join(b.get("text", "") for b in result.get("content") or [])


def _denied(result: dict) -> bool:
    return bool(result.get("isError")) and _text(result).startswith("sshwall: denied")


@pytest.fixture(scope="module")
def backend_url(sshd: SshdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The emulating backend on streamable HTTP, started once for every gateway here."""
    work = tmp_path_factory.mktemp("saved-backend")
    args = ["--known-hosts", str(sshd.known_hosts_path), "--emulate-mcp-ssh-rewrites"]
    with http_backend_url(args, work / "backend.log", timeout=60) as url:
        yield url


def _policy(path: Path, saved: str) -> Path:
    path.write_text(textwrap.dedent(f"""
        version: 1
        name: saved-{saved}
        profile: mcp-ssh
        default: deny
        upstream_saved_passwords: {saved}
        tools:
          connect: allow
          disconnect: allow
          deleteConnection: allow
          getConnection: allow
          executeCommand: {{commands: ops}}
          mcp_ssh_mcp_createTerminalSession: allow
        commands:
          ops:
            programs:
              cat: {{}}
              "true": {{}}
              sudo: {{wrapper: true, family: gnu, permute: false, flags: [-n]}}
    """))
    return path


def _gateway(url: str, policy: Path) -> StdioClient:
    client = StdioClient([sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(policy), "--upstream-url", url])
    client.initialize()
    return client


def _connect(client: StdioClient, server: SshdServer, **creds: object) -> None:
    reply = client.call("connect", {"host": server.host, "port": server.port, "username": server.user, **creds})
    assert not reply.get("isError"), _text(reply)


def _id_of(server: SshdServer) -> str:
    return hashlib.md5(f"{server.user}@{server.host}:{server.port}".encode()).hexdigest()


@pytest.fixture(scope="module")
def saved(backend_url: str, sshd: SshdServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A password the backend saved for the sshd's id; the gateway that saw it is gone."""
    work = tmp_path_factory.mktemp("saved-gateways")
    password = f"saved-{uuid.uuid4().hex[:12]}"
    first = _gateway(backend_url, _policy(work / "first.yaml", "possible"))
    # Key, disconnect, then a password-only connect: the backend keeps (rememberPassword) it.
    _connect(first, sshd, privateKey=sshd.client_key_text, rememberPassword=False)
    assert not first.call("disconnect", {"connectionId": _id_of(sshd)}).get("isError")
    _connect(first, sshd, password=password)
    assert not first.call("disconnect", {"connectionId": _id_of(sshd)}).get("isError")
    first.close()
    yield password
    last = _gateway(backend_url, _policy(work / "last.yaml", "none"))
    last.call("deleteConnection", {"connectionId": _id_of(sshd)})
    last.close()


def test_the_saved_password_leaks_where_the_policy_says_none_can_exist(
        saved: str, backend_url: str, sshd: SshdServer, tmp_path: Path) -> None:
    gw = _gateway(backend_url, _policy(tmp_path / "none.yaml", "none"))
    try:
        _connect(gw, sshd, privateKey=sshd.client_key_text)
        reply = gw.call("executeCommand", {"connectionId": _id_of(sshd), "command": "cat && sudo -n true"})
        assert not _denied(reply), _text(reply)
        assert saved in _text(reply), "the emulated fallback should have piped the saved password into cat"
        assert not gw.call("disconnect", {"connectionId": _id_of(sshd)}).get("isError")
    finally:
        gw.close()


def test_a_key_only_connect_after_a_restart_prints_nothing_and_gets_no_terminal(
        saved: str, backend_url: str, sshd: SshdServer, tmp_path: Path) -> None:
    gw = _gateway(backend_url, _policy(tmp_path / "possible.yaml", "possible"))
    try:
        _connect(gw, sshd, privateKey=sshd.client_key_text)
        conn = _id_of(sshd)
        reply = gw.call("executeCommand", {"connectionId": conn, "command": "cat && sudo -n true"})
        assert _denied(reply), _text(reply)
        assert "saved" in _text(reply) and "upstream_saved_passwords: none" in _text(reply)
        assert saved not in _text(reply)
        ok = gw.call("executeCommand", {"connectionId": conn, "command": "sudo -n true"})
        assert not _denied(ok), _text(ok)
        assert saved not in _text(ok)
        terminal = gw.call("mcp_ssh_mcp_createTerminalSession", {"connectionId": conn})
        assert _denied(terminal) and "auto-password" in _text(terminal), _text(terminal)
        assert "upstream_saved_passwords: none" in _text(terminal)
        assert not gw.call("disconnect", {"connectionId": conn}).get("isError")
    finally:
        gw.close()
