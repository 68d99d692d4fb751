"""One replica of the SQLite state in its own process, driven line by line (test_sqlite_replaced.py).

    python replica_worker.py PATH CAP WATCH

Opens the SQLite state at PATH (``WATCH`` seconds between the watcher's checks of the path, 0:
no watcher, so only calls notice a replaced file), prints ``ready`` and then answers each line
of stdin: ``acquire N`` fires N concurrent ``acquire`` calls of one global cap of CAP per minute
(all at the same injected time) and prints ``{"allowed": N, "denied": N, "errors": [...]}``;
``quit`` closes the state and exits.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

from sshwall.errors import StateError
from sshwall.limits import LimitRequest, LimitResult
from sshwall.limits.sqlite import SqliteLimiter
from sshwall.limits.sqlite_db import SqliteDatabase

T0 = 1_700_000_000_000


async def main(path: Path, cap: int, watch_s: float) -> None:
    """Serve the commands of stdin until ``quit``."""
    db = SqliteDatabase(path, timeout_s=5.0, watch_s=watch_s or None)
    await db.open()
    limiter = SqliteLimiter(db)
    request = [LimitRequest("exec|global=", 60_000, cap)]

    async def one() -> LimitResult | str:
        try:
            return await limiter.acquire(request, T0)
        except StateError as exc:
            return str(exc)

    print("ready", flush=True)
    try:
        while True:
            line = (await asyncio.to_thread(sys.stdin.readline)).split()
            if not line or line[0] == "quit":
                return
            outcomes = await asyncio.gather(*(one() for _ in range(int(line[1]))))
            results = [o for o in outcomes if isinstance(o, LimitResult)]
            print(json.dumps({
                "allowed": sum(r.allowed for r in results),
                "denied": sum(not r.allowed for r in results),
                "errors": [o for o in outcomes if isinstance(o, str)],
            }), flush=True)
    finally:
        await limiter.close()


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(name)s: %(message)s")
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
