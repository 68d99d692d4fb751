"""The state behind the limits (``docs/limits.md``): rate counters and the registry of background tasks.

``open_state(url)`` opens a backend (``memory://``, ``sqlite:///path.db`` or
``redis://host:port/db?namespace=sshwall``) and returns a ``State`` whose ``limiter`` is a
``RateLimiter``, whose ``tasks`` is a ``TaskRegistry`` and whose ``approvals`` is the queue of
approval requests (an ``ApprovalStore``, ``sshwall.limits.approvals``). Every backend behaves the same; any
failure of a backend raises ``StateError`` (the caller denies). See ``docs/limits.md``.
"""

from __future__ import annotations

from sshwall.limits.factory import State, open_state
from sshwall.limits.model import (
    BackgroundTask,
    LimitRequest,
    LimitResult,
    RateLimiter,
    TaskCap,
    TaskCaps,
    TaskRegistry,
    TaskResult,
)

__all__ = [
    "BackgroundTask",
    "LimitRequest",
    "LimitResult",
    "RateLimiter",
    "State",
    "TaskCap",
    "TaskCaps",
    "TaskRegistry",
    "TaskResult",
    "open_state",
]
