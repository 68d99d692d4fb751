"""PolicyLayer Intercept YAML policies: their rules as a pure condition model, and the translation.

An Intercept policy (``version: "1"``, ``tools: {NAME|"*": {rules: [...]}}``, see
docs/intercept.md) becomes an sshwall ``Policy``: a *base* sshwall policy (the embedded
``readonly-ops`` unless ``sshwall: {base: ...}`` names another) keeps deciding what it decides
(command analysis included), and Intercept's rules are added on top, so the stricter wins:

- ``hide`` hides tools; ``default: deny`` denies the tools the file does not list;
- argument conditions and ``action: deny`` rules are ``InterceptRule`` s, checked by the engine
  (``sshwall.engine.conditions``) on every call; they can only deny;
- ``rate_limit`` and ``state`` counters become calendar-aligned ``Limit`` s (``align: calendar``)
  on the state backend, counted on allowed calls.

Every field is either enforced with Intercept's meaning or refused with a ``PolicyError`` naming
it; the few Intercept constructs sshwall cannot enforce faithfully are refused, never ignored.
The models and the detection are here; the checks and the translation in ``intercept_load``.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal

from pydantic import Field

from sshwall.policy.base import Frozen

Op = Literal["eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists"]
OPS: tuple[str, ...] = ("eq", "neq", "in", "not_in", "lt", "lte", "gt", "gte", "regex", "contains", "exists")


class Condition(Frozen):
    """One condition on the call's arguments: the value at ``path`` compared by ``op`` to ``value``.

    ``path`` is the argument path without Intercept's ``args.`` prefix, one key per segment.
    """

    path: tuple[str, ...] = Field(min_length=1)
    op: Op
    value: Any = None

    @cached_property
    def pattern(self) -> re.Pattern[str] | None:
        """The compiled regular expression of a ``regex`` condition (compiled once)."""
        return re.compile(self.value) if self.op == "regex" else None

    @property
    def where(self) -> str:
        """The path as Intercept writes it (``args.a.b``)."""
        return "args." + ".".join(self.path)


class InterceptRule(Frozen):
    """One Intercept rule that the engine checks: ``deny`` always denies; ``evaluate`` denies
    unless every condition holds."""

    tool: str = Field(description="the tool name, or '*' for every tool")
    name: str
    action: Literal["evaluate", "deny"] = "evaluate"
    conditions: tuple[Condition, ...] = ()
    on_deny: str | None = None

    @property
    def rule_id(self) -> str:
        """The rule id in verdicts and audit records."""
        return f"intercept.{self.tool}.{self.name}"

    @property
    def message(self) -> str:
        """What the agent is told when this rule denies (Intercept's default when no on_deny)."""
        return self.on_deny or f'Denied by rule "{self.name}"'


class InterceptRules(Frozen):
    """The engine-checked rules of an Intercept policy, tool-specific before wildcard ones."""

    source: str = "intercept"
    rules: tuple[InterceptRule, ...] = ()

    def for_tool(self, tool: str) -> tuple[InterceptRule, ...]:
        """The rules that apply to one call of ``tool``, in Intercept's order."""
        return tuple(r for r in self.rules if r.tool == tool) + tuple(r for r in self.rules if r.tool == "*")


def is_intercept(data: Any, json_file: bool = False) -> bool:
    """True for an Intercept policy's shape: version "1", no sshwall keys, and a tool with ``rules``
    (or Intercept's ``description``, or sshwall's ``sshwall`` options). A YAML file of that version
    with neither rules nor PolicyLayer's own keys (``limits``, ``require``, ``deny_if``,
    ``all_tools``) is Intercept's too: PolicyLayer's hosted policy is JSON."""
    if not isinstance(data, dict) or data.get("version") not in ("1", 1) or "profile" in data or "commands" in data \
            or "extends" in data:  # sshwall's own keys (extends: docs/layering.md)
        return False
    tools = data.get("tools")
    entries = list(tools.values()) if isinstance(tools, dict) else []
    if any(isinstance(t, dict) and "rules" in t for t in entries) or "sshwall" in data:
        return True
    if data.get("version") != "1":
        return False  # sshwall's own `version: 1` (it has no `rules`)
    if "description" in data:
        return True
    policylayer = "all_tools" in data or any(isinstance(t, dict) and set(t) & {"limits", "require", "deny_if"} for t in entries)
    return not json_file and not policylayer and data.get("version") == "1"
