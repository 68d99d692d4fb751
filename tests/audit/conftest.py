"""Fixtures of the audit tests: a deterministic clock, logs filled with sample decisions, and
real faults: a small tmpfs that fills up, ``chattr +i``. Without root (mount, chattr) the fault
tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sshwall.audit import AuditLog, decision_event
from tests.support.faults import small_tmpfs_at

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


class Clock:
    """Starts at T0 and moves 250 ms per call."""

    def __init__(self) -> None:
        self._ticks = itertools.count()

    def __call__(self) -> float:
        return T0 + next(self._ticks) * 0.25


def sample_event(i: int) -> dict[str, object]:
    """A decision event; every third one denied."""
    denied = i % 3 == 0
    return decision_event(
        tool="executeCommand",
        arguments={"connectionId": "c1", "command": f"uptime # {i}"},
        decision="deny" if denied else "allow",
        rules=["ops.no-rm"] if denied else ["tools.executeCommand"],
        reasons=["rm is not allowed"] if denied else ["diagnostics"],
        identity="stdio",
        latency_ms=0.5,
    )


@pytest.fixture
def write_log(tmp_path: Path) -> Callable[[int], Path]:
    """Writes a log of ``n`` sample decisions and returns its path."""

    def write(n: int, name: str = "audit.jsonl") -> Path:
        path = tmp_path / name
        with AuditLog(path, clock=Clock(), fsync=False) as log:
            for i in range(1, n + 1):
                log.append(sample_event(i))
        return path

    return write


@pytest.fixture
def clock() -> Clock:
    """A fresh deterministic clock."""
    return Clock()


@pytest.fixture
def event() -> Callable[[int], dict[str, object]]:
    """``sample_event``, for tests that build their own logs."""
    return sample_event


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs mounted on a fresh folder (needs root), unmounted afterwards."""
    yield from small_tmpfs_at(tmp_path, "64k")
