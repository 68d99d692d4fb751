"""verify: each kind of tampering is reported at the right first bad line."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from sshwall.audit import AuditError, record_hash, verify


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1]


def write_lines(path: Path, lines: list[bytes], end: bytes = b"\n") -> None:
    path.write_bytes(b"\n".join(lines) + end)


def canonical(rec: dict[str, object]) -> bytes:
    return json.dumps(rec, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.fixture
def log10(write_log: Callable[[int], Path]) -> Path:
    return write_log(10)


def check(path: Path, line: int, *words: str) -> None:
    report = verify(path)
    assert not report.ok
    assert report.first_bad_line == line, report
    for word in words:
        assert word in (report.problem or ""), report
    assert str(report).startswith(f"broken at line {line}: ")


def test_intact(log10: Path) -> None:
    report = verify(log10)
    assert report.ok and report.records == 10 and report.problem is None
    assert report.head == json.loads(lines_of(log10)[-1])["hash"]


def test_empty_file_is_an_intact_chain(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(b"")
    assert verify(tmp_path / "a.jsonl") == verify(tmp_path / "a.jsonl")
    report = verify(tmp_path / "a.jsonl")
    assert report.ok and report.records == 0 and report.head is None


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(AuditError, match="cannot read"):
        verify(tmp_path / "nope.jsonl")


def test_edited_field(log10: Path) -> None:
    lines = lines_of(log10)
    rec = json.loads(lines[2])
    assert rec["decision"] == "deny"
    rec["decision"] = "allow"
    lines[2] = canonical(rec)
    write_lines(log10, lines)
    check(log10, 3, "hash mismatch", "seq 3")
    assert verify(log10).records == 2


def test_edited_in_place_without_reserialising(log10: Path) -> None:
    data = log10.read_bytes()
    write_lines(log10, lines_of(log10))  # unchanged: still fine
    assert verify(log10).ok
    log10.write_bytes(data.replace(b"uptime # 7", b"uptime # 8", 1))
    check(log10, 7, "hash mismatch")


def test_edited_and_rehashed_breaks_the_next_link(log10: Path) -> None:
    lines = lines_of(log10)
    rec = json.loads(lines[3])
    rec["decision"] = "deny" if rec["decision"] == "allow" else "allow"
    rec["hash"] = record_hash(rec)  # a forger who recomputes the hash of the record he edits
    lines[3] = canonical(rec)
    write_lines(log10, lines)
    check(log10, 5, "broken link", "seq 5")


def test_deleted_middle_line(log10: Path) -> None:
    lines = lines_of(log10)
    del lines[4]
    write_lines(log10, lines)
    check(log10, 5, "seq gap", "expected seq 5, found 6")


def test_deleted_first_line(log10: Path) -> None:
    write_lines(log10, lines_of(log10)[1:])
    check(log10, 1, "expected seq 1, found 2")


def test_swapped_lines(log10: Path) -> None:
    lines = lines_of(log10)
    lines[2], lines[3] = lines[3], lines[2]
    write_lines(log10, lines)
    check(log10, 3, "expected seq 3, found 4")


def test_duplicated_line(log10: Path) -> None:
    lines = lines_of(log10)
    lines.insert(6, lines[5])
    write_lines(log10, lines)
    check(log10, 7, "out of order", "expected seq 7, found 6")


def test_renumbered_after_deletion_is_a_broken_link(log10: Path) -> None:
    """Deleting a record and renumbering the rest (each rehashed) still breaks the link."""
    lines = lines_of(log10)
    del lines[4]
    for i in range(4, len(lines)):
        rec = json.loads(lines[i])
        rec["seq"] = i + 1
        rec["hash"] = record_hash(rec)
        lines[i] = canonical(rec)
    write_lines(log10, lines)
    check(log10, 5, "broken link")


def test_truncated_last_line(log10: Path) -> None:
    data = log10.read_bytes()
    log10.write_bytes(data[: len(data) - 40])
    check(log10, 10, "truncated last line", "not JSON")
    assert verify(log10).records == 9


def test_last_line_without_line_end(log10: Path) -> None:
    log10.write_bytes(log10.read_bytes()[:-1])
    check(log10, 10, "truncated last line", "no line end")


def test_appended_garbage(log10: Path) -> None:
    with log10.open("ab") as f:
        f.write(b"rm -rf / was never here\n")
    check(log10, 11, "not JSON")
    assert verify(log10).records == 10


@pytest.mark.parametrize(
    ("garbage", "words"),
    [
        (b"", ("empty line",)),
        (b"[1, 2]", ("not a JSON object",)),
        (b'{"seq": 3}', ("not an audit record", "prev")),
        (b'{"seq":"3","time":"t","prev":"p","hash":"h"}', ("seq is not an integer",)),
        (b"\xff\xfe", ("not UTF-8",)),
    ],
)
def test_inserted_non_records(log10: Path, garbage: bytes, words: tuple[str, ...]) -> None:
    lines = lines_of(log10)
    lines.insert(2, garbage)
    write_lines(log10, lines)
    check(log10, 3, *words)


def test_reserialised_record(log10: Path) -> None:
    lines = lines_of(log10)
    lines[1] = json.dumps(json.loads(lines[1])).encode()  # same content, different bytes
    write_lines(log10, lines)
    check(log10, 2, "canonical")


def test_smuggled_duplicate_key(log10: Path) -> None:
    """JSON readers keep the last of two equal keys; the hash alone would not notice a first."""
    lines = lines_of(log10)
    lines[5] = b'{"decision":"allow",' + lines[5][1:]
    write_lines(log10, lines)
    check(log10, 6, "canonical")


def test_first_record_must_start_from_genesis(log10: Path) -> None:
    lines = lines_of(log10)
    rec = json.loads(lines[0])
    rec["prev"] = "f" * 64
    rec["hash"] = record_hash(rec)
    lines[0] = canonical(rec)
    write_lines(log10, lines)
    check(log10, 1, "genesis")
