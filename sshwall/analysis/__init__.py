"""Shell analysis: a command string in, an ``Analysis`` out.

``analyse`` never raises for any input string: whatever it cannot vouch for is reported as a
``Finding`` (and denied by the engine). It is pure and cached, so repeated commands are cheap.
"""

from __future__ import annotations

from functools import lru_cache

# First: bashlex is imported here with its parse tables read from a cache, not rebuilt.
from sshwall.analysis import parsetables  # noqa: F401
from sshwall.analysis.model import (
    Analysis,
    Finding,
    FindingKind,
    Redirect,
    SimpleCommand,
    Word,
    WrapperUse,
)
from sshwall.analysis.prechecks import DEFAULT_MAX_DEPTH, DEFAULT_MAX_LENGTH, precheck
from sshwall.analysis.walker import walk
from sshwall.analysis.words import expand_braces
from sshwall.analysis.wrappers import basename

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_LENGTH",
    "Analysis",
    "Finding",
    "FindingKind",
    "Redirect",
    "SimpleCommand",
    "Word",
    "WrapperUse",
    "analyse",
    "basename",
    "expand_braces",
]

MAX_SCRIPT_LEVELS = 8


def analyse(
    source: str,
    max_length: int = DEFAULT_MAX_LENGTH,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Analysis:
    """Analyse one shell command string (cached by its text and caps)."""
    if not isinstance(source, str):
        return Analysis(
            source="",
            findings=(Finding(FindingKind.PARSE_ERROR, f"command is a {type(source).__name__}, not a string"),),
        )
    if len(source) > max_length:
        # Refuse oversized input before hashing it into the cache.
        return _analyse(source, 0, max_length, max_depth)
    return _cached(source, max_length, max_depth)


@lru_cache(maxsize=4096)
def _cached(source: str, max_length: int, max_depth: int) -> Analysis:
    return _analyse(source, 0, max_length, max_depth)


def _analyse(source: str, level: int, max_length: int, max_depth: int) -> Analysis:
    found = precheck(source, max_length, max_depth)
    if found is not None:
        return Analysis(source=source, findings=(found,))
    if level > MAX_SCRIPT_LEVELS:
        return Analysis(
            source=source,
            findings=(Finding(FindingKind.TOO_DEEP, f"more than {MAX_SCRIPT_LEVELS} nested sh -c scripts"),),
        )

    def reanalyse(script: str, next_level: int) -> Analysis:
        return _analyse(script, next_level, max_length, max_depth)

    return walk(source, level, reanalyse)
