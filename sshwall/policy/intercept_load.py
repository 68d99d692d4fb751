"""Reading a PolicyLayer Intercept policy: every field checked, then translated (``from_intercept``).

The checks are Intercept's own (``intercept validate``) plus sshwall's refusals of what it cannot
enforce faithfully (docs/intercept.md); the result is sshwall policy data over a base policy,
with ``InterceptRules`` for the engine and calendar-aligned ``Limit`` data for the counters.
"""

from __future__ import annotations

import math
import re
from typing import Any

from sshwall.errors import PolicyError
from sshwall.policy.intercept import OPS, Condition, InterceptRule, InterceptRules
from sshwall.profiles import checked_regex

WINDOWS = {"minute": 60_000, "hour": 3_600_000, "day": 86_400_000}
_TOP = {"version", "description", "default", "hide", "tools", "sshwall"}
_RULE = {"name", "action", "rate_limit", "conditions", "on_deny", "state"}
_STATE = {"counter", "window", "increment", "increment_from"}
_GO_ONLY = re.compile(r"\[:\^?[a-z]+:\]|\(\?[a-zA-Z]*U")  # POSIX classes, Go's ungreedy flag


def _fail(where: str, message: str) -> PolicyError:
    return PolicyError(f"Intercept policy: {where}: {message}" if where else f"Intercept policy: {message}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _condition(where: str, raw: Any) -> tuple[str, Any, Any]:
    """``(path, op, value)`` of one condition, checked as Intercept validates it."""
    if not isinstance(raw, dict):
        raise _fail(where, "a condition is a mapping {path, op, value}")
    extra = set(raw) - {"path", "op", "value"}
    if extra:
        raise _fail(where, f"unknown keys {sorted(extra)} (a condition has path, op, value)")
    path, op, value = raw.get("path"), raw.get("op"), raw.get("value")
    if not isinstance(path, str) or not path.startswith(("args.", "state.")):
        raise _fail(f"{where}.path", f'path must start with "args." or "state.", got {path!r}')
    if op not in OPS:
        raise _fail(f"{where}.op", f"unknown operator {op!r} (one of {', '.join(OPS)})")
    if op in ("in", "not_in") and not isinstance(value, list):
        raise _fail(f"{where}.value", f"operator {op!r} requires a list value")
    if op in ("lt", "lte", "gt", "gte") and not _number(value):
        raise _fail(f"{where}.value", f"operator {op!r} requires a numeric value")
    if op == "exists" and not isinstance(value, bool):
        raise _fail(f"{where}.value", 'operator "exists" requires a boolean value')
    if op == "regex":
        if not isinstance(value, str):
            raise _fail(f"{where}.value", "regex value must be a string")
        if _GO_ONLY.search(value):
            raise _fail(f"{where}.value", f"regex {value!r} uses Go-only syntax (POSIX classes or the U flag) "
                                          "that Python reads differently; rewrite it")
        try:
            checked_regex(value, "the regex")
        except ValueError as err:
            raise _fail(f"{where}.value", f"invalid regex {value!r}: {err}") from None
    if op in ("eq", "neq", "contains") and isinstance(value, (list, dict)):
        raise _fail(f"{where}.value", f"operator {op!r} compares to one value, not a {type(value).__name__}")
    return path, op, value


def _rate_limit(where: str, text: Any) -> tuple[int, str]:
    if not isinstance(text, str) or text.count("/") != 1:
        raise _fail(where, f'rate_limit must be in the format "N/window" (e.g. "5/hour"), got {text!r}')
    count, window = text.split("/")
    if not count.isdigit() or int(count) <= 0:
        raise _fail(where, f"rate_limit count must be a positive integer, got {count!r}")
    if window not in WINDOWS:
        raise _fail(where, f'rate_limit window must be "minute", "hour", or "day", got {window!r}')
    return int(count), window


class _Tool:
    """The parts of one ``tools.NAME`` entry: engine rules and counters (as Limit data)."""

    def __init__(self) -> None:
        self.rules: list[InterceptRule] = []
        self.limits: list[dict[str, Any]] = []


def _rule(tool: str, i: int, raw: Any, out: _Tool, counters: dict[str, int]) -> None:
    where = f"tools.{tool}.rules[{i}]"
    if not isinstance(raw, dict):
        raise _fail(where, "a rule is a mapping")
    extra = set(raw) - _RULE
    if extra:
        raise _fail(where, f"unknown keys {sorted(extra)} (a rule has {', '.join(sorted(_RULE))})")
    scope = "_global" if tool == "*" else tool
    on_deny = raw.get("on_deny")
    if on_deny is not None and not isinstance(on_deny, str):
        raise _fail(f"{where}.on_deny", "on_deny is a text")
    name = raw.get("name")
    if "rate_limit" in raw:
        if raw.get("conditions") or raw.get("state") is not None:
            raise _fail(where, "rate_limit cannot be combined with conditions or state; use separate rules or the full syntax instead")
        if raw.get("action") == "deny":
            raise _fail(where, 'rate_limit cannot be used with action "deny"')
        count, window = _rate_limit(f"{where}.rate_limit", raw["rate_limit"])
        raw = {"name": name, "on_deny": on_deny or f"Rate limit of {count} per {window} reached. Try again later.",
               "conditions": [{"path": f"state.{scope}._rate_{window}", "op": "lte", "value": count}],
               "state": {"counter": f"_rate_{window}", "window": window}}
        name = name or f"rate_limit {count}/{window}"
    if not isinstance(name, str) or not name:
        raise _fail(f"{where}.name", "rule must have a name")
    action = raw.get("action", "evaluate")
    if action not in ("evaluate", "deny"):
        raise _fail(f"{where}.action", f'action must be "evaluate" or "deny", got {action!r}')
    conditions = raw.get("conditions") or []
    if not isinstance(conditions, list):
        raise _fail(f"{where}.conditions", "conditions is a list")
    if action == "deny" and conditions:
        raise _fail(where, "deny rules must not have conditions")
    if action == "evaluate" and not conditions:
        raise _fail(where, "evaluate rules must have at least one condition")
    state = raw.get("state")
    counter = _state(where, state, counters, i) if state is not None else None
    args: list[Condition] = []
    maxes: list[int] = []
    for j, c in enumerate(conditions):
        cw = f"{where}.conditions[{j}]"
        path, op, value = _condition(cw, c)
        if path.startswith("args."):
            segments = tuple(path[len("args."):].split("."))
            if any(not s for s in segments):
                raise _fail(f"{cw}.path", f"empty segment in {path!r}")
            args.append(Condition(path=segments, op=op, value=value))
            continue
        own = counter is not None and path == f"state.{scope}.{counter}"
        if not own or op not in ("lt", "lte"):
            raise _fail(f"{cw}.path", f"{path} {op}: sshwall enforces a state condition only as the limit (lt/lte) "
                                      f"of the rule's own counter (state.{scope}.<its state.counter>)")
        limit = int(value) if op == "lte" else int(value) - 1  # Intercept's reservation limit
        if limit < 0:
            raise _fail(f"{cw}.value", f"{path} {op} {value}: no call could ever be counted; use action: deny")
        maxes.append(limit)
    if counter is not None:
        if not maxes:
            raise _fail(f"{where}.state", f"counter {counter!r} has no lt/lte condition on state.{scope}.{counter}: "
                                          "Intercept never counts such a counter, so sshwall refuses it")
        assert isinstance(state, dict)
        increment = state.get("increment") or 1  # Intercept: 0 or absent means 1
        limit_data: dict[str, Any] = {
            "counter": f"intercept:{scope}.{counter}", "window": state["window"], "max": min(maxes),
            "scope": "global", "align": "calendar", "reason": raw.get("on_deny") or f"Rate limit exceeded for {name}",
        }
        source = state.get("increment_from")
        if source is not None:
            limit_data["amount_from"] = source[len("args."):]
        else:
            limit_data["amount"] = increment
        out.limits.append(limit_data)
    if action == "deny" or args:
        out.rules.append(InterceptRule(tool=tool, name=name, action=action, conditions=tuple(args), on_deny=raw.get("on_deny")))


def _state(where: str, state: Any, counters: dict[str, int], i: int) -> str:
    sw = f"{where}.state"
    if not isinstance(state, dict):
        raise _fail(sw, "state is a mapping {counter, window, increment, increment_from}")
    extra = set(state) - _STATE
    if extra:
        raise _fail(sw, f"unknown keys {sorted(extra)} (state has {', '.join(sorted(_STATE))})")
    counter = state.get("counter")
    if not isinstance(counter, str) or not counter:
        raise _fail(f"{sw}.counter", "counter must not be empty")
    if counter in counters:
        raise _fail(sw, f"duplicate state counter {counter!r} (also used by rules[{counters[counter]}])")
    counters[counter] = i
    if state.get("window") not in WINDOWS:
        raise _fail(f"{sw}.window", f'window must be "minute", "hour", or "day", got {state.get("window")!r}')
    increment = state.get("increment", 1)
    if not isinstance(increment, int) or isinstance(increment, bool) or increment < 0:
        raise _fail(f"{sw}.increment", f"increment must be a whole number >= 0, got {increment!r} "
                                       "(a negative one would give quota back)")
    source = state.get("increment_from")
    if source is not None and (not isinstance(source, str) or not source.startswith("args.") or len(source) <= 5):
        raise _fail(f"{sw}.increment_from", f'increment_from must start with "args.", got {source!r}')
    return counter


def parse(data: dict[str, Any], profile_tools: frozenset[str]) -> tuple[InterceptRules, dict[str, list[dict[str, Any]]], list[dict[str, Any]], list[str], str]:
    """Check an Intercept policy; return its engine rules, counters per tool (Limit data),
    wildcard counters, hidden tools and default (``allow`` / ``deny``)."""
    extra = set(data) - _TOP
    if extra:
        raise _fail("", f"unknown keys {sorted(extra)} (Intercept has version, description, default, hide, tools; "
                        "sshwall adds `sshwall`)")
    if data.get("version") not in ("1", 1):
        raise _fail("version", f'version must be "1", got {data.get("version")!r}')
    default = data.get("default", "allow")
    if default not in ("allow", "deny"):
        raise _fail("default", f'default must be "allow" or "deny", got {default!r}')
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail("description", "description is a text")
    hide = data.get("hide") or []
    if not isinstance(hide, list):
        raise _fail("hide", "hide is a list of tool names")
    for i, name in enumerate(hide):
        if not isinstance(name, str) or not name:
            raise _fail(f"hide[{i}]", "entry must not be empty")
        if hide.index(name) != i:
            raise _fail("hide", f"duplicate entry {name!r}")
        if name != "*" and name not in profile_tools:
            raise _fail(f"hide[{i}]", f"the profile has no tool {name!r}")
    tools = data.get("tools")
    if not isinstance(tools, dict):
        raise _fail("tools", "tools is a mapping of tool names (or \"*\") to {rules: [...]}")
    rules: list[InterceptRule] = []
    limits: dict[str, list[dict[str, Any]]] = {}
    wildcard: list[dict[str, Any]] = []
    for tool in sorted(tools, key=lambda t: (t == "*", t)):
        entry = tools[tool]
        if tool != "*" and tool not in profile_tools:
            raise _fail(f"tools.{tool}", f"the profile has no tool {tool!r} (a typo would leave the real tool unchecked)")
        entry = entry if entry is not None else {}
        if not isinstance(entry, dict) or set(entry) - {"rules"}:
            raise _fail(f"tools.{tool}", "a tool entry is a mapping with one key, rules")
        raw_rules = entry.get("rules") or []
        if not isinstance(raw_rules, list):
            raise _fail(f"tools.{tool}.rules", "rules is a list")
        out, counters = _Tool(), dict[str, int]()
        for i, raw in enumerate(raw_rules):
            _rule(tool, i, raw, out, counters)
        rules += out.rules
        if tool == "*":
            wildcard = out.limits
        else:
            limits[tool] = out.limits
    return InterceptRules(rules=tuple(rules)), limits, wildcard, list(hide), default


def from_intercept(data: dict[str, Any], base: dict[str, Any], profile_tools: frozenset[str],
                   shell_tools: frozenset[str], source: str = "intercept") -> dict[str, Any]:
    """The sshwall policy data of an Intercept policy over ``base`` (an sshwall policy's data).

    ``profile_tools`` are the tools of the base's profile, ``shell_tools`` those that run shell
    commands (they keep the base's command sets, or ``sshwall.commands`` when given).
    """
    rules, limits, wildcard, hide, default = parse(data, profile_tools)
    options = data.get("sshwall") or {}
    tools: dict[str, Any] = {}
    for name, rule in (base.get("tools") or {}).items():
        tools[name] = {"decision": rule} if isinstance(rule, str) else dict(rule)
    commands = options.get("commands")
    if commands is not None:
        if commands != "any" and commands not in (base.get("commands") or {}):
            raise _fail("sshwall.commands", f"the base policy has no command set {commands!r}")
        for name in shell_tools:
            if name in tools and tools[name].get("decision", "allow") in ("allow", "prompt"):
                tools[name]["commands"] = commands
    base_default = base.get("default", "deny")
    for tool, tool_limits in limits.items():
        if not tool_limits:
            continue
        if tool not in tools:
            if base_default == "deny":
                continue  # the base denies the tool: its counter never counts
            raise _fail(f"tools.{tool}", "the base policy does not list this tool, so its counters cannot be attached")
        tools[tool]["limits"] = [*tools[tool].get("limits", []), *tool_limits]
    if default == "deny":
        listed = set(data["tools"]) - {"*"}
        for name in sorted(profile_tools - listed):
            tools[name] = {"decision": "deny", "reason": f'Tool "{name}" is not permitted by policy'}
    for name in sorted(profile_tools if "*" in hide else set(hide)):
        tools[name] = {"decision": "hide", "reason": f'Tool "{name}" is hidden by policy'}
    merged = {k: v for k, v in base.items() if k != "examples"}
    merged.update({
        "name": "intercept",
        "description": data.get("description") or merged.get("description", ""),
        "default": "deny" if default == "deny" else base_default,
        "tools": tools,
        "limits": [*(base.get("limits") or []), *wildcard],
        "intercept": rules.model_copy(update={"source": source}).model_dump(mode="json"),
    })
    return merged


def options(data: dict[str, Any]) -> dict[str, Any]:
    """The ``sshwall:`` options of an Intercept policy (``base``, ``commands``), checked."""
    raw = data.get("sshwall") or {}
    if not isinstance(raw, dict) or set(raw) - {"base", "commands"}:
        raise _fail("sshwall", "sshwall options are a mapping with base (a shipped policy name or a path) and commands")
    for key in ("base", "commands"):
        if key in raw and (not isinstance(raw[key], str) or not raw[key]):
            raise _fail(f"sshwall.{key}", "a name")
    return raw
