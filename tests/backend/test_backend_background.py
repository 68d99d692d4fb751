"""backgroundExecute: it runs now, then at its interval (counted on the host), and really stops."""

from __future__ import annotations

import time

from tests.support.mcp_client import BackendClient
from tests.support.sshd import SshdServer

INTERVAL_MS = 500


def _lines(sshd: SshdServer, path: str) -> int:
    result = sshd.run(f"cat '{path}' 2>/dev/null | wc -l")
    return int(result.stdout.strip() or 0)


def test_runs_now_then_every_interval_until_stopped(
    backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str
) -> None:
    log = f"{remote_dir}/ticks"
    started = time.monotonic()
    reply = backend.ok("backgroundExecute", {
        "connectionId": conn, "command": "date +%s.%N >> ticks; echo tick", "interval": INTERVAL_MS,
        "cwd": remote_dir,
    })
    assert "tick" in reply.text and reply.data and reply.data["interval"] == INTERVAL_MS
    assert _lines(sshd, log) >= 1  # the first run happened before the call returned
    listed_reply = backend.ok("listBackgroundTasks")
    listed = listed_reply.data or {}
    assert [t["connectionId"] for t in listed["tasks"]] == [conn]
    # The real server's block: the connection's name, host, user, raw status, last run.
    assert listed_reply.text.startswith("运行中的后台任务:\n\n连接: "), listed_reply.text
    assert f"\n主机: {sshd.host}\n用户: {sshd.user}\n状态: connected\n最后执行: 刚刚活跃\n\n---\n\n" in listed_reply.text

    time.sleep(2.6)
    elapsed = time.monotonic() - started
    count = _lines(sshd, log)
    expected = 1 + elapsed * 1000 / INTERVAL_MS  # about 6
    # Generous bounds (a loaded machine skips slots, never adds runs): it repeats, on schedule.
    assert max(3, expected * 0.4) <= count <= expected + 1, (count, expected)

    stopped = backend.ok("stopBackground", {"connectionId": conn})
    assert stopped.data and stopped.data["stopped"] is True
    after_stop = _lines(sshd, log)
    time.sleep(3 * INTERVAL_MS / 1000)
    assert _lines(sshd, log) == after_stop, "the task kept running after stopBackground"
    empty = backend.ok("listBackgroundTasks")
    assert not (empty.data or {})["tasks"] and empty.text == "当前没有运行中的后台任务"
    assert backend.ok("stopBackground", {"connectionId": conn}).data == {"stopped": False}


def test_a_new_task_replaces_the_old_one(
    backend: BackendClient, conn: str, sshd: SshdServer, remote_dir: str
) -> None:
    backend.ok("backgroundExecute", {"connectionId": conn, "command": "echo a >> a.log",
                                     "interval": INTERVAL_MS, "cwd": remote_dir})
    second = backend.ok("backgroundExecute", {"connectionId": conn, "command": "echo b >> b.log",
                                              "interval": INTERVAL_MS, "cwd": remote_dir})
    assert second.data and second.data["replaced"] is True
    a_then = _lines(sshd, f"{remote_dir}/a.log")
    time.sleep(3 * INTERVAL_MS / 1000)
    assert _lines(sshd, f"{remote_dir}/a.log") == a_then
    assert _lines(sshd, f"{remote_dir}/b.log") >= 2
    tasks = (backend.ok("listBackgroundTasks").data or {})["tasks"]
    assert [t["command"] for t in tasks] == ["echo b >> b.log"]
    backend.ok("stopBackground", {"connectionId": conn})


def test_stop_all_and_disconnect_stop_tasks(
    backend: BackendClient, sshd: SshdServer, remote_dir: str
) -> None:
    # One target has one connection id, as in Mcp Ssh (md5 of user@host:port): a second
    # connect returns the live connection, so this test runs its tasks one after the other.
    first = backend.connect(sshd)
    assert backend.connect(sshd) == first
    backend.ok("backgroundExecute", {"connectionId": first, "command": "echo x >> one.log",
                                     "interval": INTERVAL_MS, "cwd": remote_dir})
    assert backend.ok("stopAllBackgroundTasks").data == {"stopped": 1}
    third = backend.connect(sshd)
    backend.ok("backgroundExecute", {"connectionId": third, "command": "echo x >> three.log",
                                     "interval": INTERVAL_MS, "cwd": remote_dir})
    backend.ok("disconnect", {"connectionId": third})
    counts = [_lines(sshd, f"{remote_dir}/{n}.log") for n in ("one", "three")]
    time.sleep(3 * INTERVAL_MS / 1000)
    assert [_lines(sshd, f"{remote_dir}/{n}.log") for n in ("one", "three")] == counts
    assert not (backend.ok("listBackgroundTasks").data or {})["tasks"]


def test_bad_interval_is_refused(backend: BackendClient, conn: str) -> None:
    reply = backend.call("backgroundExecute", {"connectionId": conn, "command": "true", "interval": 0})
    assert reply.is_error and "interval" in reply.text
