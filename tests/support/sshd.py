"""A real OpenSSH ``sshd`` on 127.0.0.1 for tests and benchmarks.

``SshdFactory.start()`` generates a fresh ed25519 host key and client key in a temp folder,
writes a config from ``fixtures/sshd_config.template`` that admits only that client key for the
current user, starts ``/usr/sbin/sshd -D -e -f CONFIG`` on a free loopback port, waits until it
accepts a login, and hands back an ``SshdServer``. Every server a factory started is stopped by
``SshdFactory.close()``. Works as root (CI) and as an ordinary user.

``SshdServer.run()`` and friends reach the host over their own paramiko connection, so a test can
check what really happened there independently of the code under test.
"""

from __future__ import annotations

import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import paramiko

from sshwall import lab
from sshwall.errors import TargetError
from sshwall.lab import free_port

__all__ = ["CommandResult", "SshdFactory", "SshdServer", "SshdStartError", "SshdUnavailable", "free_port"]

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_TEMPLATE = REPO_ROOT / "fixtures" / "sshd_config.template"


class SshdUnavailable(RuntimeError):
    """sshd or ssh-keygen is not installed, so no test target can be started."""


class SshdStartError(RuntimeError):
    """sshd was found but did not come up (the message carries the tail of its log)."""


class CommandResult(NamedTuple):
    """What a command run directly on the test host returned."""

    exit_status: int
    stdout: str
    stderr: str


def find_sshd() -> Path:
    """Return the sshd binary, or raise ``SshdUnavailable`` saying what to install."""
    try:
        return lab.find_sshd()
    except TargetError as exc:
        raise SshdUnavailable(str(exc)) from exc


class _ClientCache:
    """One lazily opened paramiko client per server, shared by the helpers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: paramiko.SSHClient | None = None


@dataclass(frozen=True)
class SshdServer:
    """A running test sshd and the credentials to reach it."""

    name: str
    host: str
    port: int
    user: str
    workdir: Path
    client_key_path: Path
    client_key_text: str
    host_key_path: Path
    host_key_fingerprint: str
    known_hosts_path: Path
    log_path: Path
    pid: int
    _cache: _ClientCache = field(default_factory=_ClientCache, repr=False, compare=False)

    @property
    def known_hosts_line(self) -> str:
        """This server's line in ``known_hosts`` format."""
        return self.known_hosts_path.read_text().strip()

    @property
    def host_key_pin(self) -> str:
        """``HOST:PORT=SHA256:...``, the form ``sshwall backend --host-key`` takes."""
        return f"{self.host}:{self.port}={self.host_key_fingerprint}"

    def open_client(self) -> paramiko.SSHClient:
        """A new paramiko client logged in with the fixture key (host key checked)."""
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts_path))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        client.connect(
            self.host,
            port=self.port,
            username=self.user,
            key_filename=str(self.client_key_path),
            allow_agent=False,
            look_for_keys=False,
            timeout=10,
        )
        return client

    def _client(self) -> paramiko.SSHClient:
        cache = self._cache
        transport = cache.client.get_transport() if cache.client else None
        if cache.client is None or transport is None or not transport.is_active():
            cache.client = self.open_client()
        return cache.client

    def run(self, command: str, timeout: float = 30.0) -> CommandResult:
        """Run ``command`` on the host over the fixture's own connection."""
        with self._cache.lock:
            client = self._client()
        _, stdout, stderr = client.exec_command(command, timeout=timeout)
        out = stdout.read().decode("utf-8", "replace")
        err = stderr.read().decode("utf-8", "replace")
        return CommandResult(stdout.channel.recv_exit_status(), out, err)

    def check(self, command: str) -> str:
        """Run ``command``, fail loudly unless it exits 0, and return its stdout."""
        result = self.run(command)
        if result.exit_status != 0:
            raise AssertionError(f"{command!r} exited {result.exit_status}: {result.stderr}")
        return result.stdout

    def path_exists(self, path: str) -> bool:
        """Whether ``path`` exists on the host."""
        return self.run(f"test -e {_quote(path)}").exit_status == 0

    def read_bytes(self, path: str) -> bytes:
        """The content of a file on the host, read over SFTP."""
        with self._cache.lock:
            client = self._client()
        with client.open_sftp() as sftp, sftp.open(path, "rb") as handle:
            return bytes(handle.read())

    def process_running(self, needle: str) -> bool:
        """Whether any process on the host has ``needle`` in its command line."""
        listing = self.check("ps -eo args=")
        return any(needle in line and "ps -eo args=" not in line for line in listing.splitlines())

    def close_client(self) -> None:
        """Close the helpers' own connection (the server keeps running)."""
        with self._cache.lock:
            if self._cache.client is not None:
                self._cache.client.close()
                self._cache.client = None


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


class SshdFactory:
    """Starts test sshd instances under ``base_dir`` and stops them all on ``close()``."""

    def __init__(self, base_dir: Path) -> None:
        self._base = base_dir
        self._sshd = find_sshd()
        self._procs: dict[str, tuple[SshdServer, subprocess.Popen[bytes]]] = {}

    def start(self, name: str = "sshd", listen: str = "127.0.0.1") -> SshdServer:
        """Start one more sshd with its own host key (names must be unique per factory), on
        ``listen`` (any 127.0.0.0/8 address: loopback, so traffic stays on this machine)."""
        if name in self._procs:
            raise ValueError(f"an sshd named {name!r} is already running")
        try:
            target, proc = lab.start_sshd(self._base / name, name, template=CONFIG_TEMPLATE.read_text(), listen=listen)
        except TargetError as exc:
            raise SshdStartError(str(exc)) from exc
        server = SshdServer(
            name=name,
            host=target.host,
            port=target.port,
            user=target.user,
            workdir=target.workdir,
            client_key_path=target.client_key_path,
            client_key_text=target.client_key_text,
            host_key_path=target.workdir / "host_ed25519",
            host_key_fingerprint=target.host_key_fingerprint,
            known_hosts_path=target.known_hosts_path,
            log_path=target.log_path,
            pid=target.pid,
        )
        self._procs[name] = (server, proc)
        try:
            server.check("true")
        except Exception as exc:
            self.stop(server)
            log = lab.log_tail(server.log_path)
            hint = ""
            if "account is locked" in log:
                # UsePAM no (needed to run unprivileged) makes sshd refuse "!" passwords.
                hint = f"\nhint: unlock key logins with `usermod -p '*' {server.user}` (no password is set)"
            raise SshdStartError(
                f"sshd {name} is up but the fixture key cannot log in as {server.user}: {exc}{hint}\n{log}"
            ) from exc
        return server

    def stop(self, server: SshdServer) -> None:
        """Stop one server this factory started."""
        entry = self._procs.pop(server.name, None)
        server.close_client()
        if entry is not None:
            lab.stop(entry[1])

    def close(self) -> None:
        """Stop every server this factory started."""
        for server, _ in list(self._procs.values()):
            self.stop(server)
