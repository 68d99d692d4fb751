"""The files of a log rotated by rename (logrotate without ``copytruncate``), oldest first."""

from __future__ import annotations

import os
import re
from pathlib import Path

from sshwall.errors import AuditError

__all__ = ["rotated_series"]

_ROTATED = re.compile(r"^[.-](?P<tail>.+?)(?:\.gz)?$")


def rotated_series(path: str | os.PathLike[str]) -> list[Path]:
    """The files of a log rotated by rename, oldest first, ending with ``path`` itself.

    logrotate's names: ``PATH.1``, ``PATH.2``... (higher is older; ``.gz`` compressed), or with
    ``dateext`` ``PATH-20250102`` (sorting by name is oldest first). Numbered files come after
    dated ones if both exist.
    """
    base = Path(path)
    dated: list[tuple[str, Path]] = []
    numbered: list[tuple[int, Path]] = []
    folder = base.parent if str(base.parent) else Path(".")
    try:
        names = os.listdir(folder)
    except OSError as err:
        raise AuditError(f"cannot list {folder}: {err.strerror or err}") from err
    for name in names:
        if not name.startswith(base.name) or name == base.name:
            continue
        match = _ROTATED.match(name[len(base.name):])
        if match is None:
            continue
        tail, candidate = match.group("tail"), base.parent / name
        if name[len(base.name)] == "." and tail.isdigit():
            numbered.append((int(tail), candidate))
        elif name[len(base.name)] == "-" and tail[:1].isdigit():
            dated.append((tail, candidate))
    return [p for _, p in sorted(dated)] + [p for _, p in sorted(numbered, reverse=True)] + [base]
