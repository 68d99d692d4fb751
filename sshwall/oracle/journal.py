"""Real systemd journal files for the fixture: one active ``system.journal`` and archived ones.

journald cannot run here, but ``systemd-journal-remote`` turns journal *export format* read from
stdin into genuine ``.journal`` files (Debian package ``systemd-journal-remote``). The files go to
``/var/log/journal/<machine-id>/`` so a plain ``journalctl`` (local machine only) reads them; the
archived ones are named the way journald names rotated files.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from sshwall.oracle.server import HOSTNAME

JOURNAL_REMOTE = ("/lib/systemd/systemd-journal-remote", "/usr/lib/systemd/systemd-journal-remote")

_UNITS = (
    ("nginx.service", "nginx", 6, "Started nginx.service - A high performance web server."),
    ("nginx.service", "nginx", 3, "nginx: [emerg] bind() to 0.0.0.0:80 failed (98: Address already in use)"),
    ("ssh.service", "sshd", 6, "Accepted publickey for ops from 10.0.0.5 port 50122 ssh2"),
    ("sshd.service", "sshd", 6, "Server listening on 0.0.0.0 port 22."),
    ("cron.service", "CRON", 6, "(root) CMD (run-parts /etc/cron.hourly)"),
    ("app.service", "app", 3, "error: upstream timed out (110: Connection timed out)"),
    ("redis-server.service", "redis-server", 4, "WARNING overcommit_memory is set to 0!"),
)


def _export(start: float, count: int, boot: str) -> bytes:
    lines = []
    for i in range(count):
        unit, ident, prio, msg = _UNITS[i % len(_UNITS)]
        usec = int((start + i * 60) * 1_000_000)
        lines.append(
            f"__REALTIME_TIMESTAMP={usec}\n__MONOTONIC_TIMESTAMP={i * 60_000_000 + 1}\n_BOOT_ID={boot}\n"
            f"_HOSTNAME={HOSTNAME}\n_SYSTEMD_UNIT={unit}\nSYSLOG_IDENTIFIER={ident}\nPRIORITY={prio}\n"
            f"_TRANSPORT=syslog\nMESSAGE={msg} #{i}\n\n"
        )
    return "".join(lines).encode()


def _machine_id() -> str:
    try:
        return Path("/etc/machine-id").read_text().strip() or uuid.uuid4().hex
    except OSError:
        return uuid.uuid4().hex


def write_journals(root: Path, now: float) -> list[str]:
    """Writes the journal files under ``root``; returns notes on what could not be built."""
    tool = next((t for t in JOURNAL_REMOTE if os.path.exists(t)), None)
    if tool is None:
        return ["no systemd-journal-remote: /var/log/journal has no journal files (apt install systemd-journal-remote)"]
    folder = root / "var/log/journal" / _machine_id()
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder.parent, 0o2755)
    os.chmod(folder, 0o2755)
    # Two archived files from earlier boots, then the active one covering the last hours.
    batches = [(now - 3 * 86400, 120), (now - 2 * 86400, 120), (now - 4 * 3600, 200)]
    with tempfile.TemporaryDirectory() as tmp:
        for n, (start, count) in enumerate(batches):
            out = Path(tmp) / f"part{n}.journal"
            done = subprocess.run([tool, f"--output={out}", "-"], input=_export(start, count, uuid.uuid4().hex),
                                  capture_output=True, timeout=30)
            if done.returncode != 0 or not out.exists():
                return [f"systemd-journal-remote failed: {done.stderr.decode(errors='replace')[:200]}"]
            if n == len(batches) - 1:
                name = "system.journal"
            else:
                name = f"system@{uuid.uuid4().hex}-{n * 120 + 1:016x}-{int(start * 1_000_000):016x}.journal"
            shutil.copyfile(out, folder / name)
            os.chmod(folder / name, 0o640)
    return []
