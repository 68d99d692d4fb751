"""The SQLite state file deleted or replaced under running replicas: never two counters.

Real processes share one file (``replica_worker.py``); the test deletes or replaces the file in
the middle of the run and starts a replica afterwards, as an operator (or an attacker) would.
Across all of them, one cap of 50 allows exactly 50: the replicas that had the old file open
carry its counts over into the file now at the path, and never count in the old one again.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sshwall.errors import StateError
from sshwall.limits import LimitRequest, open_state

pytestmark = pytest.mark.anyio

WORKER = Path(__file__).with_name("replica_worker.py")
REPO_ROOT = Path(__file__).resolve().parents[2]
CAP = 50
T0 = 1_700_000_000_000


class Replica:
    """One worker process; ``acquire(n)`` returns its counts."""

    def __init__(self, path: Path, watch_s: float, log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(path), str(CAP), str(watch_s)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log.open("w"), text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},  # the code of this tree, not an installed one
        )
        assert self.readline() == "ready", self.log.read_text()

    def readline(self) -> str:
        assert self.proc.stdout is not None
        return self.proc.stdout.readline().strip()

    def send(self, n: int) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"acquire {n}\n")
        self.proc.stdin.flush()

    def result(self) -> dict[str, object]:
        line = self.readline()
        assert line, f"replica died: {self.log.read_text()}"
        return dict(json.loads(line))

    def acquire(self, n: int) -> dict[str, object]:
        self.send(n)
        return self.result()

    def stop(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            self.proc.stdin.write("quit\n")
            self.proc.stdin.flush()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc.wait()


@pytest.fixture
def replicas(tmp_path: Path) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    for replica in started:
        replica.stop()


def start(replicas: list[Replica], path: Path, watch_s: float) -> Replica:
    replica = Replica(path, watch_s, path.parent / f"replica-{len(replicas)}.log")
    replicas.append(replica)
    return replica


def hammer(group: list[Replica], n: int) -> int:
    """Every replica fires ``n`` concurrent calls at once; the number allowed in all."""
    for replica in group:
        replica.send(n)
    counts = [replica.result() for replica in group]
    assert [c["errors"] for c in counts] == [[]] * len(group)
    return sum(int(str(c["allowed"])) for c in counts)


def test_deleted_file_is_carried_over_by_the_watcher_and_the_cap_holds(tmp_path: Path, replicas: list[Replica]) -> None:
    path = tmp_path / "state.db"
    old = [start(replicas, path, 0.2) for _ in range(3)]
    assert sum(r.acquire(10)["allowed"] for r in old) == 30  # type: ignore[misc]
    old_inode = path.stat().st_ino
    path.unlink()
    # No call comes, yet a replica that had the file open puts a file back, its 30 events in it.
    deadline = time.monotonic() + 10
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.exists() and path.stat().st_ino != old_inode
    time.sleep(0.5)  # the others switch to it too
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT COUNT(*) FROM rate_events").fetchone() == (30,)
        assert check.execute("SELECT SUM(events) FROM carried_over").fetchone() == (30,)
    new = start(replicas, path, 0.2)  # a replica started after the deletion
    assert hammer([*old, new], 100) == CAP - 30
    logs = "".join(r.log.read_text() for r in old)
    assert logs.count("carried 30 rate events and 0 background tasks over") == 1, logs
    assert logs.count("another process had carried its state over") == 2, logs


@pytest.mark.parametrize("how", ["deleted", "renamed away"])
def test_a_replica_started_before_anyone_noticed_joins_one_counter(
    how: str, tmp_path: Path, replicas: list[Replica]
) -> None:
    # No watchers: the worst order. The new replica creates a fresh file and counts 5 calls in it
    # before any old replica notices (the gap the watcher keeps short; in it the new replica
    # does not see the old counts); the old replicas' next calls merge their counts into it.
    # (SQLite itself refuses to write a deleted file, but not one renamed away: still linked.)
    path = tmp_path / "state.db"
    old = [start(replicas, path, 0) for _ in range(3)]
    assert sum(r.acquire(10)["allowed"] for r in old) == 30  # type: ignore[misc]
    if how == "deleted":
        path.unlink()
    else:
        path.rename(tmp_path / "state.db.old")
    new = start(replicas, path, 0)
    assert new.acquire(5)["allowed"] == 5
    assert [r.acquire(1)["allowed"] for r in old] == [1, 1, 1]  # each notices; the first carries over
    assert hammer([*old, new], 100) == CAP - 38
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT COUNT(*) FROM rate_events").fetchone() == (CAP,)
    # A replica started now sees the one full counter.
    assert start(replicas, path, 0).acquire(10)["allowed"] == 0


def test_a_file_renamed_over_the_path_gets_the_old_counts_added(tmp_path: Path, replicas: list[Replica]) -> None:
    path, other = tmp_path / "state.db", tmp_path / "other.db"
    old = [start(replicas, path, 0) for _ in range(2)]
    assert sum(r.acquire(10)["allowed"] for r in old) == 20  # type: ignore[misc]
    elsewhere = start(replicas, other, 0)
    assert elsewhere.acquire(10)["allowed"] == 10
    elsewhere.stop()
    os.rename(other, path)  # e.g. a restore: its 10 events plus the 20 counted meanwhile
    assert hammer(old, 100) == CAP - 30
    assert start(replicas, path, 0).acquire(10)["allowed"] == 0


async def test_an_unusable_replacement_denies_until_the_path_is_usable(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    request = [LimitRequest("exec|global=", 60_000, 3)]
    async with await open_state(f"sqlite://{path}") as state:
        assert (await state.limiter.acquire(request, T0)).allowed
        path.unlink()
        path.write_bytes(b"not a database, " * 512)
        for _ in range(2):
            with pytest.raises(StateError, match=f"sqlite at {path}: the state file was replaced by another file "
                               "while in use, and the file at the path cannot be used .*refusing until it can"):
                await state.limiter.acquire(request, T0)
        with pytest.raises(StateError, match="replaced"):
            await state.tasks.active()
        path.unlink()  # the operator removes the junk: the next call carries the old count over
        assert (await state.limiter.acquire(request, T0)).allowed
        assert (await state.limiter.acquire(request, T0)).allowed
        assert not (await state.limiter.acquire(request, T0)).allowed


async def test_a_deleted_folder_denies_with_the_deletion_named(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir()
    request = [LimitRequest("exec|global=", 60_000, 3)]
    async with await open_state(f"sqlite://{folder / 'state.db'}") as state:
        assert (await state.limiter.acquire(request, T0)).allowed
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
        with pytest.raises(StateError, match=r"the state file was deleted \(or renamed away\) while in use, "
                           "and the file at the path cannot be used"):
            await state.limiter.acquire(request, T0)


async def test_the_old_file_is_never_touched_once_replaced(tmp_path: Path) -> None:
    # After a rename the journal name PATH-journal belongs to the new file. A transaction opened
    # on the old file while a writer of the new one has its journal written would "recover" that
    # journal into the old file (SQLite's hot-journal rollback): the old file must not be touched
    # before the new file's write lock is held.
    path = tmp_path / "state.db"
    request = [LimitRequest("exec|global=", 60_000, 100)]
    async with await open_state(f"sqlite://{path}?timeout=0.3") as state:
        for _ in range(3):
            assert (await state.limiter.acquire(request, T0)).allowed
        path.rename(tmp_path / "state.db.old")
        writer = sqlite3.connect(path, isolation_level=None)
        writer.execute("PRAGMA journal_mode = truncate")
        writer.execute("PRAGMA cache_size = 1")  # spill to the file: the journal fills
        writer.execute("CREATE TABLE filler (x)")
        writer.execute("BEGIN IMMEDIATE")
        writer.executemany("INSERT INTO filler VALUES (?)", [("y" * 200,)] * 3000)
        assert (tmp_path / "state.db-journal").stat().st_size > 0
        with pytest.raises(StateError, match=r"busy|locked"):
            await state.limiter.acquire(request, T0)
        assert (tmp_path / "state.db-journal").stat().st_size > 0, "the new file's journal was rolled back"
        writer.execute("COMMIT")
        assert writer.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert writer.execute("SELECT COUNT(*) FROM filler").fetchone() == (3000,)
        writer.close()
        assert (await state.limiter.acquire(request, T0)).allowed  # carried over now
        with sqlite3.connect(path) as check:
            assert check.execute("SELECT COUNT(*) FROM rate_events").fetchone() == (4,)
    with sqlite3.connect(tmp_path / "state.db.old") as old:
        assert old.execute("SELECT COUNT(*) FROM rate_events").fetchone() == (3,)
        assert old.execute("PRAGMA integrity_check").fetchone() == ("ok",)
