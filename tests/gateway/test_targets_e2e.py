"""Host rules through the real gateway: two real sshd with two host keys, per-host command sets.

Client (sshwall.lab.StdioClient) -> `sshwall serve` -> built-in backend -> sshd, all real
processes on 127.0.0.1. The backend trusts both hosts (known_hosts), so every refusal seen here
is sshwall's own.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.audit import verify
from sshwall.lab import StdioClient
from tests.support.sshd import SshdFactory, SshdServer


def _text(result: dict) -> str:
    return "\n".join(b.get("text", "") for b in result.get("content") or [])


@pytest.fixture(scope="module")
def hosts(sshd: SshdServer, sshd_factory: SshdFactory) -> tuple[SshdServer, SshdServer]:
    return sshd, sshd_factory.start("impostor", listen="127.0.0.2")


@pytest.fixture(scope="module")
def gateway(hosts: tuple[SshdServer, SshdServer], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[StdioClient, Path]]:
    prod, impostor = hosts
    work = tmp_path_factory.mktemp("gw-targets")
    known = work / "known_hosts"
    known.write_text(prod.known_hosts_path.read_text() + impostor.known_hosts_path.read_text())
    policy = work / "policy.yaml"
    policy.write_text(textwrap.dedent(f"""
        version: 1
        name: hosts-e2e
        profile: mcp-ssh
        default: deny
        hosts:
          prod:
            match: [127.0.0.1]
            users: [{prod.user}]
            ports: [{prod.port}]
            host_keys: ["{prod.host_key_fingerprint}"]
            commands: prod
          lab:
            match: [127.0.0.2]
            users: [{prod.user}]
            ports: [{impostor.port}]
            commands: lab
        tools:
          connect: allow
          disconnect: allow
          executeCommand: {{commands: prod}}
        commands:
          prod:
            programs: {{uptime: {{}}, "true": {{}}}}
          lab:
            programs: {{uptime: {{}}, "true": {{}}, touch: {{operands: opaque}}}}
    """))
    audit = work / "audit.jsonl"
    client = StdioClient([sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(policy), "--audit", str(audit),
                          f"--backend-arg=--known-hosts={known}"])
    client.initialize()
    yield client, audit
    client.close()


def _connect(client: StdioClient, server: SshdServer, host: str = "127.0.0.1", user: str | None = None) -> dict:
    return client.call("connect", {"host": host, "port": server.port, "username": user or server.user,
                                   "privateKey": server.client_key_text, "rememberPassword": False})


def test_the_pinned_host_is_reached_and_its_command_set_applies(gateway, hosts) -> None:
    client, _ = gateway
    prod, _ = hosts
    connected = _connect(client, prod)
    assert not connected.get("isError"), _text(connected)
    conn = connected["structuredContent"]["connectionId"]
    ok = client.call("executeCommand", {"connectionId": conn, "command": "uptime"})
    assert not ok.get("isError"), _text(ok)
    refused = client.call("executeCommand", {"connectionId": conn, "command": "touch /tmp/sshwall-prod-x"})
    assert refused.get("isError") and _text(refused).startswith("sshwall: denied")
    assert not prod.path_exists("/tmp/sshwall-prod-x")


def test_an_impostor_with_another_key_on_the_pinned_mapping_is_refused(gateway, hosts) -> None:
    client, _ = gateway
    _, impostor = hosts
    # The port rule refuses it here; test_a_wrong_pin_is_refused_with_both_fingerprints below has
    # the impostor answer on the pinned mapping itself.
    result = _connect(client, impostor, host="127.0.0.1")  # prod's address, the impostor's port
    text = _text(result)
    assert result.get("isError") and text.startswith("sshwall: denied")


def test_unlisted_host_and_user_are_refused(gateway, hosts) -> None:
    client, _ = gateway
    prod, _ = hosts
    for result in (_connect(client, prod, host="127.0.0.2"), _connect(client, prod, user="nobody")):
        assert result.get("isError") and _text(result).startswith("sshwall: denied (rule hosts)")


def test_the_same_command_is_decided_per_connection(gateway, hosts) -> None:
    client, _ = gateway
    prod, impostor = hosts
    lab = _connect(client, impostor, host="127.0.0.2")
    assert not lab.get("isError"), _text(lab)
    lab_conn = lab["structuredContent"]["connectionId"]
    prod_conn = _connect(client, prod)["structuredContent"]["connectionId"]
    marker = "/tmp/sshwall-lab-touch"
    allowed = client.call("executeCommand", {"connectionId": lab_conn, "command": f"touch {marker}"})
    assert not allowed.get("isError"), _text(allowed)
    assert impostor.path_exists(marker)
    impostor.run(f"rm -f {marker}")
    denied = client.call("executeCommand", {"connectionId": prod_conn, "command": f"touch {marker}"})
    assert denied.get("isError") and _text(denied).startswith("sshwall: denied")
    assert not prod.path_exists(marker)


def test_an_unknown_connection_id_is_refused(gateway) -> None:
    client, audit = gateway
    result = client.call("executeCommand", {"connectionId": "made-up", "command": "uptime"})
    assert result.get("isError")
    assert "sshwall: denied (rule hosts.unknown-connection)" in _text(result)
    assert verify(audit).ok


def test_a_wrong_pin_is_refused_with_both_fingerprints(hosts, tmp_path: Path) -> None:
    prod, impostor = hosts
    policy = tmp_path / "p.yaml"
    policy.write_text(textwrap.dedent(f"""
        version: 1
        profile: mcp-ssh
        hosts:
          prod: {{match: [127.0.0.2], ports: [{impostor.port}], host_keys: ["{prod.host_key_fingerprint}"]}}
        tools: {{connect: allow}}
    """))
    client = StdioClient([sys.executable, "-m", "sshwall.cli", "serve", "--rules", str(policy),
                          f"--backend-arg=--known-hosts={impostor.known_hosts_path}"])
    try:
        client.initialize()
        text = _text(_connect(client, impostor, host="127.0.0.2"))
    finally:
        client.close()
    assert text.startswith("sshwall: denied (rule hosts.prod.host_key)")
    assert prod.host_key_fingerprint in text and impostor.host_key_fingerprint in text
