"""Checks for the little languages inside arguments: sed scripts and awk programs.

Both checkers are allowlists over a small tokenizer: a sed script may only use commands that
print, select or transform the stream (no ``w``/``r``/``e``, no ``s///e`` or ``s///w``); an awk
program may not run commands (``system``, pipes, ``getline``) nor redirect output to files. What
the tokenizer cannot follow is refused.
"""

from __future__ import annotations

_SED_SAFE = frozenset("pP=lqQnNdDgGhHxzF")
_SED_LABEL = frozenset("btT:")
_SED_TEXT = frozenset("aic")
_SED_UNSAFE = {"w": "writes a file", "W": "writes a file", "r": "reads a file",
               "R": "reads a file", "e": "runs a command", "v": None}


def _regex_end(text: str, i: int, delim: str) -> int:
    """Index of the unescaped ``delim`` closing a regex or replacement starting at ``i``."""
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == delim:
            return i
        if text[i] == "\n":
            break
        i += 1
    raise ValueError("unterminated regular expression")


def _sed_address(text: str, i: int) -> int:
    """Skip one address (number, $, /re/, \\cREc, first~step, +N, ~N)."""
    n = len(text)
    if i < n and text[i] in "+~":
        i += 1
    if i < n and text[i].isdigit():
        while i < n and (text[i].isdigit() or text[i] == "~"):
            i += 1
    elif i < n and text[i] == "$":
        i += 1
    elif i < n and text[i] in "/\\":
        delim = "/"
        if text[i] == "\\":
            if i + 1 >= n:
                raise ValueError("bad address")
            delim = text[i + 1]
            i += 1
        i = _regex_end(text, i + 1, delim) + 1
        while i < n and text[i] in "IM":
            i += 1
    return i


def check_sed(script: str) -> str | None:
    """Why ``script`` is not a print-only sed script, or None."""
    try:
        return _sed(script)
    except ValueError as err:
        return f"sed script cannot be checked: {err}"


def _sed(text: str) -> str | None:
    i, n = 0, len(text)
    while i < n:
        while i < n and text[i] in " \t\n;":
            i += 1
        if i >= n:
            break
        i = _sed_address(text, i)
        while i < n and text[i] == " ":
            i += 1
        if i < n and text[i] == ",":
            i = _sed_address(text, i + 1)
        while i < n and text[i] in " !":
            i += 1
        if i >= n:
            return "sed address without a command"
        c = text[i]
        i += 1
        if c in "{}":
            continue
        if c in _SED_SAFE:
            while i < n and text[i].isdigit():
                i += 1
        elif c in _SED_TEXT:
            # a\, i\, c\ text runs to the first newline not escaped by a backslash.
            while i < n and text[i] != "\n":
                i += 2 if text[i] == "\\" else 1
        elif c in _SED_LABEL or c == "#":
            while i < n and text[i] != "\n" and (c == "#" or text[i] != ";"):
                i += 1
        elif c in "sy":
            if i >= n or text[i] in "\n\\":
                return f"sed `{c}` command without a delimiter"
            delim = text[i]
            i = _regex_end(text, i + 1, delim)
            i = _regex_end(text, i + 1, delim) + 1
            if c == "s":
                start = i
                while i < n and text[i] not in ";\n} ":
                    i += 1
                flags = text[start:i]
                for bad, what in (("e", "runs the pattern space as a command"), ("w", "writes a file")):
                    if bad in flags:
                        return f"sed `s` flag `{bad}` {what}"
                if not all(f in "gpiImM0123456789" for f in flags):
                    return f"sed `s` flags `{flags}` are not understood"
        elif c in _SED_UNSAFE:
            return f"sed command `{c}` {_SED_UNSAFE[c] or 'is not allowed'}"
        else:
            return f"sed command `{c}` is not understood"
    return None


_AWK_DENIED_WORDS = {
    "system": "runs a command",
    "getline": "reads from files or commands",
}
_IDENT_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_IDENT = _IDENT_START | frozenset("0123456789")


def _awk_tokens(text: str) -> list[str]:
    """Identifiers, operators and punctuation, with strings, regexes and comments removed."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t\r":
            i += 1
        elif ch == "\\" and i + 1 < n and text[i + 1] == "\n":
            i += 2
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch == '"':
            i = _regex_end(text, i + 1, '"') + 1
            out.append('"str"')
        elif ch == "/" and (not out or not (out[-1][0] in _IDENT or out[-1] in (")", "]", '"str"') or out[-1][0].isdigit() or out[-1] == "$")):
            i = _regex_end(text, i + 1, "/") + 1
            out.append("/re/")
        elif ch in _IDENT:
            j = i
            while j < n and text[j] in _IDENT:
                j += 1
            out.append(text[i:j])
            i = j
        elif text.startswith(("||", "|&", ">>", "&&", "==", "!=", "<=", ">="), i):
            out.append(text[i : i + 2])
            i += 2
        else:
            out.append(ch)
            i += 1
    return out


def check_awk(program: str) -> str | None:
    """Why ``program`` may run commands, write files or read from commands, or None."""
    try:
        tokens = _awk_tokens(program)
    except ValueError as err:
        return f"awk program cannot be checked: {err}"
    printing = False
    depth = 0
    for tok in tokens:
        if tok in _AWK_DENIED_WORDS:
            return f"awk `{tok}` {_AWK_DENIED_WORDS[tok]}"
        if tok.startswith("@"):
            return f"awk directive `{tok}` is not allowed"
        if tok in ("|", "|&"):
            return "awk pipe `|` runs a command"
        if tok == "@":
            return "gawk `@` directives are not allowed"
        if tok in ("print", "printf"):
            printing, depth = True, 0
        elif printing:
            if tok in ("(", "["):
                depth += 1
            elif tok in (")", "]"):
                depth -= 1
            elif tok in (";", "\n", "}", "{"):
                printing = False
            elif tok in (">", ">>") and depth <= 0:
                return f"awk output redirection `{tok}` writes a file"
    return None
