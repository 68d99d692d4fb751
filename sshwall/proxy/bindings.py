"""Which host every call touches: connection ids bound to the target that ``connect`` reached.

A ``connectionId`` is an opaque string the upstream made up; the only way to know its host is
to remember what ``connect`` answered. Terminal session ids are bound to their connection the
same way. When the policy names hosts, a call on an id sshwall never saw bound is denied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_ID_IN_TEXT = (
    re.compile(r"connection\s*id\s*[:：=]\s*[`'\"]?([\w.:@-]+)", re.IGNORECASE),
    re.compile(r"\bID\s*[:：=]\s*[`'\"]?([\w.:@-]+)"),
)
_SESSION_IN_TEXT = (
    re.compile(r"session\s*id\s*[:：=]\s*[`'\"]?([\w.:@-]+)", re.IGNORECASE),
    re.compile(r"\bID\s*[:：=]\s*[`'\"]?([\w.:@-]+)"),
)


@dataclass(frozen=True)
class Binding:
    """The target behind one connection id."""

    connection_id: str
    host: str
    port: int
    user: str
    group: str | None


def _text(result: Mapping[str, Any]) -> str:
    parts = [b.get("text", "") for b in result.get("content") or [] if isinstance(b, Mapping)]
    return "\n".join(p for p in parts if isinstance(p, str))


def id_from_result(result: Any, key: str) -> str | None:
    """The id a tool result announces: ``structuredContent[key]``, else from its text."""
    if not isinstance(result, Mapping) or result.get("isError"):
        return None
    structured = result.get("structuredContent")
    if isinstance(structured, Mapping) and isinstance(structured.get(key), str):
        return str(structured[key])
    patterns = _ID_IN_TEXT if key == "connectionId" else _SESSION_IN_TEXT
    text = _text(result)
    for pattern in patterns:
        m = pattern.search(text)
        if m:
            return m.group(1).rstrip(".,;")
    return None


class Bindings:
    """Connection and terminal-session bindings of one gateway (in memory)."""

    def __init__(self) -> None:
        self._connections: dict[str, Binding] = {}
        self._sessions: dict[str, str] = {}

    def bind(self, binding: Binding) -> None:
        """Remember the target of a new connection."""
        self._connections[binding.connection_id] = binding

    def bind_session(self, session_id: str, connection_id: str) -> None:
        """Remember the connection a terminal session runs on."""
        self._sessions[session_id] = connection_id

    def of_connection(self, connection_id: Any) -> Binding | None:
        """The binding of a connection id, if sshwall saw it made."""
        return self._connections.get(connection_id) if isinstance(connection_id, str) else None

    def of_session(self, session_id: Any) -> Binding | None:
        """The binding behind a terminal session id."""
        conn = self._sessions.get(session_id) if isinstance(session_id, str) else None
        return self._connections.get(conn) if conn else None

    def drop(self, connection_id: Any) -> None:
        """Forget a connection and its terminal sessions."""
        if not isinstance(connection_id, str):
            return
        self._connections.pop(connection_id, None)
        for session, conn in list(self._sessions.items()):
            if conn == connection_id:
                del self._sessions[session]
