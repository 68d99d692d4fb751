"""A real MCP client -> ``sshwall serve`` -> upstream -> sshd, over each transport and era.

One gateway per (transport, era): stdio and streamable HTTP, each opened with the legacy
``initialize()`` handshake and with the 2026-07-28 ``discover()``. The shipped policy
(readonly-ops) governs: given with ``--rules``, except for http-legacy, which runs without
``--rules`` on the embedded default (readonly-ops as well). Allowed commands run on the host and
their output comes back; denied ones never run, which is checked on the host over the sshd
fixture's own SSH connection. Secrets given to ``connect`` never reach the audit log.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS, MODERN_PROTOCOL_VERSIONS

from sshwall.audit import verify
from tests.proxy.gateway import (
    MCP_SSH_TOOLS,
    READONLY_OPS,
    GatewayClient,
    decisions,
    serve_argv,
    start_gateway,
    upstream_command,
)
from tests.support.sshd import SshdServer

COMBOS = ["stdio-legacy", "stdio-modern", "http-legacy", "http-modern"]
EMBEDDED_DEFAULT = "http-legacy"  # this one runs without --rules
PASSWORD = f"pw-{uuid.uuid4().hex}"  # given to connect; sshd takes keys only


@pytest.fixture(scope="module", params=COMBOS)
def gw(request: pytest.FixtureRequest, gateway_dir: Path, upstream: list[str]) -> Iterator[GatewayClient]:
    """``sshwall serve --rules rules/readonly-ops.yaml`` with a client in one transport and era."""
    transport, era = request.param.split("-")
    audit = gateway_dir / f"audit-{request.param}.jsonl"
    argv = serve_argv(None if request.param == EMBEDDED_DEFAULT else READONLY_OPS, audit, upstream)
    with start_gateway(transport, era, argv, audit, gateway_dir / f"serve-{request.param}.log") as client:
        yield client


@pytest.fixture(scope="module")
def conn(gw: GatewayClient, sshd: SshdServer) -> str:
    """A connection to the test sshd, made through the gateway."""
    return gw.connect(sshd)


def _sentinel(sshd: SshdServer, remote_dir: str) -> tuple[str, str]:
    """A file with unique content on the host, written over the fixture's own SSH."""
    path, content = f"{remote_dir}/sentinel.txt", f"sentinel-{uuid.uuid4().hex}"
    sshd.check(f"printf '%s\\n' '{content}' > '{path}'")
    return path, content


def _on_host(sshd: SshdServer, path: str) -> str | None:
    """The file's content read directly on the host (not through the proxy); None if gone."""
    result = sshd.run(f"cat '{path}'")
    return result.stdout.strip() if result.exit_status == 0 else None


def test_handshake_in_the_era_asked_for_and_all_23_tools_listed(gw: GatewayClient) -> None:
    if gw.era == "legacy":
        assert gw.session.initialize_result is not None
        assert gw.session.protocol_version in HANDSHAKE_PROTOCOL_VERSIONS
    else:
        assert gw.session.discover_result is not None
        assert gw.session.protocol_version in MODERN_PROTOCOL_VERSIONS
    names = [tool.name for tool in gw.list_tools()]
    assert len(MCP_SSH_TOOLS) == 23
    assert sorted(names) == sorted(MCP_SSH_TOOLS), "the shipped policy hides nothing"


def test_allowed_commands_run_on_the_host_and_their_output_comes_back(
    gw: GatewayClient, conn: str, sshd: SshdServer, remote_dir: str
) -> None:
    path, content = _sentinel(sshd, remote_dir)
    cat = gw.ok("executeCommand", {"connectionId": conn, "command": f"cat {path}"})
    assert content in cat.text
    listing = gw.ok("executeCommand", {"connectionId": conn, "command": f"ls -la {remote_dir}"})
    assert "sentinel.txt" in listing.text
    cwd = gw.ok("executeCommand", {"connectionId": conn, "command": "cat sentinel.txt", "cwd": remote_dir})
    assert content in cwd.text


DENIED_COMMANDS = [
    "rm -f {path}",
    "cat {path}; rm -f {path}",
    "ls $(rm -f {path})",
    "find {dir} -name sentinel.txt -delete",
    "sudo -n rm -f {path}",
    "timeout 5 rm -f {path}",
]


def test_denied_commands_never_run(gw: GatewayClient, conn: str, sshd: SshdServer, remote_dir: str) -> None:
    path, content = _sentinel(sshd, remote_dir)
    for command in DENIED_COMMANDS:
        text = command.format(path=path, dir=remote_dir)
        reply = gw.denied("executeCommand", {"connectionId": conn, "command": text})
        assert reply.first_line.startswith("sshwall: denied (rule "), reply.text
        last = decisions(gw.audit_path)[-1]
        assert (last["tool"], last["decision"], last["upstream"]) == ("executeCommand", "deny", "not-forwarded")
        assert last["arguments"]["command"] == text
    # Checked on the host directly, not through the proxy.
    assert _on_host(sshd, path) == content, "a denied command removed or changed the sentinel"
    # The same connection still works for what is allowed.
    assert content in gw.ok("executeCommand", {"connectionId": conn, "command": f"cat {path}"}).text


def test_background_with_a_too_short_interval_is_denied_and_nothing_is_scheduled(
    gw: GatewayClient, conn: str
) -> None:
    before = gw.ok("listBackgroundTasks")
    short = gw.denied("backgroundExecute", {"connectionId": conn, "command": "uptime", "interval": 1000})
    # The interval rule names it (the run bound, 25 s, also outlasts a 1 s interval).
    assert "tools.backgroundExecute.interval" in (short.data or {})["sshwall"]["rules"], short.text
    assert "is below the minimum" in short.text
    # No interval: the upstream's default (10 s) is below readonly-ops' 30 s minimum too.
    default = gw.denied("backgroundExecute", {"connectionId": conn, "command": "uptime"})
    assert "tools.backgroundExecute.interval" in (default.data or {})["sshwall"]["rules"], default.text
    after = gw.ok("listBackgroundTasks")
    assert (after.text, after.data) == (before.text, before.data), "a denied backgroundExecute was scheduled"


@pytest.fixture(scope="module")
def encrypted_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(key text, passphrase) of a passphrase-protected key the test sshd does not accept."""
    passphrase = f"pass-{uuid.uuid4().hex}"
    path = tmp_path_factory.mktemp("enc") / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-f", str(path)], check=True)
    return path.read_text(), passphrase


def _fragments(key_text: str) -> list[str]:
    """The key itself and each base64 line of its body (any one of them leaks key material)."""
    body = [line for line in key_text.splitlines() if line and not line.startswith("-----")]
    assert body
    return [key_text.strip(), *body]


def test_secrets_never_reach_the_audit_log(
    gw: GatewayClient, sshd: SshdServer, encrypted_key: tuple[str, str]
) -> None:
    password = PASSWORD
    enc_text, passphrase = encrypted_key
    base = {"host": sshd.host, "port": sshd.port, "username": sshd.user}

    conn = gw.connect(sshd)  # privateKey: the fixture's real key
    gw.ok("executeCommand", {"connectionId": conn, "command": "true"})
    # Mcp Ssh hands back a live connection to the same target as is, so disconnect first for the
    # password to reach sshd (the id is the target's: md5 of user@host:port).
    gw.ok("disconnect", {"connectionId": conn})
    by_password = gw.call("connect", {**base, "password": password})
    assert by_password.is_error and not by_password.denied  # refused by sshd, not by sshwall
    with_passphrase = gw.call("connect", {**base, "privateKey": enc_text, "passphrase": passphrase,
                                          "rememberPassword": True})
    assert not with_passphrase.denied
    # A password next to a key is denied (issue 10: the key authenticates, and the upstream would
    # paste the unchecked password into sudo commands); its decision record is redacted too.
    key_and_password = gw.call("connect", {**base, "privateKey": enc_text, "passphrase": passphrase,
                                           "password": password, "rememberPassword": True})
    assert key_and_password.denied and "password-rewrite" in key_and_password.first_line
    pasted = gw.call("executeCommand", {"connectionId": conn, "command": f"echo '{sshd.client_key_text}'"})
    assert pasted.is_error or sshd.client_key_text.splitlines()[1] in pasted.text

    raw = gw.audit_path.read_bytes()
    for secret in (password, passphrase, *_fragments(sshd.client_key_text), *_fragments(enc_text)):
        assert secret.encode() not in raw, f"a secret reached the audit log: {secret[:24]}..."
    assert verify(gw.audit_path).ok

    connects = [r for r in decisions(gw.audit_path) if r["tool"] == "connect"][-4:]
    for record in connects:
        args = record["arguments"]
        for name in ("privateKey", "password", "passphrase"):
            if name in args:
                assert args[name] == "[redacted]", record
        assert args["host"] == sshd.host and args["username"] == sshd.user  # what is not secret stays
    assert connects[2]["arguments"]["rememberPassword"] is True and connects[3]["decision"] == "deny"


def test_secrets_never_reach_the_gateways_own_log(
    gw: GatewayClient, sshd: SshdServer, encrypted_key: tuple[str, str]
) -> None:
    if upstream_command() is not None:
        pytest.skip("the gateway's stderr carries the upstream's own log, which sshwall does not control")
    text = gw.log_text()
    for secret in (PASSWORD, encrypted_key[1], *_fragments(sshd.client_key_text), *_fragments(encrypted_key[0])):
        assert secret not in text, f"a secret reached the gateway's stderr: {secret[:24]}..."


def test_every_call_left_one_decision_record_and_the_chain_verifies(gw: GatewayClient) -> None:
    report = verify(gw.audit_path)
    assert report.ok, str(report)
    recorded = decisions(gw.audit_path)
    assert [r["tool"] for r in recorded] == gw.calls
    for record in recorded:
        assert record["upstream"] == ("pending" if record["decision"] == "allow" else "not-forwarded")
        if record["tool"] == "executeCommand" and "rm -f" in str(record["arguments"].get("command")):
            assert record["decision"] == "deny"
