"""Fixtures for the gateway's end-to-end tests: real ``sshwall serve`` processes.

Every test here drives a real MCP client -> ``sshwall serve`` (a subprocess) -> an upstream
(the built-in backend, or the command in ``SSHWALL_TEST_UPSTREAM``) -> the session's sshd, all on
127.0.0.1. Gateways are module-scoped where the tests of a module can share one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.proxy.gateway import upstream_args
from tests.support.echo import echo_server
from tests.support.sshd import SshdServer


@pytest.fixture(scope="module")
def gateway_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch folder for one module's gateways (audit logs, stderr logs, downloads)."""
    return tmp_path_factory.mktemp("gateway")


@pytest.fixture(scope="module")
def upstream(sshd: SshdServer, gateway_dir: Path) -> list[str]:
    """The ``sshwall serve`` arguments choosing the upstream (see ``SSHWALL_TEST_UPSTREAM``)."""
    return upstream_args(sshd, gateway_dir)


@pytest.fixture
def remote_dir(sshd: SshdServer, tmp_path: Path) -> str:
    """A fresh folder on the SSH host (this machine, reached over the fixture's own SSH)."""
    path = tmp_path / "remote"
    sshd.check(f"mkdir -p '{path}'")
    return str(path)


@pytest.fixture(scope="module")
def echo_port() -> Iterator[int]:
    """A TCP echo server on 127.0.0.1: the far end of tunnels, reached through sshd."""
    with echo_server() as port:
        yield port
