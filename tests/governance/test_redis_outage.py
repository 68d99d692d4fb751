"""A Redis outage under a running gateway: every call denied with a clear reason, none let through;
Redis back on the same port: calls flow again, with the same ``sshwall serve`` process."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

from tests.governance.gateway import ECHO_UPSTREAM, Gateway, Gateways, Result, policy
from tests.support.redis_server import RedisServer

UNAVAILABLE = "sshwall: denied (rule state.unavailable): state backend unavailable, so the call is refused: "


def _call(gw: Gateway, n: int) -> tuple[Result, float]:
    started = time.monotonic()
    result = gw.call("executeCommand", {"connectionId": "c1", "command": f"echo {n}"}, timeout=30)
    return result, time.monotonic() - started


def _forwarded(record: Path) -> int:
    return len(record.read_text().splitlines()) if record.exists() else 0


def _start(gateways: Gateways, redis: RedisServer, tmp_path: Path) -> tuple[Gateway, Path]:
    record = tmp_path / "upstream.jsonl"
    gw = gateways.start(
        policy("gov-outage.yaml"), state=redis.url(namespace=f"gov-{uuid.uuid4().hex[:8]}"),
        upstream=(*ECHO_UPSTREAM, str(record)), audit=tmp_path / "audit.jsonl",
    )
    return gw, record


def test_redis_killed_then_restarted_under_a_running_gateway(
    gateways: Gateways, own_redis: RedisServer, tmp_path: Path
) -> None:
    gw, record = _start(gateways, own_redis, tmp_path)
    for n in range(3):
        result, _ = _call(gw, n)
        assert result.allowed, result.text
    assert _forwarded(record) == 3

    own_redis.kill()
    outage = [_call(gw, n) for n in range(3, 8)]
    outage += [(r, 0.0) for r in gw.call_many(
        [("executeCommand", {"connectionId": "c1", "command": f"echo {n}"}) for n in range(8, 28)], timeout=60
    )]
    for result, took in outage:
        assert result.denied, result.raw
        assert result.first_line.startswith(UNAVAILABLE), result.first_line
        assert f"redis at 127.0.0.1:{own_redis.port}" in result.first_line
        assert took < 5.0, f"a denial during the outage took {took:.1f} s"
    assert _forwarded(record) == 3, "a call was forwarded while the state backend was down"
    assert gw.proc.poll() is None, "the gateway died with redis"

    own_redis.start()  # same port, empty (no persistence)
    after = [_call(gw, n)[0] for n in range(28, 33)]
    assert all(r.allowed for r in after), [r.first_line for r in after]
    assert _forwarded(record) == 8

    decisions = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    denied = [d for d in decisions if d.get("kind") == "decision" and d["decision"] == "deny"]
    assert len(denied) == 25 and all(d["rules"][-1] == "state.unavailable" for d in denied)


def test_hung_redis_denies_within_the_timeout_and_recovers(
    gateways: Gateways, own_redis: RedisServer, tmp_path: Path
) -> None:
    gw, record = _start(gateways, own_redis, tmp_path)
    assert _call(gw, 0)[0].allowed

    own_redis.pause()
    try:
        result, took = _call(gw, 1)
        assert result.denied
        assert result.first_line.startswith(UNAVAILABLE), result.first_line
        assert took < 5.0, f"a hung redis held the call {took:.1f} s"
    finally:
        own_redis.resume()
    assert _forwarded(record) == 1

    result, _ = _call(gw, 2)
    assert result.allowed, result.first_line
    assert _forwarded(record) == 2
