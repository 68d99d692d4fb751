"""Which host every call touches: connection ids bound to the target that ``connect`` reached.

A ``connectionId`` is an id the upstream hands out; the only way to know its host is to read
what ``connect`` answered (see ``sshwall.proxy.replies``). Terminal session and tunnel ids are
bound to their connection the same way. When the policy names hosts, a call on an id sshwall
never saw bound is denied.

A binding lives until ``deleteConnection``: Mcp Ssh keeps a disconnected connection saved (and
its saved password) until it is deleted, so ``deleteConnection`` after ``disconnect`` must still
know the host, and a reconnect inherits what the upstream remembers about the id.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from sshwall.engine.rewrites import TERMINAL_UNCHECKED, ConnectionFacts, PasswordState
from sshwall.engine.workdir import Workdir


@dataclass(frozen=True)
class Binding:
    """The target behind one connection id, and what the upstream holds for it.

    ``password`` says whether the upstream may paste a password into commands on this
    connection: ``none`` (key only, never a password seen), ``checked`` (the agent gave one at
    connect and sshwall checked it is inert inside double quotes), ``unknown`` (the upstream may
    hold a password sshwall never saw: a saved one, or a binding learned from a listing).
    ``password_saved`` is true when the upstream keeps the password for the id after this
    connection (``rememberPassword``), so a later connect without one still has it.
    ``cwd`` and ``home`` are the connection's current folder and the user's home as the
    upstream reported them (``sshwall.proxy.workdirs``), None while unknown.
    ``terminal_problem`` says why a checked password may not be typed into a terminal as a line
    (the upstream types it in by itself, see ``sshwall.engine.autopassword``), None when it may.
    ``refused``: why the host rules of a policy reloaded since the connect refuse its target
    (``TargetGuard.rematch``; its calls are denied), None when they do not.
    """

    connection_id: str
    host: str
    port: int
    user: str
    group: str | None
    password: PasswordState = "none"
    password_saved: bool = False
    terminal_problem: str | None = TERMINAL_UNCHECKED
    # The connection's current folder and the user's home, from the upstream's replies.
    cwd: str | None = None
    home: str | None = None
    refused: str | None = None

    @property
    def facts(self) -> ConnectionFacts:
        """What the engine needs to know about this connection."""
        return ConnectionFacts(self.password, self.terminal_problem)

    @property
    def workdir(self) -> Workdir:
        """Where commands on this connection start, as far as sshwall knows."""
        return Workdir(self.cwd, self.home)


IdKind = Literal["connection", "session", "tunnel"]


class Bindings:
    """Connection, terminal-session and tunnel bindings of one gateway (in memory), and the
    identity that opened each id (``owner``): see docs/identities.md."""

    def __init__(self) -> None:
        self._connections: dict[str, Binding] = {}
        self._sessions: dict[str, str] = {}
        self._tunnels: dict[str, str] = {}
        self._owners: dict[tuple[IdKind, str], str] = {}

    def own(self, kind: IdKind, id_: str, identity: str) -> None:
        """Record that ``identity`` opened the id (a reconnect by its owner keeps it)."""
        self._owners[(kind, id_)] = identity

    def owner(self, kind: IdKind, id_: Any) -> str | None:
        """The identity that opened the id through this gateway, None if unknown."""
        return self._owners.get((kind, id_)) if isinstance(id_, str) else None

    def owners(self) -> set[str]:
        """Every identity that holds an id now."""
        return set(self._owners.values())

    def bind(self, binding: Binding) -> None:
        """Remember the target of a connection (a reconnect replaces the old binding)."""
        self._connections[binding.connection_id] = binding

    def connections(self) -> list[Binding]:
        """Every connection binding, as they stand now."""
        return list(self._connections.values())

    def bind_session(self, session_id: str, connection_id: str) -> None:
        """Remember the connection a terminal session runs on."""
        self._sessions[session_id] = connection_id

    def bind_tunnel(self, tunnel_id: str, connection_id: str) -> None:
        """Remember the connection a tunnel forwards through."""
        self._tunnels[tunnel_id] = connection_id

    def of_connection(self, connection_id: Any) -> Binding | None:
        """The binding of a connection id, if sshwall saw it made."""
        return self._connections.get(connection_id) if isinstance(connection_id, str) else None

    def of_session(self, session_id: Any) -> Binding | None:
        """The binding behind a terminal session id."""
        conn = self._sessions.get(session_id) if isinstance(session_id, str) else None
        return self._connections.get(conn) if conn else None

    def of_tunnel(self, tunnel_id: Any) -> Binding | None:
        """The binding behind a tunnel id."""
        conn = self._tunnels.get(tunnel_id) if isinstance(tunnel_id, str) else None
        return self._connections.get(conn) if conn else None

    def set_folder(self, connection_id: str, cwd: str | None, home: str | None) -> None:
        """Remember (or, with None, forget) a connection's current folder and home."""
        old = self._connections.get(connection_id)
        if old is not None:
            self._connections[connection_id] = replace(old, cwd=cwd, home=home)

    def password_unknown(self, connection_id: str) -> None:
        """The upstream's connection holds a password sshwall did not see."""
        self.set_password(connection_id, "unknown")

    def set_password(self, connection_id: str, state: PasswordState) -> None:
        """Set what sshwall knows of the password the upstream holds for the connection."""
        old = self._connections.get(connection_id)
        if old is not None:
            self._connections[connection_id] = replace(old, password=state)

    def drop_tunnel(self, tunnel_id: Any) -> None:
        """Forget a closed tunnel."""
        if isinstance(tunnel_id, str):
            self._tunnels.pop(tunnel_id, None)
            self._owners.pop(("tunnel", tunnel_id), None)

    def delete(self, connection_id: Any) -> None:
        """Forget a deleted connection with its terminal sessions and tunnels."""
        if not isinstance(connection_id, str):
            return
        self._connections.pop(connection_id, None)
        self._owners.pop(("connection", connection_id), None)
        for kind, table in (("session", self._sessions), ("tunnel", self._tunnels)):
            for key, conn in list(table.items()):
                if conn == connection_id:
                    del table[key]
                    self._owners.pop((kind, key), None)  # type: ignore[arg-type]
