"""Fixtures of the state-layer tests.

``redis_server`` is one real redis-server for the session (``tests/support/redis_server.py``),
``fresh_redis`` a private one a test may kill or pause. ``state_url`` is parametrized over the
three backends, each test getting an empty state: a fresh SQLite file, or its own Redis
namespace. Without redis-server the Redis cases skip, except under ``CI=true``, where they fail.
Async tests run on asyncio through anyio's pytest plugin (``pytestmark = pytest.mark.anyio``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sshwall.limits import State, open_state  # noqa: E402
from tests.support.redis_pytest import start_or_skip  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

BACKENDS = ("memory", "sqlite", "redis")




@pytest.fixture
def anyio_backend() -> str:
    """The state layer is for an asyncio proxy: run async tests on asyncio only."""
    return "asyncio"


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """The session's shared redis-server on 127.0.0.1 (tests isolate by namespace)."""
    server = start_or_skip(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fresh_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test alone, free to be killed, paused and restarted."""
    server = start_or_skip(tmp_path / "redis")
    try:
        yield server
    finally:
        server.stop()


def _namespaced(server: RedisServer) -> str:
    """A URL of ``server`` with a namespace no other test uses."""
    return server.url(namespace=f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL of the shared redis-server with a namespace of this test alone."""
    return _namespaced(redis_server)


@pytest.fixture(params=BACKENDS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty state in each backend."""
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'state.db'}"
    return str(request.getfixturevalue("redis_url"))


@pytest.fixture
async def state(state_url: str) -> AsyncIterator[State]:
    """An open, empty state of each backend, closed after the test."""
    opened = await open_state(state_url)
    try:
        yield opened
    finally:
        await opened.close()
