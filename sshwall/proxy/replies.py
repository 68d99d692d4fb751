"""Reading ids out of the upstream's replies, in the formats the profile gives.

The real Mcp Ssh answers in plain text (mostly Chinese) and no structured content, and parts of
its replies are chosen by the agent: the connect/getConnection/listConnections blocks start with
the connection's ``name`` and list its ``tags``. So an id is read only from a line the profile
anchors (``^ID: ...`` followed by the server's own host and user lines), and a connection id is
accepted only when it is what the server derives from that host, port and user
(``Profile.connection_ids``): a forged block in a name can then only state the truth. Whatever
cannot be read is logged and left unbound: calls on it are denied under host rules.
"""

from __future__ import annotations

import hashlib
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sshwall.profiles import ConnectionIds, ReplyFormat, ToolProfile

log = logging.getLogger("sshwall.replies")


@dataclass(frozen=True)
class ListedConnection:
    """One connection block whose id matches what the upstream derives from its target."""

    connection_id: str
    host: str
    port: int
    user: str


def reply_text(result: Any) -> str | None:
    """The text of a successful tool result, or None for an error or a malformed result."""
    if not isinstance(result, Mapping) or result.get("isError"):
        return None
    blocks = result.get("content")
    if not isinstance(blocks, list):
        return None
    parts = [b.get("text") for b in blocks if isinstance(b, Mapping) and b.get("type", "text") == "text"]
    return "\n".join(p for p in parts if isinstance(p, str))


def js_number(value: Any) -> str | None:
    """A port as JavaScript's template literal writes it (``22.0`` -> ``22``), None if not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    return str(value)


def derive_connection_id(ids: ConnectionIds, user: str, host: str, port: str) -> str:
    """The id the upstream gives ``user@host:port`` (its own derivation, from the profile)."""
    text = ids.template.format(user=user, host=host, port=port)
    return hashlib.new(ids.hash, text.encode("utf-8")).hexdigest()


@lru_cache(maxsize=64)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def read_ids(tool: ToolProfile, binds: str, result: Any) -> tuple[str, ...]:
    """Every id of kind ``binds`` (session, tunnel) the reply names on the upstream's own line."""
    text = reply_text(result)
    if text is None:
        return ()
    found: list[str] = []
    for fmt in _formats(tool, binds):
        found += [m.group("id") for m in _compiled(fmt.pattern).finditer(text)]
    return tuple(dict.fromkeys(found))


def read_connections(tool: ToolProfile, ids: ConnectionIds | None, result: Any) -> tuple[ListedConnection, ...]:
    """The connection blocks of a reply whose id is the one the upstream derives from them.

    A block whose id does not match its host, port and user is logged and skipped: it is either
    text an agent forged into a name or tag, or a format sshwall does not know.
    """
    text = reply_text(result)
    if text is None or ids is None:
        return ()
    out: list[ListedConnection] = []
    for fmt in _formats(tool, "connection"):
        for m in _compiled(fmt.pattern).finditer(text):
            try:
                conn, host, port, user = m.group("id"), m.group("host"), m.group("port"), m.group("user")
            except IndexError:
                log.warning("reply format of %s lacks id/host/port/user groups; nothing bound", fmt.pattern)
                return ()
            if derive_connection_id(ids, user, host, port) != conn:
                log.warning("ignored an id line that does not match its host and user (forged name or tag?): %s", conn)
                continue
            out.append(ListedConnection(conn, host, int(port), user))
    return tuple(dict.fromkeys(out))


def _formats(tool: ToolProfile, binds: str) -> tuple[ReplyFormat, ...]:
    return tuple(f for f in tool.replies if f.binds == binds)


__all__ = ["ListedConnection", "derive_connection_id", "js_number", "read_connections", "read_ids", "reply_text"]
