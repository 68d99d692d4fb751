"""A clock the test moves, for what takes one instead of ``time.time``: the limit guard
(``sshwall.proxy.limitguard``), the audit log.

It counts whole milliseconds and hands out seconds (a float, like ``time.time()``). It starts at
a real-looking epoch (Nov 2023): there ``int(seconds * 1000)``, the guard's reading, gives the
millisecond back exactly, which it does not near zero (``int(1.001 * 1000) == 1000``); every
move checks that, so a test of "exactly at the TTL" can never be off by one unseen.
"""

from __future__ import annotations

T0_MS = 1_700_000_000_000


class FakeClock:
    """``clock()`` is the current time in seconds; ``advance``, ``set_ms`` move it."""

    def __init__(self, start_ms: int = T0_MS) -> None:
        self.ms = 0
        self.set_ms(start_ms)

    def __call__(self) -> float:
        return self.ms / 1000

    def advance(self, ms: int) -> None:
        """Move forward by ``ms`` milliseconds (never backwards)."""
        if ms < 0:
            raise ValueError(f"a clock that goes back {ms} ms: use set_ms for that on purpose")
        self.set_ms(self.ms + ms)

    def set_ms(self, ms: int) -> None:
        """Jump to ``ms`` milliseconds since the epoch."""
        if int((ms / 1000) * 1000) != ms:
            raise ValueError(f"{ms} ms does not survive the trip through seconds; start the clock elsewhere")
        self.ms = ms
