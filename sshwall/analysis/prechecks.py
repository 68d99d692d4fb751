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
# Openers and closers as they can stand: '(' anywhere ('$(', '<('), '{' and '}' and the keywords
# only at the start of a command (after ; & | newline ( or the start).
_CMD_START = r"(?:^|(?<=[;&|\n({]))\s*"
_SEPARATOR_WORDS = re.compile(r"\b(?:then|do|else|elif)\b")  # a command starts after these
_NESTING = re.compile(
    r"(?P<tok>[()`])|" + _CMD_START + r"(?P<tok2>[{}]|(?:if|while|until|for|case|select|fi|done|esac)\b)",
)
_OPENERS = frozenset({"if", "while", "until", "for", "case", "select"})
_UNCLOSED_PARAM = re.compile(r"\$\{(?![^'\"`}\n]*\})")
_ESCAPED = re.compile(r"\\.", re.DOTALL)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
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
    if ("'" in source or "`" in source) and (hang := _UNCLOSED_PARAM.search(source)):
        # bashlex's parameter expander never returns on a '${' whose '}' quoting hid from it
        # ('${x'y, x'${', $'${a' }, `${`): refuse it before it can hang the gateway.
        body = source[hang.end() :].split("}", 1)[0]
        if "}" in source[hang.end() :] and "`" in body:
            return Finding(FindingKind.HIDDEN_SUBSTITUTION, f"parameter expansion ${{{body}}} contains '`'", hang.start())
        return Finding(FindingKind.UNSUPPORTED, "'${' without its closing '}' next to quotes", hang.start())
    if _TRAILING_BACKSLASH.search(source):
        return Finding(FindingKind.PARSE_ERROR, "a lone backslash ends the command", len(source.rstrip()) - 1)
    # Depth is counted on the text without escapes and quoted strings, and closers count only
    # where they can close something: `echo }`, `')'` or a word `fi` cannot lower it.
    bare = _SEPARATOR_WORDS.sub(";", _QUOTED.sub(" ", _ESCAPED.sub(" ", source)))
    brackets = keywords = opened = backticks = 0
    for m in _NESTING.finditer(bare):
        tok = m.group("tok") or m.group("tok2")
        if tok == "`":
            backticks += 1
            continue
        if tok in ("(", "{"):
            brackets += 1
            opened += 1
        elif tok in (")", "}"):
            brackets = max(brackets - 1, 0)
        elif tok in _OPENERS:
            keywords += 1
            opened += 1
        else:
            keywords = max(keywords - 1, 0)
        if brackets + keywords + backticks // 2 > max_depth or opened > 4 * max_depth:
            return Finding(FindingKind.TOO_DEEP, f"nesting deeper than the cap of {max_depth}", m.start())
    return None
