"""Cross-venue monitor: the same instrument's mid and spread on every venue, and the gap between them."""
from __future__ import annotations

import logging

from .base import Strategy

log = logging.getLogger("engine.strategy.cross_venue")


class CrossVenueMonitor(Strategy):
    name = "cross-venue-monitor"
    timer_s = 1.0

    def __init__(self, engine, symbols: dict):
        super().__init__(engine, symbols)
        self.last: dict = {}
        self.trades: dict = {}  # venue -> public trades seen

    def on_trade(self, venue, trade) -> None:
        self.trades[venue] = self.trades.get(venue, 0) + 1

    def snapshot(self) -> dict:
        """{symbol: {venue: (mid, spread)}, ...} plus the largest mid gap per symbol in basis points."""
        out: dict = {}
        for (venue, sym), book in self.books.items():
            if book.synced and book.best_bid == book.best_bid:
                out.setdefault(sym, {})[venue] = (book.mid, book.best_ask - book.best_bid)
        gaps = {}
        for sym, per in out.items():
            mids = [m for m, _ in per.values()]
            if len(mids) > 1 and min(mids) > 0:
                gaps[sym] = (max(mids) - min(mids)) / min(mids) * 10_000
        return {"venues": out, "gap_bps": gaps}

    async def on_timer(self) -> None:
        self.last = self.snapshot()
        for sym, gap in self.last["gap_bps"].items():
            log.debug("%s: cross-venue mid gap %.2f bps", sym, gap)
