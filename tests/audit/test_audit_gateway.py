"""A real ``sshwall serve`` whose audit log fails: nothing is forwarded without a record.

The gateway runs in front of the fake upstream (``tests/proxy/fake_upstream.py``), which records
every frame it receives, so the tests see what was forwarded. Faults are real: a 64 KiB tmpfs
filled up, ``chattr +i``, the file deleted, renamed and ``kill -HUP``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sshwall.audit import REOPENED, rotated_series, verify, verify_series
from tests.proxy.gateway import (
    DENIED_PREFIX,
    FAKE_UPSTREAM,
    POLICIES,
    RawGateway,
    serve_argv,
)
from tests.support.faults import fill

POLICY = POLICIES / "e2e-all.yaml"


def sshwall_audit_verify(*argv: str | Path) -> str:
    """Runs the real ``sshwall audit verify ARGV...``; asserts exit 0, returns what it printed."""
    done = subprocess.run([sys.executable, "-m", "sshwall.cli", "audit", "verify", *map(str, argv)],
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


class Gateway:
    """``sshwall serve --audit FILE`` on raw stdio, and what its upstream received."""

    def __init__(self, audit: Path, record: Path, log: Path) -> None:
        argv = serve_argv(POLICY, audit, ["--", sys.executable, str(FAKE_UPSTREAM), "--record", str(record)])
        self.raw, self.audit, self.record = RawGateway(argv, log), audit, record
        self.raw.initialize()

    def echo(self, text: str) -> tuple[bool, str]:
        """``(allowed, first text line)`` of ``executeCommand echo TEXT``."""
        answer = self.raw.call_tool("executeCommand", {"connectionId": "c1", "command": f"echo {text}"})
        result = answer["result"]
        line = result["content"][0]["text"].splitlines()[0]
        return not result.get("isError"), line

    def forwarded(self, text: str) -> bool:
        """Whether the upstream received ``echo TEXT``."""
        for line in self.record.read_text().splitlines():
            if line.startswith("{"):
                msg = json.loads(line)
                if (msg.get("params") or {}).get("arguments", {}).get("command") == f"echo {text}":
                    return True
        return False

    def close(self) -> None:
        assert self.raw.close() == 0, self.raw.log_text()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[Path], Gateway]]:
    started: list[Gateway] = []

    def run(audit: Path) -> Gateway:
        gw = Gateway(audit, tmp_path / f"upstream-{len(started)}.jsonl", tmp_path / f"serve-{len(started)}.log")
        started.append(gw)
        return gw

    yield run
    for gw in started:
        if gw.raw.proc.poll() is None:
            gw.raw.proc.kill()


def test_full_disk_denies_and_recovers(small_tmpfs: Path, start: Callable[[Path], Gateway]) -> None:
    audit = small_tmpfs / "audit.jsonl"
    gw = start(audit)
    assert gw.echo("before")[0]
    filler = fill(small_tmpfs)
    denied = 0
    for i in range(20):  # the first few may still fit in the file's last page
        allowed, line = gw.echo(f"full-{i}-" + "w" * 1500)
        if not allowed:
            assert line.startswith(f"{DENIED_PREFIX} (rule audit.unavailable)"), line
            assert not gw.forwarded(f"full-{i}-" + "w" * 1500)
            denied += 1
        assert verify(audit).ok
    assert denied >= 15
    filler.unlink()
    assert gw.echo("after")[0] and gw.forwarded("after")
    gw.close()
    assert "chain intact" in sshwall_audit_verify(audit)


def test_immutable_file_denies(tmp_path: Path, start: Callable[[Path], Gateway],
                               immutable: Callable[[Path, bool], None]) -> None:
    audit = tmp_path / "audit.jsonl"
    gw = start(audit)
    assert gw.echo("one")[0]
    immutable(audit, True)
    allowed, line = gw.echo("two")
    assert not allowed and line.startswith(f"{DENIED_PREFIX} (rule audit.unavailable)")
    assert not gw.forwarded("two")
    immutable(audit, False)
    assert gw.echo("three")[0]
    gw.close()
    assert "ok: 4 records" in sshwall_audit_verify(audit)  # one and three: decision + outcome each
    assert "echo two" not in audit.read_text()  # denied because it could not be recorded


def test_deleted_and_rotated_with_sighup(tmp_path: Path, start: Callable[[Path], Gateway]) -> None:
    audit = tmp_path / "audit.jsonl"
    gw = start(audit)
    assert gw.echo("one")[0]
    audit.unlink()  # deleted while running: the next record goes to a new file, linked
    assert gw.echo("two")[0]
    assert json.loads(audit.read_text().splitlines()[0])["reason"] == "deleted"
    audit.rename(tmp_path / "audit.jsonl.1")  # logrotate without copytruncate...
    os.kill(gw.raw.proc.pid, signal.SIGHUP)  # ...and its postrotate
    deadline = time.monotonic() + 10
    while not audit.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    first = json.loads(audit.read_text().splitlines()[0])
    assert first["kind"] == REOPENED and first["reason"] == "renamed"
    assert gw.raw.proc.poll() is None  # SIGHUP does not kill the gateway
    gw.raw.ping()
    assert gw.echo("three")[0]
    gw.close()
    series = rotated_series(audit)
    report = verify_series(series)
    assert report.ok and report.files == 2 and report.continues is not None, report
    assert "in 2 files, chain intact" in sshwall_audit_verify("--series", audit)
