"""Rate limiting: compiled token buckets, and a venue's limits as one composite budget.

``TokenBucketLimiter(rate, capacity)`` is the compiled bucket (integer accounting, ~40 ns per
``try_acquire``). ``RateLimits`` builds one bucket per row of limits given as data, each row
``{"rateLimitType": kind, "interval": SECOND|MINUTE|HOUR|DAY, "intervalNum": n, "limit": n}`` with kind
REQUEST_WEIGHT, ORDERS or RAW_REQUESTS (the shape Binance publishes in ``exchangeInfo.rateLimits``; other
venues state theirs in it too, e.g. ``engine/connectors/lighter/limits.py``), and:
- debits a request's weight, raw count and order count all at once, or nothing;
- reconciles with the usage headers the venue names (``usage_headers``: kind -> header template; the
  server is authoritative: other processes on the same IP spend the same budget);
- counts every row the venue reports in its fixed window as well (Binance's minute, 10 s and day windows
  start on the UTC clock, not at our first request): what the server reports used stays used until that
  window ends, however fast the bucket refills, so a budget reported spent is not spent again the same
  minute;
- honours a ban (``ban(retry_after)`` after 429/418) until it ends;
- ``await acquire(...)`` sleeps exactly until the budget allows (one timer, no polling) and serves waiters
  strictly first come, first served, so a large request is not starved by a stream of small ones.
"""
from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Optional

from engine._build import load

_rl = load("engine._ratelimit")

TokenBucketLimiter = _rl.TokenBucketLimiter
MAX_CAPACITY = _rl.MAX_CAPACITY  # the largest bucket (tokens); ext/engine/_ratelimit.pyx has every limit
monotonic_ns = _rl.monotonic_ns
BUILD_MODE = _rl.BUILD_MODE

_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}


@dataclass
class _Limit:
    kind: str  # REQUEST_WEIGHT | ORDERS | RAW_REQUESTS
    interval: str
    interval_num: int
    limit: int
    bucket: object
    header: str  # lower-case name of the header reporting this limit's usage, "" when none does
    window_ns: int = 0  # the venue's fixed window (interval * num) in ns
    # venue window index (wall-clock ns // window_ns) -> what the server reported used in it plus what we
    # took since; only the windows around now are kept
    used: dict = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.interval_num}{_LETTER[self.interval]}"

    def used_in(self, windows) -> int:
        return max(self.used.get(w, 0) for w in windows)

    def add(self, windows, cost: int) -> None:
        for w in windows:
            self.used[w] = self.used.get(w, 0) + cost
        for old in [k for k in self.used if k < windows[0] - 1]:
            del self.used[old]

    def report(self, window: int, used: int) -> None:
        self.used[window] = max(self.used.get(window, 0), used)


class RateLimits:
    """One IP's (and account's) request budget. Use ``safety`` < 1 to keep a margin under the limits.

    ``usage_headers`` maps a kind to the template of the header in which the venue reports what is used of
    it, with ``{num}`` and ``{unit}`` (s, m, h, d) filled from each row: ``"used-{num}{unit}"`` names
    ``used-1m`` for a 1-MINUTE row. Kinds without a template are counted locally only.

    ``wall_clock_ns`` (UTC ns) places the venue's fixed windows; by default ``time.time_ns``, or ``clock_ns``
    itself when a clock is given (a test's fake clock then drives both). A local clock ahead of the venue's
    ends a window early; ``window_margin_s`` (default 1 s) holds a reported window that much longer.
    """

    def __init__(self, limits: Iterable[Mapping], *, usage_headers: Optional[Mapping[str, str]] = None,
                 safety: float = 0.95, clock_ns=monotonic_ns, wall_clock_ns=None, window_margin_s: float = 1.0):
        if not 0 < safety <= 1:
            raise ValueError("safety must be in (0, 1]")
        if not 0 <= window_margin_s < 60:
            raise ValueError("window_margin_s must be in [0, 60)")
        self.safety = safety
        self.usage_headers = dict(usage_headers or {})
        self._clock_ns = clock_ns
        self._wall_ns = wall_clock_ns or (time.time_ns if clock_ns is monotonic_ns else clock_ns)
        self._margin_ns = int(window_margin_s * 1e9)
        self._limits: list[_Limit] = []
        self._header_names: frozenset = frozenset()
        self.banned_until_ns = 0
        self.bans = 0
        self.queued = 0  # acquire() calls that could not pass at once and waited in line (ever)
        self._waiters: collections.deque = collections.deque()
        self._timer: Optional[asyncio.TimerHandle] = None
        self.reconfigure(limits)

    def reconfigure(self, rate_limits: Iterable[Mapping]) -> None:
        """(Re)build the buckets from limit rows (the module docstring's shape); unknown rows are ignored."""
        now = self._clock_ns()
        out = []
        for row in rate_limits:
            kind, interval = row.get("rateLimitType"), row.get("interval")
            num, limit = int(row.get("intervalNum", 1)), int(row.get("limit", 0))
            if kind not in ("REQUEST_WEIGHT", "ORDERS", "RAW_REQUESTS") or interval not in _SECONDS or limit <= 0:
                continue
            capacity = max(1, int(limit * self.safety))
            rate = capacity / (_SECONDS[interval] * num)
            template = self.usage_headers.get(kind)
            header = template.format(num=num, unit=_LETTER[interval].lower()).lower() if template else ""
            out.append(_Limit(kind, interval, num, limit, TokenBucketLimiter(rate, capacity, now=now), header,
                              window_ns=_SECONDS[interval] * num * 1_000_000_000))
        self._limits = out
        self._header_names = frozenset(lim.header for lim in out if lim.header)

    # -- synchronous API
    def _costs(self, weight: int, orders: int):
        for lim in self._limits:
            cost = weight if lim.kind == "REQUEST_WEIGHT" else orders if lim.kind == "ORDERS" else 1
            if cost:
                yield lim, cost

    def try_acquire(self, weight: int = 1, orders: int = 0, *, now_ns: Optional[int] = None) -> bool:
        """All of the request's costs at once, or nothing (and False)."""
        if self._waiters:  # first come, first served: nobody overtakes a waiter
            return False
        return self._take(weight, orders, self._clock_ns() if now_ns is None else now_ns)

    def _window(self, lim: _Limit, wall: int) -> int:
        """The venue window ``wall`` falls in, seen ``window_margin_s`` late (a reported window lasts longer)."""
        return (wall - self._margin_ns) // lim.window_ns

    def _windows(self, lim: _Limit, wall: int) -> tuple:
        """Every venue window ``wall`` may fall in when our clock is off by up to ``window_margin_s``: one, or
        the two either side of a boundary. What we take counts in each, so a request sent in a window's first
        moments is not forgotten when our late view of that window begins."""
        early, late = (wall - self._margin_ns) // lim.window_ns, (wall + self._margin_ns) // lim.window_ns
        return (early,) if early == late else (early, late)

    def _window_wait_s(self, lim: _Limit, cost: int, wall: int) -> float:
        """Seconds until the venue's windows have room for ``cost`` (0 when they have, or the row is not
        reported): the full window's end plus the margin."""
        if not lim.header:
            return 0.0
        full = [w for w in self._windows(lim, wall) if lim.used.get(w, 0) + cost > lim.bucket.capacity]
        if not full:
            return 0.0
        return ((max(full) + 1) * lim.window_ns + self._margin_ns - wall) / 1e9

    def _take(self, weight: int, orders: int, now: int) -> bool:
        if now < self.banned_until_ns:
            return False
        wall = self._wall_ns()
        costs = list(self._costs(weight, orders))
        if any(lim.bucket.wait_time_at(c, now) > 0 or self._window_wait_s(lim, c, wall) > 0 for lim, c in costs):
            return False
        for lim, c in costs:
            lim.bucket.try_acquire_at(c, now)
            if lim.header:
                lim.add(self._windows(lim, wall), c)
        return True

    def wait_time(self, weight: int = 1, orders: int = 0, *, now_ns: Optional[int] = None) -> float:
        """Seconds until ``try_acquire(weight, orders)`` would succeed (ban and the venue's windows included)."""
        now = self._clock_ns() if now_ns is None else now_ns
        wall = self._wall_ns()
        wait = max(0.0, (self.banned_until_ns - now) / 1e9)
        for lim, c in self._costs(weight, orders):
            wait = max(wait, lim.bucket.wait_time_at(c, now), self._window_wait_s(lim, c, wall))
        return wait

    def update_from_headers(self, headers: Mapping[str, str]) -> None:
        """Lower our view of what is left to what the server reports as used."""
        if not headers or not self._header_names:
            return
        now = self._clock_ns()
        wall = self._wall_ns()
        names = self._header_names
        lowered = {name: v for name, v in ((k.lower(), v) for k, v in headers.items()) if name in names}
        for lim in self._limits:
            v = lowered.get(lim.header) if lim.header else None
            if v is None:
                continue
            try:
                used = int(v)
            except ValueError:
                continue
            # our bucket holds limit * safety; what the server saw used comes off that
            lim.bucket.reconcile_used(used, now)
            # and stays used until its window ends (the larger count wins: requests we took may not have
            # reached the server yet, and other processes on the IP count too)
            lim.report(self._window(lim, wall), used)

    def ban(self, retry_after_s: float) -> None:
        """No request until ``retry_after_s`` from now (429/418 ``Retry-After``)."""
        until = self._clock_ns() + int(max(0.0, retry_after_s) * 1e9)
        if until > self.banned_until_ns:
            self.banned_until_ns = until
            self.bans += 1
        self._schedule()

    @property
    def banned(self) -> bool:
        return self._clock_ns() < self.banned_until_ns

    def status(self) -> dict:
        now = self._clock_ns()
        wall = self._wall_ns()
        out = {lim.name: {"used": round(max(lim.bucket.capacity - lim.bucket.available_at(now),
                                            lim.used_in(self._windows(lim, wall)) if lim.header else 0), 1),
                          "limit": lim.limit} for lim in self._limits}
        out["banned_for_s"] = round(max(0.0, (self.banned_until_ns - now) / 1e9), 3)
        out["waiting"] = len(self._waiters)
        out["queued"] = self.queued
        return out

    # -- asynchronous API: FIFO waiters, one timer for the head of the line
    async def acquire(self, weight: int = 1, orders: int = 0) -> None:
        for lim, c in self._costs(weight, orders):
            if c > lim.bucket.capacity:
                raise ValueError(f"a request costing {c} can never pass {lim.name} (capacity {lim.bucket.capacity})")
        if self.try_acquire(weight, orders):
            return
        fut = asyncio.get_running_loop().create_future()
        self.queued += 1
        self._waiters.append((weight, orders, fut))
        self._schedule()
        try:
            await fut
        except asyncio.CancelledError:
            if not fut.done() or fut.cancelled():
                try:
                    self._waiters.remove((weight, orders, fut))
                except ValueError:
                    pass
                self._schedule()
                raise
            # granted just as we were cancelled: give the tokens back
            for lim, c in self._costs(weight, orders):
                lim.bucket.refund(c)
            raise

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._waiters:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._timer = loop.call_soon(self._pump)

    def _pump(self) -> None:
        self._timer = None
        while self._waiters:
            weight, orders, fut = self._waiters[0]
            if fut.done():
                self._waiters.popleft()
                continue
            now = self._clock_ns()
            wait = self.wait_time(weight, orders, now_ns=now)
            if wait > 0:
                self._timer = asyncio.get_running_loop().call_later(wait, self._pump)
                return
            self._take(weight, orders, now)
            self._waiters.popleft()
            fut.set_result(None)


__all__ = ["TokenBucketLimiter", "MAX_CAPACITY", "RateLimits", "monotonic_ns", "BUILD_MODE"]
