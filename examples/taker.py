"""A simple taker: every ``every_s`` seconds it crosses the spread with an IOC limit order at the touch.

    engine run --strategy examples/taker.py:Taker --duration 20
    engine run --strategy examples/taker.py:Taker --param size=0.02 --param every_s=5

On each venue and symbol it is given it buys at the best ask when its position there is flat or short,
and sells at the best bid when it is long, so its position there stays within +-size. The price is
the book's exact best level (``top_exact``), so it is on the venue's tick without any rounding here;
an IOC order fills what is there at that price and the rest is cancelled by the venue. One order per
venue and symbol is in flight at a time. See docs/strategy.md.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal

from engine.models import OrderRequest, OrderType, Side, TimeInForce
from engine.strategy import Strategy


class Taker(Strategy):
    name = "taker"

    @dataclasses.dataclass(frozen=True)
    class Params:
        size: Decimal = Decimal("0.01")  # base units per order
        every_s: float = 2.0  # seconds between orders on each venue and symbol

    def __init__(self, engine, symbols, params=None):
        super().__init__(engine, symbols, params)
        self.timer_s = self.params.every_s  # the runner reads timer_s on every tick
        self.last: dict = {}  # (venue, symbol) -> the last ManagedOrder sent there
        self.sent: list = []  # every ManagedOrder it sent (their state is kept current by the engine)

    async def on_timer(self) -> None:
        for venue, symbols in self.symbols.items():
            for sym in symbols:
                prev = self.last.get((venue, sym))
                if prev is not None and not prev.is_final:
                    continue
                book = self.books.get((venue, sym))
                if book is None or not book.synced:
                    continue
                bids, asks = book.top_exact(1)
                if not bids or not asks:
                    continue
                long = self.engine.position(venue, sym).qty > 0
                side, (price, _) = (Side.SELL, bids[0]) if long else (Side.BUY, asks[0])
                self.last[(venue, sym)] = order = await self.submit(venue, OrderRequest(
                    sym, side, OrderType.LIMIT, self.params.size, Decimal(price), time_in_force=TimeInForce.IOC))
                self.sent.append(order)

    def status(self) -> dict:
        return {"sent": len(self.sent), "filled": sum(1 for o in self.sent if o.filled > 0),
                "last": {f"{v}:{s}": o.status.value for (v, s), o in self.last.items()}}
