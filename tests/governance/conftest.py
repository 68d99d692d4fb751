"""Fixtures of the end-to-end governance tests: real ``sshwall serve`` processes.

``gateways`` starts gateways (``gateways.start(policy, ...)``, see ``gateway.py``) and closes
every one after the test. ``sqlite_url`` is a SQLite state file of the test, already created.

``shared_redis`` is one real redis-server for the module (tests isolate by namespace, see
``redis_url``), ``own_redis`` one a test may kill and restart. Without redis-server those tests
skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import asyncio
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sshwall.limits import open_state  # noqa: E402
from tests.governance.gateway import Gateways  # noqa: E402
from tests.support.redis_pytest import start_or_skip  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402


@pytest.fixture
def gateways(tmp_path: Path) -> Iterator[Gateways]:
    """Starts ``sshwall serve`` processes; all are closed after the test."""
    factory = Gateways(tmp_path)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """``sqlite:///.../state.db`` of this test, the file already created.

    Created once up front so the replicas a test starts side by side meet an existing database
    (the race of several processes creating one file is not what these tests are about).
    """
    url = f"sqlite://{tmp_path / 'state.db'}"

    async def create() -> None:
        state = await open_state(url)
        await state.close()

    asyncio.run(create())
    return url


@pytest.fixture(scope="module")
def shared_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server shared by a module's tests (each isolates by namespace)."""
    server = start_or_skip(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(shared_redis: RedisServer) -> str:
    """A URL of the shared redis-server with a namespace of this test alone."""
    return shared_redis.url(namespace=f"gov-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, free to be killed and started again."""
    server = start_or_skip(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()
