"""A real ``redis-server`` on 127.0.0.1 for tests and benchmarks.

``start_redis(workdir)`` starts ``redis-server`` on a free loopback port with its files in
``workdir`` and no persistence (``--save "" --appendonly no``), waits until it answers PING and
hands back a ``RedisServer``. A server can be killed (a crash), paused (a hung server) and
started again on the same port, which is what outage tests need. Use it as a context manager,
or call ``stop()``; it never outlives the test session if its owner stops it.

Needs only the standard library (no redis client), so any test or bench can import it:

    from tests.support.redis_server import RedisUnavailable, start_redis
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from urllib.parse import urlencode

_START_ATTEMPTS = 5
_READY_TIMEOUT_S = 10.0


class RedisUnavailable(RuntimeError):
    """redis-server is not installed."""


class RedisStartError(RuntimeError):
    """redis-server was found but did not come up (the message carries its log's tail)."""


def find_redis_server() -> Path:
    """The redis-server binary, or ``RedisUnavailable`` saying what to install."""
    found = shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/local/bin/redis-server") if os.access(p, os.X_OK)), None
    )
    if found is None:
        raise RedisUnavailable("redis-server not found: install the Debian package redis-server")
    return Path(found)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether a Redis on ``host:port`` answers PING (a raw RESP exchange, no client needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A redis-server process on 127.0.0.1 that a test controls."""

    host = "127.0.0.1"

    def __init__(self, binary: Path, workdir: Path, port: int) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = port
        self.log_path = workdir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def url(self, db: int = 0, **params: str | float) -> str:
        """``redis://127.0.0.1:PORT/DB`` with ``params`` as the query (e.g. namespace=...)."""
        query = f"?{urlencode(params)}" if params else ""
        return f"redis://{self.host}:{self.port}/{db}{query}"

    def start(self) -> None:
        """Start (or start again, on the same port) and wait until it answers PING."""
        if self.pid is not None:
            return
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                [
                    str(self.binary), "--port", str(self.port), "--bind", self.host,
                    "--dir", str(self.workdir), "--save", "", "--appendonly", "no",
                    "--daemonize", "no", "--protected-mode", "yes",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + _READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RedisStartError(f"redis-server exited with {self._proc.returncode}\n{self.log_tail()}")
            if ping(self.port, timeout=0.5):
                return
            time.sleep(0.02)
        self.stop()
        raise RedisStartError(f"redis-server did not answer on port {self.port}\n{self.log_tail()}")

    def kill(self) -> None:
        """SIGKILL the server, as a crash would (its data is gone: no persistence)."""
        self._signal_and_wait(signal.SIGKILL)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 5 s)."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self.resume()
        self._proc.terminate()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._signal_and_wait(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP the server: connections stay open but nothing answers (a hung server)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT a paused server."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def _signal_and_wait(self, sig: signal.Signals) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        self._proc.send_signal(sig)
        self._proc.wait(timeout=5)

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server's log."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no redis log)"
        return "redis-server log:\n" + "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def start_redis(workdir: Path) -> RedisServer:
    """Start a redis-server on a free loopback port with its files in ``workdir``.

    Raises ``RedisUnavailable`` when redis-server is not installed and ``RedisStartError``
    when it does not come up (after retrying a port lost to a race a few times).
    """
    binary = find_redis_server()
    last = ""
    for _ in range(_START_ATTEMPTS):
        server = RedisServer(binary, workdir, free_port())
        try:
            server.start()
            return server
        except RedisStartError as exc:
            last = str(exc)
            if "Address already in use" not in last:
                raise
    raise RedisStartError(last)
