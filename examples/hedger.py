"""A cross-venue hedger: it quotes post-only on one venue and hedges every fill there on the other.

    engine run --strategy examples/hedger.py:Hedger --symbols BTC-USDT --duration 30
    engine run --strategy examples/hedger.py:Hedger --param quote_venue=binance --param hedge_venue=lighter

On ``quote_venue`` it rests a bid at the best bid and an ask at the best ask (the book's exact levels,
post-only, so a quote never takes), replacing a quote once the touch has moved more than
``requote_bps`` away from it. Whenever a quote fills, the net position over both venues is no longer
zero, and it sends an IOC limit order on ``hedge_venue`` at that book's touch for the difference (a
partial hedge is topped up on the next fill or tick). It needs two trading venues: by default the first
two it is given, in the order ``engine run`` lists them (MONITOR_EXCHANGES, then ACTIVE_EXCHANGE), and
the first symbol. See docs/strategy.md.
"""
from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

from engine.models import OrderRequest, OrderType, Side, TimeInForce
from engine.strategy import Strategy


class Hedger(Strategy):
    name = "hedger"
    timer_s = 0.5

    @dataclasses.dataclass(frozen=True)
    class Params:
        quote_venue: str = ""  # "" = the first venue given
        hedge_venue: str = ""  # "" = the other one
        symbol: str = ""  # "" = the first symbol given
        size: Decimal = Decimal("0.01")  # base units per quote
        requote_bps: Decimal = Decimal("2")  # a quote this far from the touch is replaced
        max_position: Decimal = Decimal("0.05")  # no quote that would grow the quote venue's position past this

    @classmethod
    def create(cls, engine, symbols: dict, params) -> list:
        venues = list(symbols)
        quote = params.quote_venue or (venues[0] if venues else "")
        hedge = params.hedge_venue or next((v for v in venues if v != quote), "")
        for what, v in (("quote_venue", quote), ("hedge_venue", hedge)):
            if v not in symbols:
                raise ValueError(f"{what} {v!r} is not a trading venue here (trading: {', '.join(venues) or 'none'});"
                                 " the hedger needs two")
        if quote == hedge:
            raise ValueError("quote_venue and hedge_venue must differ")
        sym = params.symbol or symbols[quote][0]
        if sym not in symbols[quote] or sym not in symbols[hedge]:
            raise ValueError(f"symbol {sym!r} is not traded on both {quote} and {hedge}")
        p = dataclasses.replace(params, quote_venue=quote, hedge_venue=hedge, symbol=sym)
        return [cls(engine, {quote: [sym], hedge: [sym]}, p)]

    def __init__(self, engine, symbols, params=None):
        super().__init__(engine, symbols, params)
        p = self.params
        self.quote_venue, self.hedge_venue, self.symbol = p.quote_venue, p.hedge_venue, p.symbol
        self.quotes: dict = {Side.BUY: None, Side.SELL: None}
        self.hedges: list = []  # every hedge ManagedOrder sent
        self.seen: dict = {}  # client order id -> filled quantity already acted on
        self.quote_fills = 0
        self._lock = asyncio.Lock()
        self._tasks: set = set()

    def _net(self) -> Decimal:
        """Position on both venues plus what hedges still in flight may add."""
        net = (self.engine.position(self.quote_venue, self.symbol).qty
               + self.engine.position(self.hedge_venue, self.symbol).qty)
        for h in self.hedges:
            if not h.is_final:
                net += h.request.side.sign * (h.request.quantity - h.filled)
        return net

    def on_order(self, order) -> None:
        if order.venue != self.quote_venue or order.request.symbol != self.symbol:
            return
        if order.filled > self.seen.get(order.client_order_id, 0):
            self.seen[order.client_order_id] = order.filled
            self.quote_fills += 1
            t = asyncio.get_running_loop().create_task(self._hedge())  # callbacks must not block: a task
            self._tasks.add(t)
            t.add_done_callback(self._tasks.discard)

    async def _hedge(self) -> None:
        async with self._lock:
            net = self._net()
            if net == 0:
                return
            book = self.books.get((self.hedge_venue, self.symbol))
            if book is None or not book.synced:
                return
            bids, asks = book.top_exact(1)
            side, level = (Side.SELL, bids) if net > 0 else (Side.BUY, asks)
            if not level:
                return
            self.hedges.append(await self.submit(self.hedge_venue, OrderRequest(
                self.symbol, side, OrderType.LIMIT, abs(net), Decimal(level[0][0]), time_in_force=TimeInForce.IOC)))

    async def on_timer(self) -> None:
        await self._hedge()  # tops up a partial hedge
        book = self.books.get((self.quote_venue, self.symbol))
        if book is None or not book.synced:
            return
        bids, asks = book.top_exact(1)
        if not bids or not asks:
            return
        pos = self.engine.position(self.quote_venue, self.symbol).qty
        for side, touch in ((Side.BUY, Decimal(bids[0][0])), (Side.SELL, Decimal(asks[0][0]))):
            grows = pos >= 0 if side is Side.BUY else pos <= 0
            allowed = not grows or abs(pos) + self.params.size <= self.params.max_position
            q = self.quotes[side]
            if q is not None and not q.is_final:
                if allowed and abs(q.request.price - touch) / touch * 10_000 <= self.params.requote_bps:
                    continue
                await self.cancel(q.client_order_id)
            self.quotes[side] = None
            if allowed:
                self.quotes[side] = await self.submit(self.quote_venue, OrderRequest(
                    self.symbol, side, OrderType.LIMIT_MAKER, self.params.size, touch))

    async def on_stop(self) -> None:
        for t in list(self._tasks):
            t.cancel()
        for q in self.quotes.values():
            if q is not None and not q.is_final:
                await self.cancel(q.client_order_id)

    def status(self) -> dict:
        return {"quote_venue": self.quote_venue, "hedge_venue": self.hedge_venue, "symbol": self.symbol,
                "quote_fills": self.quote_fills, "hedges_sent": len(self.hedges),
                "hedges_filled": sum(1 for h in self.hedges if h.filled > 0), "net": f"{self._net().normalize():f}"}
