"""A separate sshwall process hammering one shared state (run by test_state_sharing.py).

    python state_worker.py URL KEY CALLS MAX NOW_MS

Opens the state, prints ``ready``, waits for a line on stdin (so all workers start together),
fires CALLS concurrent ``acquire`` calls (asyncio.gather) against max MAX at NOW_MS, and prints
one JSON line: {"allowed": N, "denied": N, "errors": [messages]}.
"""

from __future__ import annotations

import asyncio
import json
import sys

from sshwall.errors import StateError
from sshwall.limits import LimitRequest, LimitResult, open_state


async def main(url: str, key: str, calls: int, cap: int, now_ms: int) -> dict[str, object]:
    """Run the burst and count the outcomes."""
    state = await open_state(url)
    request = [LimitRequest(key, 60_000, cap)]
    try:
        # Connect (and load Redis's script) before the start line: a cap of 0 denies, recording nothing.
        await state.limiter.acquire([LimitRequest(key, 60_000, 0)], now_ms)
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)

        async def one() -> LimitResult | str:
            try:
                return await state.limiter.acquire(request, now_ms)
            except StateError as exc:
                return str(exc)

        outcomes = await asyncio.gather(*(one() for _ in range(calls)))
    finally:
        await state.close()
    results = [o for o in outcomes if isinstance(o, LimitResult)]
    return {
        "allowed": sum(r.allowed for r in results),
        "denied": sum(not r.allowed for r in results),
        "errors": [o for o in outcomes if isinstance(o, str)],
    }


if __name__ == "__main__":
    url, key, calls, cap, now = sys.argv[1:6]
    print(json.dumps(asyncio.run(main(url, key, int(calls), int(cap), int(now)))), flush=True)
