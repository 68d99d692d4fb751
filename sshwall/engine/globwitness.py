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
from typing import Any

from sshwall.engine.paths import ANY, Segments, _tokens, escape, is_literal, unescape

_BUDGET = 20000  # product states explored before the search gives up (and answers "may match")
_FRESH = "xqzjkvwabcdefghmnoprstuyl0123456789"

Token = tuple[str, object]
_Unit = tuple[tuple[Token, ...], bool] | None  # (tokens, leading-dot rule) of a segment; None: `**`
_State = tuple[Any, ...]  # ("b", i) | ("a", i) | ("c", i, t, first)


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
    """A segment pattern as an NFA over characters.

    Its states are numbered, and a set of states (the NFA run as a DFA, built on the fly) is
    an ``int`` bit mask. State kinds: ``b`` (between components, unit ``i`` next; ``b`` of the
    last unit accepts), ``a`` (inside a component a ``**`` unit names) and ``c`` (inside unit
    ``i``'s name at token ``t``; ``first``: nothing of the name read but stars).
    """

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
        kinds: list[_State] = []
        number: dict[_State, int] = {}

        def state(key: _State) -> int:
            found = number.get(key)
            if found is None:
                found = number[key] = len(kinds)
                kinds.append(key)
            return found

        for i, u in enumerate(units):
            state(("b", i))
            if u is None:
                state(("a", i))
            else:
                for t in range(len(u[0]) + 1):
                    state(("c", i, t, True))
                    state(("c", i, t, False))
        self.accept = 1 << state(("b", len(units)))
        self._kinds = kinds
        self._number = number
        self._closure = [self._close(n) for n in range(len(kinds))]
        self._moves: dict[tuple[int, str], int] = {}  # (state, character) -> closed set
        self._steps: dict[tuple[int, str], int] = {}  # (set, character) -> closed set
        self._relevant: dict[int, frozenset[str]] = {}

    def _close(self, n: int) -> int:
        """The states reachable from state ``n`` without reading a character."""
        mask, todo = 0, [n]
        while todo:
            m = todo.pop()
            if mask >> m & 1:
                continue
            mask |= 1 << m
            st = self._kinds[m]
            if st[0] == "b":
                i = st[1]
                if i < len(self.units) and self.units[i] is None:
                    todo.append(self._number[("b", i + 1)])
            elif st[0] == "a":
                todo.append(self._number[("b", st[1])])  # one more `**` component done; `**` may go on or end
            else:
                _, i, t, first = st
                toks = self.units[i][0]  # type: ignore[index]
                if t < len(toks) and toks[t][0] == "star":
                    todo.append(self._number[("c", i, t + 1, first)])
                if t == len(toks):
                    todo.append(self._number[("b", i + 1)])
        return mask

    def chars(self) -> set[str]:
        out: set[str] = set()
        for u in self.units:
            for kind, value in (u[0] if u else ()):
                if kind == "lit":
                    out.add(str(value))
                elif kind == "set":
                    out.update(value[1])  # type: ignore[index]
        return out

    def relevant(self, states: int) -> frozenset[str]:
        """The characters the next step from ``states`` tells apart from a fresh one: those of
        the literal and bracket tokens it may match next (``.`` and ``/`` aside, which every
        step tells apart)."""
        done = self._relevant.get(states)
        if done is None:
            out: set[str] = set()
            for n in _bits(states):
                st = self._kinds[n]
                if st[0] == "c":
                    _, i, t, _ = st
                    toks = self.units[i][0]  # type: ignore[index]
                    if t < len(toks):
                        kind, value = toks[t]
                        if kind == "lit":
                            out.add(str(value))
                        elif kind == "set":
                            out.update(value[1])  # type: ignore[index]
            done = self._relevant[states] = frozenset(out)
        return done

    def start(self) -> int:
        return self._closure[self._number[("b", 0)]]

    def accepts(self, states: int) -> bool:
        return bool(states & self.accept)

    def step(self, states: int, c: str) -> int:
        key = (states, c)
        done = self._steps.get(key)
        if done is None:
            done = 0
            for n in _bits(states):
                done |= self._move(n, c)
            self._steps[key] = done
        return done

    def _move(self, n: int, c: str) -> int:
        key = (n, c)
        done = self._moves.get(key)
        if done is None:
            target = self._target(self._kinds[n], c)
            done = self._moves[key] = self._closure[self._number[target]] if target is not None else 0
        return done

    def _target(self, st: _State, c: str) -> _State | None:
        """The state ``st`` goes to on ``c`` (before closure), or None."""
        if st[0] == "b":
            i = st[1]
            if c == "/" and i < len(self.units):
                return ("a", i) if self.units[i] is None else ("c", i, 0, True)
            return None
        if c == "/":
            return None
        if st[0] == "a":
            return st
        _, i, t, first = st
        toks, hidden = self.units[i]  # type: ignore[misc]
        if (hidden and first and c == ".") or t >= len(toks):
            return None
        kind, value = toks[t]
        if kind == "star":
            return ("c", i, t, False)
        if kind == "any1" or (kind == "lit" and value == c):
            return ("c", i, t + 1, False)
        if kind == "set":
            negated, chars = value  # type: ignore[misc]
            if (c in chars) != negated:
                return ("c", i, t + 1, False)
        return None


def _bits(mask: int) -> list[int]:
    """The positions of the set bits of ``mask``."""
    out = []
    while mask:
        low = mask & -mask
        out.append(low.bit_length() - 1)
        mask ^= low
    return out


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


# _v_step as a table: per state, the next state on "/", on ".", on any other character.
_V_NEXT = {v: (_v_step(v, "/"), _v_step(v, "."), _v_step(v, "x")) for v in range(5)}


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
    rank = {c: k for k, c in enumerate(alphabet)}
    always = frozenset({fresh, ".", "/"})
    orders: dict[frozenset[str], list[str]] = {}  # characters told apart -> in alphabet order
    g_step, p_step, g_told, p_told = g.step, p.step, g.relevant, p.relevant
    start = (_V_START, g.start(), p.start(), tuple(e.start() for e in es))
    parent: dict[tuple[Any, ...], tuple[tuple[Any, ...], str] | None] = {start: None}
    queue = deque([start])
    while queue:
        state = queue.popleft()
        v, gs, ps, ess = state
        if v in _V_ACCEPT and g.accepts(gs) and p.accepts(ps) and not any(
            e.accepts(s) for e, s in zip(es, ess)
        ):
            return Intersection(True, _path(parent, state))
        # Characters no automaton tells apart here lead where the fresh one (tried first)
        # leads, so they are skipped: the search and its shortest example stay the same.
        told = always | g_told(gs) | p_told(ps)
        for e, s in zip(es, ess):
            if s:
                told |= e.relevant(s)
        chars = orders.get(told)
        if chars is None:
            chars = orders[told] = sorted(told, key=rank.__getitem__)
        for c in chars:
            nv = _V_NEXT[v][0 if c == "/" else 1 if c == "." else 2]
            if nv is None:
                continue
            ngs = g_step(gs, c)
            if not ngs:
                continue
            nps = p_step(ps, c)
            if not nps:
                continue
            nxt = (nv, ngs, nps, tuple([e.step(s, c) if s else s for e, s in zip(es, ess)]) if es else ())
            if nxt not in parent:
                if len(parent) >= _BUDGET:
                    return Intersection(True)
                parent[nxt] = (state, c)
                queue.append(nxt)
    return Intersection(False)


def _path(parent: dict[tuple[Any, ...], tuple[tuple[Any, ...], str] | None], state: tuple[Any, ...]) -> str:
    out: list[str] = []
    link = parent[state]
    while link is not None:
        state, c = link
        out.append(c)
        link = parent[state]
    return "".join(reversed(out)) or "/"


__all__ = ["Intersection", "fallback", "intersect"]
