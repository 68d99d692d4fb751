"""The backend's connections: ids handed out by ``connect``, kept in memory only.

Ids are derived from the target as Mcp Ssh derives them (md5 of ``user@host:port``), so one
target has one id and a second connect to it returns the live connection. A connection stays
listed after ``disconnect`` (status ``disconnected``) until ``deleteConnection``, as in Mcp Ssh.
Nothing is written to disk and no secret is kept (except, with ``--emulate-mcp-ssh-rewrites``,
the connection's credentials in memory: that emulation pastes the password into sudo commands
and types it into terminals, as Mcp Ssh does, falling back, as it does, to the password an
earlier connect of the id saved (``rememberPassword``, kept here in memory until
``deleteConnection``, for the backend's lifetime). It also lets a password-only reconnect
authenticate with the key the id had, which the real server does not do: see
``sshwall.backend.emulate.merged_credentials``).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Literal

from sshwall.backend.ssh import Credentials, SshSession
from sshwall.errors import NotConnected, UsageError

Status = Literal["connected", "disconnected", "lost"]


@dataclass(frozen=True)
class ConnectionInfo:
    """What ``connect`` established; safe to show (no secrets)."""

    connection_id: str
    host: str
    port: int
    username: str
    name: str | None
    tags: tuple[str, ...]
    auth: str
    host_key_type: str
    host_key_fingerprint: str
    connected_at: float
    cwd: str | None = None

    @property
    def display_name(self) -> str:
        """The name Mcp Ssh's replies show first: the agent's ``name``, else ``user@host``."""
        return self.name or f"{self.username}@{self.host}"

    def as_data(self) -> dict[str, object]:
        """The structured form, as in ``connect``'s ``structuredContent``."""
        return {
            "connectionId": self.connection_id,
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "name": self.name,
            "tags": list(self.tags),
            "hostKey": f"{self.host_key_type} {self.host_key_fingerprint}",
        }


class _Entry:
    __slots__ = ("creds", "info", "last_used", "session")

    def __init__(self, info: ConnectionInfo, session: SshSession, creds: Credentials | None) -> None:
        self.info = info
        self.session: SshSession | None = session
        self.last_used = time.time()
        self.creds = creds


class ConnectionRegistry:
    """Connection ids to live sessions; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, _Entry] = {}
        self._saved: dict[str, str] = {}  # the emulation's saved passwords, by id

    def add(self, info: ConnectionInfo, session: SshSession, creds: Credentials | None = None,
            remember: bool = False) -> None:
        """Register a connection ``connect`` just opened (replacing a closed one of that id).

        ``creds`` are kept only for the emulation of Mcp Ssh (None otherwise); with
        ``remember`` their password (if any) is saved for the id, as Mcp Ssh's keytar store
        does (a connect without a password leaves the saved one).
        """
        with self._lock:
            old = self._entries.get(info.connection_id)
            self._entries[info.connection_id] = _Entry(info, session, creds)
            if creds is not None and remember and creds.password:
                self._saved[info.connection_id] = creds.password
        if old is not None and old.session is not None:
            old.session.close()

    def live(self, connection_id: str) -> ConnectionInfo | None:
        """The connection of this id if it is connected (a connect to it returns it as is)."""
        with self._lock:
            entry = self._entries.get(connection_id)
            if entry is None or self._status(entry) != "connected":
                return None
            return entry.info

    def password(self, connection_id: str) -> str | None:
        """The password the rewrite emulation uses (None unless it is on): the connection's
        own, else the one saved for the id, as Mcp Ssh falls back to its saved password."""
        with self._lock:
            entry = self._entries.get(connection_id)
            if entry is None or entry.creds is None:
                return None
            return entry.creds.password or self._saved.get(connection_id)

    def credentials(self, connection_id: str) -> Credentials | None:
        """The credentials kept for the emulation (None unless it is on, or the id is unknown)."""
        with self._lock:
            entry = self._entries.get(connection_id)
            return entry.creds if entry else None

    def _entry(self, connection_id: str) -> _Entry:
        entry = self._entries.get(connection_id)
        if entry is None:
            raise UsageError(f"unknown connection {connection_id!r}: connect first, or see listConnections")
        return entry

    @staticmethod
    def _status(entry: _Entry) -> Status:
        if entry.session is None:
            return "disconnected"
        return "connected" if entry.session.is_active() else "lost"

    def info(self, connection_id: str) -> tuple[ConnectionInfo, Status]:
        """A connection's details and status; ``UsageError`` if the id is unknown."""
        with self._lock:
            entry = self._entry(connection_id)
            return entry.info, self._status(entry)

    def find(self, connection_id: str) -> tuple[ConnectionInfo, Status] | None:
        """A connection's details and status, None if the id is unknown (deleted)."""
        with self._lock:
            entry = self._entries.get(connection_id)
            return None if entry is None else (entry.info, self._status(entry))

    def last_used(self, connection_id: str) -> float | None:
        """When the connection was last used (None once disconnected: Mcp Ssh's ``活跃度``)."""
        with self._lock:
            entry = self._entry(connection_id)
            return None if entry.session is None else entry.last_used

    def session(self, connection_id: str) -> SshSession:
        """The live session behind an id (and mark it used); errors if unknown or not connected."""
        with self._lock:
            entry = self._entry(connection_id)
            status = self._status(entry)
            if entry.session is None or status != "connected":
                raise NotConnected(connection_id, status, entry.info.display_name)
            entry.last_used = time.time()
            return entry.session

    def disconnect(self, connection_id: str) -> ConnectionInfo:
        """Close the session but keep the entry listed."""
        with self._lock:
            entry = self._entry(connection_id)
            session, entry.session = entry.session, None
        if session is not None:
            session.close()
        return entry.info

    def delete(self, connection_id: str) -> ConnectionInfo:
        """Close the session and forget the entry."""
        info = self.disconnect(connection_id)
        with self._lock:
            self._entries.pop(connection_id, None)
            self._saved.pop(connection_id, None)  # Mcp Ssh deletes the saved credentials too
        return info

    def snapshot(self) -> list[tuple[ConnectionInfo, Status, float]]:
        """Every connection with its status and last-used time, oldest first."""
        with self._lock:
            return [(e.info, self._status(e), e.last_used) for e in self._entries.values()]

    def close_all(self) -> None:
        """Close every session (at backend shutdown)."""
        for info, _, _ in self.snapshot():
            self.disconnect(info.connection_id)
