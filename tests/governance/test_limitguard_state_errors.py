"""Whatever the state layer raises, the limit guard denies: a backend failure names the backend
(``state.unavailable``), anything else (a bug) is denied too (``state.error``), never allowed.

The failing limiters are stubs: a bug of a backend cannot be produced for real; the real
backends' failures are in ``test_sqlite_faults.py``, ``test_redis_outage.py`` and ``tests/limits``.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence

import pytest

from sshwall.engine import Decision, ToolCall, evaluate
from sshwall.errors import StateError
from sshwall.limits import LimitRequest, LimitResult, State
from sshwall.limits.memory import MemoryTaskRegistry
from sshwall.policy import load_policy
from sshwall.proxy.limitguard import Caller, LimitGuard
from tests.governance.gateway import policy


class Failing:
    """A limiter whose every call raises ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    async def acquire(self, requests: Sequence[LimitRequest], now_ms: int) -> LimitResult:
        raise self.error

    async def close(self) -> None:
        return None


@pytest.mark.parametrize(
    ("error", "rule", "text"),
    [
        (StateError("sqlite at /x.db failed: database or disk is full"), "state.unavailable", "disk is full"),
        (RuntimeError("cannot schedule new futures after shutdown"), "state.error", "RuntimeError: cannot schedule"),
        (sqlite3.OperationalError("attempt to write a readonly database"), "state.error", "readonly database"),
        (KeyError("rate"), "state.error", "KeyError"),
    ],
)
def test_every_state_failure_is_a_denial(error: BaseException, rule: str, text: str) -> None:
    rules = load_policy(policy("gov-outage.yaml"))
    call = ToolCall("executeCommand", {"connectionId": "c1", "command": "echo 1"})
    verdict = evaluate(rules, call)
    assert verdict.decision == Decision.ALLOW
    guard = LimitGuard(rules, State("stub", "stub", Failing(error), MemoryTaskRegistry()), lambda: 1_700_000_000.0)
    admitted = asyncio.run(guard.admit(call, verdict, Caller()))
    assert admitted.verdict.decision == Decision.DENY
    hit = admitted.verdict.deciding[0]
    assert hit.rule == rule and text in hit.reason, hit
