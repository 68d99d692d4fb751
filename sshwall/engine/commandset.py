"""A command set compiled once: its path globs, denied-program globs and allowed structure.

``compiled(cs)`` is built the first time a command set is checked and kept with the set
(``CommandSet.derived``): the protected, exception, writable and endless globs as pattern sets
with the folders they lie in, one regular expression for every ``deny_programs`` glob, and the
operators and constructs as sets. Load-time work, like parsing the policy: no per-call state.
Each pattern set is built when a check first reads it (a set's exceptions and the folders of
its endless files are often never searched: their trees would be a ``sshwall check`` process's
loss); ``prepare`` builds them all at once.
"""

from __future__ import annotations

import fnmatch
import re
from functools import cached_property

from sshwall.engine.paths import PatternSet, Segments, ancestor_prefixes, normalise
from sshwall.policy.commandsets import CommandSet
from sshwall.policy.model import Policy


class PathGlobs:
    """A command set's path globs, compiled once: the patterns and the folders they lie in."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        self._named = tuple((text, normalise(text, None)) for text in patterns)
        self.segments = dict(self._named)

    @cached_property
    def direct(self) -> PatternSet:
        """The patterns themselves (built on first use)."""
        return PatternSet(self._named)

    @cached_property
    def folders(self) -> PatternSet:
        """Every folder a pattern lies in, named by its pattern (built on first use)."""
        return PatternSet(tuple((t, p) for t, segs in self._named for p in ancestor_prefixes(segs)))

    def build(self) -> None:
        """Build both pattern sets now."""
        _ = self.direct, self.folders

    def hits(self, segs: Segments, recursive: bool) -> list[str]:
        """Every pattern ``segs`` may touch (the folders they lie in too, when recursive)."""
        found = self.direct.matches(segs)
        if recursive:
            seen = set(found)
            found += [t for t in dict.fromkeys(self.folders.matches(segs)) if t not in seen]
        return found

    def first(self, segs: Segments, recursive: bool) -> str | None:
        """The first pattern ``segs`` may touch (the folders they lie in too, when recursive)."""
        found = self.direct.first(segs)
        return found if found is not None or not recursive else self.folders.first(segs)


class CompiledSet:
    """A command set's path globs and denied-program globs, compiled once per command set."""

    def __init__(self, cs: CommandSet) -> None:
        self.protected = PathGlobs(cs.protected_paths)
        self.exceptions = PathGlobs(cs.protected_exceptions)
        self.writable = PathGlobs(cs.writable_paths)
        self.endless = PathGlobs(cs.endless_paths)
        self.denied = tuple(cs.deny_programs.items())
        self.operators = frozenset(cs.operators)
        self.constructs = frozenset(cs.constructs) | {"function"}
        parts = [f"(?P<d{i}>{fnmatch.translate(glob)})" for i, (glob, _) in enumerate(self.denied)]
        self._denied_rx = re.compile("|".join(parts)) if parts else None

    def denied_program(self, name: str) -> str | None:
        """The reason a ``deny_programs`` glob gives for ``name``, or None."""
        m = self._denied_rx.match(name) if self._denied_rx is not None else None
        return self.denied[int(m.lastgroup[1:])][1] if m is not None and m.lastgroup else None


def compiled(cs: CommandSet) -> CompiledSet:
    """The compiled form of ``cs``, built on first use and kept with the set."""
    return cs.derived(CompiledSet)


def prepare(policy: Policy) -> Policy:
    """Build, now, what the hot path of ``policy`` reads: its per-tool plan and every command
    set's compiled form (otherwise built by the first call that needs them). Returns ``policy``;
    call it where a policy is loaded for serving, so no call pays for the compilation."""
    _ = policy.plan
    for cs in policy.commands.values():
        done = compiled(cs)
        for globs in (done.protected, done.exceptions, done.writable, done.endless):
            globs.build()
    return policy


__all__ = ["CompiledSet", "PathGlobs", "compiled", "prepare"]
