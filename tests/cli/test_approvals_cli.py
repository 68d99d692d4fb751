"""``sshwall approvals``: the real CLI, in its own process, answers requests in a shared state.

The test fills a SQLite file (or a Redis namespace) through ``open_state(url).approvals`` as a
gateway would, runs ``python -m sshwall.cli approvals ...`` and reads the state back.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sshwall.limits import open_state
from sshwall.limits.approvals import ApprovalRequest

REPO = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items() if k not in ("SSHWALL_APPROVER", "SSHWALL_STATE")}


def request_of(request_id: str, **changes: Any) -> ApprovalRequest:
    now = time.time()
    fields: dict[str, Any] = {
        "id": request_id, "key": f"key-{request_id}", "identity": "agent-7", "tool": "executeCommand",
        "arguments": {"connectionId": "c1", "command": "systemctl restart nginx", "password": "[redacted]"},
        "revision": "rev-5f3a", "created": now - 75, "expires": now + 110, "host": "web1", "user": "ops", "port": 2222,
        "host_key": "SHA256:Zm9vYmFy", "command": "systemctl restart nginx", "programs": ("systemctl",),
        "reasons": ("restarting a service needs an operator's yes",), "rules": ("programs.systemctl.restart",),
        "approvers": ("alice", "bob"), "gateway": "gw1",
    }
    fields.update(changes)
    return ApprovalRequest(**fields)


def fill(url: str, *requests: ApprovalRequest) -> None:
    async def go() -> None:
        async with await open_state(url) as state:
            for request in requests:
                await state.approvals.create(request)

    asyncio.run(go())


def stored(url: str, request_id: str) -> ApprovalRequest | None:
    async def go() -> ApprovalRequest | None:
        async with await open_state(url) as state:
            return await state.approvals.get(request_id)

    return asyncio.run(go())


def approvals(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sshwall.cli", "approvals", *argv], capture_output=True, text=True,
                          timeout=60, cwd=REPO, env={**ENV, **env}, check=False)


@pytest.fixture
def url(tmp_path: Path) -> str:
    """A SQLite state holding r1 (pending), r2 (pending, another agent) and done (denied)."""
    state = f"sqlite://{tmp_path / 'state.db'}"
    fill(state, request_of("r1"),
         request_of("r2", identity="agent-9", command="journalctl --vacuum-time=2d", created=time.time() - 10),
         request_of("done", state="denied", by="bob", channel="http", answered=time.time() - 5, created=time.time() - 400))
    return state


def test_list_shows_the_pending_requests_as_a_table(url: str) -> None:
    done = approvals("list", "--state", url)
    assert done.returncode == 0, done.stderr
    head, *rows = done.stdout.splitlines()
    assert head.split() == ["ID", "AGE", "EXPIRES", "IN", "IDENTITY", "TOOL", "USER@HOST", "COMMAND"]
    assert [row.split()[0] for row in rows] == ["r1", "r2"]
    cells = rows[0].split()
    assert re.fullmatch(r"1m1\ds", cells[1]) and re.fullmatch(r"1m[45]\ds", cells[2]), cells
    assert cells[3:6] == ["agent-7", "executeCommand", "ops@web1:2222"]
    assert rows[0].endswith("systemctl restart nginx") and rows[1].endswith("journalctl --vacuum-time=2d")
    every = approvals("list", "--all", "--state", url)
    assert every.returncode == 0
    lines = every.stdout.splitlines()
    assert lines[0].split()[:2] == ["ID", "STATE"]
    assert [line.split()[:2] for line in lines[1:]] == [["done", "denied"], ["r1", "pending"], ["r2", "pending"]]


def test_list_json_is_the_summaries(url: str) -> None:
    done = approvals("list", "--json", "--state", url)
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    r1 = stored(url, "r1")
    assert r1 is not None and listed[0] == r1.summary()
    assert [r["id"] for r in listed] == ["r1", "r2"]
    assert [r["id"] for r in json.loads(approvals("list", "--json", "--all", "--state", url).stdout)] == [
        "done", "r1", "r2"]


def test_an_empty_queue_says_so(tmp_path: Path) -> None:
    state = f"sqlite://{tmp_path / 'empty.db'}"
    fill(state)
    done = approvals("list", "--state", state)
    assert done.returncode == 0 and "no approval requests pending" in done.stdout
    assert json.loads(approvals("list", "--json", "--state", state).stdout) == []


def test_show_gives_everything_an_approver_needs(url: str) -> None:
    done = approvals("show", "r1", "--state", url)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    for needed in ("r1: pending, expires in", "agent-7", "through gateway gw1", "executeCommand", "ops@web1:2222",
                   "SHA256:Zm9vYmFy", "systemctl restart nginx", "restarting a service needs an operator's yes",
                   "programs.systemctl.restart", '"password": "[redacted]"', "revision rev-5f3a", "alice, bob",
                   "is used once"):
        assert needed in text, (needed, text)
    lines = {line.split()[0]: line for line in text.splitlines() if line and not line.startswith(" ")}
    assert lines["programs"].split()[1:] == ["systemctl"]
    ended = approvals("show", "done", "--state", url)
    assert "answered" in ended.stdout and "by bob through http" in ended.stdout
    shown = json.loads(approvals("show", "r1", "--json", "--state", url).stdout)
    assert shown["host_key"] == "SHA256:Zm9vYmFy" and shown["arguments"]["password"] == "[redacted]"
    assert shown["approvers"] == ["alice", "bob"] and shown["state"] == "pending"


def test_approve_lets_the_call_go_on(url: str) -> None:
    done = approvals("approve", "r1", "--as", "alice", "--note", "incident 42", "--state", url)
    assert (done.returncode, done.stdout.strip()) == (0, "approved r1: the waiting call goes on"), done.stderr
    r1 = stored(url, "r1")
    assert r1 is not None and (r1.state, r1.by, r1.channel, r1.note) == ("approved", "alice", "cli", "incident 42")
    assert stored(url, "r2").state == "pending"  # type: ignore[union-attr]


def test_deny_by_the_approver_in_the_environment(url: str) -> None:
    done = approvals("deny", "r2", "--json", "--state", url, SSHWALL_APPROVER="bob")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["state"] == "denied"
    r2 = stored(url, "r2")
    assert r2 is not None and (r2.state, r2.by, r2.channel) == ("denied", "bob", "cli")
    text = approvals("deny", "r1", "--as", "alice", "--state", url)
    assert text.stdout.strip() == "denied r1: the waiting call is refused"


def test_refused_answers_exit_1_with_the_reason(url: str, tmp_path: Path) -> None:
    cases = [
        (("approve", "r1", "--as", "agent-7"), "agent-7 asked for approval request r1 and cannot approve it itself"),
        (("approve", "r1", "--as", "carol"), "carol is not an approver of request r1"),
        (("approve", "done", "--as", "alice"), "approval request done is denied, not pending"),
        (("deny", "nope", "--as", "alice"), "there is no approval request nope"),
        (("show", "nope"), "there is no approval request nope"),
    ]
    for argv, reason in cases:
        done = approvals(*argv, "--state", url)
        assert done.returncode == 1, (argv, done.stdout, done.stderr)
        assert reason in done.stderr, (argv, done.stderr)
    assert stored(url, "r1").state == "pending"  # type: ignore[union-attr]
    expired = f"sqlite://{tmp_path / 'expired.db'}"
    fill(expired, request_of("late", created=time.time() - 200, expires=time.time() - 1))
    done = approvals("approve", "late", "--as", "alice", "--state", expired)
    assert done.returncode == 1 and "approval request late expired at" in done.stderr
    assert stored(expired, "late").state == "pending"  # type: ignore[union-attr]


def test_answering_without_an_identity_is_a_usage_error(url: str) -> None:
    done = approvals("approve", "r1", "--state", url)
    assert done.returncode == 2
    assert "--as IDENTITY" in done.stderr and "SSHWALL_APPROVER" in done.stderr
    assert approvals("approve", "--state", url, "--as", "alice").returncode == 2  # no ID
    assert stored(url, "r1").state == "pending"  # type: ignore[union-attr]


def test_a_memory_queue_is_not_reachable_from_here() -> None:
    for argv in (("list",), ("approve", "r1", "--as", "alice")):
        done = approvals(*argv, "--state", "memory://")
        assert done.returncode == 2
        assert "a memory queue is only visible inside the gateway process" in done.stderr
        assert "sqlite:///PATH" in done.stderr and "redis://" in done.stderr
    assert "inside the gateway process" in approvals("list").stderr  # the default state is memory://


def test_the_state_comes_from_the_environment_like_serve(url: str) -> None:
    done = approvals("list", SSHWALL_STATE=url)
    assert done.returncode == 0 and "r1" in done.stdout


def test_a_failing_or_missing_state_exits_2(tmp_path: Path) -> None:
    down = approvals("list", "--state", "redis://127.0.0.1:1/0?timeout=0.5")
    assert down.returncode == 2 and "state backend failed" in down.stderr and "127.0.0.1:1" in down.stderr
    missing = approvals("list", "--state", f"sqlite://{tmp_path / 'typo.db'}")
    assert missing.returncode == 2 and "there is no state file" in missing.stderr
    assert not (tmp_path / "typo.db").exists()
    assert approvals("list", "--state", "ftp://x").returncode == 2


def test_what_the_agent_wrote_cannot_drive_the_terminal(tmp_path: Path) -> None:
    state = f"sqlite://{tmp_path / 'esc.db'}"
    evil = "ls\x1b]0;owned\x07\r\x1b[2Ksystemctl status \u202enginx"
    fill(state, request_of("e1", command=evil, reasons=("why\x1b[31m",), identity="agent\x1b[1m"))
    for argv in (("list",), ("show", "e1")):
        done = approvals(*argv, "--state", state)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout and "\x07" not in done.stdout and "\r" not in done.stdout
        assert "\u202e" not in done.stdout
        assert "\\x1b" in done.stdout


def test_an_answer_from_another_process_wakes_the_waiting_gateway(url: str) -> None:
    async def go() -> tuple[ApprovalRequest | None, float]:
        async with await open_state(url) as state:
            waiting = asyncio.create_task(state.approvals.wait("r1", 30))
            await asyncio.sleep(0.1)
            answered = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "sshwall.cli", "approvals", "approve", "r1", "--as", "bob", "--state", url,
                env=ENV, cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
            assert await answered.wait() == 0
            done_at = time.monotonic()
            seen = await waiting
            return seen, time.monotonic() - done_at

    seen, lag = asyncio.run(go())
    assert seen is not None and (seen.state, seen.by) == ("approved", "bob")
    assert lag < 1.0


def test_on_redis(redis_url: str) -> None:
    fill(redis_url, request_of("x1"), request_of("x2", created=time.time() - 5))
    listed = approvals("list", "--json", "--state", redis_url)
    assert listed.returncode == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == ["x1", "x2"]
    done = approvals("approve", "x1", "--as", "alice", "--state", redis_url)
    assert done.returncode == 0 and done.stdout.strip() == "approved x1: the waiting call goes on", done.stderr
    x1 = stored(redis_url, "x1")
    assert x1 is not None and (x1.state, x1.by, x1.channel) == ("approved", "alice", "cli")
    again = approvals("deny", "x1", "--as", "bob", "--state", redis_url)
    assert again.returncode == 1 and "is approved, not pending" in again.stderr
    itself = approvals("approve", "x2", "--as", "agent-7", "--state", redis_url)
    assert itself.returncode == 1 and "cannot approve it itself" in itself.stderr
    x2 = stored(redis_url, "x2")
    assert x2 is not None and (x2.state, x2.by) == ("pending", None)
