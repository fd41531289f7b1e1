"""Paper trading: live market data, orders matched locally by the backtest venue's fill model.

``PaperConnector`` is a ``BaseConnector`` wrapping a venue's own connector (live, or one against its
simulator). Market data is the wrapped connector's: ``add_book``/``add_trades``, ``book_status``, the book
path latency and ``health``. Orders never reach the venue: ``create_order``, ``cancel_order``,
``cancel_all_orders``, ``get_order`` and ``get_open_orders`` go to the matching code of
``BacktestConnector`` (engine/backtest/venue.py), which this class inherits, driven by the live frames at
wall-clock time instead of recorded frames on the virtual clock:

- the venue's book is the wrapped connector's live compiled book itself (one ``ExchangeBook`` per
  subscribed symbol over it); a taker walks it and what it takes stays consumed until the book shows
  that level with a different size (a later frame restated it);
- every applied frame runs the resting orders' queue model (``_on_depth``), every public trade the
  trade-driven fills (``_on_trade``), before the strategy's own callbacks see the frame;
- answers and fills come back on this connector's user data stream (the paper fills), with the
  configured ``Latency`` (none by default) measured on the wall clock.

What is not modelled here that the backtest models: the venue's instrument filters (tick, step, minimum
notional) are not checked, because the live connector's instrument list is not read in the backtest
object's format; the venue's refusals for unknown symbols, duplicates, post-only crosses and unknown
orders are the backtest object's (``ConnectorFactory.backtest(name)``). Nothing here names a venue.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from engine.connectors.base import BaseConnector, BookState, BookStatus, ConnectorState
from engine.models import Balance, Side

from .models import Fees, Latency, QueueModel
from .venue import BacktestConnector, BacktestUserStream, ExchangeBook, scaled

# how long the paper user stream's start waits for the subscribed books to go live (seconds)
BOOKS_LIVE_WAIT_S = 10.0


class WallClock:
    """The clock interface ``BacktestConnector`` uses (``VirtualClock``'s), on the wall clock in ns."""

    def __init__(self) -> None:
        self.floor = 0

    def now_ns(self) -> int:
        t = time.time_ns()
        if t > self.floor:
            self.floor = t
        return self.floor

    def reach(self, t_ns: int) -> None:
        if t_ns > self.floor:
            self.floor = t_ns

    def loop_time(self, t_ns: int) -> float:
        return asyncio.get_running_loop().time() + max(0, t_ns - self.now_ns()) / 1e9

    async def sleep_until(self, t_ns: int) -> None:
        wait = t_ns - self.now_ns()
        if wait > 0:
            await asyncio.sleep(wait / 1e9)
        self.reach(t_ns)


class PaperUserStream(BacktestUserStream):
    """The paper answers and fills. ``start`` returns once every book subscribed so far is live (at most
    ``BOOKS_LIVE_WAIT_S``), as a venue's user stream is up only after its own round trips: the strategy's
    first order then does not meet a connector still DEGRADED by a book that has not synced yet."""

    def __init__(self, feeds) -> None:
        super().__init__()
        self._feeds = feeds

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + BOOKS_LIVE_WAIT_S
        while loop.time() < end and any(f.health.state is not BookState.LIVE for f in self._feeds()):
            await asyncio.sleep(0.05)
        await super().start()


@dataclass(frozen=True, slots=True)
class _Print:
    """A live public trade as the matcher reads a decoded trade print."""

    price_scaled: int
    qty_scaled: int
    buyer_is_maker: bool


class PaperConnector(BacktestConnector):
    """``inner``'s market data, the backtest venue's matching for orders (see the module docstring).
    ``venue``: the venue's backtest object (``ConnectorFactory.backtest(name)``)."""

    def __init__(self, inner: BaseConnector, venue, *, seed: int = 0, latency: Latency = Latency(),
                 queue_model: QueueModel = QueueModel(), fees: Fees = Fees()):
        BaseConnector.__init__(self)
        self.inner = inner
        self._init_matcher(venue, seed=seed, latency=latency, queue_model=queue_model, fees=fees,
                           clock=WallClock())
        self.name = inner.name
        self._stream = self._user_stream = PaperUserStream(self._book_feeds)
        self.local: dict = {}  # native -> the inner connector's feed
        self.trade_callbacks: dict = {}
        self.symbols = None  # the inner connector's, once connected
        self._seen: dict = {}  # (native, side, price) -> the level's shown size when it was consumed
        self.paper_trades = 0  # public trades the matcher saw

    # -- lifecycle
    async def connect(self) -> None:
        await self.inner.connect()
        self.symbols = getattr(self.inner, "symbols", None)
        self.state = ConnectorState.LIVE

    async def disconnect(self) -> None:
        self.state = ConnectorState.CLOSED
        await self.inner.disconnect()

    # -- symbols
    def native(self, symbol: str) -> str:
        up = str(symbol).upper()
        if up in self.exch:
            return up
        try:
            n = self.symbols.native(symbol) if self.symbols is not None else up
        except (KeyError, ValueError):
            n = None
        if n is None:
            raise self.venue.refusal("unknown_symbol")
        if n not in self.exch:
            raise self.venue.refusal("unknown_symbol")
        return n

    def unified(self, symbol: str) -> str:
        return self.inner.unified(symbol)

    def new_client_order_id(self) -> str:
        self._cid += 1
        return f"paper-{self._cid}"

    # -- market data: the inner connector's, with the matcher run on each frame and trade
    async def add_book(self, symbol: str, callback=None):
        feed = await self._subscribe(symbol)
        if callback is not None:
            await self.inner.add_book(symbol, callback)
        return feed

    async def _subscribe(self, symbol: str):
        uni = self.inner.unified(symbol)
        for n, f in self.local.items():
            if self.inner.unified(n) == uni:
                return f
        feed = await self.inner.add_book(symbol, None)
        native = feed.health.symbol  # the venue's own name of the symbol
        self.exch[native] = ExchangeBook(native, False, book=feed.book)
        self.local[native] = feed
        # the matcher's callbacks are registered first, so they run before the strategy's
        await self.inner.add_book(symbol, lambda book, n=native: self._on_frame(n))
        await self.inner.add_trades(symbol, lambda tr, n=native: self._on_print(n, tr))
        return feed

    async def add_trades(self, symbol: str, callback) -> None:
        await self._subscribe(symbol)
        await self.inner.add_trades(symbol, callback)

    def _book_feed(self, symbol: str):
        return self.inner._book_feed(symbol)

    def _book_feeds(self):
        return self.inner._book_feeds()

    def book_status(self, symbol: str) -> BookStatus:
        return self.inner.book_status(symbol)

    async def get_orderbook(self, symbol: str, limit: int = 100):
        return await self.inner.get_orderbook(symbol, limit)

    async def get_candlesticks(self, symbol, interval="1m", limit=100, start_ms=None, end_ms=None):
        return await self.inner.get_candlesticks(symbol, interval, limit, start_ms, end_ms)

    async def get_ticker_price(self, symbol: str) -> Decimal:
        return await self.inner.get_ticker_price(symbol)

    async def get_account(self) -> dict[str, Balance]:
        return {}

    def stream_orderbook(self, symbol: str):
        return self.inner.stream_orderbook(symbol)

    def book_latency(self):
        return self.inner.book_latency()

    def health(self) -> dict:
        out = dict(self.inner.health())
        out["state"] = self.state.value
        out["paper"] = {"orders": sum(1 for o in self.orders.values() if o.oid), "fills": len(self.fills),
                        "open": sum(len(xb.resting) for xb in self.exch.values()),
                        "public_trades": self.paper_trades,
                        "last_fill": None if not self.fills else _fill_row(self.fills[-1])}
        return out

    # -- the matcher on live frames
    def _on_frame(self, native: str) -> None:
        xb = self.exch.get(native)
        if xb is None:
            return
        t = self._now_ns()
        for side in (Side.BUY, Side.SELL):
            used = xb.consumed[side]
            for price in list(used):
                key = (native, side, price)
                if self._raw_level(xb, side, price) != self._seen.get(key):
                    used.pop(price, None)
                    self._seen.pop(key, None)
        if xb.resting:
            self._on_depth(xb, t)
        self._remember(native, xb)

    def _on_print(self, native: str, trade) -> None:
        xb = self.exch.get(native)
        if xb is None or not xb.book.synced:
            return
        try:
            px = scaled(trade.price_str or str(trade.price), "price")
            qty = scaled(trade.size_str or str(trade.size), "quantity")
        except (ValueError, TypeError):
            self.malformed += 1
            return
        self.paper_trades += 1
        self._on_trade(xb, _Print(px, qty, trade.side is Side.SELL), self._now_ns())
        self._remember(native, xb)

    def _remember(self, native: str, xb: ExchangeBook) -> None:
        """The shown size of each level with consumed liquidity, as it is now (a change restates it)."""
        for side in (Side.BUY, Side.SELL):
            for price in xb.consumed[side]:
                key = (native, side, price)
                if key not in self._seen:
                    self._seen[key] = self._raw_level(xb, side, price)

    @staticmethod
    def _raw_level(xb: ExchangeBook, side: Side, price: int) -> int:
        n = 16
        while True:
            raw = xb.top(side, n)
            for p, q in raw:
                if p == price:
                    return q
                if (p < price) if side is Side.BUY else (p > price):
                    return 0
            if len(raw) < n:
                return 0
            n *= 8

    def _place(self, o, t: int) -> None:
        super()._place(o, t)
        self._remember(o.symbol, self.exch[o.symbol])


def _fill_row(f) -> dict:
    return {"symbol": f.symbol, "side": f.side, "price": f.price, "qty": f.qty, "liquidity": f.liquidity,
            "fee": f.fee, "t_ns": f.t_ns}


__all__ = ["PaperConnector", "PaperUserStream", "WallClock"]
