"""tail, format_record, follow, and the ``sshwall audit`` command's output and exit codes."""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from sshwall.audit import AuditLog, decision_event, follow, format_record, notice_event, outcome_event, tail
from sshwall.cli import main

Event = Callable[[int], dict[str, object]]


def record(**fields: object) -> dict[str, object]:
    return {"seq": 7, "time": "2025-01-02T03:04:05.678Z", "prev": "0" * 64, "hash": "1" * 64, **fields}


def test_format_decision_with_command() -> None:
    line = format_record(record(**decision_event(
        tool="executeCommand", arguments={"connectionId": "c1", "command": "rm -rf /"}, decision="deny",
        rules=["ops.no-rm", "ops.paths"], reasons=["rm is not allowed", "second reason"], identity="alice",
    )))
    assert line == ("2025-01-02T03:04:05.678Z #7 DENY   executeCommand $ rm -rf / [ops.no-rm, ops.paths]"
                    " — rm is not allowed by alice")


def test_format_decision_without_command() -> None:
    line = format_record(record(**decision_event(
        tool="connect", arguments={"host": "db1", "port": 22, "password": "pw", "tags": ["a"]},
        decision="prompt", rules=["targets.new-host"], reasons=["first connection to db1"],
    )))
    assert "PROMPT connect host=db1 port=22 password=[redacted] tags=[\"a\"] [targets.new-host]" in line
    assert "pw\"" not in line


def test_format_clips_and_escapes() -> None:
    line = format_record(record(**decision_event(
        tool="executeCommand", arguments={"command": "echo \x1b[2J\x1b]0;pwned\x07 ok\n" + "x" * 500},
        decision="allow",
    )))
    assert "\x1b" not in line and "\x07" not in line and "\n" not in line
    assert "\\x1b[2J" in line and "\\n" in line and "…" in line
    assert len(line) < 160
    forged = format_record({"seq": "\x1b[2J", "time": "\x1b]0;x\x07", "decision": "\x1bdeny", "kind": "decision"})
    assert "\x1b" not in forged and "\x07" not in forged
    bidi = format_record(record(tool="ls\u202egpj.exe", decision="allow", arguments={}))
    assert "\u202e" not in bidi and "\\u202e" in bidi


def test_format_other_kinds() -> None:
    out = format_record(record(**outcome_event(ref=6, tool="executeCommand", upstream="tool-error", latency_ms=41.26)))
    assert out == "2025-01-02T03:04:05.678Z #7 RESULT executeCommand → #6 tool-error 41.3 ms"
    note = format_record(record(**notice_event("ttl-stop", detail="ran past its ttl of 15m", connectionId="c1")))
    assert note == "2025-01-02T03:04:05.678Z #7 TTL-STOP connectionId=c1 — ran past its ttl of 15m"
    assert "#?" in format_record({"kind": "decision"})  # a bare dict without chain fields


def test_tail(write_log: Callable[[int], Path]) -> None:
    path = write_log(30)
    last = tail(path, 3)
    assert [line.split()[1] for line in last] == ["#28", "#29", "#30"]
    assert "ALLOW" in last[1] and "DENY   executeCommand $ uptime # 30" in last[2]
    assert len(tail(path, 100)) == 30 and tail(path, 0) == []
    with path.open("ab") as f:
        f.write(b'{"seq":31,"tru')
    assert tail(path, 2)[-1].startswith("(unreadable line: not JSON")


def test_tail_of_long_lines(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    with AuditLog(path, fsync=False) as log:
        for i in range(40):  # ~45 kB records: more than one read block each
            log.append({"tool": "t", "decision": "allow", "arguments": {f"k{j}": f"{i}" * 4000 for j in range(12)}})
    assert [line.split()[1] for line in tail(path, 2)] == ["#39", "#40"]


def test_follow(tmp_path: Path, event: Event) -> None:
    path = tmp_path / "a.jsonl"
    log = AuditLog(path, fsync=False)
    log.append(event(1))
    seen: list[str] = []
    done = threading.Event()

    def writer() -> None:
        for i in range(2, 5):
            log.append(event(i))
        done.set()

    stream = follow(path, 5, interval=0.01, stop=lambda: len(seen) >= 4)
    seen.append(next(stream))
    threading.Thread(target=writer).start()
    for line in stream:
        seen.append(line)
    done.wait(5)
    log.close()
    assert [line.split()[1] for line in seen] == ["#1", "#2", "#3", "#4"]


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["audit", *argv], out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_cli_verify(write_log: Callable[[int], Path]) -> None:
    path = write_log(12)
    assert run("verify", str(path)) == (0, "ok: 12 records, chain intact\n", "")
    code, out, _ = run("verify", str(path), "--head")
    assert code == 0 and out.splitlines()[1].startswith("head: ")
    lines = path.read_bytes().split(b"\n")
    del lines[5]
    path.write_bytes(b"\n".join(lines))
    code, out, _ = run("verify", str(path))
    assert code == 1
    assert out == "broken at line 6: seq gap: expected seq 6, found 7 (seq 6 deleted or moved)\n"


def test_cli_tail(write_log: Callable[[int], Path]) -> None:
    path = write_log(12)
    code, out, _ = run("tail", str(path), "-n", "2")
    assert code == 0 and len(out.splitlines()) == 2 and "#12" in out
    code, out, _ = run("tail", str(path))
    assert code == 0 and len(out.splitlines()) == 10


@pytest.mark.parametrize(
    "argv",
    [[], ["frobnicate"], ["verify"], ["tail", "x", "-n", "many"], ["tail", "x", "-n", "-1"]],
)
def test_cli_usage_errors(argv: list[str]) -> None:
    code, out, err = run(*argv)
    assert code == 2 and out == "" and "error" in err


def test_cli_unreadable_file(tmp_path: Path) -> None:
    for action in ("verify", "tail"):
        code, _, err = run(action, str(tmp_path / "missing.jsonl"))
        assert code == 2 and "cannot read audit log" in err


def test_cli_help(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit", "--help"]) == 0
    assert "verify" in capsys.readouterr().out
