"""``start_or_skip(workdir)``: a real redis-server for a test, or the test skipped when this
machine has none (a failure under ``CI=true``, where it must be there). One copy for every
test folder's fixtures (``tests.support.redis_server`` stays free of pytest for the benches)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.redis_server import RedisServer, RedisUnavailable, start_redis


def missing(reason: str) -> None:
    """Skip the test for ``reason``; fail it under ``CI=true``."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def start_or_skip(workdir: Path) -> RedisServer:
    """A started redis-server with its files in ``workdir`` (see the module doc)."""
    try:
        return start_redis(workdir)
    except RedisUnavailable as exc:
        missing(str(exc))
        raise  # unreachable: ``missing`` always raises
