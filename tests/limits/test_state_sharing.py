"""State shared between processes (SQLite on one machine, Redis anywhere) and across restarts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sshwall.limits import BackgroundTask, LimitRequest, TaskCaps, open_state

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000
WORKER = Path(__file__).with_name("state_worker.py")


def run_workers(url: str, processes: int, calls: int, cap: int) -> list[dict[str, object]]:
    """Start the workers, release them together, and collect their counts."""
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), url, "exec|global=", str(calls), str(cap), str(T0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=60)[0] for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert all(proc.returncode == 0 for proc in procs)
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


def check_exact(counts: list[dict[str, object]], calls: int, cap: int) -> None:
    assert [c["errors"] for c in counts] == [[]] * len(counts)
    assert sum(int(str(c["allowed"])) for c in counts) == cap
    assert sum(int(str(c["allowed"])) + int(str(c["denied"])) for c in counts) == calls * len(counts)


def test_three_processes_share_one_sqlite_file_exactly(tmp_path: Path) -> None:
    counts = run_workers(f"sqlite://{tmp_path / 'shared.db'}", processes=3, calls=100, cap=50)
    check_exact(counts, 100, 50)


def test_three_processes_share_one_redis_exactly(redis_url: str) -> None:
    counts = run_workers(redis_url, processes=3, calls=100, cap=50)
    check_exact(counts, 100, 50)


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
async def test_counters_and_tasks_survive_a_restart_of_sshwall(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = f"sqlite://{tmp_path / 'state.db'}" if backend == "sqlite" else str(request.getfixturevalue("redis_url"))
    r = LimitRequest("exec|grant=alice", 60_000, 2)
    task = BackgroundTask("c1", "alice", "uptime", 30_000, T0, T0 + 900_000, "db1")
    async with await open_state(url) as first:
        assert (await first.limiter.acquire([r], T0)).allowed
        assert (await first.limiter.acquire([r], T0 + 1_000)).allowed
        assert (await first.tasks.start(task, TaskCaps(), T0)).started
    async with await open_state(url) as second:
        result = await second.limiter.acquire([r], T0 + 2_000)
        assert not result.allowed and result.retry_after_ms == 58_000
        assert await second.tasks.active() == [task]
        assert await second.tasks.expired(T0 + 900_000) == [task]
        assert (await second.limiter.acquire([r], T0 + 60_000)).allowed
