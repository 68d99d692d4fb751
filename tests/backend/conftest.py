"""Fixtures for the backend tests: a backend process per module, driven over real stdio MCP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mcp_client import BackendClient, stdio_backend
from tests.support.sshd import SshdServer


@pytest.fixture(scope="module")
def backend_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder for one module's backend (log, downloads)."""
    return tmp_path_factory.mktemp("backend")


@pytest.fixture(scope="module")
def backend(sshd: SshdServer, backend_dir: Path) -> Iterator[BackendClient]:
    """``python -m sshwall.backend`` trusting the test sshd's known_hosts, over stdio."""
    args = [
        "--known-hosts", str(sshd.known_hosts_path),
        "--download-dir", str(backend_dir / "downloads"),
        "--log-level", "debug",
    ]
    with stdio_backend(args, backend_dir / "backend.log") as client:
        yield client


@pytest.fixture(scope="module")
def conn(backend: BackendClient, sshd: SshdServer) -> str:
    """A connection id to the test sshd, shared by one module's tests."""
    return backend.connect(sshd)


@pytest.fixture
def remote_dir(sshd: SshdServer, tmp_path: Path) -> str:
    """A fresh folder on the SSH host (the host is this machine, reached over SSH)."""
    path = tmp_path / "remote"
    sshd.check(f"mkdir -p '{path}'")
    return str(path)
