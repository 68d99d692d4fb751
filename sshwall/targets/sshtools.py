"""The SSH toolbox shared by ``sshwall verify`` and the built-in backend.

``sshwall.targets.sshkeys`` (verify: host keys, algorithms, a test login) and
``sshwall.backend.ssh`` (the backend's sessions) both talk to SSH servers through paramiko; what
they have in common is here, once: a server's key as a plain ``HostKey``, loading a private key,
running one command on a channel with bounded time and capped output, and the failures of
paramiko and of the socket layer as ``sshwall.errors.TargetError`` with a message an operator or
an agent can act on. With ``sshkeys``, one of the two modules of ``sshwall.targets`` that import
paramiko; ``sshwall.targets`` itself loads neither until a network function is used.
"""

from __future__ import annotations

import base64
import io
import select
import threading
import time
from dataclasses import dataclass

import paramiko
from paramiko.pkey import UnknownKeyType

from sshwall.errors import TargetError
from sshwall.targets.hostkey import HostKey, host_port

CHUNK = 65536
CANCEL_POLL_S = 0.2  # how soon a running command notices that it was cancelled


@dataclass(frozen=True)
class ExecResult:
    """A finished remote command (streams decoded as UTF-8, undecodable bytes replaced)."""

    stdout: str
    stderr: str
    exit_status: int


def host_key_of(key: paramiko.PKey) -> HostKey:
    """A key paramiko received as a plain ``HostKey`` (type, ``SHA256:`` fingerprint, blob)."""
    return HostKey.from_blob(key.asbytes(), key.get_name())


def paramiko_key(key: HostKey) -> paramiko.PKey | None:
    """A ``HostKey`` as the paramiko key that ``SSHClient`` compares offered keys with; ``None``
    for a type paramiko does not know (such a key can never match what it negotiates)."""
    try:
        return paramiko.PKey.from_type_string(key.key_type, base64.b64decode(key.base64))
    except (UnknownKeyType, paramiko.SSHException, ValueError, TypeError, IndexError):
        return None


def load_private_key(
    text: str, passphrase: str | None = None, *, what: str = "the private key",
    encrypted_hint: str = "a passphrase is required",
) -> paramiko.PKey:
    """An ed25519, ECDSA or RSA private key from its OpenSSH or PEM text.

    ``TargetError`` naming ``what`` when the key is encrypted and no passphrase was given
    (``encrypted_hint`` says what to do), or when no key type reads it.
    """
    problems: list[str] = []
    for kind in (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey):
        try:
            return kind.from_private_key(io.StringIO(text), password=passphrase)
        except paramiko.PasswordRequiredException:
            raise TargetError(f"{what} is encrypted: {encrypted_hint}") from None
        except (paramiko.SSHException, ValueError, TypeError, IndexError) as exc:
            problems.append(f"{kind.__name__}: {type(exc).__name__}")
    wrong = "wrong passphrase, or " if passphrase else ""
    raise TargetError(
        f"{what} could not be loaded ({wrong}not an ed25519, ECDSA or RSA private key in OpenSSH or "
        f"PEM form): {'; '.join(problems)}"
    )


def keep(buffer: bytearray, chunk: bytes, max_bytes: int, marker: bytes = b"") -> None:
    """Append ``chunk`` to ``buffer`` up to ``max_bytes`` in all; ``marker`` follows the cut
    once. The caller keeps reading, so the stream is drained and the rest dropped."""
    if len(buffer) > max_bytes:
        return  # already cut (the marker made it longer than the cap)
    room = max_bytes - len(buffer)
    if len(chunk) <= room:
        buffer += chunk
    else:
        buffer += chunk[:room] + marker


def run_command(
    chan: paramiko.Channel, command: str, timeout_s: float, *, max_bytes: int, marker: bytes = b"",
    cancel: threading.Event | None = None, deadline: float | None = None,
) -> ExecResult:
    """Run ``command`` on the fresh session channel ``chan``, then close the channel.

    Each stream keeps at most ``max_bytes`` (see ``keep``). ``TargetError`` when ``deadline``
    (by default ``timeout_s`` from now) passes, when ``cancel`` is set, or when the connection
    fails. sshd may send the exit status before the last output: the loop ends at EOF with
    the status, having read everything.
    """
    deadline = time.monotonic() + timeout_s if deadline is None else deadline
    out, err = bytearray(), bytearray()
    try:
        chan.exec_command(command)
        while True:
            if cancel is not None and cancel.is_set():
                raise TargetError("command cancelled (its channel was closed, which ends it)")
            remaining = deadline - time.monotonic()
            wait = remaining if cancel is None else min(remaining, CANCEL_POLL_S)
            if chan.recv_ready():
                keep(out, chan.recv(CHUNK), max_bytes, marker)
            elif chan.recv_stderr_ready():
                keep(err, chan.recv_stderr(CHUNK), max_bytes, marker)
            elif chan.eof_received or chan.closed:
                if chan.status_event.wait(max(0.0, wait)):
                    break
                if remaining <= 0:
                    raise _timed_out(timeout_s)
            else:
                if remaining <= 0:
                    raise _timed_out(timeout_s)
                select.select([chan], [], [], wait)
        status = chan.recv_exit_status()
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise TargetError(f"command failed on the SSH connection: {exc}") from None
    finally:
        chan.close()
    return ExecResult(out.decode("utf-8", "replace"), err.decode("utf-8", "replace"), status)


def _timed_out(timeout_s: float) -> TargetError:
    return TargetError(f"command timed out after {round(timeout_s * 1000)} ms (its channel was closed)")


def unreachable(host: str, port: int, err: BaseException | None, timeout_s: float | None = None) -> TargetError:
    """The error for a TCP connection to ``host:port`` that failed with ``err``."""
    where = host_port(host, port)
    if isinstance(err, ConnectionRefusedError):
        return TargetError(f"cannot reach {where}: connection refused")
    if isinstance(err, TimeoutError) and timeout_s is not None:
        return TargetError(f"cannot reach {where}: timed out after {timeout_s:g} s")
    return TargetError(f"cannot reach {where}: {err}")


def handshake_failed(host: str, port: int, err: BaseException) -> TargetError:
    """The error for an SSH connection whose handshake (version, key exchange) failed."""
    return TargetError(f"SSH handshake with {host_port(host, port)} failed: {str(err) or type(err).__name__}")


def auth_failed(user: str, host: str, port: int, err: BaseException, method: str | None = None) -> TargetError:
    """The error for credentials the server refused (``method``: how, safe to show)."""
    how = f" ({method})" if method else ""
    return TargetError(f"authentication failed for {user}@{host_port(host, port)}{how}: {err}")


def connect_failed(host: str, port: int, err: BaseException, user: str, method: str | None = None,
                   timeout_s: float | None = None) -> TargetError:
    """Any failure of connecting and logging in as ``TargetError`` (one already is passes as is)."""
    if isinstance(err, TargetError):
        return err
    if isinstance(err, paramiko.AuthenticationException):
        return auth_failed(user, host, port, err, method)
    if isinstance(err, (paramiko.SSHException, EOFError)):
        return handshake_failed(host, port, err)
    if isinstance(err, OSError):  # refused, unreachable, DNS, timeout
        return unreachable(host, port, err, timeout_s)
    return TargetError(f"SSH connection to {host_port(host, port)} failed: {type(err).__name__}: {err}")
