"""AuditLog: record shape, the chain across reopenings, threads, processes, forks and faults."""

from __future__ import annotations

import asyncio
import hashlib
import json
import multiprocessing
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from sshwall.audit import (
    GENESIS,
    AuditError,
    AuditLog,
    decision_event,
    notice_event,
    outcome_event,
    verify,
)
from sshwall.errors import SshwallError, UsageError

Event = Callable[[int], dict[str, object]]


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def test_record_fields_and_hash(tmp_path: Path, clock: Callable[[], float], event: Event) -> None:
    path = tmp_path / "deep" / "dir" / "audit.jsonl"  # parent folders are created
    with AuditLog(path, clock=clock) as log:
        first = log.append(event(1))
        second = log.append(event(2))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 3
    rec = json.loads(lines[0])
    assert rec["seq"] == 1 and rec["prev"] == GENESIS and rec["kind"] == "decision"
    assert rec["time"] == "2023-11-14T22:13:20.000Z"
    assert records(path)[1]["time"] == "2023-11-14T22:13:20.250Z"
    for key in ("identity", "tool", "arguments", "decision", "rules", "reasons", "latency_ms", "upstream"):
        assert key in rec
    # The hash is sha256 of the canonical JSON of the record without its hash, computed here
    # independently of sshwall's own helpers.
    body = {k: v for k, v in rec.items() if k != "hash"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert rec["hash"] == hashlib.sha256(text.encode()).hexdigest()
    assert lines[0].decode() == json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert second.prev == first.hash == rec["hash"] and second.seq == 2
    assert first["tool"] == "executeCommand" and first.kind == "decision"


def test_chain_of_100_verifies(write_log: Callable[[int], Path]) -> None:
    report = verify(write_log(100))
    assert report.ok and report.records == 100 and report.first_bad_line is None
    assert str(report) == "ok: 100 records, chain intact"


def test_reopening_continues_the_chain(tmp_path: Path, clock: Callable[[], float], event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, clock=clock, fsync=False) as log:
        for i in range(5):
            log.append(event(i))
        head = log.head
    with AuditLog(path, clock=clock, fsync=False) as log:
        assert log.head == head
        rec = log.append(event(6))
    assert rec.seq == 6 and rec.prev == head[1]
    assert verify(path).records == 6


def test_other_kinds_of_record(tmp_path: Path, clock: Callable[[], float]) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, clock=clock) as log:
        decided = log.append(decision_event(tool="listTunnels", arguments={}, decision="allow"))
        log.append(outcome_event(ref=decided.seq, tool="listTunnels", upstream="ok", latency_ms=3.21))
        log.append(notice_event("ttl-stop", detail="background task ran 15m", connectionId="c1"))
        log.append(notice_event("upstream-restart", detail="upstream exited with 137"))
    kinds = [(r["kind"], r.get("ref"), r.get("upstream")) for r in records(path)]
    assert kinds == [("decision", None, "pending"), ("outcome", 1, "ok"),
                     ("ttl-stop", None, None), ("upstream-restart", None, None)]
    assert verify(path).ok
    with pytest.raises(UsageError):
        notice_event("decision")


def test_malformed_events(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl") as log:
        for bad in ({"seq": 5}, {"hash": "x"}, {"kind": ""}, {"kind": 3}):
            with pytest.raises(AuditError):
                log.append(bad)
        with pytest.raises(AuditError):
            log.append([("tool", "x")])  # type: ignore[arg-type]
    with pytest.raises(AuditError, match="closed"):
        log.append({"tool": "x"})
    assert issubclass(AuditError, SshwallError)


def test_odd_values_still_get_their_record(tmp_path: Path) -> None:
    """Malformed input is audited, never dropped: every value is made plain, bounded JSON."""

    class Broken:
        def __str__(self) -> str:
            raise RuntimeError("no")

    nested: list[object] = []
    for _ in range(200):  # deeper than any limit, and a cycle
        nested = [nested]
    cyclic: dict[str, object] = {}
    cyclic["self"] = cyclic
    path = tmp_path / "a.jsonl"
    with AuditLog(path) as log:
        log.append(decision_event(tool="\ud800x", arguments="\udcff not an object", decision="deny"))
        log.append({"tool": "x", "arguments": {"n": float("nan"), "i": float("inf"), "big": 10**5000,
                                               "b": b"\xff\x00", "s": {3, 1}, "o": Broken(), 7: "int key"}})
        log.append({"tool": "x", "arguments": {"deep": nested, "cyclic": cyclic}})
    assert verify(path).records == 3
    recs = records(path)
    assert recs[0]["arguments"] == {"(not an object)": "\\udcff not an object"}
    assert recs[1]["arguments"]["big"] == "[integer of 16610 bits]"
    assert recs[1]["arguments"]["s"] == [1, 3] and recs[1]["arguments"]["7"] == "int key"
    assert "[too deep]" in json.dumps(recs[2])


def test_torn_last_line_is_kept_and_chain_resumes(tmp_path: Path, clock: Callable[[], float], event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, clock=clock, fsync=False) as log:
        for i in range(3):
            log.append(event(i))
        head = log.head
    with path.open("ab") as f:
        f.write(b'{"seq":4,"arguments":{"comm')  # a crash in the middle of a write
    with AuditLog(path, clock=clock, fsync=False) as log:
        rec = log.append(event(4))
    assert rec.seq == 4 and rec.prev == head[1]
    lines = path.read_bytes().split(b"\n")
    assert lines[3] == b'{"seq":4,"arguments":{"comm' and json.loads(lines[4])["seq"] == 4
    report = verify(path)
    assert report.first_bad_line == 4 and report.records == 3 and "not JSON" in (report.problem or "")


def test_a_file_that_is_not_an_audit_log_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello\nworld\n")
    with pytest.raises(AuditError, match="no valid audit record"):
        AuditLog(path)
    assert path.read_text() == "hello\nworld\n"


def test_write_failure_raises(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with AuditLog("/dev/full", fsync=False) as log, pytest.raises(AuditError, match="cannot write"):
        log.append({"tool": "x"})
    (tmp_path / "ro").mkdir(mode=0o500)
    if os.geteuid() != 0:  # root may write anywhere
        with pytest.raises(AuditError, match="cannot open"):
            AuditLog(tmp_path / "ro" / "a.jsonl")


def test_threads_share_one_chain(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        workers = [threading.Thread(target=lambda: [log.append(event(i)) for i in range(50)]) for _ in range(8)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert verify(path).records == 400


def test_two_logs_on_one_file_in_one_process(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as a, AuditLog(path, fsync=False) as b:
        for i in range(20):
            (a if i % 2 else b).append(event(i))
    assert verify(path).records == 20


def test_append_async(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"

    async def run() -> None:
        with AuditLog(path) as log:
            await asyncio.gather(*(log.append_async(event(i)) for i in range(20)))

    asyncio.run(run())
    assert verify(path).records == 20


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from sshwall.audit import AuditLog
    path, go, worker = sys.argv[1], sys.argv[2], sys.argv[3]
    while not os.path.exists(go):
        time.sleep(0.005)
    with AuditLog(path, fsync=False) as log:
        for i in range(200):
            log.append({"tool": "executeCommand", "arguments": {"command": "x" * (i * 37 % 3000)},
                        "decision": "allow", "worker": worker})
    """
)


def test_two_processes_append_concurrently(tmp_path: Path) -> None:
    path, go = tmp_path / "audit.jsonl", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(go), w]) for w in ("a", "b")]
    time.sleep(0.3)  # both interpreters started and waiting
    go.touch()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    report = verify(path)
    assert report.ok, report
    assert report.records == 400
    recs = records(path)
    assert sorted(r["worker"] for r in recs) == ["a"] * 200 + ["b"] * 200
    workers = "".join(str(r["worker"]) for r in recs)
    assert "ab" in workers or "ba" in workers  # they did run side by side


def _forked_writer(log: AuditLog, n: int) -> None:
    for i in range(n):
        log.append({"tool": "x", "arguments": {"i": i}, "decision": "allow", "pid": os.getpid()})


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_a_forked_child_reopens_its_own_descriptor(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        log.append({"tool": "x", "decision": "allow"})
        ctx = multiprocessing.get_context("fork")
        children = [ctx.Process(target=_forked_writer, args=(log, 100)) for _ in range(2)]
        for c in children:
            c.start()
        _forked_writer(log, 100)
        for c in children:
            c.join(timeout=60)
        assert [c.exitcode for c in children] == [0, 0]
        log.append({"tool": "x", "decision": "allow"})
    report = verify(path)
    assert report.ok, report
    assert report.records == 302
