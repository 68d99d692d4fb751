"""A program spec's flags, compiled once: each flag's arity, value kind and rule.

Flags are written as entries of ``flags:`` / ``deny_flags:`` (see docs/option-grammar.md):
``-v`` is a switch, ``-n=`` takes a required value (attached or the next word), ``-f=read`` a
required value of a kind, ``--color[=]`` an optional value that is only ever attached, and
``-NUM`` a bare number as in ``head -5``. The table keeps the order the spec lists them in,
because some programs (iproute2) match a prefix against their own table in that order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, get_args

Arity = Literal["none", "required", "optional"]
Family = Literal["gnu", "posix", "pflag", "git", "iproute2", "ps", "find", "tar", "openssl"]
ArgKind = Literal["opaque", "read", "metadata", "write", "url", "pattern", "script", "format"]

_KINDS = frozenset(get_args(ArgKind))
_ENTRY = re.compile(r"(?P<name>[^=\[\]\s]+)(?:(?P<req>=)(?P<kind>[a-z]*)|\[=(?P<okind>[a-z]*)\])?")


@dataclass(frozen=True)
class FlagDef:
    """One flag as the program parses it."""

    name: str
    arity: Arity = "none"
    kind: ArgKind = "opaque"
    denied: bool = False
    explicit_kind: bool = False
    listed: bool = True  # False: only named elsewhere in the spec (allowed under `flags: any` only)


def parse_entry(entry: str, denied: bool = False) -> FlagDef:
    """Read one ``flags:`` entry (``-n``, ``-n=``, ``-f=read``, ``--color[=]``)."""
    m = _ENTRY.fullmatch(entry)
    if m is None:
        raise ValueError(f"flag entry {entry!r}: write NAME, NAME=, NAME=KIND, NAME[=] or NAME[=KIND]")
    kind = m.group("kind") if m.group("req") else m.group("okind")
    if kind and kind not in _KINDS:
        raise ValueError(f"flag entry {entry!r}: unknown value kind {kind!r} (one of {', '.join(sorted(_KINDS))})")
    arity: Arity = "required" if m.group("req") else "optional" if m.group("okind") is not None else "none"
    return FlagDef(m.group("name"), arity, kind or "opaque", denied, bool(kind))  # type: ignore[arg-type]


@dataclass(frozen=True)
class FlagTable:
    """Every flag a spec names, by name and in the spec's order."""

    by_name: dict[str, FlagDef]
    order: tuple[FlagDef, ...]
    open: bool  # ``flags: any``: unlisted flags are allowed switches
    plus: bool = field(init=False)  # does the program have ``+X`` options (lsof +D, +L)?
    longs: tuple[FlagDef, ...] = field(init=False)  # the long flags (``--x``), in table order

    def __post_init__(self) -> None:
        object.__setattr__(self, "plus", any(f.name.startswith("+") for f in self.order))
        object.__setattr__(self, "longs", tuple(f for f in self.order if f.name.startswith("--")))

    def get(self, name: str) -> FlagDef | None:
        """The flag called exactly ``name``."""
        return self.by_name.get(name)

    def longs_with_prefix(self, prefix: str) -> list[FlagDef]:
        """The long flags (``--x``) whose name starts with ``prefix``."""
        return [f for f in self.longs if f.name.startswith(prefix)]


def build_table(
    flags: tuple[str, ...] | None,
    value_flags: tuple[str, ...],
    deny_flags: tuple[str, ...],
    valued: tuple[str, ...],
    named: tuple[str, ...],
) -> FlagTable:
    """Compile a spec's flag fields into one table.

    ``flags`` None means ``flags: any``. ``value_flags`` and the keys of ``values`` (``valued``)
    take a required value unless an entry says otherwise. ``named`` are flags the spec names
    elsewhere (``require_flags``, ``recursive_flags``, ``endless``...): known, so an
    abbreviation cannot slip past them, but allowed only under ``flags: any``.
    """
    table: dict[str, FlagDef] = {}
    order: list[FlagDef] = []

    def put(d: FlagDef) -> None:
        old = table.get(d.name)
        if old is not None:
            if old.arity != d.arity and "none" not in (old.arity, d.arity):
                raise ValueError(f"flag {d.name!r} is listed as both {old.arity} and {d.arity}")
            d = FlagDef(
                d.name,
                old.arity if d.arity == "none" else d.arity,
                old.kind if not d.explicit_kind else d.kind,
                old.denied or d.denied,
                old.explicit_kind or d.explicit_kind,
                old.listed or d.listed,
            )
            order[order.index(old)] = d
        else:
            order.append(d)
        table[d.name] = d

    # `flags` first: its order is the program's table order (iproute2 matches prefixes in it);
    # a denied flag listed there too keeps its place.
    for entry in flags or ():
        if entry == "--":
            continue  # '--' ends options in every family; it is not a flag
        put(parse_entry(entry))
    for entry in deny_flags:
        put(parse_entry(entry, denied=True))
    for name in value_flags + valued:
        old = table.get(name)
        if old is None or old.arity == "none":
            put(FlagDef(name, "required", old.kind if old else "opaque", old.denied if old else False,
                        old.explicit_kind if old else False, True))
    for name in named:
        if name not in table:
            put(FlagDef(name, listed=flags is None))
    return FlagTable(table, tuple(order), flags is None)
