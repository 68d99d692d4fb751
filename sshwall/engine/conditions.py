"""PolicyLayer Intercept conditions on a call's arguments, evaluated purely (no clock, no I/O).

``intercept_hits(rules, call)`` gives one deny ``Hit`` per Intercept rule that denies the call
(``action: deny``, or an ``evaluate`` rule one of whose conditions fails); no hit when all hold.
They only ever add denials to sshwall's own verdict: the stricter wins.

Intercept's meaning (docs/intercept.md): a path walks nested objects one key per segment; a
missing value fails every operator but ``exists``; ``eq`` compares numbers as numbers and
anything else as its text; ``lt`` / ``lte`` / ``gt`` / ``gte`` need numbers on both sides;
``regex`` searches a string; ``contains`` is a substring of a string or an element of a list.
Where Intercept would compare values whose text sshwall cannot reproduce exactly (a number with
a string, lists, objects), the comparison is unknown and an unknown never makes a condition
hold: the call is denied, never let through by a guess.

``limit_amount`` is what a calendar counter adds for a call (``Limit.amount_from``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sshwall.engine.verdict import Hit, ToolCall
from sshwall.policy.base import Decision
from sshwall.policy.intercept import Condition, InterceptRules
from sshwall.policy.tools import Limit

_MISSING = object()


def resolve(arguments: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in the arguments, or ``_MISSING`` when a segment is absent."""
    current = arguments
    for part in path:
        if not isinstance(current, Mapping) or part not in current:
            return _MISSING
        current = current[part]
    return current


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _text(value: Any) -> str | None:
    """Go's ``%v`` text of a string, boolean or null; None for what sshwall does not reproduce."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "<nil>"
    return None


def equal(actual: Any, expected: Any) -> bool | None:
    """Intercept's equality: True, False, or None when it cannot be known exactly."""
    if _number(actual) and _number(expected):
        return bool(actual == expected)
    a, e = _text(actual), _text(expected)
    if a is None or e is None:
        return None
    return a == e


def holds(cond: Condition, arguments: Any) -> bool:
    """Whether one condition holds for the arguments (an unknown comparison does not hold)."""
    value = resolve(arguments, cond.path)
    if cond.op == "exists":
        return bool((value is not _MISSING and value is not None) == cond.value)
    if value is _MISSING:
        return False
    op, expected = cond.op, cond.value
    if op == "eq":
        return equal(value, expected) is True
    if op == "neq":
        return equal(value, expected) is False
    if op == "in":
        return any(equal(value, item) is True for item in expected)
    if op == "not_in":
        return all(equal(value, item) is False for item in expected)
    if op in ("lt", "lte", "gt", "gte"):
        if not _number(value):
            return False
        return bool({"lt": value < expected, "lte": value <= expected, "gt": value > expected, "gte": value >= expected}[op])
    if op == "regex":
        return isinstance(value, str) and cond.pattern is not None and cond.pattern.search(value) is not None
    if op == "contains":
        if isinstance(value, str):
            return isinstance(expected, str) and expected in value
        if isinstance(value, list):
            return any(equal(item, expected) is True for item in value)
        return False
    return False  # an operator the model admits but this function does not know: fail closed


def intercept_hits(rules: InterceptRules | None, call: ToolCall) -> list[Hit]:
    """One deny hit per Intercept rule that denies ``call`` (tool rules first, then ``*``)."""
    if rules is None:
        return []
    hits = []
    for rule in rules.for_tool(call.name):
        if rule.action == "deny":
            hits.append(Hit(rule.rule_id, Decision.DENY, rule.message))
            continue
        failed = next((c for c in rule.conditions if not holds(c, call.arguments)), None)
        if failed is not None:
            hits.append(Hit(rule.rule_id, Decision.DENY, rule.message))
    return hits


def limit_amount(limit: Limit, arguments: Any) -> tuple[int, str | None]:
    """What ``limit`` adds for a call: ``(amount, None)``, or ``(0, why)`` when its
    ``amount_from`` argument is missing or not a whole number >= 0 (the call is then denied)."""
    if limit.amount_from is None:
        return limit.amount, None
    path = tuple(limit.amount_from.split("."))
    value = resolve(arguments, path)
    where = f"argument {limit.amount_from}"
    if value is _MISSING:
        return 0, f"counter {limit.counter} adds the {where}, which the call does not have"
    if not _number(value) or value < 0 or value != int(value):
        return 0, f"counter {limit.counter} adds the {where}, which must be a whole number >= 0, not {value!r}"
    return int(value), None
