"""Host-key policy: known_hosts, pins, unknown hosts, mismatches, and the explicit insecure mode."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from sshwall.backend.hostkeys import HostKeyPolicy, parse_pin
from sshwall.errors import TargetError, UsageError
from sshwall.targets.hostkey import sha256_fingerprint
from tests.support.mcp_client import BackendClient, stdio_backend
from tests.support.sshd import SshdFactory, SshdServer


@pytest.fixture(scope="module")
def other(sshd_factory: SshdFactory) -> SshdServer:
    """A second sshd with a different host key."""
    return sshd_factory.start("hostkeys-other")


def _connect(backend: BackendClient, server: SshdServer) -> tuple[bool, str]:
    reply = backend.call("connect", {"host": server.host, "port": server.port, "username": server.user,
                                     "privateKey": server.client_key_text})
    return reply.is_error, reply.text


Starter = Callable[..., BackendClient]


@pytest.fixture
def run_backend(tmp_path: Path) -> Iterator[Starter]:
    """Starts backends with the given flags; all stop when the test ends."""
    numbers = itertools.count()
    with ExitStack() as stack:

        def start(*args: str) -> BackendClient:
            log = tmp_path / f"backend-{next(numbers)}.log"
            return stack.enter_context(stdio_backend(list(args), log))

        yield start


def test_fingerprint_matches_ssh_keygen(sshd: SshdServer) -> None:
    blob = base64.b64decode(sshd.known_hosts_line.split()[2])
    assert sha256_fingerprint(blob) == sshd.host_key_fingerprint


def test_parse_pin() -> None:
    fp = "SHA256:" + "A" * 43
    assert parse_pin(f"example.org:2222={fp}") == ("example.org", 2222, fp)
    assert parse_pin(f"example.org={fp}") == ("example.org", 22, fp)
    assert parse_pin(f"[::1]:2200={fp}") == ("::1", 2200, fp)
    for bad in ("example.org", f"example.org:x={fp}", "h:22=MD5:aa", f"h:99999={fp}"):
        with pytest.raises(UsageError):
            parse_pin(bad)


def test_policy_decisions() -> None:
    fp, other_fp = "SHA256:" + "A" * 43, "SHA256:" + "B" * 43
    policy = HostKeyPolicy.build(["/nonexistent"], [f"h:22={fp}"], accept_any=False)
    policy.check_pinned("h", 22, "ssh-ed25519", fp)
    with pytest.raises(TargetError, match="MISMATCH"):
        policy.check_pinned("h", 22, "ssh-ed25519", other_fp)
    with pytest.raises(TargetError, match="unknown host.*" + other_fp.replace("+", r"\+")):
        policy.check_unknown("elsewhere", 22, "ssh-ed25519", other_fp)
    assert HostKeyPolicy.build([], None, accept_any=True).check_unknown("x", 22, "t", fp) is True
    with pytest.raises(UsageError, match="conflicting"):
        HostKeyPolicy.build(None, [f"h:22={fp}", f"h:22={other_fp}"], accept_any=False)


def test_unknown_host_is_refused_with_its_fingerprint(run_backend: Starter, sshd: SshdServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    backend = run_backend("--known-hosts", str(empty))
    failed, text = _connect(backend, sshd)
    assert failed and "unknown host" in text and sshd.host_key_fingerprint in text


def test_wrong_host_key_is_refused(run_backend: Starter, sshd: SshdServer, other: SshdServer, tmp_path: Path) -> None:
    # known_hosts claims `other`'s address has the primary server's key.
    liar = tmp_path / "known_hosts"
    key_type, key = sshd.known_hosts_line.split()[1:3]
    liar.write_text(f"[{other.host}]:{other.port} {key_type} {key}\n")
    backend = run_backend("--known-hosts", str(liar))
    failed, text = _connect(backend, other)
    assert failed and "MISMATCH" in text
    assert other.host_key_fingerprint in text and sshd.host_key_fingerprint in text
    assert not backend.ok("listConnections").data["connections"]  # type: ignore[index]


def test_pins(run_backend: Starter, sshd: SshdServer, other: SshdServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    wrong_pin = f"{other.host}:{other.port}={sshd.host_key_fingerprint}"
    backend = run_backend("--known-hosts", str(empty), "--host-key", sshd.host_key_pin, "--host-key", wrong_pin)
    assert _connect(backend, sshd)[0] is False
    failed, text = _connect(backend, other)
    assert failed and "MISMATCH" in text and "pin" in text


def test_a_pin_overrides_known_hosts(run_backend: Starter, sshd: SshdServer) -> None:
    # known_hosts would accept the key, but the operator pinned a different one.
    pin = f"{sshd.host}:{sshd.port}=SHA256:{'A' * 43}"
    backend = run_backend("--known-hosts", str(sshd.known_hosts_path), "--host-key", pin)
    failed, text = _connect(backend, sshd)
    assert failed and "MISMATCH" in text


def test_insecure_mode_must_be_explicit_and_warns(run_backend: Starter, sshd: SshdServer, other: SshdServer, tmp_path: Path) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    backend = run_backend("--known-hosts", str(empty), "--insecure-accept-any-host-key")
    failed, _ = _connect(backend, sshd)
    assert not failed
    log = backend.log_text()
    assert "insecure-accept-any-host-key" in log and "UNVERIFIED" in log and sshd.host_key_fingerprint in log
    # A host whose key known_hosts lists differently is still refused.
    liar = tmp_path / "liar"
    key_type, key = sshd.known_hosts_line.split()[1:3]
    liar.write_text(f"[{other.host}]:{other.port} {key_type} {key}\n")
    strict = run_backend("--known-hosts", str(liar), "--insecure-accept-any-host-key")
    failed, text = _connect(strict, other)
    assert failed and "MISMATCH" in text


def test_a_revoked_key_is_refused_even_in_insecure_mode(run_backend: Starter, sshd: SshdServer, tmp_path: Path) -> None:
    # known_hosts is read as `sshwall verify` reads it: an @revoked key never passes, not even
    # with --insecure-accept-any-host-key (paramiko's own reader skipped such lines).
    revoked = tmp_path / "revoked_known_hosts"
    key_type, key = sshd.known_hosts_line.split()[1:3]
    revoked.write_text(f"@revoked [{sshd.host}]:{sshd.port} {key_type} {key}\n")
    backend = run_backend("--known-hosts", str(revoked), "--insecure-accept-any-host-key")
    failed, text = _connect(backend, sshd)
    assert failed and "@revoked" in text and sshd.host_key_fingerprint in text
    assert not backend.ok("listConnections").data["connections"]  # type: ignore[index]


def test_known_hosts_patterns_are_understood(run_backend: Starter, sshd: SshdServer, tmp_path: Path) -> None:
    # A wildcard entry (which paramiko's reader does not match) covers the host: no insecure mode needed.
    patterns = tmp_path / "pattern_known_hosts"
    key_type, key = sshd.known_hosts_line.split()[1:3]
    patterns.write_text(f"otherhost,[{sshd.host}]:* {key_type} {key}\n")
    backend = run_backend("--known-hosts", str(patterns))
    failed, text = _connect(backend, sshd)
    assert not failed, text


def test_listed_leaves_revoked_keys_out(tmp_path: Path) -> None:
    fp_line = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
    good = tmp_path / "kh"
    good.write_text(f"[h]:2222 {fp_line}\n")
    policy = HostKeyPolicy.build([str(good)], None, accept_any=False)
    keys, revoked = policy.listed("h", 2222)
    assert len(keys) == 1 and not revoked
    good.write_text(f"[h]:2222 {fp_line}\n@revoked * {fp_line}\n")
    keys, revoked = policy.listed("h", 2222)
    assert keys == () and len(revoked) == 1
    with pytest.raises(TargetError, match="@revoked"):
        policy.check_unknown("h", 2222, "ssh-ed25519", next(iter(revoked)), revoked)
