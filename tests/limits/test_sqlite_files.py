"""The SQLite state's files: no WAL (no memory-mapped ``-shm``), an older WAL file upgraded, a
damaged file refused at open with a reason instead of being counted in."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from sshwall.errors import StateError
from sshwall.limits import LimitRequest, open_state

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000_000
R = [LimitRequest("exec|grant=alice", 60_000, 100_000)]


async def test_the_files_are_a_database_and_its_rollback_journal(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await open_state(f"sqlite://{path}") as state:
        assert (await state.limiter.acquire(R, T0)).allowed
        assert sorted(p.name for p in tmp_path.iterdir()) == ["state.db", "state.db-journal"]
    with sqlite3.connect(path) as check:  # a rollback journal is each connection's choice
        assert check.execute("PRAGMA journal_mode").fetchone() != ("wal",)


async def test_a_wal_file_of_an_older_sshwall_is_switched_unless_in_use(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    old = sqlite3.connect(path, isolation_level=None)
    assert old.execute("PRAGMA journal_mode = WAL").fetchone() == ("wal",)
    old.execute("CREATE TABLE rate_events (key TEXT NOT NULL, ts INTEGER NOT NULL)")
    old.execute("INSERT INTO rate_events VALUES (?, ?)", (R[0].key, T0))
    old.execute("PRAGMA user_version = 1")
    with pytest.raises(StateError, match=r"cannot switch the journal from wal .*locked.* to persist: stop every process"):
        await open_state(f"sqlite://{path}")  # the older sshwall still has it open
    old.close()
    async with await open_state(f"sqlite://{path}") as state:
        assert not (await state.limiter.acquire([LimitRequest(R[0].key, 60_000, 1)], T0 + 1)).allowed
    assert not Path(f"{path}-wal").exists() and not Path(f"{path}-shm").exists()


async def test_a_damaged_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    async with await open_state(f"sqlite://{path}") as state:
        for i in range(3000):
            await state.limiter.acquire([LimitRequest(f"k{i % 50}", 60_000, 100_000)], T0 + i)
    with sqlite3.connect(path) as raw:
        (page,) = raw.execute(
            "SELECT pageno FROM dbstat WHERE name = 'rate_events_key_ts' AND pagetype = 'leaf' LIMIT 1"
        ).fetchone()
        size = raw.execute("PRAGMA page_size").fetchone()[0]
    with path.open("r+b") as f:  # a torn write: one page of the index lost
        f.seek((page - 1) * size)
        f.write(b"\0" * size)
    with pytest.raises(StateError, match=f"sqlite at {path} failed: the file is damaged .*: move it away"):
        await open_state(f"sqlite://{path}")
