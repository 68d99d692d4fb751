"""Talking to SSH servers: the ONLY module of ``sshwall.targets`` that imports paramiko.

Everything here blocks and is bounded by a timeout. Failures of paramiko and of the socket
layer come out as ``sshwall.errors.TargetError`` with a message an operator can act on. Names
are resolved by ``sshwall.targets.match.system_resolve`` (sshwall's one DNS lookup) and the TCP
connection goes to the resulting address.
"""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import paramiko

from sshwall.errors import TargetError
from sshwall.targets.hostkey import HostKey
from sshwall.targets.knownhosts import known_hosts_keys
from sshwall.targets.match import system_resolve

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
    raise _reach_error(host, port, timeout, last)


def _hp(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reach_error(host: str, port: int, timeout: float, err: BaseException | None) -> TargetError:
    if isinstance(err, ConnectionRefusedError):
        return TargetError(f"cannot reach {_hp(host, port)}: connection refused")
    if isinstance(err, (TimeoutError, socket.timeout)):
        return TargetError(f"cannot reach {_hp(host, port)}: timed out after {timeout:g} s")
    return TargetError(f"cannot reach {_hp(host, port)}: {err}")


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
    except (TimeoutError, socket.timeout):
        transport.close()
        raise TargetError(f"{_hp(host, port)} accepted the connection but finished no SSH key exchange "
                          f"within {timeout:g} s") from None
    except Exception as err:  # noqa: BLE001 - whatever paramiko raised: translate it here
        transport.close()
        raise TargetError(f"SSH handshake with {_hp(host, port)} failed: {err or type(err).__name__}") from None
    return transport


def _key_of(transport: paramiko.Transport) -> HostKey:
    key = transport.get_remote_server_key()
    return HostKey.from_blob(key.asbytes(), key.get_name())


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
            raise TargetError(f"{_hp(host, port)} sent a malformed first packet (length {length})")
        payload = _read_exact(sock, length - 1, deadline)[: length - 1 - padding]
    except (TimeoutError, socket.timeout):
        raise TargetError(f"{_hp(host, port)} accepted the connection but sent no SSH key exchange "
                          f"within {timeout:g} s") from None
    except (EOFError, OSError) as err:
        raise TargetError(f"reading the algorithms of {_hp(host, port)} failed: {err}") from None
    finally:
        sock.close()
    try:
        msg = paramiko.Message(payload)
        if msg.get_byte()[0] != _MSG_KEXINIT:
            raise TargetError(f"{_hp(host, port)} did not start with a key exchange message")
        msg.get_bytes(16)  # cookie
        lists = [list(msg.get_list()) for _ in range(8)]
    except (IndexError, ValueError, paramiko.SSHException) as err:
        raise TargetError(f"{_hp(host, port)} sent a malformed key exchange message: {err}") from None

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
    problems: list[str] = []
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text))
        except paramiko.PasswordRequiredException:
            raise TargetError("the private key is encrypted; give an unencrypted key (or one from an agent-free file)") from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError) as err:
            problems.append(f"{kind.__name__}: {type(err).__name__}")
    raise TargetError(f"not an ed25519, ECDSA or RSA private key ({'; '.join(problems)})")


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
                f"host key of {_hp(host, port)} changed: offered {offered.describe()}, "
                f"expected {', '.join(expected_fingerprints)}; not logging in"
            )
        try:
            remaining = transport.auth_publickey(user, pkey)
        except paramiko.AuthenticationException as err:
            raise TargetError(f"authentication failed for {user}@{_hp(host, port)}: {err}") from None
        if remaining or not transport.is_authenticated():
            raise TargetError(f"authentication for {user}@{_hp(host, port)} needs more methods: {', '.join(remaining)}")
        if command is None:
            return 0, "", ""
        return _run(transport, command, deadline, timeout)
    except (paramiko.SSHException, EOFError, OSError) as err:
        raise TargetError(f"SSH session with {_hp(host, port)} failed: {err or type(err).__name__}") from None
    finally:
        transport.close()


def _run(transport: paramiko.Transport, command: str, deadline: float, timeout: float) -> tuple[int, str, str]:
    chan = transport.open_session(timeout=max(0.1, deadline - time.monotonic()))
    out, err = bytearray(), bytearray()
    try:
        chan.exec_command(command)
        while True:
            if chan.recv_ready():
                _keep(out, chan.recv(65536))
            elif chan.recv_stderr_ready():
                _keep(err, chan.recv_stderr(65536))
            elif chan.exit_status_ready() and (chan.eof_received or chan.closed):
                break  # sshd may send exit-status before the last output: wait for EOF too
            elif time.monotonic() >= deadline:
                raise TargetError(f"command did not finish within {timeout:g} s")
            else:
                time.sleep(0.01)
        return chan.recv_exit_status(), out.decode("utf-8", "replace"), err.decode("utf-8", "replace")
    finally:
        chan.close()


def _keep(buffer: bytearray, chunk: bytes) -> None:
    room = MAX_OUTPUT_BYTES - len(buffer)
    if room > 0:
        buffer += chunk[:room]
