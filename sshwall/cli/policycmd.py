"""``sshwall policy show|diff``: the merged policy, and what changes between two policies.

``show --rules F [--json]`` prints F with every layer it ``extends`` merged in and each command
set's ``include`` expanded (docs/layering.md): YAML by default, the profile and the catalogue
groups by name, top-level keys in the policy model's order, the rest in the layers' order. The
output loads back as the same policy (the same ``revision``).

``diff A B [--json]`` compares the two validated policies, by tool, command set, program, host
group, grant, limit and every other field: added, removed, or changed (with the changed
fields). Exit 0 when they are equal (the same revision), 1 when they differ, 2 on bad usage or
a bad policy. Neither command runs the policies' examples (``sshwall test`` does).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, TextIO

from sshwall.policy import Policy, default_policy_path
from sshwall.policy.load import load_policy_layers
from sshwall.policy.shown import dump_yaml

_KEYED = {"tools": "tool", "hosts": "host group", "grants": "grant"}
_SHORT = 60


@dataclass(frozen=True)
class Change:
    """One difference: a ``kind`` (tool, command set, program...) and ``name``, ``added`` /
    ``removed`` / ``changed``, and for a change the fields with their values before and after."""

    kind: str
    name: str
    change: str
    fields: dict[str, tuple[Any, Any]] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The change as a JSON object."""
        out: dict[str, Any] = {"kind": self.kind, "name": self.name, "change": self.change}
        if self.fields:
            out["fields"] = {k: {"before": a, "after": b} for k, (a, b) in self.fields.items()}
        return out


def _fields(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in [*a, *(k for k in b if k not in a)] if a.get(k) != b.get(k)}


def _entries(kind: str, a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[Change]:
    out = []
    for name in [*a, *(n for n in b if n not in a)]:
        label = prefix + name
        if name not in b:
            out.append(Change(kind, label, "removed"))
        elif name not in a:
            out.append(Change(kind, label, "added"))
        elif a[name] != b[name]:
            before, after = a[name], b[name]
            if isinstance(before, dict) and isinstance(after, dict):
                out.append(Change(kind, label, "changed", _fields(before, after)))
            else:
                out.append(Change(kind, label, "changed", {"value": (before, after)}))
    return out


def diff(a: Policy, b: Policy) -> list[Change]:
    """What changes from policy ``a`` to policy ``b`` (empty when they are equal)."""
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    out: list[Change] = []
    for key in [*da, *(k for k in db if k not in da)]:
        va, vb = da.get(key), db.get(key)
        if va == vb:
            continue
        if key in _KEYED:
            out += _entries(_KEYED[key], va or {}, vb or {})
        elif key == "commands":
            out += _sets(va or {}, vb or {})
        elif key == "limits":
            by_a = {lim["counter"]: lim for lim in va or ()}
            by_b = {lim["counter"]: lim for lim in vb or ()}
            out += _entries("limit", by_a, by_b) or [Change("policy", "limits", "changed", {"order": (va, vb)})]
        elif key == "examples":
            ca, cb = Counter(map(_text, va or ())), Counter(map(_text, vb or ()))
            added, removed = sum((cb - ca).values()), sum((ca - cb).values())
            out.append(Change("examples", f"({added} added, {removed} removed)", "changed",
                              {"count": (len(va or ()), len(vb or ()))}))
        elif key == "profile" and isinstance(va, dict) and isinstance(vb, dict):
            out.append(Change("profile", str(vb.get("name")), "changed", _fields(va, vb)))
        elif isinstance(va, dict) and isinstance(vb, dict):
            out.append(Change("policy", key, "changed", _fields(va, vb)))
        else:
            out.append(Change("policy", key, "changed", {"value": (va, vb)}))
    return out


def _sets(a: dict[str, Any], b: dict[str, Any]) -> list[Change]:
    out = []
    for name in [*a, *(n for n in b if n not in a)]:
        if name not in a or name not in b:
            out.append(Change("command set", name, "added" if name in b else "removed"))
            continue
        sa, sb = dict(a[name]), dict(b[name])
        pa, pb = sa.pop("programs", {}), sb.pop("programs", {})
        if sa != sb:
            out.append(Change("command set", name, "changed", _fields(sa, sb)))
        out += _entries("program", pa, pb, prefix=f"{name}.")
    return out


def _text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _short(value: Any) -> str | None:
    text = _text(value)
    return text if len(text) <= _SHORT else None


def _items(sign: str, these: list[Any], other: list[Any]) -> str:
    """The items of ``these`` not in ``other``: ``-3 [a, b, c]`` (the first five)."""
    only = [_text(v) for v in these if v not in other]
    more = ", ..." if len(only) > 5 else ""
    return f"{sign}{len(only)} [{', '.join(only[:5])}{more}]"


def render(changes: list[Change]) -> str:
    """The changes as text, one line each (short values shown ``before -> after``)."""
    lines = []
    for c in changes:
        line = f"{c.kind} {c.name}: {c.change}"
        if c.fields:
            parts = []
            for name, (before, after) in c.fields.items():
                sa, sb = _short(before), _short(after)
                if sa is not None and sb is not None:
                    parts.append(f"{name} {sa} -> {sb}")
                elif isinstance(before, list) and isinstance(after, list):
                    parts.append(f"{name} {_items('-', before, after)} {_items('+', after, before)}")
                else:
                    parts.append(name)
            line += " " + "; ".join(parts)
        lines.append(line)
    lines.append(f"{len(changes)} change(s)" if changes else "no changes: the policies are equal")
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """``sshwall policy show`` (0) or ``sshwall policy diff`` (0 equal, 1 different)."""
    if args.action == "show":
        shown = load_policy_layers(args.rules or default_policy_path()).shown
        out.write(json.dumps(shown, indent=2, ensure_ascii=False, default=str) + "\n" if args.json else dump_yaml(shown))
        return 0
    a, b = load_policy_layers(args.a).policy, load_policy_layers(args.b).policy
    changes = diff(a, b)
    if args.json:
        body = {"equal": not changes, "a": {"path": str(args.a), "revision": a.revision},
                "b": {"path": str(args.b), "revision": b.revision}, "changes": [c.as_json() for c in changes]}
        out.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
    else:
        out.write(render(changes))
    return 1 if changes else 0
