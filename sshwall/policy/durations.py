"""Durations in policies: ``30s``, ``15m``, ``24h``, ``1d``, ``500ms`` or a number of seconds.

Stored as milliseconds (an int), because Mcp Ssh's intervals are milliseconds.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
MAX_MS = 10 * 366 * 86_400_000
_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def parse_duration(value: Any) -> int:
    """Milliseconds in ``value``; a bare number means seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is not a boolean")
    if isinstance(value, (int, float)):
        ms = value * 1000
    elif isinstance(value, str) and (m := _PATTERN.match(value)):
        ms = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    else:
        raise ValueError(f"not a duration: {value!r} (write e.g. 30s, 15m, 24h, 500ms)")
    if not math.isfinite(ms) or ms < 0 or ms > MAX_MS:
        raise ValueError(f"duration {value!r} is negative, not finite, or over ten years")
    return int(ms)



def format_duration(ms: int) -> str:
    """A short readable form of a number of milliseconds."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


Duration = Annotated[int, BeforeValidator(parse_duration)]
