"""Exact glob intersection with a witness: a path a shell word may name that a pattern protects.

``paths.overlap`` answers "may these two patterns share a path?" segment by segment, with the
shell's leading-dot rule approximated and without the protected exceptions. This module
answers the exact question for one argument and one protected pattern: is there a path that

- the argument may name: its globs as bash expands them (a name starting with ``.`` is only
  matched by a pattern segment starting with a literal ``.``: ``*``, ``?``, ``[.]x`` and
  ``[[:punct:]]x`` never match ``.x``), ``**`` segments any folders;
- the protected pattern matches (policy patterns: wildcards match dot names too);
- no protected exception matches?

and returns the shortest such path as evidence for the deny reason. A real path has non-empty
components other than ``.`` and ``..``. Every pattern is a finite automaton over characters
('/' separates components); characters no pattern names behave alike, so one fresh character
stands for all of them and the search is exhaustive. The search is a breadth-first walk over
the product of the argument, the pattern and the exceptions (determinised on the fly); it is
bounded, and a search that runs out of budget answers "may match" (fail closed).

When nothing matches a word, bash passes it on literally (``nullglob`` is off), so the word's
literal text is a path it may name as well: ``fallback`` builds it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sshwall.engine.paths import ANY, Segments, _tokens, escape, is_literal, unescape

_BUDGET = 20000  # product states explored before the search gives up (and answers "may match")
_FRESH = "xqzjkvwabcdefghmnoprstuyl0123456789"

Token = tuple[str, object]
_Unit = tuple[tuple[Token, ...], bool] | None  # (tokens, leading-dot rule) of a segment; None: `**`
_State = tuple  # ("b", i) | ("a", i) | ("c", i, t, first)


@dataclass(frozen=True)
class Intersection:
    """The answer for one argument and one pattern: ``hit`` (some path is shared) and, when
    the search completed, the shortest shared path (``example``)."""

    hit: bool
    example: str | None = None


def fallback(arg: Segments) -> Segments:
    """The path a word names when its globs match nothing: its text, read literally."""
    return tuple(s if s == ANY else escape(unescape(s)) for s in arg)


class _Automaton:
    """A segment pattern as an NFA over characters; states are small tuples."""

    def __init__(self, segs: Segments, shell: bool) -> None:
        units: list[_Unit] = []
        for s in segs:
            if s == ANY:
                units.append(None)
            else:
                toks = _tokens(s) if not is_literal(s) else tuple(("lit", c) for c in unescape(s))
                # bash: a leading `.` must be matched by a literal `.` at the segment's start.
                units.append((toks, shell and (not toks or toks[0][0] != "lit")))
        self.units = tuple(units)
        self._steps: dict[tuple[frozenset[_State], str], frozenset[_State]] = {}

    def chars(self) -> set[str]:
        out: set[str] = set()
        for u in self.units:
            for kind, value in (u[0] if u else ()):
                if kind == "lit":
                    out.add(str(value))
                elif kind == "set":
                    out.update(value[1])  # type: ignore[index]
        return out

    def closure(self, states: frozenset[_State]) -> frozenset[_State]:
        todo = list(states)
        seen = set(states)
        while todo:
            st = todo.pop()
            nxt: list[_State] = []
            if st[0] == "b":
                i = st[1]
                if i < len(self.units) and self.units[i] is None:
                    nxt.append(("b", i + 1))
            elif st[0] == "a":
                nxt.append(("b", st[1]))  # one more `**` component done; `**` may go on or end
            else:
                _, i, t, first = st
                toks = self.units[i][0]  # type: ignore[index]
                if t < len(toks) and toks[t][0] == "star":
                    nxt.append(("c", i, t + 1, first))
                if t == len(toks):
                    nxt.append(("b", i + 1))
            for n in nxt:
                if n not in seen:
                    seen.add(n)
                    todo.append(n)
        return frozenset(seen)

    def start(self) -> frozenset[_State]:
        return self.closure(frozenset({("b", 0)}))

    def accepts(self, states: frozenset[_State]) -> bool:
        return ("b", len(self.units)) in states

    def step(self, states: frozenset[_State], c: str) -> frozenset[_State]:
        key = (states, c)
        done = self._steps.get(key)
        if done is None:
            done = self._steps[key] = self._step(states, c)
        return done

    def _step(self, states: frozenset[_State], c: str) -> frozenset[_State]:
        out: set[_State] = set()
        for st in states:
            if st[0] == "b":
                i = st[1]
                if c == "/" and i < len(self.units):
                    u = self.units[i]
                    out.add(("a", i) if u is None else ("c", i, 0, True))
            elif st[0] == "a":
                if c != "/":
                    out.add(st)
            elif c != "/":
                _, i, t, first = st
                toks, hidden = self.units[i]  # type: ignore[misc]
                if hidden and first and c == ".":
                    continue
                if t >= len(toks):
                    continue
                kind, value = toks[t]
                if kind == "star":
                    out.add(("c", i, t, False))
                elif kind == "any1" or (kind == "lit" and value == c):
                    out.add(("c", i, t + 1, False))
                elif kind == "set":
                    negated, chars = value  # type: ignore[misc]
                    if (c in chars) != negated:
                        out.add(("c", i, t + 1, False))
        return self.closure(frozenset(out)) if out else frozenset()


# A real path: "" (the root) or "/name/name..." with names other than "", "." and "..".
_V_START, _V_SLASH, _V_NAME, _V_DOT, _V_DOTDOT = range(5)
_V_ACCEPT = frozenset({_V_START, _V_NAME})


def _v_step(v: int, c: str) -> int | None:
    if c == "/":
        return _V_SLASH if v in (_V_START, _V_NAME) else None
    if v == _V_START:
        return None
    if v == _V_SLASH:
        return _V_DOT if c == "." else _V_NAME
    if v == _V_DOT:
        return _V_DOTDOT if c == "." else _V_NAME
    return _V_NAME


def intersect(arg: Segments, pattern: Segments, exceptions: Sequence[Segments] = ()) -> Intersection:
    """Is there a path ``arg`` may name (shell rules) that ``pattern`` matches and no exception does?"""
    return _intersect(arg, pattern, tuple(exceptions))


@lru_cache(maxsize=4096)
def _intersect(arg: Segments, pattern: Segments, exceptions: tuple[Segments, ...]) -> Intersection:
    g, p = _Automaton(arg, shell=True), _Automaton(pattern, shell=False)
    es = [_Automaton(e, shell=False) for e in exceptions]
    named = g.chars() | p.chars() | set().union(*(e.chars() for e in es)) | {"/", "."}
    if len(named) > 400:
        return Intersection(True)  # a huge bracket range: do not search, assume the worst
    fresh = next((c for c in _FRESH if c not in named), None) or next(
        chr(c) for c in range(0x100, 0x1000) if chr(c) not in named
    )
    # The fresh character first: the example then reads `/root/.ssh/x`, not a random name.
    alphabet = [fresh, *sorted(named - {"/"}), "/"]
    start = (_V_START, g.start(), p.start(), tuple(e.start() for e in es))
    parent: dict[tuple, tuple[tuple, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        v, gs, ps, ess = state
        if v in _V_ACCEPT and g.accepts(gs) and p.accepts(ps) and not any(
            e.accepts(s) for e, s in zip(es, ess)
        ):
            return Intersection(True, _path(parent, state))
        for c in alphabet:
            nv = _v_step(v, c)
            if nv is None:
                continue
            ngs = g.step(gs, c)
            if not ngs:
                continue
            nps = p.step(ps, c)
            if not nps:
                continue
            nxt = (nv, ngs, nps, tuple(e.step(s, c) if s else s for e, s in zip(es, ess)))
            if nxt not in parent:
                if len(parent) >= _BUDGET:
                    return Intersection(True)
                parent[nxt] = (state, c)
                queue.append(nxt)
    return Intersection(False)


def _path(parent: dict[tuple, tuple[tuple, str] | None], state: tuple) -> str:
    out: list[str] = []
    link = parent[state]
    while link is not None:
        state, c = link
        out.append(c)
        link = parent[state]
    return "".join(reversed(out)) or "/"


__all__ = ["Intersection", "fallback", "intersect"]
