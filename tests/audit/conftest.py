"""Fixtures of the audit tests: a deterministic clock, logs filled with sample decisions, and
real faults: a small tmpfs that fills up, ``chattr +i``. Without root (mount, chattr) the fault
tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sshwall.audit import AuditLog, decision_event

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


def missing(reason: str) -> None:
    """Skip, or fail under ``CI=true``: the CI machine must be able to make the fault."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 64 KiB tmpfs mounted on a fresh folder (needs root), unmounted afterwards."""
    where = tmp_path / "small"
    where.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(where)], check=False,
                          capture_output=True, text=True)
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(folder: Path) -> Path:
    """Fills the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 64, 1):
            try:
                while True:
                    f.write(b"x" * size)
            except OSError:
                pass
    return filler


@pytest.fixture
def immutable() -> Iterator[Callable[[Path, bool], None]]:
    """``set(path, True)`` runs ``chattr +i`` (False: ``-i``); every file is made mutable again."""
    touched: list[Path] = []
    if shutil.which("chattr") is None:
        missing("chattr is not installed (e2fsprogs)")

    def change(path: Path, on: bool) -> None:
        done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            missing(f"chattr {'+i' if on else '-i'} failed (root and ext4/xfs needed): {done.stderr.strip()}")
        touched.append(path)

    yield change
    for path in touched:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
