"""Checks that run before bashlex sees the input: size, control characters, nesting depth.

bashlex is quadratic in nesting depth and hits Python's recursion limit near depth 200, and a
1 MB word costs it over a second, so these caps are enforced on the raw text first.
"""

from __future__ import annotations

import re

from sshwall.analysis.model import Finding, FindingKind

DEFAULT_MAX_LENGTH = 64 * 1024
DEFAULT_MAX_DEPTH = 32

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_NESTING = re.compile(r"[(){}`]|\b(?:if|while|until|for|case|select|fi|done|esac)\b")
_OPENERS = frozenset({"(", "{", "if", "while", "until", "for", "case", "select"})


def precheck(source: str, max_length: int, max_depth: int) -> Finding | None:
    """The first reason to refuse ``source`` without parsing it, or None."""
    if len(source) > max_length or len(source.encode("utf-8", "surrogatepass")) > max_length:
        return Finding(
            FindingKind.TOO_LONG,
            f"command is {len(source.encode('utf-8', 'surrogatepass'))} bytes, over the cap of {max_length}",
        )
    if not source.strip():
        return Finding(FindingKind.EMPTY, "command is empty")
    bad = _CONTROL.search(source)
    if bad:
        return Finding(
            FindingKind.CONTROL_CHAR,
            f"control character {bad.group()!r} in command",
            bad.start(),
        )
    depth = deepest = backticks = 0
    for m in _NESTING.finditer(source):
        tok = m.group()
        if tok == "`":
            backticks += 1
            continue
        depth = depth + 1 if tok in _OPENERS else max(depth - 1, 0)
        if depth > deepest:
            deepest = depth
            if deepest + backticks // 2 > max_depth:
                return Finding(
                    FindingKind.TOO_DEEP,
                    f"nesting deeper than the cap of {max_depth}",
                    m.start(),
                )
    return None
