"""SSH sessions of the built-in backend: the ONLY module of ``sshwall.backend`` importing paramiko.

Every call here blocks; the tool layer runs them in worker threads. What it shares with
``sshwall verify`` (host keys as values, private keys, the exec loop, the wording of connection
failures) is ``sshwall.targets.sshtools``. paramiko's exceptions are translated into
``sshwall.errors.TargetError`` with a message an agent can act on. Secrets
(password, key text, passphrase) are used for authentication and then dropped: they are never
stored, logged or put into a message.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import socket
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import paramiko

from sshwall.backend.hostkeys import HostKeyPolicy
from sshwall.errors import TargetError
from sshwall.targets.hostkey import known_hosts_name
from sshwall.targets.sshtools import (
    ExecResult,
    connect_failed,
    host_key_of,
    load_private_key,
    paramiko_key,
    run_command,
)

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 15.0
KEEPALIVE_S = 30
MAX_OUTPUT_BYTES = 1 << 20  # per stream; the rest is drained and dropped
TRUNCATED = b"\n[sshwall backend: output truncated at 1 MiB]\n"  # follows a stream that was cut

# Every command runs under a small wrapper so that closing its channel ends it. Without a PTY,
# OpenSSH neither signals nor hangs up a command whose channel closes, and it refuses the SSH
# "signal" request for root logins (no post-auth privilege separation), so the remote side
# watches for itself: the command runs with stdin from /dev/null, while a watcher reads the
# channel's stdin, which only ends when the channel closes. Then it sends SIGTERM to the
# session's process group (sshd made the session its own group), and SIGKILL 2 s later. A
# command that ends normally takes the watcher with it; exit status and output are the
# command's. With a POSIX login shell the wrapper runs in it and the command is eval'd in a
# subshell (no extra shell start); any other login shell (fish, csh) gets `exec sh -c WRAPPER`
# and the command runs in "$SHELL" -c, as a plain exec would run it.
_WATCH = ('{ read -r _; trap "" TERM; kill -TERM 0; sleep 2; kill -KILL 0; } <&3 >/dev/null 2>&1 & w=$!; '
          'exec 3<&-; wait "$p"; s=$?; kill "$w" 2>/dev/null; exit "$s"')
_VIA_SH = 'exec 3<&0; "${SHELL:-/bin/sh}" -c "$1" </dev/null 3<&- & p=$!; ' + _WATCH
POSIX_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ksh93", "mksh", "lksh", "oksh", "pdksh",
                          "ash", "busybox", "yash", "posh"})


def killable(command: str, posix_login_shell: bool = True) -> str:
    """``command`` wrapped so that it is terminated when its SSH channel closes."""
    if posix_login_shell:
        return f"exec 3<&0; (eval {shlex.quote(command)}) </dev/null 3<&- & p=$!; {_WATCH}"
    return f"exec sh -c {shlex.quote(_VIA_SH)} sshwall {shlex.quote(command)}"


Progress = Callable[[int, int], None]
"""``progress(bytes_done, bytes_total)`` during a file transfer."""


@dataclass(frozen=True)
class Credentials:
    """What ``connect`` authenticates with; secret fields never show in ``repr``."""

    username: str
    password: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    passphrase: str | None = field(default=None, repr=False)

    @property
    def method(self) -> str:
        """``key``, ``password`` or ``key+password``: safe to show and log."""
        parts = [name for name, value in (("key", self.private_key), ("password", self.password)) if value]
        return "+".join(parts) or "none"


class Stream(Protocol):
    """The part of an SSH channel that tunnels and terminals use."""

    def sendall(self, data: bytes) -> None: ...
    def recv(self, nbytes: int) -> bytes: ...
    def fileno(self) -> int: ...
    def settimeout(self, timeout: float | None) -> None: ...
    def close(self) -> None: ...


class _PolicyAdapter(paramiko.MissingHostKeyPolicy):
    """Hands a host that known_hosts does not list to ``HostKeyPolicy``."""

    def __init__(self, policy: HostKeyPolicy, host: str, port: int, revoked: frozenset[str]) -> None:
        self._policy, self._host, self._port, self._revoked = policy, host, port, revoked

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        offered = host_key_of(key)
        if self._policy.check_unknown(self._host, self._port, offered.key_type, offered.fingerprint, self._revoked):
            log.warning(
                "accepting UNVERIFIED host key %s for %s:%s (--insecure-accept-any-host-key)",
                offered.describe(), self._host, self._port,
            )


def open_session(host: str, port: int, creds: Credentials, policy: HostKeyPolicy) -> SshSession:
    """Connect, verify the host key against ``policy``, authenticate, and return the session."""
    pkey = load_private_key(creds.private_key, creds.passphrase, what="privateKey") if creds.private_key else None
    client = paramiko.SSHClient()
    revoked: frozenset[str] = frozenset()
    if policy.pin_for(host, port) is None:
        # The listed keys go to paramiko, which then negotiates their type first and raises
        # BadHostKeyException for another key; with none listed, _PolicyAdapter decides.
        listed, revoked = policy.listed(host, port)
        for known in listed:
            pkey_of_host = paramiko_key(known)
            if pkey_of_host is not None:
                client.get_host_keys().add(known_hosts_name(host, port), known.key_type, pkey_of_host)
    client.set_missing_host_key_policy(_PolicyAdapter(policy, host, port, revoked))
    try:
        client.connect(
            host, port=port, username=creds.username, password=creds.password, pkey=pkey,
            allow_agent=False, look_for_keys=False, timeout=CONNECT_TIMEOUT_S,
            banner_timeout=CONNECT_TIMEOUT_S, auth_timeout=CONNECT_TIMEOUT_S,
        )
    except Exception as exc:  # noqa: BLE001 - paramiko's connect raises many types: each is translated
        client.close()
        raise _connect_error(exc, host, port, creds) from None
    transport = client.get_transport()
    assert transport is not None  # connect() succeeded
    transport.set_keepalive(KEEPALIVE_S)
    _no_delay(transport.sock)
    key = host_key_of(transport.get_remote_server_key())
    return SshSession(client, transport, key.key_type, key.fingerprint, _posix_login_shell(client))


def _posix_login_shell(client: paramiko.SSHClient) -> bool:
    """Whether the login shell takes POSIX syntax (which form of ``killable`` to use)."""
    try:
        _, stdout, _ = client.exec_command('echo "$SHELL"', timeout=CONNECT_TIMEOUT_S)
        try:
            shell = stdout.read(4096).decode("utf-8", "replace").strip()
        finally:
            stdout.channel.close()
    except (paramiko.SSHException, OSError, EOFError):
        return False  # the portable form works with any shell
    return os.path.basename(shell) in POSIX_SHELLS


def _connect_error(exc: Exception, host: str, port: int, creds: Credentials) -> TargetError:
    """Any connect failure as ``TargetError`` (our host-key policy's refusals pass as they are)."""
    if isinstance(exc, paramiko.BadHostKeyException):
        offered, expected = host_key_of(exc.key), host_key_of(exc.expected_key)
        return HostKeyPolicy.mismatch(host, port, offered.key_type, offered.fingerprint, expected.fingerprint)
    return connect_failed(host, port, exc, creds.username, creds.method, CONNECT_TIMEOUT_S)


class SshSession:
    """One authenticated SSH connection; thread-safe (paramiko multiplexes channels)."""

    def __init__(
        self, client: paramiko.SSHClient, transport: paramiko.Transport, key_type: str, fingerprint: str,
        posix_login_shell: bool = False,
    ) -> None:
        self._client = client
        self._transport = transport
        self._posix = posix_login_shell
        self.host_key_type = key_type
        self.host_key_fingerprint = fingerprint

    def is_active(self) -> bool:
        """Whether the underlying connection is still up."""
        return self._transport.is_active()

    def close(self) -> None:
        """Close the connection and every channel on it."""
        self._client.close()

    def _channel(self) -> paramiko.Channel:
        if not self._transport.is_active():
            raise TargetError("the SSH connection is closed; connect again")
        try:
            return self._transport.open_session(timeout=CONNECT_TIMEOUT_S)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(f"cannot open an SSH channel: {exc}") from None

    def exec(self, command: str, timeout_s: float, cancel: threading.Event | None = None) -> ExecResult:
        """Run ``command`` in the remote user's shell; ``TargetError`` on timeout or when
        ``cancel`` is set.

        Either way the channel is closed, and closing it terminates the remote command and
        what it started in its process group (see ``killable``).
        """
        return run_command(self._channel(), killable(command, self._posix), timeout_s,
                           max_bytes=MAX_OUTPUT_BYTES, marker=TRUNCATED, cancel=cancel)

    def put(self, local: Path, remote: str, progress: Progress) -> int:
        """Upload ``local`` to ``remote`` over SFTP; returns the byte count."""
        try:
            with self._client.open_sftp() as sftp:
                return int(sftp.put(str(local), remote, callback=progress, confirm=True).st_size or 0)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(f"upload of {local} to {remote} failed: {_why(exc)}") from None

    def get(self, remote: str, local: Path, progress: Progress) -> int:
        """Download ``remote`` to ``local`` over SFTP (atomically replaced); returns the byte count."""
        local.parent.mkdir(parents=True, exist_ok=True)
        fd, part = tempfile.mkstemp(prefix=f".{local.name}.", suffix=".part", dir=local.parent)
        try:
            with os.fdopen(fd, "wb") as handle, self._client.open_sftp() as sftp:
                size = int(sftp.getfo(remote, handle, callback=progress))
            os.replace(part, local)
            return size
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(f"download of {remote} failed: {_why(exc)}") from None
        finally:
            if os.path.exists(part):
                os.unlink(part)

    def open_forward(self, remote_host: str, remote_port: int, origin: tuple[str, int]) -> Stream:
        """A ``direct-tcpip`` channel: the SSH host connects to ``remote_host:remote_port``."""
        if not self._transport.is_active():
            raise TargetError("the SSH connection is closed; connect again")
        try:
            return self._transport.open_channel(
                "direct-tcpip", (remote_host, remote_port), origin, timeout=CONNECT_TIMEOUT_S
            )
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise TargetError(f"the SSH host could not open {remote_host}:{remote_port}: {exc}") from None

    def open_shell(self, term: str, cols: int, rows: int) -> Stream:
        """An interactive login shell on a PTY."""
        chan = self._channel()
        try:
            chan.get_pty(term=term, width=cols, height=rows)
            chan.invoke_shell()
        except (paramiko.SSHException, EOFError) as exc:
            chan.close()
            why = str(exc) or "the server closed the channel (PTY refused?)"
            raise TargetError(f"cannot start a terminal: {why}") from None
        return chan


def _no_delay(sock: object) -> None:
    # Each tool call is a few small request/response packets: Nagle's algorithm against the
    # peer's delayed ACKs costs ~40 ms per exchange on an idle link.
    # An optimisation only: a socket that refuses the option still works.
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__

