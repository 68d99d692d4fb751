"""Putting a loop variable's value into a word's source text, as bash expands it.

``substitute`` rewrites the raw text of one word so that every ``$NAME`` / ``${NAME}`` of a
bound loop variable becomes source text that ``scan_word`` reads as bash reads the expansion:

- quoted (``"$f"``): the value, escaped for double quotes: one word, nothing expanded in it;
- unquoted (``$f``): the value is split at blanks (the default IFS: bash does not take IFS from
  the environment) into several words, and ``* ? [ ]`` in it stay live for pathname expansion;
  braces, ``~``, quotes and ``$`` in a value are plain characters (those expansions come before
  parameter expansion in bash);
- where bash does not split or glob (assignment values, here-strings): like quoted.

A glob value (a file name a list glob matched) is written as that glob, which stands for every
name it may be; unquoted, bash would split and glob such a name again, so that is refused. A
backslash in an unquoted value is refused too (how bash globs it has changed between versions),
and so is every operation on a loop variable (``${f%.log}``, ``${#f}``, ``${f:-x}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from sshwall.analysis.loops import LoopValue
from sshwall.analysis.words import (  # the scanner's own helpers: one reading of quotes
    _NAME_CHARS,
    _NAME_START,
    _skip_backtick,
    _skip_balanced,
)
from sshwall.errors import WordError

_BLANKS = re.compile(r"[ \t\n]+")
_LIVE = frozenset("*?[]")
_LEADING_NAME = re.compile(r"[#!]?([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True, slots=True)
class Substituted:
    """A word's source text after substitution: one piece per word bash makes of it."""

    pieces: tuple[str, ...]
    count: int  # references substituted (outside command substitutions)
    split: bool  # an unquoted reference stands where bash splits (its words depend on IFS)


def substitute(raw: str, bindings: Mapping[str, LoopValue], split: bool) -> Substituted | None:
    """``raw`` with the bound variables replaced; None when it refers to none of them."""
    return _Rewriter(raw, bindings, split).run()


class _Rewriter:
    def __init__(self, raw: str, bindings: Mapping[str, LoopValue], split: bool) -> None:
        self.raw = raw
        self.bindings = bindings
        self.split = split
        self.pieces: list[list[str]] = [[]]
        self.count = 0
        self.did_split = False

    def emit(self, text: str) -> None:
        self.pieces[-1].append(text)

    def run(self) -> Substituted | None:
        raw = self.raw
        i = 0
        while i < len(raw):
            ch = raw[i]
            if ch == "\\":
                self.emit(raw[i : i + 2])
                i += 2
            elif ch == "'":
                end = raw.find("'", i + 1)
                if end < 0:
                    raise WordError("parse-error", "unterminated single quote in word", i)
                self.emit(raw[i : end + 1])
                i = end + 1
            elif ch == '"':
                i = self.double(i + 1)
            elif ch == "`":
                end = _skip_backtick(raw, i)
                self.emit(raw[i:end])
                i = end
            elif ch == "$":
                end, value = self.reference(i)
                if value is None:
                    self.emit(raw[i:end])
                else:
                    self.unquoted(raw[i:end], value)
                i = end
            else:
                self.emit(ch)
                i += 1
        if not self.count:
            return None
        pieces = tuple("".join(p) for p in self.pieces)
        return Substituted(tuple(p for p in pieces if p), self.count, self.did_split)

    def double(self, i: int) -> int:
        """Copy a double-quoted region (from just inside the quote), substituting in it."""
        raw = self.raw
        self.emit('"')
        while i < len(raw):
            ch = raw[i]
            if ch == '"':
                self.emit('"')
                return i + 1
            if ch == "\\":
                self.emit(raw[i : i + 2])
                i += 2
            elif ch == "`":
                end = _skip_backtick(raw, i)
                self.emit(raw[i:end])
                i = end
            elif ch == "$":
                end, value = self.reference(i)
                if value is None:
                    self.emit(raw[i:end])
                else:
                    self.count += 1
                    self.emit(_in_double_quotes(value))
                i = end
            else:
                self.emit(ch)
                i += 1
        raise WordError("parse-error", "unterminated double quote in word", i)

    def reference(self, i: int) -> tuple[int, LoopValue | None]:
        """The end of what ``$`` at ``i`` introduces, and the bound value it names (or None)."""
        raw = self.raw
        nxt = raw[i + 1 : i + 2]
        if nxt == "(":
            return _skip_balanced(raw, i + 1, "(", ")"), None
        if nxt == "[":
            return _skip_balanced(raw, i + 1, "[", "]"), None
        if nxt == "{":
            end = _skip_balanced(raw, i + 1, "{", "}")
            inner = raw[i + 2 : end - 1]
            if inner in self.bindings:
                return end, self.bindings[inner]
            lead = _LEADING_NAME.match(inner)
            if lead and lead.group(1) in self.bindings:
                raise WordError(
                    "loop",
                    f"`${{{inner}}}` applies an operation to the loop variable `{lead.group(1)}`: "
                    f"sshwall only substitutes `${lead.group(1)}` and `${{{lead.group(1)}}}`",
                    i,
                )
            return end, None
        if nxt and nxt in _NAME_START:
            end = i + 2
            while end < len(raw) and raw[end] in _NAME_CHARS:
                end += 1
            return end, self.bindings.get(raw[i + 1 : end])
        return i + (2 if nxt else 1), None

    def unquoted(self, ref: str, value: LoopValue) -> None:
        self.count += 1
        if not self.split:  # no splitting or globbing here: as if quoted
            self.emit(_pattern_source(value.pattern) if value.glob else '"' + _in_double_quotes(value) + '"')
            return
        if value.glob:
            raise WordError(
                "loop",
                f"unquoted `{ref}` is a file name the glob `{value.text}` matched: bash splits it "
                f'at blanks and globs the pieces again, so its words are not known; write "{ref}"',
                0,
            )
        if "\\" in value.text:
            raise WordError(
                "loop",
                f"unquoted `{ref}` holds a backslash ({value.text!r}): bash's globbing of it is not "
                f'modelled; write "{ref}"',
                0,
            )
        self.did_split = True
        for k, part in enumerate(_BLANKS.split(value.text)):
            if k:
                self.pieces.append([])
            self.emit(_live_glob(part))


def _in_double_quotes(value: LoopValue) -> str:
    """Source text, for inside double quotes, that reads as the value and expands nothing."""
    if value.glob:
        return '"' + _pattern_source(value.pattern) + '"'  # close the quotes around the glob
    return re.sub(r'([$`"\\])', r"\\\1", value.text)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'" if text else ""


def _live_glob(text: str) -> str:
    """Unquoted source text for ``text`` in which only ``* ? [ ]`` are live."""
    out: list[str] = []
    run: list[str] = []
    for ch in text:
        if ch in _LIVE:
            out.append(_quote("".join(run)))
            run.clear()
            out.append(ch)
        else:
            run.append(ch)
    out.append(_quote("".join(run)))
    return "".join(out)


def _pattern_source(pattern: str) -> str:
    """Unquoted source text for a pattern: its live characters live, the rest quoted."""
    out: list[str] = []
    run: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            run.append(pattern[i + 1])
            i += 2
            continue
        if ch in _LIVE:
            out.append(_quote("".join(run)))
            run.clear()
            out.append(ch)
        else:
            run.append(ch)
        i += 1
    out.append(_quote("".join(run)))
    return "".join(out)
