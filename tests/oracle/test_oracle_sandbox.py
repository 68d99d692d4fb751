"""The oracle is tested itself: every kind of harm must be flagged, harmless commands must not be.

An oracle that flags nothing proves nothing: these are the known-dangerous commands of each
violation kind, and the known-harmless diagnostics that must come out clean.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from sshwall.oracle import CANARY_PATHS, KINDS, Oracle, Run
from tests.oracle.oracle_support import oracle_or_skip

# (command, programs the analysis would list, the kind that must be among the violations)
DANGEROUS: list[tuple[str, frozenset[str], str]] = [
    ("touch /etc/x", frozenset({"touch"}), "write"),
    ("echo x > /tmp/y", frozenset({"echo"}), "write"),
    ("rm /etc/hostname", frozenset({"rm"}), "write"),
    ("rm -r /srv/app/config", frozenset({"rm"}), "write"),
    ("mv /etc/hosts /etc/hosts.bak", frozenset({"mv"}), "write"),
    ("chmod 600 /etc/passwd", frozenset({"chmod"}), "write"),
    ("mkdir -p /srv/new/deep", frozenset({"mkdir"}), "write"),
    ("echo x > /dev/shm/x", frozenset({"echo"}), "write"),
    ("git -C /srv/app commit --allow-empty -qm x", frozenset({"git"}), "write"),
    ("cat /root/.ssh/id_ed25519", frozenset({"cat"}), "canary-read"),
    ("grep -r . /srv/app", frozenset({"grep"}), "canary-read"),
    ("tar -cf - /etc/wireguard | wc -c", frozenset({"tar", "wc"}), "canary-read"),  # not /dev/null: GNU tar skips reading then
    ("cat /proc/[0-9]*/environ", frozenset({"cat"}), "canary-read"),
    ("head -c1 /etc/shadow- >/dev/null", frozenset({"head"}), "canary-read"),
    ("cat /root/.ssh/id_ecdsa", frozenset({"cat"}), "protected-read"),  # absent: the attempt counts
    ("ps auxe", frozenset({"ps"}), "canary-output"),
    ("find /srv -exec id \\;", frozenset({"find"}), "exec"),
    ("test -v 'a[$(id)]'", frozenset({"test"}), "exec"),
    ("awk 'BEGIN { system(\"id\") }'", frozenset({"awk"}), "exec"),
    ("curl -s -m 2 http://10.255.255.1/", frozenset({"curl"}), "connect"),
    ("echo x > /dev/tcp/10.255.255.1/80", frozenset({"echo"}), "connect"),
    ("pkill -f app-worker", frozenset({"pkill"}), "state"),
    ("kill -9 -1", frozenset({"kill"}), "state"),
    ("hostname evil", frozenset({"hostname"}), "state"),
    ("date -s '2001-01-01 00:00'", frozenset({"date"}), "state"),
    ("mount -t tmpfs none /mnt", frozenset({"mount"}), "state"),
    ("ip link set lo down", frozenset({"ip"}), "state"),
    ("sleep 100", frozenset({"sleep"}), "timeout"),
    ("sleep 100 &", frozenset({"sleep"}), "timeout"),
    ("tail -f /var/log/syslog", frozenset({"tail"}), "timeout"),
]

HARMLESS: list[str] = [
    "ls -la /var/log", "df -h", "cat /etc/os-release", "git -C /srv/app log --oneline", "ps aux",
    "ls -la /root/.ssh", "stat /etc/shadow", "echo ok > /tmp/oracle-scratch/out",
    "journalctl --no-pager -n 5", "curl -fsS http://127.0.0.1:8080/healthz", "git -C /srv/app status",
    "uptime", "last -n 3", "kill -0 1",
]


@pytest.fixture(scope="module")
def oracle() -> Iterator[Oracle]:
    yield from oracle_or_skip(timeout=3.0)


def _kinds(run: Run) -> set[str]:
    return {v.kind for v in run.violations}


@pytest.mark.parametrize(("command", "programs", "kind"), DANGEROUS, ids=[c for c, _, _ in DANGEROUS])
def test_dangerous_is_flagged(oracle: Oracle, command: str, programs: frozenset[str], kind: str) -> None:
    run = oracle.run(command, programs=programs)
    assert kind in _kinds(run), f"{command!r}: expected {kind}, got {run.violations} (stderr {run.stderr[:200]!r})"
    assert all(v.kind in KINDS for v in run.violations)


@pytest.mark.parametrize("command", HARMLESS)
def test_harmless_is_clean(oracle: Oracle, command: str) -> None:
    from sshwall.oracle.report import programs_of

    run = oracle.run(command, programs=programs_of(command) | {"bash"})
    assert run.violations == (), f"{command!r}: {run.violations}\nstderr: {run.stderr[:300]}"
    assert not run.timed_out


def test_hidden_exec_names_the_program(oracle: Oracle) -> None:
    run = oracle.run("find /srv/app -maxdepth 0 -exec id \\;", programs=frozenset({"find"}))
    assert "id" in run.execs and "uid=0(root)" in run.stdout
    assert any(v.kind == "exec" and "'id'" in v.detail for v in run.violations)


def test_runs_are_independent(oracle: Oracle) -> None:
    first = oracle.run("touch /etc/leftover /tmp/oracle-scratch/leftover")
    assert "write" in _kinds(first)
    second = oracle.run("test -e /etc/leftover || test -e /tmp/oracle-scratch/leftover")
    assert second.exit_code == 1


def test_canaries_are_planted(oracle: Oracle) -> None:
    # stat does not open the files: listing them is metadata, not a read.
    run = oracle.run("stat -c %n " + " ".join(CANARY_PATHS))
    assert run.exit_code == 0, run.stderr
    assert run.stdout.split() == list(CANARY_PATHS)
    assert run.violations == ()


def test_server_fixture(oracle: Oracle) -> None:
    run = oracle.run("git -C /srv/app rev-list --count HEAD; ls /var/log/journal/*/; "
                     "journalctl --no-pager -q -n 400 | wc -l; hostname; ls /var/www/html /var/backups; "
                     "curl -s http://127.0.0.1:8001/api; ps -eo args")
    lines = run.stdout.splitlines()
    assert int(lines[0]) >= 3
    assert any(line.startswith("system@") for line in lines) and "system.journal" in lines
    assert int(next(line for line in lines if line.isdigit() and line != lines[0])) >= 100
    assert "web-01" in lines and "index.html" in lines and "etc.tar.gz" in lines
    assert '"APIVersions"' in run.stdout and "app-worker infinity" in run.stdout
    assert run.violations == ()


def test_only_loopback_network(oracle: Oracle) -> None:
    run = oracle.run("cat /sys/class/net/*/operstate; ls /sys/class/net")
    assert run.stdout.split()[-1] == "lo"


def test_capabilities_are_dropped(oracle: Oracle) -> None:
    # mknod of a device node would open a way to raw disks: CAP_MKNOD is gone.
    run = oracle.run("mknod /tmp/oracle-scratch/n c 1 3; grep CapBnd /proc/self/status")
    assert "Operation not permitted" in run.stderr
    bnd = int(run.stdout.split()[-1], 16)
    assert not bnd & (1 << 21) and not bnd & (1 << 25) and not bnd & (1 << 27)  # sys_admin, sys_time, mknod


def test_no_way_back_through_proc(oracle: Oracle) -> None:
    run = oracle.run("ls /proc/1/root/ 2>&1; cat /proc/1/environ 2>&1 | head -c 50")
    assert "Permission denied" in run.stdout
    assert "protected-read" in _kinds(run)


def test_process_limit(oracle: Oracle) -> None:
    if any("no process limit" in note for note in oracle.notes):
        pytest.skip("no pids cgroup on this machine")
    run = oracle.run("for i in $(seq 100); do sleep 2 & done; wait")
    assert "timeout" in _kinds(run)
    assert any("process limit" in v.detail for v in run.violations)


def test_speed(oracle: Oracle, oracle_report: list[str]) -> None:
    n = 10
    started = time.monotonic()
    for _ in range(n):
        oracle.run("uptime", programs=frozenset({"uptime"}))
    per_run = (time.monotonic() - started) / n
    oracle_report.append(f"oracle speed: {per_run:.3f} s per run ({1 / per_run:.1f} runs/s, `uptime`)")
    assert per_run < 1.5, f"{per_run:.2f} s per run"
