"""AuditLog under real faults: a full disk, an immutable file, the file deleted, renamed
(rotated), emptied. Each test ends with the chain verifying (``sshwall audit verify``)."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sshwall.audit import (
    REOPENED,
    AuditError,
    AuditLog,
    follow,
    rotated_series,
    verify,
    verify_series,
)
from sshwall.cli import main as sshwall_main
from tests.support.faults import fill

Event = Callable[[int], dict[str, object]]


def records(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines()]


def cli_verify(*argv: str | Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    code = sshwall_main(["audit", "verify", *map(str, argv)], out=out, err=err)
    return code, out.getvalue() + err.getvalue()


def big_event(i: int) -> dict[str, object]:
    """A decision about 3 KB long, so a write crosses a page of the tmpfs."""
    return {"kind": "decision", "tool": "executeCommand", "decision": "allow",
            "arguments": {"command": f"echo {i} " + "y" * 3000}}


def test_disk_full_leaves_whole_records_denies_and_continues(small_tmpfs: Path, event: Event) -> None:
    path = small_tmpfs / "audit.jsonl"
    log = AuditLog(path)  # fsync=True, as in production
    for i in range(1, 4):
        log.append(event(i))
    filler = fill(small_tmpfs)
    before = path.read_bytes()
    failures = 0
    for i in range(4, 12):  # some may still fit in the file's last page; then it is full
        try:
            log.append(big_event(i))
        except AuditError as err:
            assert "No space left" in str(err)
            failures += 1
            assert path.read_bytes().endswith(b"\n")
            assert verify(path).ok, verify(path)
        else:
            before = path.read_bytes()
    assert failures >= 1
    assert path.read_bytes() == before  # the torn part was cut off again
    written = verify(path).records
    filler.unlink()  # space returns
    rec = log.append(event(99))
    assert rec.seq == written + 1
    log.close()
    code, text = cli_verify(path)
    assert code == 0, text
    assert f"ok: {written + 1} records" in text


def test_a_partial_write_is_cut_back(small_tmpfs: Path, event: Event) -> None:
    """Leaves less room than a record needs, so the write itself is partial (short)."""
    path = small_tmpfs / "audit.jsonl"
    log = AuditLog(path)
    log.append(event(1))
    filler = fill(small_tmpfs)
    size = path.stat().st_size
    room = 4096 - size % 4096  # what is left in the file's last page
    with pytest.raises(AuditError, match="No space left"):
        log.append({"kind": "decision", "tool": "t", "arguments": {"command": "z" * (room + 2000)}})
    assert path.stat().st_size == size and verify(path).ok
    filler.unlink()
    log.append(event(2))
    log.close()
    assert cli_verify(path)[0] == 0 and verify(path).records == 2


def test_immutable_file_refuses_then_recovers(tmp_path: Path, event: Event,
                                               immutable: Callable[[Path, bool], None]) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path)
    log.append(event(1))
    immutable(path, True)
    with pytest.raises(AuditError, match="Operation not permitted"):
        log.append(event(2))
    with pytest.raises(AuditError, match="cannot open"):
        AuditLog(path)  # nor can a new writer open it
    immutable(path, False)
    assert log.append(event(3)).seq == 2
    log.close()
    assert cli_verify(path)[0] == 0


def test_deleted_file_is_reopened_and_says_so(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        for i in range(1, 4):
            log.append(event(i))
        head = log.head
        path.unlink()
        rec = log.append(event(4))
    reopened, last = records(path)
    assert reopened["kind"] == REOPENED and reopened["reason"] == "deleted"
    assert reopened["seq"] == 4 and reopened["prev"] == head[1] == reopened["previous_hash"]
    assert reopened["previous_seq"] == 3
    assert rec.seq == 5 and last["prev"] == reopened["hash"]
    report = verify(path)
    assert report.ok and report.records == 2 and report.continues == head
    code, text = cli_verify(path)
    assert code == 0 and "continues seq 3" in text, text


def test_rename_rotation_continues_the_chain_across_files(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    log_a, log_b = AuditLog(path, fsync=False), AuditLog(path, fsync=False)  # two writers
    for i in range(1, 5):
        (log_a if i % 2 else log_b).append(event(i))
    path.rename(tmp_path / "audit.jsonl.2")
    path.touch()  # logrotate's `create`: a fresh empty file appears at once
    log_b.append(event(5))
    log_a.append(event(6))  # A joins the file B continued: its own notice, then its record
    path.rename(tmp_path / "audit.jsonl.1")  # no `create` this time: the writer makes it
    log_a.append(event(7))
    log_b.append(event(8))
    log_a.close()
    log_b.close()
    first = records(tmp_path / "audit.jsonl.1")[0]
    assert first["kind"] == REOPENED and first["reason"] == "renamed" and first["seq"] == 5
    kinds = [r["kind"] for r in records(tmp_path / "audit.jsonl.1")]
    assert kinds == [REOPENED, "decision", REOPENED, "decision"]
    with gzip.open(tmp_path / "audit.jsonl.2.gz", "wb") as z:  # logrotate's `compress`
        z.write((tmp_path / "audit.jsonl.2").read_bytes())
    (tmp_path / "audit.jsonl.2").unlink()
    series = rotated_series(path)
    assert [p.name for p in series] == ["audit.jsonl.2.gz", "audit.jsonl.1", "audit.jsonl"]
    report = verify_series(series)
    assert report.ok and report.records == 4 + 4 + 4 and report.continues is None, report
    code, text = cli_verify(path, "--series")
    assert code == 0 and "ok: 12 records in 3 files" in text, text
    code, text = cli_verify(tmp_path / "audit.jsonl.2.gz", tmp_path / "audit.jsonl.1", path)
    assert code == 0, text
    # The newest files alone: intact, and the report says where the chain came from.
    code, text = cli_verify(tmp_path / "audit.jsonl.1", path)
    assert code == 0 and "continues seq 4" in text, text


def test_series_breaks_are_reported(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        for i in range(1, 4):
            log.append(event(i))
            path.rename(tmp_path / f"audit.jsonl.{4 - i}")
        log.append(event(4))
    one, two, three = (tmp_path / f"audit.jsonl.{n}" for n in (3, 2, 1))
    assert verify_series([one, two, three, path]).ok
    code, text = cli_verify(one, three, path)  # a file left out
    assert code == 1 and "files missing or out of order" in text and "audit.jsonl.1 line 1" in text, text
    code, text = cli_verify(two, one, three, path)  # out of order
    assert code == 1 and "audit.jsonl.3 line 1: this file starts a new chain" in text, text
    fresh = tmp_path / "other.jsonl"
    with AuditLog(fresh, fsync=False) as other:
        other.append(event(9))
    code, text = cli_verify(one, fresh)  # a second chain is not a continuation
    assert code == 1 and "starts a new chain" in text, text
    # Cutting the start of a file is not a continuation either: only a reopen record may start one.
    lines = two.read_bytes().splitlines(keepends=True)
    cut = tmp_path / "cut.jsonl"
    cut.write_bytes(b"".join(lines[1:]))
    assert len(lines) == 2 and not verify(cut).ok


def test_copytruncate_is_noticed(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        for i in range(1, 4):
            log.append(event(i))
        shutil.copy(path, tmp_path / "audit.jsonl.1")
        os.truncate(path, 0)
        log.append(event(4))
    first = records(path)[0]
    assert first["kind"] == REOPENED and first["reason"] == "truncated" and first["seq"] == 4
    code, text = cli_verify(path, "--series")
    assert code == 0 and "ok: 5 records in 2 files" in text, text


def test_reopen_writes_the_notice_at_once(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        log.append(event(1))
        assert log.reopen() is False  # nothing moved: nothing written
        path.rename(tmp_path / "audit.jsonl.1")
        assert log.reopen() is True
        assert records(path)[0]["kind"] == REOPENED
        log.append(event(2))
    assert verify_series(rotated_series(path)).records == 3


def test_reopen_into_a_full_disk_keeps_the_notice_pending(small_tmpfs: Path, event: Event) -> None:
    path = small_tmpfs / "audit.jsonl"
    log = AuditLog(path)
    log.append(event(1))
    path.rename(small_tmpfs / "audit.jsonl.1")
    path.write_bytes(b"")
    filler = fill(small_tmpfs)
    with pytest.raises(AuditError):
        log.append(big_event(2))
    assert path.read_bytes() == b""
    filler.unlink()
    log.append(event(3))
    log.close()
    assert [r["kind"] for r in records(path)] == [REOPENED, "decision"]
    assert cli_verify(path, "--series")[0] == 0


def test_follow_goes_on_in_the_new_file(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    log.append(event(1))
    stream = follow(path, 5, interval=0.01)
    assert next(stream).split()[1] == "#1"
    path.rename(tmp_path / "audit.jsonl.1")
    log.append(event(2))
    log.close()
    assert next(stream).split()[1:3] == ["#2", "AUDIT-REOPENED"]
    assert next(stream).split()[1] == "#3"
    stream.close()
    assert cli_verify(path, "--series")[0] == 0


def test_a_writer_started_after_rotation_continues_the_rotated_file(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path, fsync=False) as log:
        log.append(event(1))
        log.append(event(2))
    path.rename(tmp_path / "audit.jsonl.1")  # rotated while sshwall was stopped
    path.touch()  # logrotate's `create`
    with AuditLog(path, fsync=False) as log:
        assert log.append(event(3)).seq == 4
    first = records(path)[0]
    assert first["kind"] == REOPENED and first["reason"] == "rotated" and first["seq"] == 3
    code, text = cli_verify(path, "--series")
    assert code == 0 and "ok: 4 records in 2 files" in text, text


def test_a_path_that_cannot_be_reopened_refuses_until_it_can(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, fsync=False)
    log.append(event(1))
    path.unlink()
    path.mkdir()  # something else took the name
    with pytest.raises(AuditError):
        log.append(event(2))
    path.rmdir()
    assert log.append(event(3)).seq == 3  # after its audit-reopened record, seq 2
    log.close()
    assert records(path)[0]["reason"] == "deleted"
    code, text = cli_verify(path)
    assert code == 0 and "continues seq 1" in text, text
