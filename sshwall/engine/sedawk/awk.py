"""The awk checker: a lexer over the readings of both mawk 1.3.4 and gawk 5.2.

Built from their ``scan.c`` and ``awkgram.y``. Where the two tell a regex ``/.../`` from a
division differently, every reading is checked. A program may not run commands (``system``,
pipes), read other files (``getline``, writes to ``ARGV``/``ARGC``, ``@include``), print the
environment (``ENVIRON``) nor redirect output to files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sshwall.engine.sedawk.common import _Infeasible, _plain_ascii, _Unreadable

_KEYWORDS = frozenset(
    "BEGIN END BEGINFILE ENDFILE function func if else while for do break continue next "
    "nextfile exit return delete in getline print printf switch case default".split()
)
_BUILTINS = frozenset(
    "length substr index split sub gsub match sprintf sin cos atan2 exp log sqrt int rand "
    "srand tolower toupper system close fflush gensub patsplit asort asorti strftime systime "
    "mktime and or xor compl lshift rshift strtonum isarray typeof bindtextdomain dcgettext "
    "dcngettext".split()
)
_DENIED_NAMES = {
    "system": "runs a command",
    "getline": "reads from files or commands",
    "ENVIRON": "prints the environment, which may hold secrets",
    "SYMTAB": "reaches any variable by name (ARGV among them)",
    "bindtextdomain": "reads message catalogues from a folder it names",
    "dcgettext": "reads message catalogues",
    "dcngettext": "reads message catalogues",
}
_ASSIGN = frozenset({"=", "+=", "-=", "*=", "/=", "%=", "^=", "**="})
_OPERATORS = ("**=", "**", "+=", "-=", "*=", "%=", "^=", "++", "--", "&&", "||", "|&", ">>",
              ">=", "<=", "==", "!=", "!~")
# A newline after these does not end a statement (POSIX, plus gawk's `?` and `:`).
_NL_CONTINUES = frozenset({",", "{", "&&", "||", "do", "else", "?", ":"})
_SPECIAL_OUT = frozenset({'"/dev/stdout"', '"/dev/stderr"'})
_MAX_READINGS = 64


@dataclass(frozen=True)
class _Tok:
    """One awk token: kind is name, num, str, re, op or nl; text is its source text."""

    kind: str
    text: str
    ctl_close: bool = False  # a `)` that closes an if/while/for header


def _awk_regex_ends(text: str, i: int) -> set[int | None]:
    """Where a regex whose body starts at ``i`` ends (index after its ``/``), per reader.

    gawk 5.2 (``yylex``), mawk 1.3.4 (``collect_RE``) and a reader without brackets (older
    one-true-awk) each give an answer; None means that reader finds no end (a syntax error).
    """
    return {_gawk_regex_end(text, i), _mawk_regex_end(text, i), _plain_regex_end(text, i)}


def _gawk_regex_end(text: str, i: int) -> int | None:
    tok: list[str] = []
    in_brack, b_index, n = 0, -1, len(text)
    while i < n:
        c = text[i]
        i += 1
        cur = len(tok)
        if c == "[":
            if (i < n and text[i] == ":") or in_brack == 0:
                in_brack += 1
                if in_brack == 1:
                    b_index = cur
        elif c == "]":
            if in_brack > 0 and (cur == b_index + 1 or (cur == b_index + 2 and tok[-1] == "^")):
                pass
            else:
                in_brack -= 1
                if in_brack == 0:
                    b_index = -1
        elif c == "\\":
            if i >= n:
                return None
            c2 = text[i]
            i += 1
            if c2 != "\n":
                tok += ["\\", c2]
            continue
        elif c == "/" and in_brack <= 0:
            return i
        elif c == "\n":
            return None
        tok.append(c)
    return None


def _mawk_regex_end(text: str, i: int) -> int | None:
    buf: list[str] = []
    first: int | None = None
    boxed, n = 0, len(text)
    while i < n:
        c = text[i]
        i += 1
        buf.append(c)
        p = len(buf)
        if c == "^":
            if first is not None and p - 1 == first and buf[first - 1] == "[":
                first = p
        elif c == "[":
            if not boxed:
                first = p
                boxed += 1
            elif i < n and text[i] == ":":
                boxed += 1
        elif c == "]":
            if boxed and p - 1 != first:
                boxed -= 1
        elif c == "/" and not boxed:
            return i
        elif c == "\n":
            return None
        elif c == "\\":
            if i >= n:
                return None
            c2 = text[i]
            i += 1
            if c2 == "/":
                buf[-1] = "/"
            elif c2 == "\n":
                buf.pop()
            else:
                buf.append(c2)
    return None


def _closing(text: str, i: int, closer: str) -> int | None:
    """Index after the first unescaped ``closer`` from ``i`` on the same line, or None."""
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "\n":
            return None
        i += 1
        if c == closer:
            return i
    return None


def _plain_regex_end(text: str, i: int) -> int | None:
    return _closing(text, i, "/")


def _string_end(text: str, i: int) -> int:
    """Index after the ``"`` closing a string whose body starts at ``i``."""
    end = _closing(text, i, '"')
    if end is None:
        raise _Infeasible("unterminated string")
    return end


def _number_end(text: str, i: int) -> int:
    """Index after a numeric constant starting at ``i`` (``strtod`` syntax, gawk hex)."""
    n = len(text)
    if text.startswith(("0x", "0X"), i) and i + 2 < n and text[i + 2] in "0123456789abcdefABCDEF":
        i += 2
        while i < n and text[i] in "0123456789abcdefABCDEF":
            i += 1
        return i
    while i < n and text[i].isdigit():
        i += 1
    if i < n and text[i] == ".":
        i += 1
        while i < n and text[i].isdigit():
            i += 1
    if i < n and text[i] in "eE":
        j = i + 1
        if j < n and text[j] in "+-":
            j += 1
        if j < n and text[j].isdigit():
            i = j
            while i < n and text[i].isdigit():
                i += 1
    return i


def _slash_reading(prev: _Tok | None, functions: frozenset[str]) -> str:
    """How the awks read a ``/`` after ``prev``: ``re``, ``div`` or ``both`` (they differ)."""
    if prev is None:
        return "re"
    if prev.kind in ("num", "str", "re"):
        return "div"
    if prev.kind == "name":
        if prev.text == "getline":
            return "div"
        if prev.text in _KEYWORDS:
            return "re"
        # mawk reads a regex after a builtin or a function name, gawk a division.
        if prev.text in _BUILTINS or prev.text in functions:
            return "both"
        return "div"
    if prev.text == "]":
        return "div"
    if prev.text == ")":
        # gawk starts a statement (a regex) after `if (...)`; mawk reads a division.
        return "both" if prev.ctl_close else "div"
    if prev.text in ("++", "--"):
        raise _Unreadable("`/` after `++` or `--` is read differently by mawk and gawk")
    return "re"


def _function_names(text: str) -> frozenset[str]:
    """Names that may be functions: defined with ``function``/``func`` or called ``name(``.

    mawk files such a name as a function from its first sight; an over-approximation only
    adds readings to check.
    """
    names = set(re.findall(r"\b(?:function|func)\s+([A-Za-z_]\w*)", text))
    names.update(m for m in re.findall(r"([A-Za-z_]\w*)\(", text) if m not in _KEYWORDS)
    return frozenset(names - _BUILTINS)


def _awk_readings(text: str) -> list[list[_Tok]]:
    """Every token stream mawk or gawk may read from ``text`` (comments and blanks dropped)."""
    functions = _function_names(text)
    done: list[list[_Tok]] = []
    work: list[tuple[int, list[_Tok], list[bool], str | None]] = [(0, [], [], None)]
    n = len(text)
    while work:
        i, toks, parens, force = work.pop()
        try:
            while True:
                while i < n and text[i] in " \t":
                    i += 1
                if i >= n:
                    done.append(toks)
                    break
                ch = text[i]
                prev = toks[-1] if toks else None
                if ch == "\\":
                    j = i + 1
                    while j < n and text[j] in " \t":
                        j += 1  # mawk allows blanks before the newline; gawk refuses them
                    if j < n and text[j] != "\n":
                        raise _Infeasible("backslash not last character on line")
                    i = j + 1
                elif ch == "\n":
                    toks.append(_Tok("nl", "\n"))
                    i += 1
                elif ch == "#":
                    j = text.find("\n", i)
                    j = n if j < 0 else j
                    if text[i:j].rstrip(" \t").endswith("\\"):
                        raise _Unreadable("a comment ends in a backslash")
                    i = j
                elif ch == '"':
                    j = _string_end(text, i + 1)
                    toks.append(_Tok("str", text[i:j]))
                    i = j
                elif ch.isdigit() or (ch == "." and i + 1 < n and text[i + 1].isdigit()):
                    j = _number_end(text, i)
                    toks.append(_Tok("num", text[i:j]))
                    i = j
                elif ch.isalpha() or ch == "_":
                    j = i
                    while j < n and (text[j].isalnum() or text[j] == "_"):
                        j += 1
                    toks.append(_Tok("name", text[i:j]))
                    i = j
                elif ch == "/":
                    how = force or _slash_reading(prev, functions)
                    force = None
                    if how == "both":
                        if len(work) + len(done) >= _MAX_READINGS:
                            raise _Unreadable("too many ways to read `/` (regex or division)")
                        work.append((i, list(toks), list(parens), "re"))
                        how = "div"
                    if how == "div":
                        op = "/=" if text.startswith("/=", i) else "/"
                        toks.append(_Tok("op", op))
                        i += len(op)
                    else:
                        ends = _awk_regex_ends(text, i + 1)
                        if len(ends) != 1:
                            raise _Unreadable("a regex that mawk and gawk end in different places")
                        end = ends.pop()
                        if end is None:
                            raise _Infeasible("unterminated regex")
                        toks.append(_Tok("re", text[i:end]))
                        i = end
                else:
                    op = next((o for o in _OPERATORS if text.startswith(o, i)), ch)
                    if op == "(":
                        parens.append(bool(prev and prev.kind == "name" and prev.text in ("if", "while", "for")))
                        toks.append(_Tok("op", op))
                    elif op == ")":
                        ctl = parens.pop() if parens else False
                        toks.append(_Tok("op", op, ctl_close=ctl))
                    elif op == ".":
                        raise _Unreadable("a lone `.`")
                    else:
                        toks.append(_Tok("op", op))
                    i += len(op)
        except _Infeasible:
            # A reading that is a syntax error runs nothing; but if no reading is left the
            # program is unreadable for sshwall too.
            if not work and not done:
                raise
    return done


def _awk_check_tokens(toks: list[_Tok]) -> str | None:
    """Why one reading of a program may run, write or read beyond its operands, or None."""
    printing = False
    depth = 0
    calls: list[str | None] = []  # per open `(`: the function it calls, if any
    for k, tok in enumerate(toks):
        text = tok.text
        prev = toks[k - 1] if k else None
        nxt = toks[k + 1] if k + 1 < len(toks) else None
        if tok.kind == "name":
            if text in _DENIED_NAMES:
                return f"awk `{text}` {_DENIED_NAMES[text]}"
            if text in ("ARGV", "ARGC"):
                problem = _argv_write(toks, k, calls)
                if problem:
                    return problem
            if text in ("print", "printf"):
                printing, depth = True, 0
            continue
        if tok.kind != "op" and tok.kind != "nl":
            continue
        if text in ("|", "|&"):
            return "awk pipe `|` runs a command" if text == "|" else "awk pipe `|` as coprocess `|&` runs a command"
        if text == "@":
            return "gawk `@` directives and indirect calls are not allowed"
        if text == "(":
            calls.append(prev.text if prev is not None and prev.kind == "name" else None)
        elif text == ")" and calls:
            calls.pop()
        if not printing:
            continue
        if text in ("(", "["):
            depth += 1
        elif text in (")", "]"):
            depth -= 1
        elif depth <= 0 and (text in (";", "}") or (text == "\n" and (prev is None or prev.text not in _NL_CONTINUES))):
            printing = False
        elif depth <= 0 and text in (">", ">>"):  # `>=` compares in gawk, mawk refuses it
            after = toks[k + 2] if k + 2 < len(toks) else None
            if (nxt is not None and nxt.kind == "str" and nxt.text in _SPECIAL_OUT
                    and (after is None or after.text in (";", "}", "\n"))):
                printing = False  # awk writes these to its own stdout/stderr
                continue
            return f"awk output redirection `{text}` writes a file"
    if printing:
        return "awk program ends inside a print statement"
    return None


def _argv_write(toks: list[_Tok], k: int, calls: list[str | None]) -> str | None:
    """A use of ARGV/ARGC that may change which files awk reads."""
    name = toks[k].text
    prev = toks[k - 1].text if k else ""
    why = f"awk program may change `{name}`, so awk would read files not on the command line"
    if prev in ("++", "--", "delete") or any(c in ("sub", "gsub") for c in calls):
        return why
    j = k + 1
    if name == "ARGV":
        if j < len(toks) and toks[j].text == "[":
            level = 0
            while j < len(toks):
                level += {"[": 1, "]": -1}.get(toks[j].text, 0)
                j += 1
                if level == 0:
                    break
        elif prev != "in":
            return why  # the whole array: passed to a function, split into, ...
        else:
            return None
    after = toks[j].text if j < len(toks) else ""
    if after in _ASSIGN or after in ("++", "--", "[") or (name == "ARGC" and after == "in"):
        return why
    return None


def check_awk(program: str) -> str | None:
    """Why ``program`` may run commands, write files or read beyond its operands, or None.

    Each gawk ``-e``/``--source`` text may be checked on its own (gawk ends a statement at the
    end of each). A program read from a file (``-f``) is not seen here: the spec must refuse it.
    """
    try:
        _plain_ascii(program, "awk program")
        readings = _awk_readings(program)
    except _Unreadable as err:
        return f"awk program cannot be checked: {err}"
    for toks in readings:
        problem = _awk_check_tokens(toks)
        if problem:
            return problem
    return None
