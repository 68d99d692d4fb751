"""A connection's current folder and home, read from the upstream's replies.

Mcp Ssh reports the folder its commands start in (``当前目录: /root``) in its connect and
getConnection replies, and answers getCurrentDirectory with it. It is the login folder: the
server reads it with ``pwd`` in a fresh channel at connect, and again, in a fresh channel, after a
command that starts with ``cd `` (so a ``cd`` never moves it). The reply blocks start with the
agent-chosen connection name, which may forge a whole block, so a folder is learned only when
every block of the reply that names the connection states it, and all state the same one.

The home is not reported: sshwall takes the login folder for it when it is the user's
conventional home (``/root`` for root, a folder named after the user otherwise), where sshd put
the login; anything else leaves ``~`` and ``$HOME`` unknown.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from sshwall.profiles import ToolProfile
from sshwall.proxy.replies import reply_text

log = logging.getLogger("sshwall.workdirs")


def read_folder(tool: ToolProfile, connection_id: str, result: Any) -> str | None:
    """The connection's current folder as the reply states it, or None when it cannot tell."""
    text = reply_text(result)
    if text is None:
        return None
    stated: list[str] = []
    for fmt in tool.replies:
        if fmt.binds != "cwd":
            continue
        for m in re.finditer(fmt.pattern, text):
            if m.groupdict().get("id", connection_id) == connection_id:
                stated.append(m.group("cwd"))
    blocks = 0
    for fmt in tool.replies:
        if fmt.binds == "connection":
            blocks += sum(1 for m in re.finditer(fmt.pattern, text) if m.group("id") == connection_id)
    if not stated or len(set(stated)) != 1 or (blocks and len(stated) != blocks):
        if stated:
            log.warning("reply of %s states %d folders for %s in %d blocks (forged name?); folder unknown",
                        connection_id, len(stated), connection_id, blocks)
        return None
    return stated[0]


def conventional_home(folder: str | None, user: str) -> str | None:
    """``folder`` when it is ``user``'s conventional home (so the login put the shell there)."""
    if folder is None or not folder.startswith("/"):
        return None
    if user == "root":
        return folder if folder == "/root" else None
    return folder if folder.rstrip("/").rsplit("/", 1)[-1] == user and folder != "/" else None


def reads_folder(tool: ToolProfile) -> bool:
    """Whether this tool's replies state a connection's folder."""
    return any(f.binds == "cwd" for f in tool.replies)


__all__ = ["conventional_home", "read_folder", "reads_folder"]
