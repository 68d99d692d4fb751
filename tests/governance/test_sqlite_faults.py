"""A running ``sshwall serve`` on a SQLite state whose files are damaged from outside.

No fault of the state files may take the gateway down, and every call it cannot count is denied
with a reason (rule ``state.unavailable``), then allowed again once the fault is gone where it can
be. The controls show that the faults are real: the same damage kills a plain SQLite process with
a bus error when it uses WAL (the ``-shm`` index is memory-mapped) or a memory-mapped database
file, which is why sshwall uses neither. The audit chain verifies after every fault.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sshwall.audit import verify
from tests.governance.gateway import ECHO_UPSTREAM, Gateway, Gateways, policy
from tests.support.faults import fill, small_tmpfs_at

UNAVAILABLE = "sshwall: denied (rule state.unavailable): state backend unavailable, so the call is refused: "

# A plain SQLite process: writes, lets the test damage a file (a line on stdin), writes again.
CONTROL = """
import sqlite3, sys
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("PRAGMA journal_mode = " + sys.argv[2]); c.execute("PRAGMA mmap_size = " + sys.argv[3])
c.execute("CREATE TABLE t (x)")
for i in range(200): c.execute("INSERT INTO t VALUES (?)", ("x" * 100,))
print("ready", flush=True); sys.stdin.readline()
try:
    c.execute("SELECT COUNT(*) FROM t").fetchone(); c.execute("INSERT INTO t VALUES (1)")
except sqlite3.Error as exc:
    print("error:", exc, flush=True)
"""


def _control(path: Path, journal: str, mmap: int, damage: Callable[[], None]) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen([sys.executable, "-c", CONTROL, str(path), journal, str(mmap)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    damage()
    out, _ = proc.communicate("go\n", timeout=30)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out)


def test_control_the_damage_kills_a_wal_or_mmap_sqlite_process_with_sigbus(tmp_path: Path) -> None:
    wal = tmp_path / "wal.db"
    done = _control(wal, "wal", 0, lambda: os.truncate(f"{wal}-shm", 0))
    assert done.returncode == -signal.SIGBUS, done
    mapped = tmp_path / "mapped.db"
    done = _control(mapped, "truncate", 1 << 24, lambda: os.truncate(mapped, 0))
    assert done.returncode == -signal.SIGBUS, done
    # sshwall's configuration: the same damage is an error SQLite reports.
    plain = tmp_path / "plain.db"
    done = _control(plain, "truncate", 0, lambda: os.truncate(plain, 0))
    assert done.returncode == 0 and "error: no such table" in done.stdout, done


class Rig:
    """One gateway on a SQLite state file, its upstream's record and its audit log."""

    def __init__(self, gateways: Gateways, folder: Path, audit_dir: Path) -> None:
        self.db = folder / "state.db"
        self.record = audit_dir / "upstream.jsonl"
        self.audit = audit_dir / "audit.jsonl"
        self.gw: Gateway = gateways.start(
            policy("gov-outage.yaml"), state=f"sqlite://{self.db}",
            upstream=(*ECHO_UPSTREAM, str(self.record)), audit=self.audit,
        )
        self.n = 0

    def call(self) -> str:
        """One call: ``allowed`` or the denial's first line."""
        self.n += 1
        result = self.gw.call("executeCommand", {"connectionId": "c1", "command": f"echo {self.n}"})
        return "allowed" if result.allowed else result.first_line

    def call_many(self, n: int) -> list[str]:
        """``n`` calls at once, as ``call``."""
        calls = [("executeCommand", {"connectionId": "c1", "command": f"echo {self.n + i}"}) for i in range(n)]
        self.n += n
        return ["allowed" if r.allowed else r.first_line for r in self.gw.call_many(calls, timeout=120)]

    def check(self) -> None:
        assert self.gw.proc.poll() is None, f"the gateway died ({self.gw.proc.poll()}):\n{self.gw.log()}"
        assert verify(self.audit).ok, verify(self.audit)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB tmpfs (needs root), unmounted afterwards."""
    yield from small_tmpfs_at(tmp_path, "512k")


def test_truncated_state_files_are_denied_not_a_crash(gateways: Gateways, tmp_path: Path) -> None:
    rig = Rig(gateways, tmp_path, tmp_path)
    assert rig.call() == "allowed"
    files = [Path(f"{rig.db}{suffix}") for suffix in ("-shm", "-wal", "")]
    assert [f.exists() for f in files] == [False, False, True]
    for damaged in files:  # what killed the controls above
        if damaged.exists():
            os.truncate(damaged, 0)
    for _ in range(3):
        denied = rig.call()
        assert denied.startswith(UNAVAILABLE) and f"sqlite at {rig.db} failed: no such table" in denied, denied
    rig.check()
    assert len(rig.record.read_text().splitlines()) == 1


def test_a_full_disk_denies_then_recovers(gateways: Gateways, small_tmpfs: Path, tmp_path: Path) -> None:
    rig = Rig(gateways, small_tmpfs, tmp_path)
    assert rig.call() == "allowed"
    filler = fill(small_tmpfs)
    outcomes: list[str] = []
    while len(outcomes) < 3000 and (not outcomes or "allowed" in outcomes[-20:]):  # free pages fill first
        outcomes += rig.call_many(200)
    denied = [o for o in outcomes if o != "allowed"]
    assert denied and all(o.startswith(UNAVAILABLE) and "full" in o for o in denied), set(outcomes)
    assert "allowed" not in outcomes[-20:]
    rig.check()
    filler.unlink()
    assert rig.call() == "allowed"
    rig.check()


def test_immutable_state_files_deny_then_recover(
    gateways: Gateways, tmp_path: Path, immutable: Callable[[Path, bool], None]
) -> None:
    rig = Rig(gateways, tmp_path, tmp_path)
    assert rig.call() == "allowed"
    journal = Path(f"{rig.db}-journal")  # TRUNCATE mode keeps it, empty, between transactions
    for target in (rig.db, journal):
        immutable(target, True)
        denied = rig.call()
        assert denied.startswith(UNAVAILABLE) and f"sqlite at {rig.db} failed: " in denied, denied
        rig.check()
        immutable(target, False)
        assert rig.call() == "allowed"
    rig.check()
