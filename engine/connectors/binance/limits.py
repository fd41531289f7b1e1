"""Binance's request budget as data: the documented limits before exchangeInfo is read, and the headers in
which every answer reports what this IP (and account) has used; the market streams' per-connection and
per-IP connection limits, and the pacer that keeps connection attempts within the latter.

``binance_rate_limits()`` is the connector's budget; ``exchangeInfo.rateLimits`` rows are already the shape
``engine.ratelimit.RateLimits`` reads, so ``reconfigure(info["rateLimits"])`` replaces the defaults as is.
"""
from __future__ import annotations

import asyncio
import time
from typing import Iterable, Mapping

from engine.ratelimit import RateLimits

# the documented defaults before exchangeInfo is read (it replaces them at connect)
DEFAULT_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]

# X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S, ...: one header per weight and order-count interval; raw
# requests are reported by none
USAGE_HEADERS: Mapping[str, str] = {
    "REQUEST_WEIGHT": "x-mbx-used-weight-{num}{unit}",
    "ORDERS": "x-mbx-order-count-{num}{unit}",
}


def binance_rate_limits(rows: Iterable[Mapping] = DEFAULT_RATE_LIMITS, **kw) -> RateLimits:
    """The composite budget for ``rows`` (default: the documented limits), reconciled from Binance's headers."""
    return RateLimits(rows, usage_headers=USAGE_HEADERS, **kw)


# Market-stream limits (docs/binance.md, "WebSocket limits"): a connection carries at most 1024 streams and
# an IP may make at most 300 connection attempts per 5 minutes.
MAX_STREAMS_PER_CONNECTION = 1024
CONNECTION_ATTEMPTS = 300
CONNECTION_WINDOW_S = 300.0
# our pacing of attempts: a burst of PACER_BURST, then PACER_PER_WINDOW per window, so that any window of
# CONNECTION_WINDOW_S holds at most PACER_BURST + PACER_PER_WINDOW = 290 attempts (10 left for a restart of
# the process, or the user stream, on the same IP)
PACER_BURST = 50
PACER_PER_WINDOW = 240
# each socket may need two attempts in one window: a reconnect after a network loss and a make-before-break
# replacement; with every socket doing both, 2 * 145 = 290 attempts fit one window
DEFAULT_MAX_CONNECTIONS = (PACER_BURST + PACER_PER_WINDOW) // 2


class ConnectionPacer:
    """Connection attempts under the venue's per-IP attempt limit: a token bucket of ``burst`` attempts
    refilled at ``per_window`` per ``window_s``, so any ``window_s`` starts at most ``burst + per_window``.

    ``reserve()`` books the next attempt and returns how long to wait before making it (the bucket may go
    negative: attempts queue in order); ``acquire()`` waits that long, and gives the attempt back if the
    waiter is cancelled. Counters: ``attempts`` booked, ``delayed`` (had to wait), ``waiting`` now.
    """

    def __init__(self, burst: int = PACER_BURST, per_window: int = PACER_PER_WINDOW,
                 window_s: float = CONNECTION_WINDOW_S, clock=time.monotonic):
        if burst < 1 or per_window <= 0 or window_s <= 0:
            raise ValueError(f"ConnectionPacer needs burst >= 1, per_window > 0, window_s > 0 "
                             f"(got {burst}, {per_window}, {window_s})")
        self.burst = burst
        self.rate = per_window / window_s
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self.attempts = 0
        self.delayed = 0
        self.waiting = 0

    def reserve(self) -> float:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._at) * self.rate)
        self._at = now
        self._tokens -= 1.0
        self.attempts += 1
        if self._tokens >= 0:
            return 0.0
        self.delayed += 1
        return -self._tokens / self.rate

    def refund(self) -> None:
        """An attempt booked but never made."""
        self._tokens = min(float(self.burst), self._tokens + 1.0)

    async def acquire(self) -> None:
        await self.wait(self.reserve())

    async def wait(self, delay: float) -> None:
        """Wait out a ``reserve()``'s delay; a cancelled wait gives its attempt back."""
        if delay <= 0:
            return
        self.waiting += 1
        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self.refund()
            raise
        finally:
            self.waiting -= 1

    def status(self) -> dict:
        return {"attempts": self.attempts, "delayed": self.delayed, "waiting": self.waiting}
