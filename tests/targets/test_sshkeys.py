"""paramiko against a real OpenSSH sshd: fetched keys, algorithms, logins, impersonation."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.errors import TargetError
from sshwall.targets.match import Target, match_target
from sshwall.targets.pins import check_host_key, host_key_problem
from sshwall.targets.sshkeys import fetch_host_key, known_hosts_keys, server_algorithms, try_login
from sshwall.targets.tofu import TofuStore
from tests.support.sshd import SshdServer
from tests.targets.conftest import PolicyMaker, resolver


def test_fetched_key_is_the_servers(sshd: SshdServer) -> None:
    key = fetch_host_key(sshd.host, sshd.port)
    assert key.fingerprint == sshd.host_key_fingerprint
    assert key.key_type == "ssh-ed25519"
    assert key.base64 == sshd.host_key_path.with_suffix(".pub").read_text().split()[1]


def test_known_hosts_of_the_fixture(sshd: SshdServer) -> None:
    assert known_hosts_keys(sshd.known_hosts_path, sshd.host, sshd.port) == [fetch_host_key(sshd.host, sshd.port)]


def test_server_algorithms(sshd: SshdServer) -> None:
    algos = server_algorithms(sshd.host, sshd.port)
    assert algos["banner"][0].startswith("SSH-2.0-OpenSSH")
    assert algos["host_key"] == ["ssh-ed25519"]
    assert "curve25519-sha256" in algos["kex"] and not any(k.startswith("kex-strict") for k in algos["kex"])
    assert algos["ciphers"] and algos["macs"] and "none" in algos["compression"]


def test_refused_port(sshd: SshdServer) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(TargetError, match=f"cannot reach 127.0.0.1:{port}: connection refused"):
        fetch_host_key("127.0.0.1", port, timeout=2)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says anything."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    server.close()


def test_silent_server_times_out(silent_port: int) -> None:
    started = time.monotonic()
    with pytest.raises(TargetError, match=r"finished no SSH key exchange within 0.5 s"):
        fetch_host_key("127.0.0.1", silent_port, timeout=0.5)
    with pytest.raises(TargetError, match=r"sent no SSH key exchange within 0.5 s"):
        server_algorithms("127.0.0.1", silent_port, timeout=0.5)
    assert time.monotonic() - started < 5


def test_try_login_runs_a_command(sshd: SshdServer) -> None:
    status, out, err = try_login(sshd.host, sshd.port, sshd.user, str(sshd.client_key_path),
                                 "echo hi; echo oops >&2; exit 3", 10, expected_fingerprints=(sshd.host_key_fingerprint,))
    assert (status, out, err) == (3, "hi\n", "oops\n")
    assert try_login(sshd.host, sshd.port, sshd.user, sshd.client_key_text, None, 10) == (0, "", "")


def test_try_login_failures(sshd: SshdServer, other_sshd: SshdServer) -> None:
    with pytest.raises(TargetError, match="authentication failed for nobody"):
        try_login(sshd.host, sshd.port, "nobody", sshd.client_key_text, "true", 10)
    with pytest.raises(TargetError, match="authentication failed"):
        try_login(sshd.host, sshd.port, sshd.user, other_sshd.client_key_text, "true", 10)  # key not authorized
    with pytest.raises(TargetError, match="not logging in") as info:
        try_login(other_sshd.host, other_sshd.port, other_sshd.user, other_sshd.client_key_text, "true", 10,
                  expected_fingerprints=(sshd.host_key_fingerprint,))
    assert other_sshd.host_key_fingerprint in str(info.value)
    with pytest.raises(TargetError, match="not an ed25519"):
        try_login(sshd.host, sshd.port, sshd.user, "-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n", None, 10)


# -- impersonation: another server answering for the pinned host ------------------------------


def test_impersonator_is_denied_with_both_fingerprints(sshd: SshdServer, other_sshd: SshdServer,
                                                       make_policy: PolicyMaker) -> None:
    # db.lab.test is pinned to the primary's key, but DNS (injected) and the port lead to the other sshd.
    policy = make_policy(f"""
        hosts:
          lab:
            match: [db.lab.test, 127.0.0.0/8]
            ports: [{sshd.port}, {other_sshd.port}]
            host_keys: [{sshd.host_key_fingerprint}]
        """)
    dns = resolver({"db.lab.test": ("127.0.0.1",)})
    honest = Target("db.lab.test", sshd.port, sshd.user)
    m = match_target(policy, honest, dns)
    assert m.problem is None
    fetch = lambda host, port: fetch_host_key(host, port, 5)  # noqa: E731
    assert host_key_problem(policy, m, honest, fetch=fetch, tofu=None) is None

    spoofed = Target("db.lab.test", other_sshd.port, sshd.user)
    m = match_target(policy, spoofed, dns)
    assert m.problem is None  # the host rules alone cannot tell: the key check must
    problem = host_key_problem(policy, m, spoofed, fetch=fetch, tofu=None) or ""
    assert f"host key mismatch for db.lab.test:{other_sshd.port}" in problem
    assert sshd.host_key_fingerprint in problem and other_sshd.host_key_fingerprint in problem


def test_known_hosts_entry_of_the_primary_rejects_the_other(sshd: SshdServer, other_sshd: SshdServer,
                                                            make_policy: PolicyMaker, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    primary_line = sshd.known_hosts_line.split(maxsplit=1)[1]
    kh.write_text(f"[127.0.0.1]:{sshd.port},[127.0.0.1]:{other_sshd.port} {primary_line}\n")
    policy = make_policy(f"""
        hosts:
          lab: {{match: [127.0.0.1], ports: [{sshd.port}, {other_sshd.port}], known_hosts: {kh}}}
        """)
    group = policy.hosts["lab"]
    ok = check_host_key(group, fetch_host_key("127.0.0.1", sshd.port), Target("127.0.0.1", sshd.port, "u"), None)
    assert ok is None
    bad = check_host_key(group, fetch_host_key("127.0.0.1", other_sshd.port),
                         Target("127.0.0.1", other_sshd.port, "u"), None, group_name="lab") or ""
    assert sshd.host_key_fingerprint in bad and other_sshd.host_key_fingerprint in bad


def test_tofu_records_the_real_key_then_rejects_the_impersonator(sshd: SshdServer, other_sshd: SshdServer,
                                                                 make_policy: PolicyMaker, tmp_path: Path) -> None:
    policy = make_policy(f"""
        tofu_file: {tmp_path / 'tofu.json'}
        hosts:
          lab: {{match: [db.lab.test], ports: [2222], trust_on_first_use: true}}
        """)
    store = TofuStore(tmp_path / "tofu.json")
    target = Target("db.lab.test", 2222, sshd.user)
    real = {"db.lab.test": sshd.port}
    fetch = lambda _host, _port: fetch_host_key("127.0.0.1", real["db.lab.test"])  # noqa: E731
    m = match_target(policy, target, resolver({"db.lab.test": ("127.0.0.1",)}))
    assert m.problem is None
    assert host_key_problem(policy, m, target, fetch=fetch, tofu=store) is None
    assert store.lookup("db.lab.test", 2222) == sshd.host_key_fingerprint
    assert host_key_problem(policy, m, target, fetch=fetch, tofu=store) is None
    real["db.lab.test"] = other_sshd.port  # the name now leads to another machine
    problem = host_key_problem(policy, m, target, fetch=fetch, tofu=store) or ""
    assert "recorded on first use" in problem
    assert sshd.host_key_fingerprint in problem and other_sshd.host_key_fingerprint in problem
