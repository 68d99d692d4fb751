"""The process limit: a pids cgroup the whole run (unshare and everything under it) joins.

root ignores RLIMIT_NPROC, so the limit must come from the pids controller. cgroup v1
(``/sys/fs/cgroup/pids``) and v2 (a root with ``pids`` in ``cgroup.subtree_control``) both work;
without either the oracle runs with its time limit only and says so in ``Oracle.notes``.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

V1 = Path("/sys/fs/cgroup/pids")
V2 = Path("/sys/fs/cgroup")


class PidsCgroup:
    """One cgroup per Oracle; ``wrap`` puts a command line in it, ``hits`` counts refused forks."""

    def __init__(self, limit: int) -> None:
        self.path: Path | None = None
        self.reason = ""
        name = f"sshwall-oracle-{os.getpid()}-{secrets.token_hex(3)}"
        for parent in (V1, V2):
            try:
                if parent == V2 and "pids" not in (V2 / "cgroup.subtree_control").read_text().split():
                    continue
                if not (parent / "cgroup.procs").exists():
                    continue
                path = parent / name
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                self.path = path
                return
            except OSError as err:
                self.reason = f"{parent}: {err}"
        self.reason = self.reason or "no pids cgroup controller"

    def wrap(self, argv: list[str]) -> list[str]:
        """``argv`` behind a shell that moves itself into the cgroup and then execs it."""
        if self.path is None:
            return argv
        return ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', str(self.path / "cgroup.procs"), *argv]

    def hits(self) -> int:
        """How many forks the limit has refused so far."""
        if self.path is None:
            return 0
        try:
            for line in (self.path / "pids.events").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "max":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0

    def close(self) -> None:
        """Remove the cgroup (empty once every run's namespace has died)."""
        if self.path is not None:
            try:
                self.path.rmdir()
            except OSError:
                pass
            self.path = None
