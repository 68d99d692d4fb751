"""Talking to SSH servers for ``sshwall verify``: host keys, offered algorithms, a test login.

With ``sshwall.targets.sshtools`` (the toolbox it shares with the built-in backend), the only
module of ``sshwall.targets`` that imports paramiko. Everything here blocks and is bounded by a
timeout. Failures of paramiko and of the socket layer come out as ``sshwall.errors.TargetError``
with a message an operator can act on. Names
are resolved by ``sshwall.targets.match.system_resolve`` (sshwall's one DNS lookup) and the TCP
connection goes to the resulting address.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paramiko

from sshwall.errors import TargetError
from sshwall.targets.hostkey import HostKey, host_port
from sshwall.targets.knownhosts import known_hosts_keys
from sshwall.targets.match import system_resolve
from sshwall.targets.sshtools import (
    auth_failed,
    handshake_failed,
    host_key_of,
    load_private_key,
    run_command,
    unreachable,
)

__all__ = ["HostKey", "fetch_host_key", "known_hosts_keys", "server_algorithms", "try_login"]

CLIENT_BANNER = b"SSH-2.0-sshwall_verify\r\n"
MAX_OUTPUT_BYTES = 64 * 1024  # per stream of a canary; the rest is drained and dropped
_MSG_KEXINIT = 20
_MAX_PACKET = 256 * 1024


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the first of ``host``'s addresses that answers."""
    last: OSError | None = None
    for address in system_resolve(host):
        try:
            return socket.create_connection((address, port), timeout=timeout)
        except OSError as err:
            last = err
    raise unreachable(host, port, last, timeout)


def _transport(host: str, port: int, timeout: float, key_types: Sequence[str] | None = None) -> paramiko.Transport:
    """A client transport that has finished key exchange (not authenticated)."""
    sock = _connect(host, port, timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    if key_types:
        try:
            transport.get_security_options().key_types = tuple(key_types)
        except ValueError as err:
            transport.close()
            raise TargetError(f"unsupported host key type requested: {err}") from None
    done = threading.Event()
    try:
        # With an event, start_client returns at once and the wait below bounds the handshake
        # (without one, paramiko returns silently when its timeout passes).
        transport.start_client(event=done)
        if not done.wait(timeout):
            raise TimeoutError(f"no key exchange within {timeout:g} s")
        if not transport.is_active():
            raise transport.get_exception() or paramiko.SSHException("negotiation failed")
    except TimeoutError:
        transport.close()
        raise TargetError(f"{host_port(host, port)} accepted the connection but finished no SSH key exchange "
                          f"within {timeout:g} s") from None
    except Exception as err:  # noqa: BLE001 - whatever paramiko raised: translate it here
        transport.close()
        raise handshake_failed(host, port, err) from None
    return transport


def _key_of(transport: paramiko.Transport) -> HostKey:
    return host_key_of(transport.get_remote_server_key())


def fetch_host_key(host: str, port: int, timeout: float = 5.0, *, key_types: Sequence[str] | None = None) -> HostKey:
    """The host key ``host:port`` proves it holds during key exchange (no authentication).

    ``key_types`` restricts and orders the host key algorithms offered (for example
    ``["rsa-sha2-512"]`` to fetch a server's RSA key instead of its ed25519 one); by default
    paramiko's preference decides, which is the key the gateway checks.
    """
    transport = _transport(host, port, timeout, key_types)
    try:
        return _key_of(transport)
    finally:
        transport.close()


def _read_exact(sock: socket.socket, size: int, deadline: float) -> bytes:
    data = bytearray()
    while len(data) < size:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return bytes(data)


def _read_banner(sock: socket.socket, deadline: float) -> str:
    for _ in range(64):  # RFC 4253 4.2: a server may send other lines before its banner
        line = bytearray()
        while not line.endswith(b"\n"):
            line += _read_exact(sock, 1, deadline)
            if len(line) > 1024:
                raise TargetError("the server's banner line is too long: not an SSH server?")
        text = line.decode("utf-8", "replace").rstrip("\r\n")
        if text.startswith("SSH-"):
            if not text.startswith(("SSH-2.0-", "SSH-1.99-")):
                raise TargetError(f"the server speaks an unsupported protocol: {text!r}")
            return text
    raise TargetError("the server sent no SSH banner")


def server_algorithms(host: str, port: int, timeout: float = 5.0) -> dict[str, list[str]]:
    """The algorithms ``host:port`` offers in its KEXINIT, in its order of preference.

    Keys: ``banner`` (one item, the server's version line), ``kex``, ``host_key``, ``ciphers``,
    ``macs``, ``compression`` (server-to-client and client-to-server lists merged). Pseudo
    algorithms (``ext-info-s``, ``kex-strict-s-v00@openssh.com``) are left out of ``kex``.
    """
    deadline = time.monotonic() + timeout
    sock = _connect(host, port, timeout)
    try:
        sock.sendall(CLIENT_BANNER)
        banner = _read_banner(sock, deadline)
        header = _read_exact(sock, 5, deadline)
        length, padding = int.from_bytes(header[:4], "big"), header[4]
        if not padding < length <= _MAX_PACKET:
            raise TargetError(f"{host_port(host, port)} sent a malformed first packet (length {length})")
        payload = _read_exact(sock, length - 1, deadline)[: length - 1 - padding]
    except TimeoutError:
        raise TargetError(f"{host_port(host, port)} accepted the connection but sent no SSH key exchange "
                          f"within {timeout:g} s") from None
    except (EOFError, OSError) as err:
        raise TargetError(f"reading the algorithms of {host_port(host, port)} failed: {err}") from None
    finally:
        sock.close()
    try:
        msg = paramiko.Message(payload)
        if msg.get_byte()[0] != _MSG_KEXINIT:
            raise TargetError(f"{host_port(host, port)} did not start with a key exchange message")
        msg.get_bytes(16)  # cookie
        lists = [list(msg.get_list()) for _ in range(8)]
    except (IndexError, ValueError, paramiko.SSHException) as err:
        raise TargetError(f"{host_port(host, port)} sent a malformed key exchange message: {err}") from None

    def merged(a: list[str], b: list[str]) -> list[str]:
        return [x for x in dict.fromkeys(a + b) if x]

    return {
        "banner": [banner],
        "kex": [k for k in lists[0] if k and not k.startswith(("ext-info-", "kex-strict-"))],
        "host_key": [k for k in lists[1] if k],
        "ciphers": merged(lists[3], lists[2]),
        "macs": merged(lists[5], lists[4]),
        "compression": merged(lists[7], lists[6]),
    }


def _load_private_key(key_path_or_text: str | Path) -> paramiko.PKey:
    text = str(key_path_or_text)
    if "PRIVATE KEY-----" not in text:
        try:
            text = Path(text).expanduser().read_text(encoding="utf-8")
        except OSError as err:
            raise TargetError(f"cannot read private key {key_path_or_text}: {err.strerror or err}") from None
    return load_private_key(text, encrypted_hint="give an unencrypted key (sshwall verify takes no passphrase)")


def try_login(
    host: str,
    port: int,
    user: str,
    key_path_or_text: str | Path,
    command: str | None,
    timeout: float = 10.0,
    *,
    expected_fingerprints: Sequence[str] = (),
) -> tuple[int, str, str]:
    """Log in to ``host:port`` as ``user`` with a private key and run ``command``.

    Returns ``(exit status, stdout, stderr)`` (each stream capped at 64 KiB); with ``command``
    ``None`` it only authenticates and returns ``(0, "", "")``. When ``expected_fingerprints`` is
    given, the server's host key must be one of them *before* any credential is sent.
    ``TargetError`` on unreachable host, host key mismatch, failed authentication or timeout.
    """
    pkey = _load_private_key(key_path_or_text)
    deadline = time.monotonic() + timeout
    transport = _transport(host, port, timeout)
    try:
        offered = _key_of(transport)
        if expected_fingerprints and offered.fingerprint not in expected_fingerprints:
            raise TargetError(
                f"host key of {host_port(host, port)} changed: offered {offered.describe()}, "
                f"expected {', '.join(expected_fingerprints)}; not logging in"
            )
        try:
            remaining = transport.auth_publickey(user, pkey)
        except paramiko.AuthenticationException as err:
            raise auth_failed(user, host, port, err) from None
        if remaining or not transport.is_authenticated():
            raise TargetError(f"authentication for {user}@{host_port(host, port)} needs more methods: {', '.join(remaining)}")
        if command is None:
            return 0, "", ""
        chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
        result = run_command(chan, command, timeout, max_bytes=MAX_OUTPUT_BYTES, deadline=deadline)
        return result.exit_status, result.stdout, result.stderr
    except (paramiko.SSHException, EOFError, OSError) as err:
        raise TargetError(f"SSH session with {host_port(host, port)} failed: {str(err) or type(err).__name__}") from None
    finally:
        transport.close()
