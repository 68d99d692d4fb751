"""Quote removal and expansion detection for one shell word, from its source text.

bashlex removes quotes but forgets which characters were quoted, and it does not expand braces
or globs. Path rules need to know exactly which characters the shell would still expand, so
this module re-reads each word's source text itself, builds the quote-removed value and a glob
pattern in which only unquoted ``* ? [ ] { } ,`` are live (quoted ones are backslash-escaped),
and reports what it cannot vouch for (``$'...'``, substitutions hidden in ``${...}``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from sshwall.analysis.model import Word
from sshwall.analysis.parameters import evaluated_parameter
from sshwall.errors import WordError

_GLOB = frozenset("*?[")
_EMPTY_BRACES = re.compile(r"(?<!\\)\{(?<!\\)\}")
_LIVE_SEPARATOR = re.compile(r"(?<!\\),|\.\.")
_SPECIAL = re.compile(r"[\\'\"$`*?\[{}~]")
_PATTERN_SPECIAL = frozenset("*?[]{},\\")
_NAME_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_NAME_CHARS = _NAME_START | frozenset("0123456789")
_SPECIAL_PARAMS = frozenset("@*#?-$!0123456789")
# Characters that may not appear inside ${...}: they mean a substitution or an operator that
# bashlex does not parse there, so a policy could never see what runs.
_HIDDEN_IN_BRACES = ("`", "$(", "<(", ">(", ";", "|", "&", "<", ">")
MAX_BRACE_EXPANSION = 256


@dataclass
class _Builder:
    text: list[str]
    pattern: list[str]
    dynamic: bool = False
    glob: bool = False
    brace: bool = False
    tilde: bool = False
    split: bool = False
    expansions: int = 0
    home_first: bool = False  # the word starts with `$HOME` / `${HOME}`

    def literal(self, ch: str) -> None:
        self.text.append(ch)
        self.pattern.append("\\" + ch if ch in _PATTERN_SPECIAL else ch)

    def live(self, ch: str) -> None:
        self.text.append(ch)
        self.pattern.append(ch)

    def expansion(self, raw: str, quoted: bool) -> None:
        # An expansion's value is unknown: it may be any text, so as a pattern it is '*'.
        self.dynamic = True
        self.split = self.split or not quoted
        self.expansions += 1
        self.text.append(raw)
        self.pattern.append("*")


def _skip_balanced(raw: str, i: int, opener: str, closer: str) -> int:
    """Index just past the ``closer`` matching the ``opener`` at ``raw[i]``, quote-aware."""
    depth = 0
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'" and opener == "(":
            end = raw.find("'", i + 1)
            if end < 0:
                break
            i = end + 1
            continue
        if ch == '"':
            i = _skip_double(raw, i + 1)
            continue
        if ch == opener:
            depth += 1
        elif ch == closer:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    raise WordError("parse-error", f"unbalanced '{opener}' in word", i)


def _skip_double(raw: str, i: int) -> int:
    """Index just past the closing double quote, starting inside the quotes."""
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == "\\":
            i += 2
            continue
        if ch == '"':
            return i + 1
        if ch == "$" and i + 1 < n and raw[i + 1] in "({":
            i = _skip_balanced(raw, i + 1, raw[i + 1], ")" if raw[i + 1] == "(" else "}")
            continue
        if ch == "`":
            i = _skip_backtick(raw, i)
            continue
        i += 1
    raise WordError("parse-error", "unterminated double quote in word", i)


def _skip_backtick(raw: str, i: int) -> int:
    end = i + 1
    while end < len(raw):
        if raw[end] == "\\":
            end += 2
            continue
        if raw[end] == "\n":
            raise WordError("unsupported", "a newline inside a backtick substitution is not supported", end)
        if raw[end] == "`":
            return end + 1
        end += 1
    raise WordError("parse-error", "unterminated backtick substitution", i)


def _dollar(raw: str, i: int, b: _Builder, quoted: bool) -> int:
    """Handle ``$`` at ``raw[i]``; return the index after what it introduces."""
    n = len(raw)
    nxt = raw[i + 1] if i + 1 < n else ""
    if nxt in ("'", '"') and not quoted:
        kind = "ANSI-C quoting $'...'" if nxt == "'" else 'locale quoting $"..."'
        raise WordError("ansi-c-quote", f"{kind} is not supported", i)
    if nxt == "(":
        end = _skip_balanced(raw, i + 1, "(", ")")
    elif nxt == "{":
        end = _skip_balanced(raw, i + 1, "{", "}")
        inner = raw[i + 2 : end - 1]
        for marker in _HIDDEN_IN_BRACES:
            if marker in inner:
                raise WordError(
                    "hidden-substitution",
                    f"parameter expansion ${{{inner}}} contains '{marker}'",
                    i,
                )
        evaluated = evaluated_parameter(inner)
        if evaluated is not None:
            raise WordError("evaluated-word", evaluated, i)
    elif nxt == "[":
        end = _skip_balanced(raw, i + 1, "[", "]")
    elif nxt in _NAME_START:
        end = i + 2
        while end < n and raw[end] in _NAME_CHARS:
            end += 1
    elif nxt and nxt in _SPECIAL_PARAMS:
        end = i + 2
    else:
        b.literal("$")
        return i + 1
    if not b.text and raw[i:end] in ("$HOME", "${HOME}"):
        b.home_first = True
    b.expansion(raw[i:end], quoted)
    return end


def scan_word(raw: str) -> Word:
    """Quote-remove ``raw`` (a word's source text) and note what the shell would expand.

    Raises ``WordError`` for constructs that must be denied.
    """
    if not _SPECIAL.search(raw):
        return Word(text=raw, pattern=raw)  # the common case: nothing to remove or expand
    b = _Builder([], [])
    n = len(raw)
    i = 0
    if raw.startswith("~"):
        b.tilde = True
    while i < n:
        ch = raw[i]
        if ch == "\\":
            if i + 1 < n and raw[i + 1] == "\n":
                i += 2
                continue
            if i + 1 < n:
                b.literal(raw[i + 1])
            i += 2
        elif ch == "'":
            end = raw.find("'", i + 1)
            if end < 0:
                raise WordError("parse-error", "unterminated single quote in word", i)
            for c in raw[i + 1 : end]:
                b.literal(c)
            i = end + 1
        elif ch == '"':
            i = _double(raw, i + 1, b)
        elif ch == "$":
            i = _dollar(raw, i, b, quoted=False)
        elif ch == "`":
            end = _skip_backtick(raw, i)
            b.expansion(raw[i:end], quoted=False)
            i = end
        else:
            if ch in _GLOB:
                # '[' only opens a bracket expression when a ']' follows in the word.
                b.glob = b.glob or ch != "[" or "]" in raw[i + 1 :]
                b.live(ch)
            elif ch in "{}":
                b.brace = b.brace or ch == "{"
                b.live(ch)
            elif ch in "],":
                b.live(ch)
            else:
                b.literal(ch)
            i += 1
    pattern = "".join(b.pattern)
    if b.brace and _EMPTY_BRACES.search(pattern) and _LIVE_SEPARATOR.search(pattern):
        # bash reads `{}` next to a brace list in ways of its own ({},} is `}` and ``): refuse.
        raise WordError("unsupported", f"brace expression {raw!r} with an empty `{{}}` is not supported", 0)
    if b.brace and not expands_braces(pattern):
        b.brace = False
    return Word(
        text="".join(b.text),
        pattern="".join(b.pattern),
        dynamic=b.dynamic,
        glob=b.glob,
        brace=b.brace,
        tilde=b.tilde,
        split=b.split,
        home=b.home_first and b.expansions == 1,
    )


def _double(raw: str, i: int, b: _Builder) -> int:
    """Scan a double-quoted region starting just inside the opening quote."""
    n = len(raw)
    while i < n:
        ch = raw[i]
        if ch == '"':
            return i + 1
        if ch == "\\" and i + 1 < n and raw[i + 1] in '$`"\\\n':
            if raw[i + 1] != "\n":
                b.literal(raw[i + 1])
            i += 2
        elif ch == "$":
            i = _dollar(raw, i, b, quoted=True)
        elif ch == "`":
            end = _skip_backtick(raw, i)
            b.expansion(raw[i:end], quoted=True)
            i = end
        else:
            b.literal(ch)
            i += 1
    raise WordError("parse-error", "unterminated double quote in word", i)


def _scan(text: str) -> Iterator[tuple[int, str, int]]:
    """(index, char, brace depth before it) of each unescaped character."""
    depth = 0
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        yield i, ch, depth
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        i += 1


def _split_top(body: str) -> list[str] | None:
    """Split a brace body at top-level unescaped commas; None when there is no comma."""
    cuts = [i for i, ch, depth in _scan(body) if ch == "," and depth == 0]
    if not cuts:
        return None
    bounds = [-1, *cuts, len(body)]
    return [body[a + 1 : b] for a, b in zip(bounds, bounds[1:])]


def _sequence(body: str) -> list[str] | None:
    """Expand ``a..e`` / ``1..10[..step]`` sequence bodies; None when not a sequence."""
    bits = body.split("..")
    if len(bits) not in (2, 3):
        return None
    lo, hi = bits[0], bits[1]
    step = abs(int(bits[2])) if len(bits) == 3 and bits[2].lstrip("-").isdigit() else 1
    if len(bits) == 3 and not bits[2].lstrip("-").isdigit():
        return None
    step = step or 1
    if lo.lstrip("-").isdigit() and hi.lstrip("-").isdigit():
        a, z = int(lo), int(hi)
        if abs(z - a) // step + 1 > MAX_BRACE_EXPANSION:
            raise OverflowError("brace sequence too long")
        rng = range(a, z + 1, step) if a <= z else range(a, z - 1, -step)
        # bash pads to the wider end when either end has a leading zero ({01..03} -> 01 02 03)
        padded = any(len(e.lstrip("-")) > 1 and e.lstrip("-").startswith("0") for e in (lo, hi))
        width = max(len(lo), len(hi)) if padded else 0
        return [f"{v:0{width}d}" if width else str(v) for v in rng]
    if len(lo) == 1 and len(hi) == 1 and lo.isalpha() and hi.isalpha():
        a, z = ord(lo), ord(hi)
        rng = range(a, z + 1, step) if a <= z else range(a, z - 1, -step)
        return ["\\" + chr(v) if chr(v) in _PATTERN_SPECIAL else chr(v) for v in rng]
    return None


def _first_brace(pattern: str) -> tuple[int, int, list[str]] | None:
    """The first expandable ``{...}`` in ``pattern``: (start, end, alternatives)."""
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            j = next((i + k for k, c, depth in _scan(pattern[i:]) if c == "}" and depth == 1), None)
            if j is None:
                i += 1  # an unmatched '{' is literal; bash goes on to the next one
                continue
            body = pattern[i + 1 : j]
            alts = _split_top(body)
            if alts is None:
                alts = _sequence(body)
            if alts is not None:
                return i, j + 1, alts
        i += 1
    return None


def expands_braces(pattern: str) -> bool:
    """True when the shell would brace-expand ``pattern``."""
    try:
        return _first_brace(pattern) is not None
    except OverflowError:
        return True


def expand_braces(pattern: str) -> tuple[str, ...] | None:
    """Every pattern brace expansion makes of ``pattern``; None over MAX_BRACE_EXPANSION."""
    out: list[str] = []
    todo = [pattern]
    try:
        while todo:
            cur = todo.pop()
            found = _first_brace(cur)
            if found is None:
                out.append(cur)
            else:
                start, end, alts = found
                todo.extend(cur[:start] + alt + cur[end:] for alt in reversed(alts))
            if len(out) + len(todo) > MAX_BRACE_EXPANSION:
                return None
    except OverflowError:
        return None
    return tuple(out)
