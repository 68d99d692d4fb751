"""Terminal keystrokes replayed the way a shell's line editor would read them.

Keystrokes into a PTY are not a command string: Ctrl-C throws away the line typed so far,
backspace edits it, tab completes it with text only the host knows, and arrow keys recall
history. So the input is replayed key by key into the lines the shell would really run, and
any key whose effect cannot be known (tab, escape sequences, unknown control characters) is
refused.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

KEYS = {
    "\x03": "ctrl-c",
    "\x04": "ctrl-d",
    "\x08": "backspace",
    "\x7f": "backspace",
    "\x0c": "ctrl-l",
    "\x15": "ctrl-u",
    "\x1a": "ctrl-z",
}
ALWAYS_REFUSED = {
    "\t": "tab (completion inserts text only the host knows)",
    "\x1b": "escape (arrow keys recall and edit history)",
}


@dataclass(frozen=True)
class Keystrokes:
    """What the keystrokes amount to: lines the shell runs, the line still being typed."""

    lines: tuple[str, ...]
    pending: str
    problem: str | None = None


def replay(data: str, allowed: Collection[str], pending: str = "") -> Keystrokes:
    """Replay ``data`` after ``pending`` (text typed earlier on the same line)."""
    line = list(pending)
    lines: list[str] = []
    for ch in data:
        if ch in "\r\n":
            lines.append("".join(line))
            line = []
            continue
        if ch in ALWAYS_REFUSED:
            return Keystrokes(tuple(lines), "".join(line), f"terminal input contains {ALWAYS_REFUSED[ch]}")
        if ord(ch) >= 32 and ch != "\x7f":
            line.append(ch)
            continue
        key = KEYS.get(ch)
        if key is None or key not in allowed:
            what = key or f"control character {ch!r}"
            return Keystrokes(tuple(lines), "".join(line), f"terminal input contains {what}")
        if key in ("ctrl-c", "ctrl-u"):
            line = []
        elif key == "backspace":
            if not line:
                return Keystrokes(tuple(lines), "", "backspace would edit text sshwall has not seen")
            line.pop()
        elif key == "ctrl-d" and line:
            return Keystrokes(tuple(lines), "".join(line), "ctrl-d inside a line is not allowed")
    return Keystrokes(tuple(lines), "".join(line))
