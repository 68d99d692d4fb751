"""Fixtures of the CLI tests: a real redis-server for ``sshwall approvals --state redis://``.

The same server as the state-layer tests use (``tests/support/redis_server.py``); each test
gets its own namespace. Without redis-server the Redis cases skip, except under ``CI=true``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from tests.support.redis_server import RedisServer, RedisUnavailable, start_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One redis-server on 127.0.0.1 for the session's CLI tests."""
    try:
        server = start_redis(tmp_path_factory.mktemp("redis"))
    except RedisUnavailable as exc:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    """A URL of the shared redis-server with a namespace of this test alone."""
    return redis_server.url(namespace=f"test-{uuid.uuid4().hex[:12]}")
