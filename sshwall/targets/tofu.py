"""Trust on first use: a JSON file that remembers the first host key seen per host and port.

The file is ``{"host:port": "SHA256:...", ...}`` (IPv6 hosts as ``[addr]:port``). Updates take
an exclusive ``flock`` on ``FILE.lock``, re-read the file, and replace it atomically (temp file,
fsync, rename), so gateways sharing the file never lose a record and the first key recorded for
a host wins. It is only used for host groups with ``trust_on_first_use: true`` (off by default).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from sshwall.errors import TargetError
from sshwall.targets.hostkey import host_port


def tofu_key(host: str, port: int) -> str:
    """The record name of a host: ``host:port``, ``[v6addr]:port``; host names in lower case."""
    return host_port(host.lower(), port)


class TofuStore:
    """Fingerprints recorded on first use, in one JSON file.

    ``read_only`` stores (what ``sshwall verify`` uses) never write: ``remember`` reports what
    would be recorded without recording it.
    """

    def __init__(self, path: str | Path, *, read_only: bool = False) -> None:
        self.path = Path(path).expanduser()
        self.read_only = read_only

    def __repr__(self) -> str:
        return f"TofuStore({str(self.path)!r}, read_only={self.read_only})"

    def entries(self) -> dict[str, str]:
        """Every record (empty when the file does not exist yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as err:
            raise TargetError(f"cannot read TOFU file {self.path}: {err.strerror or err}") from None
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as err:
            raise TargetError(f"TOFU file {self.path} is not valid JSON: {err}") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v.startswith("SHA256:") for k, v in data.items()
        ):
            raise TargetError(f"TOFU file {self.path} is not an object of \"host:port\": \"SHA256:...\"")
        return data

    def lookup(self, host: str, port: int) -> str | None:
        """The fingerprint recorded for ``host:port``, if any."""
        return self.entries().get(tofu_key(host, port))

    def remember(self, host: str, port: int, fingerprint: str) -> tuple[str, bool]:
        """Record ``fingerprint`` for ``host:port`` unless one is recorded already.

        Returns ``(fingerprint on record, newly recorded?)``: the on-record one may be another
        writer's that came first, so the caller compares and a race never trusts two keys. A
        read-only store answers what would happen without writing.
        """
        key = tofu_key(host, port)
        if self.read_only:
            known = self.entries().get(key)
            return (known, False) if known is not None else (fingerprint, True)
        with self._locked():
            data = self.entries()
            if key in data:
                return data[key], False
            data[key] = fingerprint
            self._write(data)
            return fingerprint, True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as err:
            raise TargetError(f"cannot lock TOFU file {self.path}: {err.strerror or err}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def _write(self, data: dict[str, str]) -> None:
        body = json.dumps(data, indent=2, sort_keys=True) + "\n"
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as out:
                    out.write(body)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:
            raise TargetError(f"cannot write TOFU file {self.path}: {err.strerror or err}") from None
