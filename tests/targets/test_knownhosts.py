"""known_hosts parsing: [host]:port, hashed names, wildcards, negation, @revoked, bad lines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from sshwall.errors import TargetError
from sshwall.targets.hostkey import HostKey, known_hosts_name
from sshwall.targets.knownhosts import host_field_matches, known_hosts_keys, read_known_hosts
from tests.targets.keys import fake_key, line

A, B, C = fake_key("a"), fake_key("b"), fake_key("c")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "known_hosts"
    path.write_text(text)
    return path


def test_port_22_plain_and_other_ports_bracketed(tmp_path: Path) -> None:
    path = write(tmp_path, line(A, "db.example.com") + line(B, "[db.example.com]:2222"))
    assert known_hosts_keys(path, "db.example.com", 22) == [A]
    assert known_hosts_keys(path, "DB.example.com", 2222) == [B]
    assert known_hosts_keys(path, "db.example.com", 2200) == []
    assert known_hosts_name("::1", 2222) == "[::1]:2222"


def test_comma_lists_wildcards_and_negation(tmp_path: Path) -> None:
    path = write(tmp_path, line(A, "web1,web2,10.0.0.1") + line(B, "*.example.com,!bad.example.com") + line(C, "db?"))
    assert known_hosts_keys(path, "web2", 22) == [A]
    assert known_hosts_keys(path, "10.0.0.1", 22) == [A]
    assert known_hosts_keys(path, "x.example.com", 22) == [B]
    assert known_hosts_keys(path, "bad.example.com", 22) == []
    assert known_hosts_keys(path, "db1", 22) == [C]
    assert known_hosts_keys(path, "db12", 22) == []
    assert not host_field_matches("[a-z]*", "abc")  # brackets are literal in known_hosts patterns


def test_hashed_entries_written_by_ssh_keygen(tmp_path: Path) -> None:
    path = write(tmp_path, line(A, "db.example.com") + line(B, "[127.0.0.1]:2222"))
    subprocess.run(["ssh-keygen", "-H", "-f", str(path)], check=True, capture_output=True)
    assert "db.example.com" not in path.read_text()
    assert known_hosts_keys(path, "db.example.com", 22) == [A]
    assert known_hosts_keys(path, "127.0.0.1", 2222) == [B]
    assert known_hosts_keys(path, "127.0.0.1", 22) == []


def test_revoked_and_cert_authority_lines(tmp_path: Path) -> None:
    path = write(tmp_path, line(A, "db") + line(B, "db") + line(A, "*", "@revoked") + line(C, "db", "@cert-authority"))
    assert known_hosts_keys(path, "db", 22) == [B]
    listed = read_known_hosts(path, "db", 22)
    assert listed.keys == (A, B) and listed.revoked == (A,)


def test_malformed_lines_are_skipped(tmp_path: Path) -> None:
    text = (
        "# comment\n\n"
        "db ssh-ed25519\n"                                   # too few fields
        f"db ssh-rsa {A.base64}\n"                           # type does not match the blob
        "db ssh-ed25519 !!!notbase64!!!\n"
        "@weird db ssh-ed25519 AAAA\n"
        + line(B, "db")
    )
    assert known_hosts_keys(write(tmp_path, text), "db", 22) == [B]


def test_missing_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="cannot read known_hosts file"):
        known_hosts_keys(tmp_path / "nope", "db", 22)


def test_host_key_values() -> None:
    key = fake_key("x")
    assert key.fingerprint.startswith("SHA256:") and len(key.fingerprint) == 50
    assert HostKey.from_base64("ssh-ed25519", key.base64) == key
    assert key.describe() == f"ssh-ed25519 {key.fingerprint}"
    with pytest.raises(TargetError):
        HostKey.from_base64("ssh-rsa", key.base64)
