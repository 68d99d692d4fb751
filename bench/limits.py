"""Decision overhead of each state backend: one ``acquire()`` per call, memory vs SQLite vs Redis.

    .venv/bin/python bench/limits.py [-n 3000] [--warmup 200] [--identities 100]

Starts its own throwaway redis-server on a free 127.0.0.1 port (tests/support/redis_server.py)
and a SQLite file in a temp folder, then times ``limiter.acquire()`` call by call, rotating
between the backends so all three see the same machine load. Each call checks two caps, as a
proxied tool call typically does: a per-identity counter (``--identities`` identities in turn)
and a global one: 60 per minute per identity, 1000 per minute in all. The injected clock moves
100 ms per call (10 calls a second), so every call is allowed (the common case, and the one that
writes) and the logs hold what such traffic leaves in them (about 600 events in the global
one). Prints the median and p99 per call and their ratio to the memory backend.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from sshwall.limits import LimitRequest, State, open_state  # noqa: E402
from tests.support.redis_server import start_redis  # noqa: E402


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _measure(states: dict[str, State], n: int, warmup: int, identities: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in states}
    clock_ms = time.time_ns() // 1_000_000
    for i in range(warmup + n):
        requests = [
            LimitRequest(f"exec|grant=user{i % identities}", 60_000, 60),
            LimitRequest("calls|global=", 60_000, 1_000),
        ]
        now_ms = clock_ms + 100 * i
        for name, state in states.items():
            start = time.perf_counter()
            result = await state.limiter.acquire(requests, now_ms)
            elapsed = time.perf_counter() - start
            if not result.allowed:
                raise SystemExit(f"{name}: unexpected deny: {result.reason}")
            if i >= warmup:
                times[name].append(elapsed)
    return times


async def _run(args: argparse.Namespace, tmp: Path) -> None:
    with start_redis(tmp / "redis") as server:
        states = {
            "memory": await open_state("memory://"),
            "sqlite": await open_state(f"sqlite://{tmp / 'state.db'}"),
            "redis": await open_state(server.url(namespace="bench")),
        }
        try:
            times = await _measure(states, args.n, args.warmup, args.identities)
        finally:
            for state in states.values():
                await state.close()
    base_med = statistics.median(times["memory"])
    base_p99 = _pct(times["memory"], 0.99)
    print(f"acquire() with 2 caps, {args.n} calls per backend, interleaved (redis-server on 127.0.0.1:{server.port})")
    print(f"{'backend':<8} {'median':>10} {'p99':>10} {'median/memory':>14} {'p99/memory':>11}")
    for name, values in times.items():
        med, p99 = statistics.median(values), _pct(values, 0.99)
        print(f"{name:<8} {med * 1e6:>8.1f}us {p99 * 1e6:>8.1f}us {med / base_med:>13.1f}x {p99 / base_p99:>10.1f}x")


def main() -> int:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=3000, help="measured calls per backend (default 3000)")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--identities", type=int, default=100, help="identities the calls rotate through")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sshwall-bench-limits-") as tmp:
        asyncio.run(_run(args, Path(tmp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
