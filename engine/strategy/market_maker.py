"""A small inventory-aware quoting market maker (an example to learn from, not advice).

Every tick it quotes one post-only bid and ask around the mid: ``half_spread_bps`` away, shifted against
its inventory (long -> both quotes lower, so it sells more easily and buys less), and sizes shrink on the
side that would grow the position past ``max_inventory``. Quotes that drifted more than
``requote_bps`` from where they should be are cancelled and replaced. Its parameters are ``Params``
(``engine run --strategy mm --param half_spread_bps=3``); ``create`` makes one instance per venue and
symbol.
"""
from __future__ import annotations

import dataclasses
from decimal import ROUND_DOWN, Decimal

from engine.models import OrderRequest, OrderType, Side

from .base import Strategy


class InventoryMarketMaker(Strategy):
    name = "market-maker"
    timer_s = 0.5
    orders_per_symbol = 2  # a bid and an ask in the same tick

    @dataclasses.dataclass(frozen=True)
    class Params:
        size: Decimal = Decimal("0.01")  # base units per quote
        half_spread_bps: Decimal = Decimal("5")  # each quote's distance from the mid
        skew_bps_per_unit: Decimal = Decimal("20")  # both quotes move this much against each unit held
        max_inventory: Decimal = Decimal("0.1")  # no quote that would grow the position past this
        requote_bps: Decimal = Decimal("2")  # a quote further than this from where it should be is replaced
        tick: Decimal = Decimal("0.01")  # quotes are rounded down to a multiple of this

    def __init__(self, engine, venue: str, symbol: str, params=None, **overrides):
        """One quoting instance on ``venue``/``symbol``; ``overrides`` replace fields of ``params``
        (``InventoryMarketMaker(ex, "binance", "ETH-USDT", size=Decimal("0.02"))``)."""
        p = params if params is not None else type(self).Params()
        if overrides:
            p = dataclasses.replace(p, **overrides)
        super().__init__(engine, {venue: [symbol]}, p)
        self.venue, self.symbol = venue, symbol
        self.size, self.half_spread_bps, self.skew = p.size, p.half_spread_bps, p.skew_bps_per_unit
        self.max_inventory, self.requote_bps, self.tick = p.max_inventory, p.requote_bps, p.tick
        self.quotes: dict = {Side.BUY: None, Side.SELL: None}  # side -> ManagedOrder
        self.fills = 0

    @classmethod
    def create(cls, engine, symbols: dict, params) -> list:
        """One market maker per venue and symbol."""
        return [cls(engine, venue, sym, params) for venue, syms in symbols.items() for sym in syms]

    def on_order(self, order) -> None:
        if order.request.symbol == self.symbol and order.filled > 0 and order.is_final:
            self.fills += 1

    async def on_timer(self) -> None:
        book = self.books.get((self.venue, self.symbol))
        if book is None or not book.synced:
            return
        mid = Decimal(str(book.mid))
        if mid.is_nan():
            return
        inv = self.engine.position(self.venue, self.symbol).qty
        shift = -self.skew * inv / Decimal(10_000) * mid
        for side in (Side.BUY, Side.SELL):
            sign = -1 if side is Side.BUY else 1
            want = (mid + shift + sign * self.half_spread_bps / Decimal(10_000) * mid)
            want = (want / self.tick).quantize(Decimal(1), rounding=ROUND_DOWN) * self.tick
            grows = (side is Side.BUY and inv >= 0) or (side is Side.SELL and inv <= 0)
            size = self.size if not grows or abs(inv) + self.size <= self.max_inventory else Decimal(0)
            q = self.quotes[side]
            if q is not None and not q.is_final:
                drift = abs(q.request.price - want) / mid * 10_000
                if drift <= self.requote_bps and size > 0:
                    continue
                await self.cancel(q.client_order_id)
            self.quotes[side] = None
            if size > 0:
                self.quotes[side] = await self.submit(self.venue, OrderRequest(
                    self.symbol, side, OrderType.LIMIT_MAKER, size, want))

    async def on_stop(self) -> None:
        for q in self.quotes.values():
            if q is not None and not q.is_final:
                await self.cancel(q.client_order_id)
