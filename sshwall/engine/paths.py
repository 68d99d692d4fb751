"""Path reasoning: normalisation and glob intersection.

A path argument is treated as the set of every path it could name: its unquoted globs match
anything they could match, ``~`` is any home folder, a relative path may sit under any working
folder, and ``..`` after a real folder may climb anywhere (symlinks make the lexical answer
unsafe). A protected path is hit when that set and the protected glob share any path.

Patterns are tuples of segments. A segment is a glob over one path component with backslash
escapes for literal ``* ? [``; the segment ``**`` matches zero or more components.

The shell is read as ``bash -c`` reads it with its default options, checked against bash's own
expansion by ``tests/engine/test_globs_diff.py``: no ``dotglob`` (a leading wildcard or bracket
never names a dot file), ``extglob``, ``nocaseglob`` or ``globstar`` (``**`` is still taken to
cross folders). Where bash versions differ sshwall takes the wider reading: ``.*`` may name
``.`` and ``..`` (bash before 5.2 has no ``globskipdots``). A bracket holding a POSIX class
(``[[:alpha:]]``) makes its segment match any name.

``overlap`` is a fast necessary condition; for a glob operand the engine then asks
``globwitness.intersect`` the exact question (bash's dot rule, the word's literal fallback,
the protected exceptions) and names the shortest shared path in the deny reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import cast

from sshwall.engine.pathindex import PatternTree

ANY = "**"
Segments = tuple[str, ...]
_CharSet = tuple[bool, frozenset[str]]  # the value of a ('set', ...) token: (negated, chars)
_GLOB_CHARS = frozenset("*?[")
_LIVE = re.compile(r"[*?\[]")


def split(pattern: str) -> list[str]:
    """Split a pattern at unescaped slashes."""
    if "\\" not in pattern:
        return pattern.split("/")
    parts: list[str] = []
    cur: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            cur.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "/":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    parts.append("".join(cur))
    return parts


def is_literal(segment: str) -> bool:
    """True when a segment holds no live glob character."""
    if "\\" not in segment:
        return not _LIVE.search(segment)
    i = 0
    while i < len(segment):
        ch = segment[i]
        if ch == "\\":
            i += 2
            continue
        if ch in _GLOB_CHARS:
            return False
        i += 1
    return True


def unescape(segment: str) -> str:
    """The text of a literal segment."""
    if "\\" not in segment:
        return segment
    out: list[str] = []
    i = 0
    while i < len(segment):
        if segment[i] == "\\" and i + 1 < len(segment):
            out.append(segment[i + 1])
            i += 2
        else:
            out.append(segment[i])
            i += 1
    return "".join(out)


def escape(text: str) -> str:
    """A pattern that matches exactly ``text``."""
    return "".join("\\" + c if c in "*?[]{},\\" else c for c in text)


def normalise(pattern: str, base: Segments | None, tilde: bool = False) -> Segments:
    """Every path ``pattern`` could name, as absolute segments.

    ``base`` is the working folder (None: unknown, any folder). ``tilde`` says the leading
    ``~`` is live (unquoted), i.e. any home folder.
    """
    parts = split(pattern)
    if tilde and parts and parts[0].startswith("~"):
        start: list[str] = [ANY]
        parts = parts[1:]
    elif parts and parts[0] == "":
        start = []
        parts = parts[1:]
    else:
        start = list(base) if base is not None else [ANY]
    out = start
    for seg in parts:
        literal = is_literal(seg)
        text = unescape(seg) if literal else seg
        if literal and text in ("", "."):
            continue
        if literal and text == "..":
            # Lexical '..' is wrong behind a symlink; the honest answer is "anywhere".
            if out and out != [ANY]:
                out = [ANY]
            continue
        if not literal and seg[:1] == "." and (segment_overlap(seg, ".") or segment_overlap(seg, "..")):
            # `.*` names `.` and `..` in bash before 5.2 (no `globskipdots`): the path may
            # stay where it is or climb, so the rest of it may sit anywhere. (A leading
            # wildcard never names them: the dot must be explicit.)
            out = [ANY]
            continue
        if len(seg) > 1 and set(seg) == {"*"}:
            seg = ANY  # '**' (globstar) may cross folders; assume it does
        if seg == ANY and out and out[-1] == ANY:
            continue
        out.append(seg)
    return tuple(out)


# -- one segment against another --------------------------------------------------------------


def _tokens(segment: str) -> tuple[tuple[str, object], ...]:
    """('lit', c), ('any1', None), ('star', None) or ('set', (negated, chars))."""
    out: list[tuple[str, object]] = []
    i = 0
    n = len(segment)
    while i < n:
        ch = segment[i]
        if ch == "\\" and i + 1 < n:
            out.append(("lit", segment[i + 1]))
            i += 2
        elif ch == "*":
            if not out or out[-1][0] != "star":
                out.append(("star", None))
            i += 1
        elif ch == "?":
            out.append(("any1", None))
            i += 1
        elif ch == "[":
            if _has_class(segment, i):
                # `[[:alpha:]]`, `[[=a=]]`, `[[.a.]]`: bash's reading of where such a bracket
                # ends and what it matches depends on the class and the locale; the segment
                # is read as "any name" (fail closed).
                return (("star", None),)
            j = i + 1
            negated = j < n and segment[j] in "!^"
            if negated:
                j += 1
            chars: set[str] = set()
            first = True
            while j < n and (segment[j] != "]" or first):
                if segment[j] == "\\" and j + 1 < n:
                    j += 1
                if j + 2 < n and segment[j + 1] == "-" and segment[j + 2] != "]":
                    chars.update(chr(c) for c in range(ord(segment[j]), ord(segment[j + 2]) + 1))
                    j += 3
                else:
                    chars.add(segment[j])
                    j += 1
                first = False
            if j >= n:  # no closing bracket: the shell reads '[' literally
                out.append(("lit", "["))
                i += 1
                continue
            out.append(("set", (negated, frozenset(chars))))
            i = j + 1
        else:
            out.append(("lit", ch))
            i += 1
    return tuple(out)


def _has_class(segment: str, i: int) -> bool:
    """True when the bracket opened at ``segment[i]`` may hold a ``[:`` ``[=`` or ``[.`` class."""
    j = i + 1
    while j + 1 < len(segment):
        if segment[j] == "\\":
            j += 2
            continue
        if segment[j] == "[" and segment[j + 1] in ":=.":
            return True
        j += 1
    return False


def _char_overlap(a: tuple[str, object], b: tuple[str, object]) -> bool:
    if a[0] in ("any1", "star") or b[0] in ("any1", "star"):
        return True
    if a[0] == "lit" and b[0] == "lit":
        return a[1] == b[1]
    if a[0] == "lit":
        a, b = b, a
    neg_a, set_a = cast(_CharSet, a[1])
    if b[0] == "lit":
        return (b[1] in set_a) != neg_a
    neg_b, set_b = cast(_CharSet, b[1])
    if neg_a and neg_b:
        return True
    if neg_a:
        return bool(set_b - set_a)
    if neg_b:
        return bool(set_a - set_b)
    return bool(set_a & set_b)


@lru_cache(maxsize=65536)
def segment_overlap(x: str, y: str) -> bool:
    """True when some file name matches both segment globs."""
    if x == y:
        return True
    lx, ly = is_literal(x), is_literal(y)
    if lx and ly:
        return unescape(x) == unescape(y)
    a, b = _tokens(x), _tokens(y)
    pa, sa, simple_a = _token_bounds(a)
    pb, sb, simple_b = _token_bounds(b)
    if not (pa.startswith(pb) or pb.startswith(pa)) or not (sa.endswith(sb) or sb.endswith(sa)):
        return False  # every shared name would start (end) with both
    if simple_a and simple_b:
        return True  # `pre*mid*suf` both: longest prefix + both middles + longest suffix
    return _tokens_meet(a, b)


def _tokens_meet(a: tuple[tuple[str, object], ...], b: tuple[tuple[str, object], ...]) -> bool:
    """Do two token sequences share a string? A walk over pairs of positions: a star may
    match nothing (move past it) or one more character (stay on it); other tokens match one
    character both sides can be."""
    na, nb = len(a), len(b)
    seen: set[tuple[int, int]] = set()
    todo = [(0, 0)]
    while todo:
        pair = todo.pop()
        if pair in seen:
            continue
        seen.add(pair)
        i, j = pair
        if i == na and j == nb:
            return True
        star_a = i < na and a[i][0] == "star"
        star_b = j < nb and b[j][0] == "star"
        if star_a:
            todo.append((i + 1, j))
        if star_b:
            todo.append((i, j + 1))
        if i < na and j < nb and not (star_a and star_b) and _char_overlap(a[i], b[j]):
            todo.append((i if star_a else i + 1, j if star_b else j + 1))
    return False


# -- whole paths ------------------------------------------------------------------------------


def overlap(a: Segments, b: Segments) -> bool:
    """True when some path matches both segment patterns.

    ``a`` is what an argument may name (its globs follow the shell's rules, so a leading
    wildcard does not match a dot file); ``b`` is a policy pattern.
    """

    return _overlap(a, b)


@lru_cache(maxsize=65536)
def _overlap(a: Segments, b: Segments) -> bool:
    if a and b:
        # Where neither side starts (ends) with `**`, the first (last) names line up.
        if a[0] != ANY and b[0] != ANY and not _segments_meet(a[0], b[0]):
            return False
        if a[-1] != ANY and b[-1] != ANY and not _segments_meet(a[-1], b[-1]):
            return False
        if len(a) != len(b) and ANY not in a and ANY not in b:
            return False
    memo: dict[tuple[int, int], bool] = {}

    def go(i: int, j: int) -> bool:
        key = (i, j)
        if key in memo:
            return memo[key]
        memo[key] = False  # cycles through '**' add nothing new
        if i == len(a) and j == len(b):
            result = True
        elif i < len(a) and a[i] == ANY and (go(i + 1, j) or (j < len(b) and go(i, j + 1))):
            result = True
        elif j < len(b) and b[j] == ANY and (go(i, j + 1) or (i < len(a) and go(i + 1, j))):
            result = True
        elif i < len(a) and j < len(b) and a[i] != ANY and b[j] != ANY:
            result = segment_overlap(a[i], b[j]) and not _hidden(a[i], b[j]) and go(i + 1, j + 1)
        else:
            result = False
        memo[key] = result
        return result

    return go(0, 0)


def _hidden(arg: str, other: str) -> bool:
    """The shell's globs do not match a leading dot: ``*`` never names ``.ssh``."""
    return arg[:1] in ("*", "?", "[") and other.startswith(".")


def is_literal_path(path: Segments) -> bool:
    """True when ``path`` names exactly one path."""
    return all(seg != ANY and is_literal(seg) for seg in path)


def ancestor_prefixes(protected: Segments) -> tuple[Segments, ...]:
    """The folders a protected pattern lies in, for recursive reads.

    A prefix that ends in ``**`` is skipped: "a folder somewhere" would make every recursive
    read of any folder a hit. Anchored patterns such as ``/home/*/.ssh/**`` carry the folders
    that matter (``/``, ``/home``, ``/home/*``).
    """
    out = []
    for k in range(len(protected)):
        prefix = protected[:k]
        if k == 0 or prefix[-1] != ANY:
            out.append(prefix)
    return tuple(out)


def covered(path: Segments, pattern: Segments) -> bool:
    """True when every path ``path`` may name matches ``pattern``.

    Decided for literal paths, and for literal tails under an unknown folder (``~/.ssh/x.pub``
    against ``**/.ssh/*.pub``); anything else is reported as not covered.
    """
    if is_literal_path(path):
        return overlap(path, pattern)
    if path[:1] == (ANY,) and is_literal_path(path[1:]) and pattern[:1] == (ANY,):
        tail = pattern[1:]
        return ANY not in tail and len(tail) <= len(path) - 1 and overlap(path[len(path) - len(tail):], tail)
    return False


def _segment_regex(segment: str) -> str:
    out = []
    for kind, value in _tokens(segment):
        if kind == "lit":
            out.append(re.escape(str(value)))
        elif kind == "any1":
            out.append("[^/]")
        elif kind == "star":
            out.append("[^/]*")
        else:
            negated, chars = cast(_CharSet, value)
            body = "".join(re.escape(c) for c in sorted(chars))
            out.append(f"[^/{body}]" if negated else f"[{body}]" if body else "(?!)")
    return "".join(out)


def pattern_regex(pattern: Segments) -> str:
    """A regular expression over ``/a/b`` strings equivalent to a segment pattern."""
    return "".join("(?:/[^/]+)*" if seg == ANY else "/" + _segment_regex(seg) for seg in pattern)


class PatternSet:
    """Named patterns compiled once; which of them a path may name.

    The patterns' segments stand in two trees (``sshwall.engine.pathindex``), one as written
    and one reversed; a path walks one of them once, from its more selective end (from its
    last segment when that is a name or when it starts in an unknown folder, else from its
    first), and the answer is ``overlap``'s for each pattern.
    """

    def __init__(self, named: tuple[tuple[str, Segments], ...]) -> None:
        self.named = named
        self._forward = PatternTree((segs for _, segs in named), _segment_regex, _bounds)
        self._backward = PatternTree((segs[::-1] for _, segs in named), _segment_regex, _bounds)

    def matches(self, path: Segments) -> list[str]:
        """Names of every pattern some path named by ``path`` matches, in policy order."""
        if not self.named:
            return []
        return [self.named[i][0] for i in sorted(self._search(path))]

    def first(self, path: Segments) -> str | None:
        """The first pattern (in policy order) some path named by ``path`` matches, or None."""
        found = self._search(path) if self.named else ()
        return self.named[min(found)][0] if found else None

    def _search(self, path: Segments) -> set[int]:
        # From the end when it is a name, or when the start is an unknown folder.
        if path and path[-1] != ANY and (path[0] == ANY or is_literal(path[-1])):
            return self._backward.search(path[::-1], _segments_meet, _bounds, _name_test)
        return self._forward.search(path, _segments_meet, _bounds, _name_test)


def _bounds(segment: str) -> tuple[str, str, bool]:
    """The literal prefix and suffix of a segment (every name it matches starts and ends so),
    and whether it is literal text with ``*`` and nothing else (``pathindex.Bounds``)."""
    return _token_bounds(_tokens(segment))


def _token_bounds(toks: tuple[tuple[str, object], ...]) -> tuple[str, str, bool]:
    k = 0
    while k < len(toks) and toks[k][0] == "lit":
        k += 1
    prefix = "".join(str(v) for _, v in toks[:k])
    if k == len(toks):
        return prefix, prefix, False
    m = len(toks)
    while toks[m - 1][0] == "lit":
        m -= 1
    simple = all(kind in ("lit", "star") for kind, _ in toks)
    return prefix, "".join(str(v) for _, v in toks[m:]), simple


def _name_test(segment: str) -> Callable[[str], bool] | None:
    """For a glob of literal text and ``*`` only: a test of a plain name against it (the
    shell's dot rule included), done with string searches; None for other globs."""
    chunks = [""]
    for kind, value in _tokens(segment):
        if kind == "star":
            chunks.append("")
        elif kind == "lit":
            chunks[-1] += str(value)
        else:
            return None
    hidden = segment[:1] in ("*", "?", "[")
    first, last, middle = chunks[0], chunks[-1], chunks[1:-1]
    least = sum(map(len, chunks))
    if len(chunks) == 1:
        return first.__eq__

    def test(name: str) -> bool:
        if (hidden and name[:1] == ".") or len(name) < least:
            return False
        if not (name.startswith(first) and name.endswith(last)):
            return False
        at, end = len(first), len(name) - len(last)
        for chunk in middle:  # leftmost matches leave the most room for the rest
            k = name.find(chunk, at, end)
            if k < 0:
                return False
            at = k + len(chunk)
        return True

    return test


def _segments_meet(arg: str, pattern: str) -> bool:
    return segment_overlap(arg, pattern) and not _hidden(arg, pattern)


def clear_caches() -> None:
    """Forget every memoised overlap (for cold-start benchmarks: ``bench/decide.py --cold``)."""
    segment_overlap.cache_clear()
    _overlap.cache_clear()
