"""Nothing the oracle runs may escape onto the machine that runs the tests.

A battery of escape attempts (writes through /proc/1/root, clock, hostname, mounts, links,
sysctl, namespaces, device nodes, kill -1) runs in the sandbox; the machine's /etc, /root and
/tmp, its clock offset, hostname, mounts and links must be as they were, and the oracle must
leave no template or cgroup behind. The snapshot is taken before this module's first sandbox.
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from pathlib import Path

from sshwall.oracle import Oracle
from tests.oracle.oracle_support import require_oracle

TOKEN = f"sshwall-escape-{secrets.token_hex(4)}"
BATTERY = [
    f"touch /etc/{TOKEN} /root/{TOKEN} /tmp/{TOKEN}",
    f"cd /proc/1/root && touch {TOKEN}",
    f"touch /proc/1/root/tmp/{TOKEN} /proc/self/root/tmp/{TOKEN}",
    f"ln -s / /tmp/oracle-scratch/up && touch /tmp/oracle-scratch/up/etc/{TOKEN}",
    "date -s '2001-01-01 00:00:00'",
    "date -s '+1 hour'; hwclock --systohc",
    f"hostname {TOKEN[:20]}",
    "mount -t tmpfs none /tmp; umount -l /proc",
    "ip link set lo down; ip link add sshwalldummy type dummy; ip addr add 10.254.0.1/24 dev lo",
    "echo $(cat /proc/sys/vm/swappiness) > /proc/sys/vm/swappiness",
    "sysctl -w kernel.domainname=escaped",
    "mknod /tmp/oracle-scratch/n c 1 3",
    "nsenter -t 1 -m -u -n -p true",
    "unshare -m true",
    "chroot /proc/1/root true",
    "kill -9 -1",
    "echo 1 > /proc/1/oom_score_adj",
]


def _listing(top: str, depth: int, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int, int]]:
    out: dict[str, tuple[int, int, int]] = {}
    base = top.rstrip("/").count("/")
    for dirpath, dirs, files in os.walk(top):
        if dirpath.count("/") - base >= depth:
            dirs[:] = []
        dirs[:] = [d for d in dirs if os.path.join(dirpath, d) not in skip]
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            out[path] = (st.st_mode, st.st_size if not os.path.isdir(path) else 0, int(st.st_mtime))
    return out


def _machine() -> dict[str, object]:
    return {
        "etc": _listing("/etc", 64),
        # Depth 1: tool folders below (pip cache, pyenv shims) change under other processes.
        "root": _listing("/root", 1, skip=("/root/.cache",)),
        "tmp": sorted(n for n in os.listdir("/tmp") if TOKEN in n),
        "hostname": socket.gethostname(),
        "mounts": sorted(" ".join(line.split()[4:]) for line in Path("/proc/self/mountinfo").read_text().splitlines()),
        "links": sorted(os.listdir("/sys/class/net")),
        "lo": Path("/sys/class/net/lo/flags").read_text(),
        "swappiness": Path("/proc/sys/vm/swappiness").read_text(),
    }


def test_nothing_escapes() -> None:
    require_oracle()
    before = _machine()
    offset = time.time() - time.monotonic()
    with Oracle(timeout=3.0) as oracle:
        base = oracle.template.parent
        runs = [oracle.run(cmd) for cmd in BATTERY]
    drift = abs((time.time() - time.monotonic()) - offset)
    after = _machine()
    for key in before:
        assert before[key] == after[key], f"machine's {key} changed: {_diff(before[key], after[key])}"
    assert drift < 1.0, f"the clock moved by {drift:.2f} s"
    assert not base.exists(), f"template left behind: {base}"
    assert not any(p.name.startswith("sshwall-oracle-") and str(os.getpid()) in p.name
                   for p in Path("/sys/fs/cgroup/pids").glob("sshwall-oracle-*")), "cgroup left behind"
    # Attempts that would change the machine are reported, not only contained.
    flagged = {r.command for r in runs if r.violations}
    for cmd in (BATTERY[0], BATTERY[4], BATTERY[6], BATTERY[7], BATTERY[13], BATTERY[15]):
        assert cmd in flagged, f"not flagged: {cmd}"


def _diff(a: object, b: object) -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) ^ set(b)) + sorted(k for k in set(a) & set(b) if a[k] != b[k])
        return ", ".join(keys[:10])
    return f"{a!r} -> {b!r}"
