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
_OPENERS = frozenset({"if", "while", "until", "for", "case", "select"})
_BASHLEX_HANG = re.compile(r"'[^'}]*\$\{[^'}]*'[^\s;&|<>()]")
_TRAILING_BACKSLASH = re.compile(r"(?<!\\)(?:\\\\)*\\\s*\Z")


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
    hang = _BASHLEX_HANG.search(source)
    if hang:
        # bashlex's parameter expander never returns on a single-quoted '${' without its '}'
        # that a word continues after: refuse it before it can hang the gateway.
        return Finding(FindingKind.UNSUPPORTED, "'${' inside single quotes without its closing '}'", hang.start())
    if _TRAILING_BACKSLASH.search(source):
        return Finding(FindingKind.PARSE_ERROR, "a lone backslash ends the command", len(source.rstrip()) - 1)
    # Brackets and keywords are counted apart, so words such as `fi` in arguments cannot
    # lower the bracket depth; keywords are also capped in number.
    brackets = keywords = opened = backticks = 0
    for m in _NESTING.finditer(source):
        tok = m.group()
        if tok == "`":
            backticks += 1
            continue
        if tok in "({":
            brackets += 1
        elif tok in ")}":
            brackets = max(brackets - 1, 0)
        elif tok in _OPENERS:
            keywords += 1
            opened += 1
        else:
            keywords = max(keywords - 1, 0)
        if brackets + keywords + backticks // 2 > max_depth or opened > 4 * max_depth:
            return Finding(FindingKind.TOO_DEEP, f"nesting deeper than the cap of {max_depth}", m.start())
    return None
