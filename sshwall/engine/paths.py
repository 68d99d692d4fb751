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
from collections.abc import Iterator
from functools import lru_cache

ANY = "**"
Segments = tuple[str, ...]
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
    neg_a, set_a = a[1]  # type: ignore[misc]
    if b[0] == "lit":
        return (b[1] in set_a) != neg_a
    neg_b, set_b = b[1]  # type: ignore[misc]
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

    @lru_cache(maxsize=None)
    def go(i: int, j: int) -> bool:
        if i == len(a) and j == len(b):
            return True
        if i < len(a) and a[i][0] == "star" and go(i + 1, j):
            return True
        if j < len(b) and b[j][0] == "star" and go(i, j + 1):
            return True
        if i < len(a) and j < len(b) and _char_overlap(a[i], b[j]):
            ni = i if a[i][0] == "star" else i + 1
            nj = j if b[j][0] == "star" else j + 1
            if (ni, nj) != (i, j):
                return go(ni, nj)
        return False

    return go(0, 0)


# -- whole paths ------------------------------------------------------------------------------


def overlap(a: Segments, b: Segments) -> bool:
    """True when some path matches both segment patterns.

    ``a`` is what an argument may name (its globs follow the shell's rules, so a leading
    wildcard does not match a dot file); ``b`` is a policy pattern.
    """

    return _overlap(a, b)


@lru_cache(maxsize=65536)
def _overlap(a: Segments, b: Segments) -> bool:
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
            negated, chars = value  # type: ignore[misc]
            body = "".join(re.escape(c) for c in sorted(chars))
            out.append(f"[^/{body}]" if negated else f"[{body}]" if body else "(?!)")
    return "".join(out)


def pattern_regex(pattern: Segments) -> str:
    """A regular expression over ``/a/b`` strings equivalent to a segment pattern."""
    return "".join("(?:/[^/]+)*" if seg == ANY else "/" + _segment_regex(seg) for seg in pattern)


class PatternSet:
    """Named patterns compiled once; which of them a path may name.

    Literal paths (the common case) are matched with one combined regular expression; paths
    with globs or unknown folders fall back to the exact ``overlap`` reasoning.
    """

    def __init__(self, named: tuple[tuple[str, Segments], ...]) -> None:
        self.named = named
        # Each pattern is filed under one literal segment a matching path must contain (its
        # longest), so a literal path is only tried against the few patterns that share a
        # segment name with it; patterns without a literal segment are always tried.
        self._by_segment: dict[str, list[tuple[int, re.Pattern[str]]]] = {}
        self._always: list[tuple[int, re.Pattern[str]]] = []
        for i, (_, segs) in enumerate(named):
            entry = (i, re.compile(pattern_regex(segs)))
            literal = [unescape(s) for s in segs if s != ANY and is_literal(s)]
            if literal:
                self._by_segment.setdefault(max(literal, key=len), []).append(entry)
            else:
                self._always.append(entry)
        # The patterns without a literal segment (``**/*.pem``: most of a catalogue) in one
        # expression, so a literal path that matches none of them costs one search, not one each.
        self._any_always = re.compile("|".join(f"(?:{rx.pattern})" for _, rx in self._always)) if self._always else None
        # For paths with globs or unknown folders: necessary conditions of ``overlap``, cheap
        # enough to try first (the exact check costs a search per pattern).
        self._shape = tuple(
            (segs[0] if segs else ANY, segs[-1] if segs else ANY, ANY in segs, sum(x != ANY for x in segs))
            for _, segs in named
        )

    def matches(self, path: Segments) -> list[str]:
        """Names of every pattern some path named by ``path`` matches, in policy order."""
        if not self.named:
            return []
        if is_literal_path(path):
            names = [unescape(s) for s in path]
            text = "".join("/" + n for n in names)
            tried = [e for n in dict.fromkeys(names) for e in self._by_segment.get(n, ())]
            if self._any_always is not None and self._any_always.fullmatch(text):
                tried += self._always
            if len(tried) > 1:
                tried.sort()  # by policy order: the indexes are unique, patterns never compared
            return [self.named[i][0] for i, rx in tried if rx.fullmatch(text)]
        return list(self._overlapping(path))

    def first(self, path: Segments) -> str | None:
        """The first pattern (in policy order) some path named by ``path`` matches, or None."""
        if is_literal_path(path):
            found = self.matches(path)
            return found[0] if found else None
        return next(self._overlapping(path), None)

    def _overlapping(self, path: Segments) -> Iterator[str]:
        for (name, segs), shape in zip(self.named, self._shape):
            if _may_overlap(path, shape) and overlap(path, segs):
                yield name


def _may_overlap(path: Segments, shape: tuple[str, str, bool, int]) -> bool:
    """False when ``overlap(path, pattern)`` cannot hold, judged by the pattern's ends and size.

    A path that matches both has its first name matched by both first segments and its last
    name by both last segments, wherever neither is ``**``; and without ``**`` a side has one
    name per segment, so it needs at least as many segments as the other side's fixed ones.
    """
    if not path:
        return True
    first, last, open_, fixed = shape
    if first != ANY and path[0] != ANY and not _segments_meet(path[0], first):
        return False
    if last != ANY and path[-1] != ANY and not _segments_meet(path[-1], last):
        return False
    path_open = ANY in path
    if not path_open and (len(path) < fixed or (not open_ and len(path) != fixed)):
        return False
    return open_ or fixed >= sum(x != ANY for x in path)


def _segments_meet(arg: str, pattern: str) -> bool:
    return segment_overlap(arg, pattern) and not _hidden(arg, pattern)


def clear_caches() -> None:
    """Forget every memoised overlap (for cold-start benchmarks: ``bench/decide.py --cold``)."""
    segment_overlap.cache_clear()
    _overlap.cache_clear()
