"""Local port forwards: 127.0.0.1:localPort here -> remoteHost:remotePort as seen from the SSH host.

The listening socket is always bound to 127.0.0.1, never to all interfaces. Each accepted TCP
connection gets its own ``direct-tcpip`` channel and a pump thread.
"""

from __future__ import annotations

import logging
import secrets
import select
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from sshwall.backend.ssh import Stream
from sshwall.errors import SshwallError, UsageError

log = logging.getLogger(__name__)

BIND_HOST = "127.0.0.1"
_POLL_S = 0.5

Opener = Callable[[tuple[str, int]], Stream]
"""Opens the SSH channel for one accepted connection, given the client's address."""


@dataclass(frozen=True)
class TunnelInfo:
    """One tunnel."""

    tunnel_id: str
    connection_id: str
    local_port: int
    remote_host: str
    remote_port: int
    description: str | None

    def as_data(self) -> dict[str, object]:
        """The structured form."""
        return {
            "tunnelId": self.tunnel_id,
            "connectionId": self.connection_id,
            "localHost": BIND_HOST,
            "localPort": self.local_port,
            "remoteHost": self.remote_host,
            "remotePort": self.remote_port,
            "description": self.description,
        }


class _Tunnel:
    def __init__(self, info: TunnelInfo, listener: socket.socket, opener: Opener) -> None:
        self.info = info
        self._listener = listener
        self._opener = opener
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept_loop, name=f"{info.tunnel_id}-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, addr = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return  # listener closed
            threading.Thread(target=self._serve, args=(client, addr), daemon=True).start()

    def _serve(self, client: socket.socket, addr: tuple[str, int]) -> None:
        with self._lock:
            self._open.add(client)
        try:
            try:
                chan = self._opener((addr[0], addr[1]))
            except SshwallError as exc:
                log.warning("%s: %s", self.info.tunnel_id, exc)
                return
            try:
                _pump(client, chan, self._closed)
            finally:
                chan.close()
        finally:
            with self._lock:
                self._open.discard(client)
            client.close()

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._lock:
            for client in self._open:
                try:
                    client.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _pump(client: socket.socket, chan: Stream, closed: threading.Event) -> None:
    """Copy bytes both ways until either side ends or the tunnel closes."""
    client.settimeout(None)
    while not closed.is_set():
        ready, _, _ = select.select([client, chan], [], [], _POLL_S)
        if client in ready:
            data = client.recv(65536)
            if not data:
                return
            chan.sendall(data)
        if chan in ready:
            data = chan.recv(65536)
            if not data:
                return
            client.sendall(data)


class TunnelManager:
    """Open tunnels by id; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tunnels: dict[str, _Tunnel] = {}

    def create(
        self, connection_id: str, local_port: int, remote_host: str, remote_port: int,
        description: str | None, opener: Opener,
    ) -> TunnelInfo:
        """Bind 127.0.0.1:local_port (0 picks a free port) and start forwarding."""
        for port, what in ((local_port, "localPort"), (remote_port, "remotePort")):
            if not 0 <= port < 65536 or (what == "remotePort" and port == 0):
                raise UsageError(f"{what} {port} is not a valid TCP port")
        try:
            listener = socket.create_server((BIND_HOST, local_port))
        except OSError as exc:
            raise UsageError(f"cannot listen on {BIND_HOST}:{local_port}: {exc.strerror or exc}") from None
        listener.settimeout(_POLL_S)
        info = TunnelInfo(
            secrets.token_hex(16), connection_id, int(listener.getsockname()[1]),
            remote_host, remote_port, description,
        )
        with self._lock:
            self._tunnels[info.tunnel_id] = _Tunnel(info, listener, opener)
        log.info("tunnel %s: %s:%s -> %s:%s", info.tunnel_id, BIND_HOST, info.local_port, remote_host, remote_port)
        return info

    def close(self, tunnel_id: str) -> TunnelInfo:
        """Close one tunnel and its open connections; ``UsageError`` if unknown."""
        with self._lock:
            tunnel = self._tunnels.pop(tunnel_id, None)
        if tunnel is None:
            raise UsageError(f"unknown tunnel {tunnel_id!r}: see listTunnels")
        tunnel.close()
        return tunnel.info

    def close_for(self, connection_id: str) -> int:
        """Close every tunnel of a connection; returns how many."""
        return self._close_where(lambda tunnel: tunnel.info.connection_id == connection_id)

    def close_all(self) -> None:
        """Close every tunnel (at backend shutdown)."""
        self._close_where(lambda tunnel: True)

    def _close_where(self, chosen: Callable[[_Tunnel], bool]) -> int:
        with self._lock:
            doomed = [t for t in self._tunnels.values() if chosen(t)]
            for tunnel in doomed:
                del self._tunnels[tunnel.info.tunnel_id]
        for tunnel in doomed:
            tunnel.close()
        return len(doomed)

    def snapshot(self) -> list[TunnelInfo]:
        """Every open tunnel."""
        with self._lock:
            return [tunnel.info for tunnel in self._tunnels.values()]
