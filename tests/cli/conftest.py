"""Fixtures of the CLI tests: a real redis-server for ``sshwall approvals --state redis://``.

The same server as the state-layer tests use (``tests/support/redis_server.py``); each test
gets its own namespace. Without redis-server the Redis cases skip, except under ``CI=true``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.redis_pytest import start_or_skip
from tests.support.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server on 127.0.0.1 for the session's CLI tests."""
    server = start_or_skip(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL of the shared redis-server with a namespace of this test alone."""
    return redis_server.url(namespace=f"test-{uuid.uuid4().hex[:12]}")
