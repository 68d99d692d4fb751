"""Which of many path patterns a path with globs or unknown folders may name, in one walk.

``PatternSet`` answers ``overlap(path, pattern)`` for every pattern of a catalogue (hundreds of
protected globs). Trying them one by one costs a segment search per pattern, tens of
milliseconds for one glob operand; here the patterns share one tree of their segments, built
when the policy loads, and the path walks it once:

- a literal segment of the path follows the tree's literal edge of that name (one dict lookup),
  and is tried against the few glob edges below the node (one combined regular expression
  first, so a name no glob edge matches costs one search);
- a glob segment of the path is tried against every edge below the node (literal names that do
  not share its literal prefix and suffix are skipped without a search);
- ``**`` on either side absorbs any number of components, as in ``paths.overlap``.

A path that starts with ``**`` (``~``, ``..``, an unknown working folder) walks a second tree
built from the reversed patterns, from its last segment: the set of shared paths is the same
read backwards, and the end of a path is where it is selective. The answer is exactly that of
``paths.overlap`` pattern by pattern (``tests/engine/test_paths_prefilter.py`` checks it).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

ANY = "**"
Segments = tuple[str, ...]
_PLAIN_BAD = frozenset("*?[\\")
_HIDING = ("*", "?", "[")  # a path segment starting so names no file with a leading dot

# Per segment: its literal prefix and suffix (every name it matches starts and ends with them),
# and whether it is "simple": literal text and at least one `*`, nothing else. Two simple
# segments share a name exactly when their prefixes and their suffixes agree: the text
# longest prefix + every middle part of both + longest suffix matches both.
Bounds = Callable[[str], tuple[str, str, bool]]
# Two segments (the path's, the pattern's): do they share a name (the shell's dot rule included)?
Meet = Callable[[str, str], bool]
# A path segment: a fast test of plain names against it, or None (then ``Meet`` decides).
Matcher = Callable[[str], Callable[[str], bool] | None]


def plain(segment: str) -> bool:
    """A literal segment written without escapes: its text is the name itself."""
    return not any(c in _PLAIN_BAD for c in segment)


def _fits(a: str, b: str, ends: bool) -> bool:
    """Can one string start (``ends``: end) with both ``a`` and ``b``?"""
    if ends:
        return a.endswith(b) or b.endswith(a)
    return a.startswith(b) or b.startswith(a)


class _Node:
    """One point in a pattern tree: the pattern segments that may come next."""

    __slots__ = ("id", "lit", "globs", "any", "ends", "below", "final", "stars", "star_final", "loop", "glob_rx")

    def __init__(self, ident: int, loop: bool) -> None:
        self.id = ident
        self.lit: dict[str, _Node] = {}  # plain literal segment -> child
        # Other segments: (as written, child, regular expression, literal prefix, suffix, simple).
        self.globs: list[tuple[str, _Node, re.Pattern[str], str, str, bool]] = []
        self.any: _Node | None = None  # the child after a `**` segment
        self.ends: list[int] = []  # patterns that end here
        self.below: tuple[int, ...] = ()  # every pattern in this subtree
        self.final: tuple[int, ...] = ()  # the patterns a path that ends here matches
        # The children a `*` of the path reaches (no name with a leading dot), and the
        # patterns a path that ends with that `*` matches.
        self.stars: tuple[_Node, ...] = ()
        self.star_final: tuple[int, ...] = ()
        self.loop = loop  # right after a `**`: may absorb more components
        self.glob_rx: re.Pattern[str] | None = None  # does a plain name match any glob edge?


class PatternTree:
    """Patterns (segment tuples, indexed by position) in a tree of shared segments.

    ``regex`` turns a segment into a regular expression over one name; ``bounds`` gives its
    literal prefix and suffix. Both are ``sshwall.engine.paths``'s reading of a segment.
    """

    def __init__(self, patterns: Iterable[Segments], regex: Callable[[str], str], bounds: Bounds) -> None:
        nodes: list[_Node] = []

        def new(loop: bool) -> _Node:
            nodes.append(_Node(len(nodes), loop))
            return nodes[-1]

        self.root = new(False)
        for index, segs in enumerate(patterns):
            node = self.root
            for seg in segs:
                if seg == ANY:
                    if node.any is None:
                        node.any = new(True)
                    node = node.any
                elif plain(seg):
                    child = node.lit.get(seg)
                    if child is None:
                        child = node.lit[seg] = new(False)
                    node = child
                else:
                    found = next((g[1] for g in node.globs if g[0] == seg), None)
                    if found is None:
                        found = new(False)
                        node.globs.append((seg, found, re.compile(regex(seg)), *bounds(seg)))
                    node = found
            node.ends.append(index)
        for node in reversed(nodes):  # children are made after their parents
            below = set(node.ends)
            for child in self._children(node):
                below.update(child.below)
            node.below = tuple(sorted(below))
            node.final = tuple(node.ends) + (node.any.final if node.any is not None else ())
            node.stars = tuple(c for name, c in node.lit.items() if name[:1] != ".") + tuple(
                g[1] for g in node.globs if g[0][:1] != "."
            )
            node.star_final = tuple({i for c in node.stars for i in c.final})
            if node.globs:
                node.glob_rx = re.compile("|".join(f"(?:{g[2].pattern})" for g in node.globs))
        self.size = len(nodes)

    @staticmethod
    def _children(node: _Node) -> list[_Node]:
        out = list(node.lit.values()) + [g[1] for g in node.globs]
        if node.any is not None:
            out.append(node.any)
        return out

    def search(self, path: Segments, meet: Meet, bounds: Bounds, matcher: Matcher) -> set[int]:
        """Indexes of the patterns that share a path with ``path`` (``paths.overlap``).

        ``meet`` and ``bounds`` are as for ``Meet`` and ``Bounds``; ``matcher`` gives a fast
        name test for a glob segment of the path. A segment ``*`` (every name without a
        leading dot, whatever a pattern segment says) takes the precomputed ``stars``.
        """
        n = len(path)
        rest_any = [False] * (n + 1)  # path[i:] is empty or `**` only
        rest_any[n] = True
        for i in range(n - 1, -1, -1):
            rest_any[i] = rest_any[i + 1] and path[i] == ANY
        # Per glob segment of the path: its literal prefix and suffix, and a fast name test.
        info = {seg: (*bounds(seg), matcher(seg)) for seg in path if seg != ANY and not plain(seg)}
        found: set[int] = set()
        seen: set[tuple[int, int]] = set()
        todo: list[tuple[_Node, int]] = [(self.root, 0)]
        while todo:
            node, i = todo.pop()
            key = (node.id, i)
            if key in seen:
                continue
            seen.add(key)
            if i == n:
                found.update(node.final)
                continue
            if rest_any[i]:
                found.update(node.below)  # the path's `**` absorbs whatever the pattern has left
                continue
            seg = path[i]
            if node.loop:
                todo.append((node, i + 1))  # the pattern's `**` absorbs this component
            if node.any is not None:
                todo.append((node.any, i))
            if seg == ANY:
                todo.append((node, i + 1))  # the path's `**` names no component
                todo.extend((child, i) for child in node.lit.values())
                todo.extend((g[1], i) for g in node.globs)
                continue
            nxt: list[_Node] = []
            if seg not in info:  # a plain name
                child = node.lit.get(seg)
                if child is not None:
                    nxt.append(child)
                if node.glob_rx is not None and node.glob_rx.fullmatch(seg):
                    nxt.extend(g[1] for g in node.globs if g[2].fullmatch(seg) and meet(seg, g[0]))
            elif seg == "*":
                if i + 1 == n:
                    found.update(node.star_final)
                    continue
                nxt.extend(node.stars)
            else:
                prefix, suffix, simple, test = info[seg]
                hidden = seg[:1] in _HIDING
                for name, child in node.lit.items():
                    if name.startswith(prefix) and name.endswith(suffix) and (
                        test(name) if test is not None else meet(seg, name)
                    ):
                        nxt.append(child)
                nxt.extend(
                    g[1] for g in node.globs
                    if _fits(prefix, g[3], False) and _fits(suffix, g[4], True) and (
                        not (hidden and g[0][:1] == ".") if simple and g[5] else meet(seg, g[0]))
                )
            if i + 1 == n:
                for child in nxt:
                    found.update(child.final)
            else:
                todo.extend((child, i + 1) for child in nxt)
        return found


__all__ = ["PatternTree", "plain"]
