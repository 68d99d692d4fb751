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

import getpass
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import NamedTuple

import paramiko

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIG_TEMPLATE = REPO_ROOT / "fixtures" / "sshd_config.template"
SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
_START_ATTEMPTS = 5
_READY_TIMEOUT_S = 15.0


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
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            if shutil.which("ssh-keygen") is None:
                break
            return Path(candidate)
    raise SshdUnavailable(
        "OpenSSH sshd/ssh-keygen not found: install the Debian package openssh-server "
        "(apt-get install openssh-server)"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def keygen(path: Path, comment: str) -> None:
    """Write an unencrypted ed25519 key pair to ``path`` and ``path.pub``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        capture_output=True,
    )


def fingerprint(pub_path: Path) -> str:
    """The key's ``SHA256:...`` fingerprint exactly as ``ssh-keygen -lf`` prints it."""
    out = subprocess.run(
        ["ssh-keygen", "-lf", str(pub_path)], check=True, capture_output=True, text=True
    ).stdout
    return out.split()[1]


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

    def start(self, name: str = "sshd") -> SshdServer:
        """Start one more sshd with its own host key (names must be unique per factory)."""
        if name in self._procs:
            raise ValueError(f"an sshd named {name!r} is already running")
        workdir = self._base / name
        workdir.mkdir(parents=True)
        user = getpass.getuser()
        keygen(workdir / "host_ed25519", f"sshwall-test-host-{name}")
        keygen(workdir / "client_ed25519", f"sshwall-test-client-{name}")
        shutil.copyfile(workdir / "client_ed25519.pub", workdir / "authorized_keys")
        if os.geteuid() == 0:
            # The privilege-separation directory sshd insists on when started as root.
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        last_error = ""
        for _ in range(_START_ATTEMPTS):
            port = free_port()
            proc = self._launch(workdir, user, port)
            try:
                _wait_ready(proc, port, workdir / "sshd.log")
            except SshdStartError as exc:
                last_error = str(exc)
                _terminate(proc)
                if "Address already in use" in last_error:
                    continue  # lost the free-port race; pick another
                raise
            server = self._describe(name, workdir, user, port, proc.pid)
            self._procs[name] = (server, proc)
            try:
                server.check("true")
            except Exception as exc:
                self.stop(server)
                log = _log_tail(server.log_path)
                hint = ""
                if "account is locked" in log:
                    # UsePAM no (needed to run unprivileged) makes sshd refuse "!" passwords.
                    hint = f"\nhint: unlock key logins with `usermod -p '*' {user}` (no password is set)"
                raise SshdStartError(
                    f"sshd {name} is up but the fixture key cannot log in as {user}: {exc}{hint}\n{log}"
                ) from exc
            return server
        raise SshdStartError(last_error)

    def _launch(self, workdir: Path, user: str, port: int) -> subprocess.Popen[bytes]:
        config = Template(CONFIG_TEMPLATE.read_text()).substitute(
            listen_address="127.0.0.1",
            port=port,
            user=user,
            host_key=workdir / "host_ed25519",
            pid_file=workdir / "sshd.pid",
            authorized_keys=workdir / "authorized_keys",
        )
        config_path = workdir / "sshd_config"
        config_path.write_text(config)
        log = (workdir / "sshd.log").open("ab")
        try:
            return subprocess.Popen(
                [str(self._sshd), "-D", "-e", "-f", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        finally:
            log.close()

    def _describe(self, name: str, workdir: Path, user: str, port: int, pid: int) -> SshdServer:
        host_pub = (workdir / "host_ed25519.pub").read_text().split()
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {host_pub[0]} {host_pub[1]}\n")
        return SshdServer(
            name=name,
            host="127.0.0.1",
            port=port,
            user=user,
            workdir=workdir,
            client_key_path=workdir / "client_ed25519",
            client_key_text=(workdir / "client_ed25519").read_text(),
            host_key_path=workdir / "host_ed25519",
            host_key_fingerprint=fingerprint(workdir / "host_ed25519.pub"),
            known_hosts_path=known_hosts,
            log_path=workdir / "sshd.log",
            pid=pid,
        )

    def stop(self, server: SshdServer) -> None:
        """Stop one server this factory started."""
        entry = self._procs.pop(server.name, None)
        server.close_client()
        if entry is not None:
            _terminate(entry[1])

    def close(self) -> None:
        """Stop every server this factory started."""
        for server, _ in list(self._procs.values()):
            self.stop(server)


def _wait_ready(proc: subprocess.Popen[bytes], port: int, log_path: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SshdStartError(f"sshd exited with {proc.returncode}\n{_log_tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise SshdStartError(f"sshd did not answer on port {port}\n{_log_tail(log_path)}")


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    # sshd runs in its own session: signal the group so per-connection children go too.
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def _log_tail(log_path: Path, lines: int = 20) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no sshd log)"
    return "sshd log:\n" + "\n".join(text.splitlines()[-lines:])
