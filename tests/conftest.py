"""Project-wide pytest fixtures.

``sshd`` is one real OpenSSH server per test session (see ``tests/support/sshd.py``);
``sshd_factory`` starts more, each with its own host key. Without sshd installed the tests that
need it are skipped, except under ``CI=true``, where a missing sshd is a failure.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    # Makes ``tests.support`` importable however pytest was started.
    sys.path.insert(0, str(REPO_ROOT))

from tests.support.faults import immutable  # noqa: E402, F401 - a fixture (chattr +i), for every test folder
from tests.support.sshd import SshdFactory, SshdServer, SshdUnavailable  # noqa: E402


def _missing(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def sshd_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdFactory]:
    """Starts extra sshd instances (``factory.start("name")``); all stop at session end."""
    try:
        factory = SshdFactory(tmp_path_factory.mktemp("sshd"))
    except SshdUnavailable as exc:
        _missing(str(exc))
        raise  # unreachable: _missing always raises
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture(scope="session")
def sshd(sshd_factory: SshdFactory) -> SshdServer:
    """The session's shared sshd on 127.0.0.1 (host, port, user, keys, known_hosts, run())."""
    return sshd_factory.start("primary")
