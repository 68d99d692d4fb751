"""Policy layering: ``extends:`` chains merged per key, and command-set ``include:`` (docs/layering.md).

A policy file may say ``extends: [readonly-ops, ./site-base.yaml]``: shipped policies by name
(``readonly-ops`` is ``rules/readonly-ops.yaml``) or files by a path relative to the extending
file. ``collect`` reads the chain (depth first, each file once, at its first place; a cycle is
an error naming the files), ``merge_layers`` merges the layers in order, the file itself on
top, and ``resolve_includes`` expands each command set's ``include:``. The merge rules:

- ``tools``, ``hosts``, ``grants`` and every other mapping merge per key: a later entry replaces
  the earlier one whole (a tool rule, a host group, a grant, a field of ``approval``);
- ``commands`` merge per set, and a set per field: its ``programs`` and ``deny_programs`` per
  key (a later program spec replaces the earlier spec whole), its other fields (``operators``,
  ``protected_paths``, ``max_length``...) take the later value;
- ``limits`` merge by ``counter``: the caps a later layer gives a counter replace all of its
  earlier caps (``{counter: X, remove: true}`` drops them); ``examples`` concatenate, each
  remembering its file; other lists and scalars take the later value;
- ``null`` at any of these places removes the key (``tools: {uploadFile: null}``,
  ``programs: {ls: null}``); examples cannot be removed.

Everything here works on the data as read; ``sshwall.policy.load`` reads the files, resolves the
profile and the catalogue and validates the merged result.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sshwall.errors import PolicyError
from sshwall.policy.model import Policy

EXTENDS = "extends"
INCLUDE = "include"
_SET_MAPS = frozenset({"programs", "deny_programs"})
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*")

Loc = tuple[str | int, ...]


class Locator(Protocol):
    """What error messages ask of a document: ``file:line`` of a node by its path."""

    def where(self, loc: Loc) -> str:
        """``file:line`` of the deepest known node along ``loc``."""
        ...


class Document(Locator, Protocol):
    """A read policy file: its path, its data, and lines for error messages."""

    path: Path
    data: Any


@dataclass(frozen=True)
class Layer:
    """One file of a chain: its data without ``extends``, and its document for error lines."""

    path: Path
    data: dict[str, Any]
    doc: Locator


@dataclass(frozen=True)
class LoadedPolicy:
    """A policy with the files it was loaded from (what a reload watches).

    ``layers``: every policy file in load order, the file itself last; ``files``: those and the
    profile and catalogue files read for it; ``example_layers``: the file each of
    ``policy.examples`` came from; ``shown``: the merged data as ``sshwall policy show`` prints
    it (includes expanded, the profile by name, the catalogue groups by name).
    """

    policy: Policy
    layers: tuple[Path, ...]
    files: tuple[Path, ...]
    example_layers: tuple[Path, ...]
    shown: dict[str, Any] = field(repr=False)


def layer_path(ref: Any, extending: Path, rules: Path) -> Path:
    """The file an ``extends`` entry names: a shipped policy by name, else a path relative to
    the extending file. Raises ``ValueError`` with the reason."""
    if not isinstance(ref, str) or not ref:
        raise ValueError("an entry is a shipped policy's name or a file's path")
    if ref.startswith(("./", "../", "/", "~")) or ref.endswith((".yaml", ".yml", ".json")):
        path = Path(ref).expanduser()
        return path if path.is_absolute() else extending.parent / path
    if not _NAME.fullmatch(ref) or ".." in ref.split("/"):
        raise ValueError(f"{ref!r} is neither a shipped policy's name nor a path (write ./{ref} for a file)")
    return rules / f"{ref}.yaml"


def shipped_names(rules: Path) -> list[str]:
    """The names ``extends`` accepts for the shipped policies under ``rules``."""
    out = []
    for path in sorted(rules.rglob("*.yaml")):
        rel = path.relative_to(rules)
        if rel.parts[0] != "profiles" and rel.name != "protected-paths.yaml":
            out.append(rel.with_suffix("").as_posix())
    return out


def collect(root: Document, read: Callable[[Path], Document], rules: Path) -> list[Layer]:
    """The chain of ``root``: its layers in merge order (depth first, each file once), ``root`` last."""
    out: list[Layer] = []
    seen: set[Path] = set()

    def visit(doc: Document, stack: tuple[Path, ...]) -> None:
        key = doc.path.resolve()
        data = doc.data
        if not isinstance(data, dict):
            raise PolicyError(f"{doc.path}: a policy is a mapping, not {type(data).__name__}")
        refs = data.get(EXTENDS) or []
        if isinstance(refs, str):
            refs = [refs]
        if not isinstance(refs, list):
            raise PolicyError(f"{doc.where((EXTENDS,))}: extends: a list of shipped policy names or file paths")
        for i, ref in enumerate(refs):
            try:
                path = layer_path(ref, doc.path, rules)
            except ValueError as err:
                raise PolicyError(f"{doc.where((EXTENDS, i))}: extends[{i}]: {err}") from None
            target = path.resolve()
            if target in stack or target == key:
                cycle = [*stack[stack.index(target):], key, target] if target in stack else [key, target]
                raise PolicyError(f"{doc.where((EXTENDS, i))}: extends[{i}]: a cycle: " + " -> ".join(map(str, cycle)))
            if not path.is_file():
                shipped = path.parent == rules or rules in path.parents
                hint = f" (shipped: {', '.join(shipped_names(rules))})" if shipped and not str(ref).endswith(".yaml") else ""
                raise PolicyError(f"{doc.where((EXTENDS, i))}: extends[{i}]: no policy file {path}{hint}")
            if target not in seen:
                visit(read(path), (*stack, key))
        seen.add(key)
        out.append(Layer(doc.path, {k: v for k, v in data.items() if k != EXTENDS}, doc))

    visit(root, ())
    return out


def _per_key(old: Any, new: Mapping[str, Any], merge: Callable[[Any, Any], Any] | None = None) -> dict[str, Any]:
    """``old`` with each key of ``new`` replacing (or, with ``merge``, merged into) it; None removes."""
    out = dict(old) if isinstance(old, dict) else {}
    for key, value in new.items():
        if value is None:
            out.pop(key, None)
        elif merge is not None and isinstance(out.get(key), dict) and isinstance(value, dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def merge_set(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A command set ``new`` on top of ``old``: ``programs``/``deny_programs`` per key, other fields replaced."""
    out = dict(old)
    for key, value in new.items():
        if value is None:
            out.pop(key, None)
        elif key in _SET_MAPS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _per_key(out[key], value)
        else:
            out[key] = value
    return out


def _merge_limits(old: Any, new: list[Any]) -> list[Any]:
    """Limits by counter: the caps a later layer gives a counter replace all its earlier caps
    (in the place of the first), ``{counter: X, remove: true}`` drops them, new counters follow."""

    def counter(limit: Any) -> Any:
        return limit.get("counter") if isinstance(limit, dict) else None

    later: dict[Any, list[Any]] = {}
    loose = []  # entries without a counter: kept for validation to refuse
    for limit in new:
        key = counter(limit)
        if key is None:
            loose.append(limit)
        else:
            later.setdefault(key, []).extend([] if limit.get("remove") is True else [limit])
    out: list[Any] = []
    placed: set[Any] = set()
    for limit in old if isinstance(old, list) else []:
        key = counter(limit)
        if key is None or key not in later:
            out.append(limit)
        elif key not in placed:
            placed.add(key)
            out.extend(later[key])
    for key, caps in later.items():
        if key not in placed:
            out.extend(caps)
    return out + loose


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Policy data ``new`` on top of ``old`` by the rules of this module (examples apart)."""
    out = dict(old)
    for key, value in new.items():
        before = out.get(key)
        if value is None:
            out.pop(key, None)
        elif key == "commands" and isinstance(value, dict):
            out[key] = _per_key(before, value, merge_set)
        elif key == "limits" and isinstance(value, list):
            out[key] = _merge_limits(before, value)
        elif key != "profile" and isinstance(value, dict) and isinstance(before, dict):
            out[key] = _per_key(before, value)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class Merged:
    """The layers merged: the data, where each example came from, which layer named the profile."""

    data: dict[str, Any]
    example_layers: tuple[Path, ...]
    profile_layer: Path
    locator: Locator


def merge_layers(layers: list[Layer]) -> Merged:
    """Merge ``layers`` in order (``collect``'s), then expand the command sets' ``include``."""
    data: dict[str, Any] = {}
    examples: list[Any] = []
    origins: list[tuple[Layer, int]] = []
    profile_layer = layers[-1].path
    for layer in layers:
        own = dict(layer.data)
        if "examples" in own:
            cases = own.pop("examples")
            if not isinstance(cases, list):
                raise PolicyError(f"{layer.doc.where(('examples',))}: examples: a list (the examples of every layer are checked)")
            examples.extend(cases)
            origins.extend((layer, i) for i in range(len(cases)))
        if own.get("profile") is not None:
            profile_layer = layer.path
        data = own if len(layers) == 1 else merge(data, own)  # one file: its data as written
    if examples or any("examples" in layer.data for layer in layers):
        data["examples"] = examples
    locator = _Layered(layers, origins)
    if isinstance(data.get("commands"), dict):
        data["commands"] = resolve_includes(data["commands"], locator)
    return Merged(data, tuple(layer.path for layer, _ in origins), profile_layer, locator)


def resolve_includes(commands: dict[str, Any], where: Locator) -> dict[str, Any]:
    """Each set with ``include: [A, B]``: A's then B's programs and settings, its own on top."""
    done: dict[str, Any] = {}

    def build(name: str, stack: tuple[str, ...]) -> Any:
        if name in done:
            return done[name]
        cs = commands[name]
        if not isinstance(cs, dict) or INCLUDE not in cs:
            done[name] = cs
            return cs
        names = cs[INCLUDE]
        loc: Loc = ("commands", name, INCLUDE)
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list):
            raise PolicyError(f"{where.where(loc)}: commands.{name}.include: a list of command set names")
        acc: dict[str, Any] = {}
        for i, other in enumerate(names):
            if other not in commands:
                raise PolicyError(f"{where.where(loc + (i,))}: commands.{name}.include names unknown command set {other!r}")
            if other == name or other in stack:
                cycle = " -> ".join([*(stack[stack.index(other):] if other in stack else ()), name, other])
                raise PolicyError(f"{where.where(loc + (i,))}: commands.{name}.include: a cycle: {cycle}")
            included = build(other, (*stack, name))
            if isinstance(included, dict):
                acc = merge_set(acc, included)
        done[name] = merge_set(acc, {k: v for k, v in cs.items() if k != INCLUDE})
        return done[name]

    return {name: build(name, ()) for name in commands}


class _Layered:
    """Error lines of merged data: the node in the layer that holds the most of its path."""

    def __init__(self, layers: list[Layer], origins: list[tuple[Layer, int]]) -> None:
        self.layers = layers
        self.origins = origins

    def where(self, loc: Loc) -> str:
        if len(loc) >= 2 and loc[0] == "examples" and isinstance(loc[1], int) and loc[1] < len(self.origins):
            layer, i = self.origins[loc[1]]
            return layer.doc.where(("examples", i, *loc[2:]))
        best, depth = self.layers[-1], -1
        for layer in reversed(self.layers):
            node: Any = layer.data
            n = 0
            for part in loc:
                if isinstance(node, dict) and part in node:
                    node, n = node[part], n + 1
                elif isinstance(node, list) and isinstance(part, int) and part < len(node):
                    node, n = node[part], n + 1
                else:
                    break
            if n > depth:
                best, depth = layer, n
        return best.doc.where(loc)
