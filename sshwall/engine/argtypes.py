"""Argument types: does each argument of a call have the type and range its profile gives it?

The first check of every call a profile knows: an argument the profile does not name, a value of
the wrong JSON type, a number that does not mean what it says to the upstream (not finite, not
whole where it must be, negative, out of range) or a missing required argument denies, before
any argument's meaning is looked at.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from sshwall.engine.verdict import Hit
from sshwall.policy.base import Decision
from sshwall.profiles import ArgSpec

__all__ = ["check_types", "number_problem", "type_ok"]

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list, tuple),
    "object": (dict, Mapping),
}


def type_ok(value: Any, json_type: str) -> bool:
    """True when ``value`` (decoded JSON) has the JSON Schema type ``json_type``."""
    if isinstance(value, bool) and json_type != "boolean":
        return False
    return isinstance(value, _JSON_TYPES[json_type])


def check_types(specs: Mapping[str, ArgSpec], args: Mapping[str, Any], tool: str, rid: str, where: str,
                hits: list[Hit]) -> bool:
    """Type-check ``args`` against the profile's ``specs`` of ``tool``, adding a deny to ``hits``
    for each problem; False when any is wrong. ``where`` prefixes nested names (``files[0].``)."""
    ok = True
    for name, value in args.items():
        spec = specs.get(name)
        if spec is None:
            hits.append(Hit(rid, Decision.DENY, f"argument `{where}{name}` is not in the profile of `{tool}`"))
            ok = False
        elif value is None and not spec.required:
            continue
        elif not type_ok(value, spec.type):
            hits.append(Hit(rid, Decision.DENY, f"argument `{where}{name}` must be {spec.type}, not {type(value).__name__}"))
            ok = False
        elif spec.type in ("number", "integer") and (problem := number_problem(value, spec)) is not None:
            hits.append(Hit(f"{rid}.interval" if spec.kind == "interval" else rid, Decision.DENY,
                            f"argument `{where}{name}` = {value!r} {problem}"))
            ok = False
        elif spec.items is not None:
            for i, item in enumerate(value):
                if not isinstance(item, Mapping):
                    hits.append(Hit(rid, Decision.DENY, f"argument `{where}{name}[{i}]` must be an object"))
                    ok = False
                elif not check_types(spec.items, item, tool, rid, f"{where}{name}[{i}].", hits):
                    ok = False
    for name, spec in specs.items():
        if spec.required and args.get(name) is None:
            hits.append(Hit(rid, Decision.DENY, f"required argument `{where}{name}` is missing"))
            ok = False
    return ok


def number_problem(value: Any, spec: ArgSpec) -> str | None:
    """Why a JSON number does not mean what it says to the upstream, if it does not."""
    if isinstance(value, float) and not math.isfinite(value):
        return "is not a finite number"
    if spec.whole and isinstance(value, float) and not value.is_integer():
        return "must be a whole number"
    if value < 0:
        return "must not be negative"
    if spec.minimum is not None and value < spec.minimum:
        return f"is below {_num(spec.minimum)}"
    if spec.maximum is not None and value > spec.maximum:
        extra = " (Node clamps timers above 2^31-1 ms to 1 ms)" if spec.maximum == 2**31 - 1 else ""
        return f"is above {_num(spec.maximum)}{extra}"
    return None


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else str(value)
