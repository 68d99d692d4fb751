"""Background tasks: a command run again every ``interval`` ms until stopped.

One task per connection; starting a new one stops the old. Each task is a thread that waits on
an ``Event``, so ``stop`` takes effect at once and never lets another run start. Runs never
overlap: a run that overruns its slot makes the task skip the slots it missed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sshwall.errors import SshwallError
from sshwall.targets.sshtools import ExecResult

log = logging.getLogger(__name__)

STOP_JOIN_S = 5.0
"""How long ``stop`` waits for a run in flight to finish (it is never killed)."""


@dataclass(frozen=True)
class BackgroundTask:
    """What was scheduled."""

    connection_id: str
    command: str
    cwd: str | None
    interval_ms: int
    started_at: float


@dataclass(frozen=True)
class BackgroundStatus:
    """A task and how its runs went so far (the first run, done by the caller, counts)."""

    task: BackgroundTask
    runs: int = 1
    last_exit: int | None = None
    last_error: str | None = None
    last_run_at: float | None = None


class _Runner:
    def __init__(self, status: BackgroundStatus, run: Callable[[], ExecResult]) -> None:
        self.status = status
        self._run = run
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self._loop, name=f"bg-{status.task.connection_id}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        interval = self.status.task.interval_ms / 1000.0
        origin = time.monotonic()
        slot = 1
        while True:
            delay = origin + slot * interval - time.monotonic()
            if delay < 0:  # overran: skip to the next slot still ahead
                slot += int(-delay // interval) + 1
                continue
            if self._stop.wait(delay):
                return
            self._once()
            slot += 1

    def _once(self) -> None:
        exit_status: int | None = None
        error: str | None = None
        try:
            exit_status = self._run().exit_status
        except SshwallError as exc:
            error = str(exc)
            log.warning("background task on %s: %s", self.status.task.connection_id, error)
        except Exception as exc:  # a task must not die silently: log and keep the schedule
            error = f"{type(exc).__name__}: {exc}"
            log.exception("background task on %s failed", self.status.task.connection_id)
        with self._lock:
            self.status = replace(
                self.status, runs=self.status.runs + 1, last_exit=exit_status,
                last_error=error, last_run_at=time.time(),
            )

    def snapshot(self) -> BackgroundStatus:
        with self._lock:
            return self.status

    def signal(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if threading.current_thread() is not self._thread:
            self._thread.join(STOP_JOIN_S)


class BackgroundTasks:
    """The running tasks, one per connection; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runners: dict[str, _Runner] = {}

    def start(self, first: BackgroundStatus, run: Callable[[], ExecResult]) -> bool:
        """Schedule ``run`` every interval after the first run; True if it replaced a task."""
        previous = self._pop(first.task.connection_id)
        if previous is not None:
            previous.stop()
        runner = _Runner(first, run)
        with self._lock:
            self._runners[first.task.connection_id] = runner
        return previous is not None

    def _pop(self, connection_id: str) -> _Runner | None:
        with self._lock:
            return self._runners.pop(connection_id, None)

    def stop(self, connection_id: str) -> BackgroundStatus | None:
        """Stop the connection's task; returns its last status, or None if it had none."""
        runner = self._pop(connection_id)
        if runner is None:
            return None
        runner.stop()
        return runner.snapshot()

    def stop_all(self) -> int:
        """Stop every task; returns how many there were."""
        with self._lock:
            runners, self._runners = list(self._runners.values()), {}
        for runner in runners:  # all stop at once, then wait for runs in flight
            runner.signal()
        for runner in runners:
            runner.stop()
        return len(runners)

    def snapshot(self) -> list[BackgroundStatus]:
        """Every running task's status."""
        with self._lock:
            runners = list(self._runners.values())
        return [runner.snapshot() for runner in runners]

    def active(self, connection_id: str) -> bool:
        """Whether the connection has a running task."""
        with self._lock:
            return connection_id in self._runners
