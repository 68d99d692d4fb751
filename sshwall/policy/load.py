"""Loading policies and profiles from YAML or JSON, with errors that name file, line and field.

Two formats load: sshwall's own (``version: 1`` with ``tools`` / ``commands``), and PolicyLayer's
``policy.json`` (``"version": "1"`` with ``tools: {NAME: {limits: [...]}}``), which is translated
into an equivalent sshwall policy. The one import of PyYAML is here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sshwall.errors import PolicyError
from sshwall.policy import intercept, intercept_load, layers, prebuilt
from sshwall.policy.catalogue import ALL, Catalogue
from sshwall.policy.layers import LoadedPolicy
from sshwall.policy.model import Policy
from sshwall.policy.shown import shown_order
from sshwall.profiles import Profile

EMBEDDED_DEFAULT = "readonly-ops.yaml"
CATALOGUE = "protected-paths.yaml"
_POLICYLAYER_TOOL_KEYS = frozenset({"limits", "require", "deny_if"})


def embedded_rules() -> Path:
    """The folder of shipped policies and profiles (``rules/`` in the source tree).

    In a source checkout that is ``rules/`` itself; an installed wheel carries it as the
    package ``sshwall._rules``.
    """
    here = Path(__file__).resolve()
    source = here.parents[2] / "rules"
    if (source / EMBEDDED_DEFAULT).is_file():
        return source
    return here.parents[1] / "_rules"


def default_policy_path() -> Path:
    """The embedded default policy: read-only diagnostics over the Mcp Ssh profile."""
    return embedded_rules() / EMBEDDED_DEFAULT


# libyaml's parser, when PyYAML was built with it, reads the large shipped policies about eight
# times faster than the pure-Python one. Both feed the same Python SafeConstructor and resolver,
# so the data is the same (tests/policy/test_yaml_loaders.py proves it for every shipped file).
_FAST_LOADER: type[yaml.SafeLoader] | type[yaml.CSafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Doc:
    """A parsed document with the line of every node, for error messages.

    The lines are indexed only when an error message asks for one: a valid document is read
    once, by the fast loader, and never composed a second time.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise PolicyError(f"{path}: cannot read: {err.strerror or err}") from err
        self._text = text
        self._lines: dict[tuple[str | int, ...], int] | None = None
        self._slow = False  # libyaml refused the text, PyYAML read it: its lines come from PyYAML too
        if path.suffix == ".json":
            try:
                self.data = json.loads(text)
            except json.JSONDecodeError as err:
                raise PolicyError(f"{path}:{err.lineno}: invalid JSON: {err.msg}") from err
            except RecursionError:
                raise PolicyError(f"{path}: invalid JSON: nested too deeply") from None
            return
        shipped = prebuilt.lookup(embedded_rules(), path, text)
        if shipped is not None:  # a shipped file, unchanged: the data PyYAML read from this very text
            self.data = shipped.data
            return
        try:
            self.data = yaml.load(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            # The pure-Python parser decides, as it did before there was a fast path: it words
            # the error (and places its mark), or reads what libyaml refused.
            try:
                self.data = yaml.load(text, Loader=yaml.SafeLoader)
            except yaml.YAMLError as err:
                mark = getattr(err, "problem_mark", None)
                line = f":{mark.line + 1}" if mark is not None else ""
                raise PolicyError(f"{path}{line}: invalid YAML: {getattr(err, 'problem', err)}") from err
            except RecursionError:  # libyaml's depth limit refused it first; PyYAML recursed
                raise PolicyError(f"{path}: invalid YAML: nested too deeply") from None
            except (ValueError, TypeError) as err:  # as below: this handler's siblings do not see it
                raise PolicyError(f"{path}: invalid YAML: a value cannot be read: {err}") from err
            self._slow = True
        except RecursionError:
            raise PolicyError(f"{path}: invalid YAML: nested too deeply") from None
        except (ValueError, TypeError) as err:
            # The safe constructor builds dates and tagged numbers (``2026-02-30``, ``!!int x``)
            # with Python's own constructors, which raise these, not a YAMLError.
            raise PolicyError(f"{path}: invalid YAML: a value cannot be read: {err}") from err

    @property
    def lines(self) -> dict[tuple[str | int, ...], int]:
        """The 1-based line of each node, by its path of keys and indexes (built on first use)."""
        if self._lines is None:
            lines: dict[tuple[str | int, ...], int] = {}
            loader = yaml.SafeLoader if self._slow else _FAST_LOADER
            try:  # JSON is YAML: its composer gives the line of each node for error messages
                node = yaml.compose(self._text, Loader=loader)
            except (yaml.YAMLError, RecursionError):
                node = None
            if node is not None:
                _index(node, (), lines)
            self._lines = lines
        return self._lines

    def where(self, loc: tuple[str | int, ...]) -> str:
        """``file:line`` of the deepest known node along ``loc``."""
        for n in range(len(loc), -1, -1):
            line = self.lines.get(tuple(loc[:n]))
            if line is not None:
                return f"{self.path}:{line}"
        return str(self.path)


def _index(node: yaml.Node, loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> None:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _index(value, loc + (str(key.value),), lines)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _index(value, loc + (i,), lines)


def _format(doc: layers.Locator, err: ValidationError, prefix: tuple[str | int, ...] = ()) -> str:
    out = []
    for e in err.errors():
        loc = prefix + tuple(p for p in e["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        field = ".".join(str(p) for p in loc) or "(top level)"
        out.append(f"{doc.where(loc)}: {field}: {e['msg']}")
    return "\n".join(out)


def load_profile(ref: str | dict[str, Any], base: Path | None = None) -> Profile:
    """A profile by name (``mcp-ssh``), by file path, or inline."""
    if isinstance(ref, dict):
        try:
            return Profile.model_validate(ref)
        except ValidationError as err:
            raise PolicyError(f"inline profile: {err}") from err
    path = profile_file(ref, base)
    doc = _Doc(path)
    try:
        return Profile.model_validate(doc.data)
    except ValidationError as err:
        raise PolicyError(_format(doc, err)) from err


def profile_file(ref: str, base: Path | None = None) -> Path:
    """The file a profile reference names (``load_profile``'s search), or a PolicyError."""
    candidates = []
    if ref.endswith((".yaml", ".yml", ".json")):
        candidates.append(Path(ref) if base is None else base / ref)
    else:
        if base is not None:
            candidates.append(base / "profiles" / f"{ref}.yaml")
        candidates.append(embedded_rules() / "profiles" / f"{ref}.yaml")
    for path in candidates:
        if path.is_file():
            return path
    raise PolicyError(f"unknown tool profile {ref!r} (looked in {', '.join(map(str, candidates))})")


def is_policylayer(data: Any) -> bool:
    """True for PolicyLayer's policy.json shape."""
    return (
        isinstance(data, dict)
        and data.get("version") == "1"
        and "profile" not in data
        and "commands" not in data
        and "extends" not in data
    )


def from_policylayer(data: dict[str, Any]) -> dict[str, Any]:
    """Translate a PolicyLayer policy.json into sshwall's policy shape.

    Listed tools are allowed (with their limits); ``hide`` hides tools; ``all_tools.limits``
    become policy-wide limits. Argument conditions (``require`` / ``deny_if``) have no faithful
    translation yet, so a policy that uses them is refused rather than silently weakened.
    """
    unknown = set(data) - {"version", "default", "hide", "all_tools", "tools"}
    if unknown:
        raise PolicyError(f"PolicyLayer policy: unknown keys {sorted(unknown)}")
    raw_tools = data.get("tools") or {}
    hide = data.get("hide") or []
    all_tools = data.get("all_tools") or {}
    if not isinstance(raw_tools, dict) or not isinstance(all_tools, dict):
        raise PolicyError("PolicyLayer policy: `tools` and `all_tools` must be objects")
    if not isinstance(hide, list) or not all(isinstance(h, str) for h in hide):
        raise PolicyError("PolicyLayer policy: `hide` must be a list of tool names")
    tools: dict[str, Any] = {}
    for name, rule in raw_tools.items():
        rule = rule or {}
        if not isinstance(rule, dict):
            raise PolicyError(f"PolicyLayer policy: tools.{name} must be an object")
        extra = set(rule) - _POLICYLAYER_TOOL_KEYS
        if extra:
            raise PolicyError(f"PolicyLayer policy: tools.{name}: unknown keys {sorted(extra)}")
        if rule.get("require") or rule.get("deny_if"):
            raise PolicyError(
                f"PolicyLayer policy: tools.{name}: require/deny_if conditions are not supported; "
                "write them as an sshwall YAML policy"
            )
        tools[name] = {"decision": "allow", "commands": "any", "limits": rule.get("limits", [])}
    if "*" in hide:
        return {"version": 1, "profile": "mcp-ssh", "default": "deny", "hide_denied_tools": True}
    for name in hide:
        tools[name] = {"decision": "hide"}
    return {
        "version": 1,
        "name": "policylayer",
        "profile": "mcp-ssh",
        "default": data.get("default", "deny"),
        "hide_denied_tools": bool(hide),
        "tools": tools,
        "limits": all_tools.get("limits", []),
    }


def default_catalogue_path() -> Path:
    """The shipped catalogue of protected paths (``rules/protected-paths.yaml``)."""
    return embedded_rules() / CATALOGUE


def load_catalogue(path: str | Path | None = None) -> Catalogue:
    """Load and validate a catalogue of protected paths (default: the shipped one)."""
    doc = _Doc(Path(path) if path is not None else default_catalogue_path())
    if not isinstance(doc.data, dict):
        raise PolicyError(f"{doc.path}: a catalogue is a mapping, not {type(doc.data).__name__}")
    try:
        return Catalogue.model_validate(doc.data)
    except ValidationError as err:
        raise PolicyError(_format(doc, err)) from err


def _apply_catalogue(doc: layers.Locator, data: dict[str, Any]) -> dict[str, Any]:
    """Add the catalogue groups each command set names to its protected paths and exceptions.

    Catalogue entries come first (they carry the kind of secret in the denial), then the set's
    own entries; duplicates are dropped. The shipped catalogue is read once per policy load,
    and only when a command set names it.
    """
    commands = data.get("commands")
    if not isinstance(commands, dict):
        return data
    catalogue: Catalogue | None = None
    resolved: dict[str, Any] = {}
    for name, cs in commands.items():
        names = cs.get("protected_catalogue") if isinstance(cs, dict) else None
        if names is None:
            resolved[name] = cs
            continue
        loc: tuple[str | int, ...] = ("commands", str(name), "protected_catalogue")
        field = ".".join(map(str, loc))
        if isinstance(names, str):
            names = [names]
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise PolicyError(f"{doc.where(loc)}: {field}: a list of catalogue group names (or 'all')")
        if catalogue is None:
            catalogue = load_catalogue()
        try:
            paths, exceptions = catalogue.resolve(names)
        except KeyError as err:
            known = ", ".join([ALL, *catalogue.groups])
            bad = err.args[0]
            raise PolicyError(
                f"{doc.where(loc + (names.index(bad),))}: {field}: unknown catalogue group {bad!r}"
                f" (the catalogue {default_catalogue_path()} has: {known})"
            ) from None
        own_paths = cs.get("protected_paths") or []
        own_exceptions = cs.get("protected_exceptions") or []
        own = [*own_paths, *own_exceptions] if isinstance(own_paths, list) and isinstance(own_exceptions, list) else None
        if own is None or not all(isinstance(p, str) for p in own):
            resolved[name] = cs  # the model reports the wrong type with its line
            continue
        resolved[name] = {
            **cs,
            "protected_catalogue": names,
            "protected_paths": list(dict.fromkeys([*paths, *own_paths])),
            "protected_exceptions": list(dict.fromkeys([*exceptions, *own_exceptions])),
        }
    return {**data, "commands": resolved}


def load_policy(path: str | Path) -> Policy:
    """Load and validate a policy file (YAML, JSON, or PolicyLayer policy.json), with the
    layers it ``extends`` merged in (docs/layering.md)."""
    return load_policy_layers(path).policy


def _layer_doc(path: Path) -> _Doc:
    doc = _Doc(path)
    if is_policylayer(doc.data):
        raise PolicyError(f"{path}: a PolicyLayer policy.json cannot be a layer of another policy (extends)")
    return doc


def _from_intercept(path: Path, data: dict[str, Any]) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """A PolicyLayer Intercept policy as sshwall policy data: its rules over its base policy
    (``sshwall: {base: ...}``, by default the embedded readonly-ops; docs/intercept.md), and the
    files the base was read from."""
    try:
        ref = intercept_load.options(data).get("base", EMBEDDED_DEFAULT.removesuffix(".yaml"))
        try:
            base_path = layers.layer_path(ref, path, embedded_rules())
        except ValueError as err:
            raise PolicyError(f"Intercept policy: sshwall.base: {err}") from None
        base_doc = _Doc(base_path)
        if intercept.is_intercept(base_doc.data) or is_policylayer(base_doc.data):
            raise PolicyError(f"Intercept policy: sshwall.base: {base_path} is not an sshwall policy")
        base = load_policy_layers(base_path)
        prof = base.policy.profile
        shell = frozenset(name for name, tool in prof.tools.items() if tool.args_of_kind("command"))
        return intercept_load.from_intercept(data, dict(base.shown), frozenset(prof.tools), shell, str(path)), base.files
    except PolicyError as err:
        raise PolicyError(f"{path}: {err}") from None


def load_policy_layers(path: str | Path) -> LoadedPolicy:
    """``load_policy``, with the files the policy was read from (every layer, the profile, the
    catalogue), where each example came from, and the merged data ``sshwall policy show`` prints."""
    path = Path(path)
    doc = _Doc(path)
    data = doc.data
    if not isinstance(data, dict):
        raise PolicyError(f"{path}: a policy is a mapping, not {type(data).__name__}")
    base_files: tuple[Path, ...] = ()  # an Intercept policy's base: watched for reloads too
    if intercept.is_intercept(data, path.suffix == ".json"):
        translated, base_files = _from_intercept(path, data)
        chain = [layers.Layer(path, translated, doc)]
    elif is_policylayer(data):
        try:
            data = from_policylayer(data)
        except PolicyError as err:
            raise PolicyError(f"{path}: {err}") from None
        chain = [layers.Layer(path, data, doc)]
    else:
        chain = layers.collect(doc, _layer_doc, embedded_rules())
    merged = layers.merge_layers(chain)
    where = merged.locator
    data = dict(merged.data)
    shown = dict(data)
    files = [*(layer.path for layer in chain), *base_files]
    profile_ref = data.get("profile", "mcp-ssh")
    if not isinstance(profile_ref, (str, dict)):
        raise PolicyError(f"{where.where(('profile',))}: profile: a name, a path or a mapping")
    data["profile"] = load_profile(profile_ref, merged.profile_layer.parent)
    if isinstance(profile_ref, str):
        found = profile_file(profile_ref, merged.profile_layer.parent)
        files.append(found)
        if found != embedded_rules() / "profiles" / f"{profile_ref}.yaml":
            shown["profile"] = str(found.resolve())  # shown so that it loads from anywhere
    sets = data.get("commands")
    if isinstance(sets, dict) and any(isinstance(cs, dict) and cs.get("protected_catalogue") is not None
                                      for cs in sets.values()):
        files.append(default_catalogue_path())
    data = _apply_catalogue(where, data)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as err:
        raise PolicyError(_format(where, err)) from err
    return layers.LoadedPolicy(policy, tuple(layer.path for layer in chain), tuple(dict.fromkeys(f.resolve() for f in files)),
                               merged.example_layers, shown_order(shown))
