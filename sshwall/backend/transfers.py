"""File transfers over SFTP and the log ``getFileTransferStatus`` / ``listFileTransfers`` read.

Transfers run to completion inside the tool call (in a worker thread) and are recorded with
their progress, so a status query from another call sees them while they run. Downloads land
atomically: a failed download never leaves a truncated file behind or clobbers an old one.
"""

from __future__ import annotations

import posixpath
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from sshwall.backend.ssh import SshSession
from sshwall.errors import SshwallError, UsageError
from sshwall.profiles.nodepath import node_basename, node_normalize

Direction = Literal["upload", "download"]
State = Literal["in-progress", "completed", "failed"]
MAX_RECORDS = 500


@dataclass(frozen=True)
class Transfer:
    """One file transfer and how it went."""

    transfer_id: str  # 32 hex digits, as the real server's (an md5 there)
    connection_id: str
    direction: Direction
    local_path: str
    remote_path: str
    status: State = "in-progress"
    size: int = 0
    bytes_transferred: int = 0
    started_at: float = 0.0
    ended_at: float | None = None
    error: str | None = None

    def as_data(self) -> dict[str, object]:
        """The structured form."""
        return {
            "transferId": self.transfer_id,
            "connectionId": self.connection_id,
            "direction": self.direction,
            "localPath": self.local_path,
            "remotePath": self.remote_path,
            "status": self.status,
            "size": self.size,
            "bytesTransferred": self.bytes_transferred,
            "error": self.error,
        }


class TransferLog:
    """Recent transfers by id (the oldest are dropped past ``MAX_RECORDS``); thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: OrderedDict[str, Transfer] = OrderedDict()

    def begin(self, connection_id: str, direction: Direction, local: str, remote: str) -> Transfer:
        """Record a transfer that is starting."""
        record = Transfer(
            secrets.token_hex(16), connection_id, direction, local, remote, started_at=time.time()
        )
        with self._lock:
            self._records[record.transfer_id] = record
            while len(self._records) > MAX_RECORDS:
                self._records.popitem(last=False)
        return record

    def update(self, transfer_id: str, **changes: object) -> Transfer:
        """Replace fields of a record (progress, outcome)."""
        with self._lock:
            record = replace(self._records[transfer_id], **changes)  # type: ignore[arg-type]
            self._records[transfer_id] = record
            return record

    def get(self, transfer_id: str) -> Transfer:
        """One record; ``UsageError`` if unknown."""
        with self._lock:
            record = self._records.get(transfer_id)
        if record is None:
            raise UsageError(f"unknown transfer {transfer_id!r}: see listFileTransfers")
        return record

    def snapshot(self) -> list[Transfer]:
        """Every record, oldest first."""
        with self._lock:
            return list(self._records.values())


def _run(log: TransferLog, record: Transfer, session: SshSession) -> Transfer:
    def progress(done: int, total: int) -> None:
        log.update(record.transfer_id, bytes_transferred=done, size=total)

    try:
        if record.direction == "upload":
            size = session.put(Path(record.local_path), record.remote_path, progress)
        else:
            size = session.get(record.remote_path, Path(record.local_path), progress)
    except (SshwallError, OSError) as exc:
        return log.update(record.transfer_id, status="failed", error=str(exc), ended_at=time.time())
    return log.update(
        record.transfer_id, status="completed", size=size, bytes_transferred=size, ended_at=time.time()
    )


def upload(log: TransferLog, session: SshSession, connection_id: str, local: str, remote: str) -> Transfer:
    """Upload one file (blocking); the returned record says whether it worked."""
    return _run(log, log.begin(connection_id, "upload", local, remote), session)


def download(log: TransferLog, session: SshSession, connection_id: str, remote: str, local: str) -> Transfer:
    """Download one file (blocking); the returned record says whether it worked."""
    return _run(log, log.begin(connection_id, "download", local, remote), session)


def missing_local_files(paths: list[str]) -> list[str]:
    """The paths among ``paths`` that are not readable regular files on this machine."""
    return [p for p in paths if not Path(p).is_file()]


def default_download_path(download_dir: Path, remote_path: str) -> str:
    """Where ``downloadFile`` puts a file when no ``localPath`` is given.

    As Mcp Ssh computes it (``path.join(dir, path.basename(remotePath))``, normalised), so the
    gateway checks the very path written: ``..`` or ``/`` name the folder itself or its parent,
    and the transfer then fails on a folder instead of landing somewhere else.
    """
    joined = f"{download_dir}/{node_basename(remote_path)}"
    return node_normalize(joined) if joined.startswith("/") else posixpath.normpath(joined)
