"""A throwaway OpenSSH sshd on 127.0.0.1, and a minimal stdio MCP client, for the demo, the
benchmarks and the tests.

``start_sshd(workdir)`` generates an ed25519 host key and client key in ``workdir``, writes a
config that admits only that client key for the current user, starts ``sshd -D -e`` on a free
loopback port and waits until it listens. Works as root and as an ordinary user.
``StdioClient(argv)`` speaks legacy-era MCP to a child process (``sshwall serve``) over its
stdio, one request at a time.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Any

from sshwall.errors import TargetError, UpstreamError

SSHD_CANDIDATES = ("/usr/sbin/sshd", "/usr/local/sbin/sshd")
CONFIG = """\
ListenAddress ${listen_address}
Port ${port}
HostKey ${host_key}
PidFile ${pid_file}
AllowUsers ${user}
PubkeyAuthentication yes
AuthorizedKeysFile ${authorized_keys}
AuthorizedKeysCommand none
AuthorizedPrincipalsFile none
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
AllowTcpForwarding yes
PermitTTY yes
X11Forwarding no
Subsystem sftp internal-sftp
UseDNS no
PrintMotd no
PrintLastLog no
MaxSessions 64
MaxStartups 64:30:128
LoginGraceTime 30
LogLevel VERBOSE
"""
_READY_TIMEOUT_S = 15.0


def find_sshd() -> Path:
    """The sshd binary, or ``TargetError`` saying how to install it."""
    if shutil.which("ssh-keygen") is None:
        raise TargetError("ssh-keygen is not installed (Debian/Ubuntu: apt-get install openssh-client)")
    for candidate in SSHD_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return Path(candidate)
    found = shutil.which("sshd")
    if found:
        return Path(found)
    raise TargetError("OpenSSH sshd is not installed (Debian/Ubuntu: apt-get install openssh-server)")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` (a loopback address) a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def keygen(path: Path, comment: str) -> None:
    """An ed25519 key pair at ``path`` and ``path.pub``, without a passphrase."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def fingerprint(pub_path: Path) -> str:
    """``SHA256:...`` of a public key, as ``ssh-keygen -lf`` prints it."""
    out = subprocess.run(["ssh-keygen", "-lf", str(pub_path)], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


@dataclass(frozen=True)
class LabSshd:
    """A running throwaway sshd and the files a client needs to reach it."""

    host: str
    port: int
    user: str
    workdir: Path
    client_key_path: Path
    host_key_fingerprint: str
    known_hosts_path: Path
    log_path: Path
    pid: int

    @property
    def client_key_text(self) -> str:
        """The client's private key (for the ``privateKey`` argument of connect)."""
        return self.client_key_path.read_text()


def start_sshd(
    workdir: Path, name: str = "sshd", template: str = CONFIG, attempts: int = 5, listen: str = "127.0.0.1"
) -> tuple[LabSshd, subprocess.Popen[bytes]]:
    """Start an sshd with fresh keys under ``workdir`` on ``listen`` (a loopback address);
    the caller stops it with ``stop``."""
    sshd = find_sshd()
    workdir.mkdir(parents=True, exist_ok=True)
    user = getpass.getuser()
    keygen(workdir / "host_ed25519", f"sshwall-lab-host-{name}")
    keygen(workdir / "client_ed25519", f"sshwall-lab-client-{name}")
    shutil.copyfile(workdir / "client_ed25519.pub", workdir / "authorized_keys")
    if os.geteuid() == 0:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
    last = ""
    for _ in range(attempts):
        port = free_port(listen)
        config = workdir / "sshd_config"
        config.write_text(Template(template).substitute(
            listen_address=listen, port=port, user=user, host_key=workdir / "host_ed25519",
            pid_file=workdir / "sshd.pid", authorized_keys=workdir / "authorized_keys",
        ))
        log_path = workdir / "sshd.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen([str(sshd), "-D", "-e", "-f", str(config)], stdin=subprocess.DEVNULL,
                                    stdout=log, stderr=log, start_new_session=True)
        try:
            _wait_ready(proc, listen, port, log_path)
        except TargetError as err:
            stop(proc)
            last = str(err)
            if "Address already in use" in last:
                continue
            raise
        host_pub = (workdir / "host_ed25519.pub").read_text().split()
        known_hosts = workdir / "known_hosts"
        known_hosts.write_text(f"[{listen}]:{port} {host_pub[0]} {host_pub[1]}\n")
        return LabSshd(listen, port, user, workdir, workdir / "client_ed25519",
                       fingerprint(workdir / "host_ed25519.pub"), known_hosts, log_path, proc.pid), proc
    raise TargetError(last)


def _wait_ready(proc: subprocess.Popen[bytes], host: str, port: int, log_path: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise TargetError(f"sshd exited with code {proc.returncode}:\n{log_tail(log_path)}")
        try:
            with socket.create_connection((host, port), timeout=1.0) as sock:
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TargetError(f"sshd did not listen on {host}:{port} within {_READY_TIMEOUT_S:g} s:\n{log_tail(log_path)}")


def log_tail(log_path: Path, lines: int = 20) -> str:
    """The last lines of an sshd log."""
    try:
        return "\n".join(log_path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop an sshd (its whole process group: it forks per connection)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


class StdioClient:
    """A minimal legacy-era MCP client over a child process's stdio (one request at a time)."""

    def __init__(self, argv: list[str], stderr: Any = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr)
        self._next = 0

    def request(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send one request, return its response (notifications in between are skipped)."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self._next += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next, "method": method}
        if params is not None:
            msg["params"] = params
        self.proc.stdin.write((json.dumps(msg) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise UpstreamError(f"gateway exited (code {self.proc.wait()}) during {method}")
            answer = json.loads(line)
            if answer.get("id") == self._next:
                return answer

    def initialize(self) -> dict[str, Any]:
        """The legacy handshake."""
        answer = self.request("initialize", {"protocolVersion": "2025-11-25", "capabilities": {},
                                             "clientInfo": {"name": "sshwall-demo", "version": "1"}})
        assert self.proc.stdin is not None
        self.proc.stdin.write(b'{"jsonrpc":"2.0","method":"notifications/initialized"}\n')
        self.proc.stdin.flush()
        return answer

    def call(self, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
        """One tools/call; returns the result (or a synthetic error result)."""
        answer = self.request("tools/call", {"name": tool, "arguments": arguments})
        if "error" in answer:
            return {"isError": True, "content": [{"type": "text", "text": f"JSON-RPC error: {answer['error'].get('message')}"}]}
        return dict(answer["result"])

    def close(self) -> None:
        """Close stdin and wait for the gateway to exit."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
