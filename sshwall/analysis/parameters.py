"""Parameter expansions that make bash evaluate a value as code, a name or arithmetic.

``${x}`` only substitutes a value, but some forms evaluate it (all verified in bash 5.2, where
``i='b[$(id)]'`` runs ``id`` in each):

- ``${!x}``: indirection reads the value of ``x`` as a variable name, subscript included;
- ``${a[i]}``, ``${#a[i]}``: an indexed-array subscript is arithmetic, and arithmetic evaluates
  the value of every name in it as an expression in turn;
- ``${x:i}``, ``${x:0:i}``, ``${@:i}``: substring offsets and lengths are arithmetic;
- ``${x@P}``: the value is expanded as a prompt string, which runs ``$(...)`` in it.

Plain numbers (``${a[0]}``, ``${x: -2:1}``), ``${a[@]}``, ``${!prefix*}`` and ``${!a[@]}`` do
not evaluate anything and are left alone.
"""

from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+|[@*#?$!-]")
_NUMERIC = re.compile(r"[\s0-9()+-]*\Z")  # a number, maybe signed or in parentheses
_DEFAULT_OPS = frozenset("-=+?")


def evaluated_parameter(inner: str) -> str | None:
    """Why ``${inner}`` evaluates a value as a name, arithmetic or code; None when it does not."""
    reason = _outer(inner)
    if reason is not None:
        return reason
    for body in _nested(inner):
        reason = evaluated_parameter(body)
        if reason is not None:
            return reason
    return None


def _outer(inner: str) -> str | None:
    body = inner
    if body.startswith("!") and len(body) > 1:
        name = _NAME.match(body, 1)
        after = body[name.end() :] if name else body[1:]
        if name and after in ("*", "@", "[@]", "[*]"):
            return None  # names with a prefix, or the keys of an array
        return f"`${{{inner}}}` is an indirection: bash evaluates the value as a variable name, `[...]` subscripts included"
    if body.startswith("#") and len(body) > 1 and body[1] not in "}":
        body = body[1:]
    name = _NAME.match(body)
    if name is None:
        return None
    rest = body[name.end() :]
    if rest.startswith("["):
        close = _closing_bracket(rest)
        subscript = rest[1:close] if close > 0 else rest[1:]
        if subscript not in ("@", "*") and not _NUMERIC.match(subscript):
            return f"`${{{inner}}}`: the subscript `{subscript}` is evaluated arithmetically, which evaluates names in it"
        rest = rest[close + 1 :] if close > 0 else ""
    if rest.startswith(":") and rest[1:2] not in _DEFAULT_OPS:
        for part in rest[1:].split(":")[:2]:
            if not _NUMERIC.match(part):
                return f"`${{{inner}}}`: the substring offset `{part}` is evaluated arithmetically"
    if rest.startswith("@P"):
        return f"`${{{inner}}}` expands the value as a prompt string, which runs `$(...)` in it"
    return None


def _closing_bracket(text: str) -> int:
    depth = 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _nested(inner: str) -> list[str]:
    """Bodies of ``${...}`` expansions nested in ``inner`` (``${x:-${!y}}``)."""
    out: list[str] = []
    start = inner.find("${")
    while start >= 0:
        depth = 0
        for i in range(start + 1, len(inner)):
            if inner[i] == "{":
                depth += 1
            elif inner[i] == "}":
                depth -= 1
                if depth == 0:
                    out.append(inner[start + 2 : i])
                    break
        start = inner.find("${", start + 2)
    return out
