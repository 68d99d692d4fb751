"""Relative paths through the gateway: decided in the folder the connection's commands run in.

A real MCP client -> ``sshwall serve`` (shipped policy) -> the built-in backend -> the test sshd.
The backend reports the login folder in its connect reply as Mcp Ssh does (``当前目录: /root``);
the gateway binds it to the connection, so ``cat FILE`` is decided as ``cat FOLDER/FILE`` instead
of being denied because the folder might be anything.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.policy import load_policy
from tests.proxy.gateway import (
    READONLY_OPS,
    GatewayClient,
    decisions,
    serve_argv,
    start_gateway,
    upstream_command,
)
from tests.support.sshd import SshdServer

pytestmark = pytest.mark.skipif(upstream_command() is not None, reason="checks the built-in backend's replies")


@pytest.fixture(scope="module")
def gw(gateway_dir: Path, upstream: list[str]) -> Iterator[GatewayClient]:
    audit = gateway_dir / "audit-workdir.jsonl"
    argv = serve_argv(READONLY_OPS, audit, upstream)
    with start_gateway("stdio", "legacy", argv, audit, gateway_dir / "serve-workdir.log") as client:
        yield client


@pytest.fixture(scope="module")
def login(sshd: SshdServer) -> str:
    """The folder a fresh channel starts in on the test host (the user's home)."""
    return sshd.check("pwd").strip()


@pytest.fixture
def in_login(sshd: SshdServer, login: str) -> Iterator[tuple[str, str]]:
    """(name, content) of a file made in the login folder for one test."""
    name, content = f"sshwall-workdir-{uuid.uuid4().hex}.txt", f"content-{uuid.uuid4().hex}"
    sshd.check(f"printf '%s\\n' '{content}' > '{login}/{name}'")
    try:
        yield name, content
    finally:
        sshd.check(f"rm -f '{login}/{name}'")


def test_relative_path_is_decided_in_the_bindings_folder(
    gw: GatewayClient, sshd: SshdServer, login: str, in_login: tuple[str, str], remote_dir: str
) -> None:
    name, content = in_login
    conn = gw.connect(sshd)
    assert gw.ok("getCurrentDirectory", {"connectionId": conn}).text.strip() == login
    command = {"connectionId": conn, "command": f"cat {name}"}
    # Without the folder, the same call is denied: the file might be /etc/sudoers.d/NAME.
    alone = evaluate(load_policy(READONLY_OPS), ToolCall("executeCommand", command))
    assert alone.decision == Decision.DENY and "protected path" in alone.reasons[0]
    # Through the gateway the binding knows the folder: allowed, and it runs there.
    assert content in gw.ok("executeCommand", command).text
    record = decisions(gw.audit_path)[-1]
    assert record["decision"] == "allow" and record["arguments"]["command"] == f"cat {name}"

    # The tool's cwd argument (with the connection's folder as the upstream's fallback) and a
    # cd inside the command decide the same way.
    sentinel = f"sentinel-{uuid.uuid4().hex}"
    sshd.check(f"printf '%s\\n' '{sentinel}' > '{remote_dir}/notes.txt'")
    assert sentinel in gw.ok("executeCommand", {"connectionId": conn, "command": "cat notes.txt", "cwd": remote_dir}).text
    assert sentinel in gw.ok("executeCommand", {"connectionId": conn, "command": f"cd {remote_dir} && cat notes.txt"}).text


@pytest.mark.parametrize(
    "arguments",
    [
        {"command": "cd /etc && cat shadow"},
        {"command": "cat shadow", "cwd": "/etc"},
        {"command": "cat .ssh/id_rsa"},
        {"command": "cd && cat .ssh/id_ed25519"},
        {"command": "cat ~/.ssh/id_rsa"},
    ],
)
def test_protected_path_named_relative_to_the_folder_is_denied(gw: GatewayClient, sshd: SshdServer, arguments: dict[str, str]) -> None:
    conn = gw.connect(sshd)
    reply = gw.denied("executeCommand", {"connectionId": conn, **arguments})
    assert "protected path" in reply.text


def test_a_cd_does_not_outlive_its_call(gw: GatewayClient, sshd: SshdServer, login: str) -> None:
    # The upstream runs every command from the login folder again, and so does sshwall's model:
    # after `cd /etc`, `cat shadow` reads LOGIN/shadow (which does not exist), not /etc/shadow.
    if login == "/etc":
        pytest.skip("the login folder is /etc")
    conn = gw.connect(sshd)
    gw.ok("executeCommand", {"connectionId": conn, "command": "cd /etc"})
    reply = gw.call("executeCommand", {"connectionId": conn, "command": "cat shadow"})
    assert not reply.denied, reply.text
    assert "root:" not in reply.text and "No such file" in reply.text
    assert gw.ok("getCurrentDirectory", {"connectionId": conn}).text.strip() == login
