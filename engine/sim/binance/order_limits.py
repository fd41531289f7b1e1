"""The simulated account's unfilled order count (Binance's ``ORDERS`` rate limits), as the venue keeps it.

One count per limit row, in fixed UTC windows (a 10 SECOND window starts at :00, :10, :20 ... of every minute,
a 1 DAY window at 00:00 UTC); shared by REST and the WS API, as the venue shares it across all APIs of an
account. The rules, from docs/binance.md ("Simulator: unfilled order count (ORDERS limits)"):

- an order request the matching engine accepts adds one to every row's current window; an order refused
  (a filter, the balance, a bad signature, or this limit itself) adds nothing; a cancelReplace that passes
  its filters and this limit adds one whatever becomes of its two halves (``SimExchange.cancel_replace``);
- an order request arriving when a row's window already holds ``limit`` orders is refused with HTTP 429,
  ``-1015 "Too many new orders; current limit is N orders per 10 SECOND."``, with a ``Retry-After`` of the
  seconds until that window ends;
- an order's first fill takes one off every row's current window (never below zero), a moment after the
  fill, so the answer of an order that fills at once still reports the count at its placement;
- answers of order requests carry ``X-MBX-ORDER-COUNT-10S`` / ``X-MBX-ORDER-COUNT-1D`` (one header per row,
  ``(intervalNum)(intervalLetter)``).

Tests shrink the limits with ``configure(per_10s=..., per_day=...)`` (the simulator's exchangeInfo announces
whatever is configured, so a client that reads it learns the same limits).
"""
from __future__ import annotations

import asyncio
import math
import time
from typing import Callable, Optional

from .errors import SimError

SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
DEFAULT_ROWS = (("SECOND", 10, 100), ("DAY", 1, 200000))  # the venue's spot defaults (docs/binance.md)


class OrderLimits:
    def __init__(self, rows=DEFAULT_ROWS, clock: Callable[[], float] = time.time):
        self.clock = clock
        self.rows: list = []
        self.counts: dict = {}  # (interval, num, window index) -> orders counted in that window
        self.placed = 0  # orders counted (ever)
        self.refused = 0  # order requests refused with -1015 (ever)
        self.set_rows(rows)

    def set_rows(self, rows) -> None:
        """Replace the limit rows: ``(interval, intervalNum, limit)`` each, interval SECOND/MINUTE/HOUR/DAY."""
        out = []
        for interval, num, limit in rows:
            if interval not in SECONDS or int(num) < 1 or int(limit) < 1:
                raise ValueError(f"an ORDERS row needs an interval in {sorted(SECONDS)}, intervalNum >= 1 and "
                                 f"limit >= 1 (got {interval!r}, {num!r}, {limit!r})")
            out.append((interval, int(num), int(limit)))
        self.rows = out

    def configure(self, per_10s: Optional[int] = None, per_day: Optional[int] = None) -> None:
        """Set the 10 SECOND and/or the 1 DAY limit (the others stay)."""
        rows = []
        for interval, num, limit in self.rows:
            if (interval, num) == ("SECOND", 10) and per_10s is not None:
                limit = per_10s
            elif (interval, num) == ("DAY", 1) and per_day is not None:
                limit = per_day
            rows.append((interval, num, limit))
        self.set_rows(rows)

    # ---------------------------------------------------------------- windows
    def _key(self, interval: str, num: int, now: float) -> tuple:
        return interval, num, int(now // (SECONDS[interval] * num))

    def count_of(self, interval: str, num: int) -> int:
        return self.counts.get(self._key(interval, num, self.clock()), 0)

    def _prune(self, now: float) -> None:
        live = {self._key(i, n, now) for i, n, _ in self.rows}
        for k in [k for k in self.counts if k not in live]:
            del self.counts[k]

    # ---------------------------------------------------------------- the venue's rules
    def check(self) -> None:
        """Refuse (-1015, HTTP 429) a new order while any row's current window is full."""
        now = self.clock()
        for interval, num, limit in self.rows:
            key = self._key(interval, num, now)
            if self.counts.get(key, 0) >= limit:
                self.refused += 1
                span = SECONDS[interval] * num
                retry = max(1, math.ceil((key[2] + 1) * span - now))
                raise SimError(-1015, f"Too many new orders; current limit is {limit} orders per {num} {interval}.",
                               http=429, headers={"Retry-After": str(retry), **self.headers()})

    def count(self) -> None:
        """One accepted order, in every row's current window."""
        now = self.clock()
        self._prune(now)
        for interval, num, _ in self.rows:
            key = self._key(interval, num, now)
            self.counts[key] = self.counts.get(key, 0) + 1
        self.placed += 1

    def uncount(self) -> None:
        """Take back ``count()`` of an order refused after it was counted (a LIMIT_MAKER that would take)."""
        self._decrement()
        self.placed -= 1

    def filled(self) -> None:
        """An order's first fill: one less in every row's current window (a moment later, as on the venue)."""
        try:
            asyncio.get_running_loop().call_soon(self._decrement)
        except RuntimeError:  # no event loop (a synchronous caller): at once
            self._decrement()

    def _decrement(self) -> None:
        now = self.clock()
        for interval, num, _ in self.rows:
            key = self._key(interval, num, now)
            if self.counts.get(key, 0) > 0:
                self.counts[key] -= 1

    # ---------------------------------------------------------------- reports
    def headers(self) -> dict:
        """``X-MBX-ORDER-COUNT-10S``, ``X-MBX-ORDER-COUNT-1D``, ...: the current count of each row."""
        return {f"X-MBX-ORDER-COUNT-{num}{LETTER[interval]}": str(self.count_of(interval, num))
                for interval, num, _ in self.rows}

    def rate_limits(self, with_count: bool = True) -> list:
        """The rows as exchangeInfo (``with_count=False``), ``GET /api/v3/rateLimit/order`` and the WS API's
        ``rateLimits`` show them."""
        out = []
        for interval, num, limit in self.rows:
            row = {"rateLimitType": "ORDERS", "interval": interval, "intervalNum": num, "limit": limit}
            if with_count:
                row["count"] = self.count_of(interval, num)
            out.append(row)
        return out
