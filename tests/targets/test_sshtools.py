"""The SSH toolbox shared by ``sshwall verify`` and the built-in backend, without a network.

The parts that talk to a server (``run_command`` on a real channel, handshakes) are driven by
tests/targets/test_sshkeys.py and tests/backend against a real sshd.
"""

from __future__ import annotations

import io
import re

import paramiko
import pytest

from sshwall.errors import TargetError
from sshwall.targets.hostkey import HostKey
from sshwall.targets.sshtools import connect_failed, host_key_of, keep, load_private_key, paramiko_key


@pytest.fixture(scope="module")
def rsa() -> paramiko.RSAKey:
    return paramiko.RSAKey.generate(1024)


def test_keep_caps_each_stream_and_marks_the_cut_once() -> None:
    plain = bytearray()
    for _ in range(3):
        keep(plain, b"x" * 6, 10)
    assert plain == b"x" * 10  # no marker: the rest is dropped silently
    marked = bytearray()
    for _ in range(3):
        keep(marked, b"y" * 6, 10, b"[cut]")
    assert marked == b"y" * 10 + b"[cut]"


def test_a_host_key_goes_to_paramiko_and_back_unchanged(rsa: paramiko.RSAKey) -> None:
    key = host_key_of(rsa)
    assert key.key_type == "ssh-rsa" and key.fingerprint.startswith("SHA256:")
    back = paramiko_key(key)
    assert back is not None and host_key_of(back) == key
    assert paramiko_key(HostKey("sk-unknown@example.org", key.fingerprint, key.base64)) is None


def test_private_key_failures_say_what_to_do(rsa: paramiko.RSAKey) -> None:
    with pytest.raises(TargetError, match=r"privateKey could not be loaded \(not an ed25519"):
        load_private_key("not a key", what="privateKey")
    encrypted = io.StringIO()
    rsa.write_private_key(encrypted, password="s3cret")
    with pytest.raises(TargetError, match="privateKey is encrypted: a passphrase is required"):
        load_private_key(encrypted.getvalue(), what="privateKey")
    with pytest.raises(TargetError, match=r"\(wrong passphrase, or not an ed25519") as caught:
        load_private_key(encrypted.getvalue(), "guess", what="privateKey")
    assert "guess" not in str(caught.value)
    assert host_key_of(load_private_key(encrypted.getvalue(), "s3cret")) == host_key_of(rsa)


@pytest.mark.parametrize(
    ("err", "says"),
    [
        (paramiko.AuthenticationException("nope"), r"authentication failed for u@h:2222 \(key\): nope$"),
        (paramiko.SSHException("bad banner"), r"SSH handshake with h:2222 failed: bad banner$"),
        (EOFError(), r"SSH handshake with h:2222 failed: EOFError$"),
        (ConnectionRefusedError(111, "refused"), r"cannot reach h:2222: connection refused$"),
        (TimeoutError("timed out"), r"cannot reach h:2222: timed out after 15 s$"),
        # paramiko's connect raises a bare Exception for an ssh-rsa known_hosts entry it cannot use.
        (Exception("TODO: REPLACEME"), r"SSH connection to h:2222 failed: Exception: TODO: REPLACEME$"),
    ],
)
def test_every_connect_failure_is_a_target_error(err: BaseException, says: str) -> None:
    translated = connect_failed("h", 2222, err, "u", "key", 15.0)
    assert isinstance(translated, TargetError)
    assert re.match(says, str(translated)), str(translated)


def test_our_own_refusals_pass_unchanged_and_v6_hosts_are_bracketed() -> None:
    ours = TargetError("refused by the host-key policy")
    assert connect_failed("h", 22, ours, "u") is ours
    assert str(connect_failed("::1", 2222, OSError("x"), "u")) == "cannot reach [::1]:2222: x"
