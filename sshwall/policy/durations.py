"""Durations in policies: ``30s``, ``15m``, ``24h``, ``1d``, ``500ms`` or a number of seconds.

Stored as milliseconds (an int), because Mcp Ssh's intervals are milliseconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> int:
    """Milliseconds in ``value``; a bare number means seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is not a boolean")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return int(value * 1000)
    if isinstance(value, str):
        m = _PATTERN.match(value)
        if m:
            return int(float(m.group(1)) * _UNITS[m.group(2) or "s"])
    raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 15m, 24h, 500ms)")


def format_duration(ms: int) -> str:
    """A short readable form of a number of milliseconds."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


Duration = Annotated[int, BeforeValidator(parse_duration)]
