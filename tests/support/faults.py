"""Real faults for tests: a tiny tmpfs, a file system filled to the last byte, immutable files.

Each needs root; without it the test skips, and under ``CI=true`` it fails (the CI machine must
be able to make the fault).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest


def mount_tmpfs(where: Path, size: str) -> None:
    """Mount a real tmpfs of ``size`` (``64k``) on the folder ``where``."""
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)], check=False,
                          capture_output=True, text=True)
    if done.returncode != 0:
        missing(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")


def small_tmpfs_at(tmp_path: Path, size: str) -> Iterator[Path]:
    """A fresh folder with a real tmpfs of ``size`` on it, unmounted when the test ends."""
    where = tmp_path / "small"
    where.mkdir()
    mount_tmpfs(where, size)
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def missing(reason: str) -> None:
    """Skip, or fail under ``CI=true``: the CI machine must be able to make the fault."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def fill(folder: Path) -> Path:
    """Fills the file system of ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        for size in (65536, 4096, 512, 64, 1):
            try:
                while True:
                    f.write(b"x" * size)
            except OSError:
                pass
    return filler


@pytest.fixture
def immutable() -> Iterator[Callable[[Path, bool], None]]:
    """``set(path, True)`` runs ``chattr +i`` (False: ``-i``); every file is made mutable again."""
    touched: list[Path] = []
    if shutil.which("chattr") is None:
        missing("chattr is not installed (e2fsprogs)")

    def change(path: Path, on: bool) -> None:
        done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            missing(f"chattr {'+i' if on else '-i'} failed (root and ext4/xfs needed): {done.stderr.strip()}")
        touched.append(path)

    yield change
    for path in touched:
        subprocess.run(["chattr", "-i", str(path)], check=False, capture_output=True)
