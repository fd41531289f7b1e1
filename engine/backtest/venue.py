"""The backtest venue: a ``BaseConnector`` whose exchange is a matching model over recorded frames.

Two copies of every recorded book are kept, both ``engine.book.BookSync`` over the compiled
``OrderBook``, fed the recorded raw frames in recorded order, as the live connector feeds them:

- the *local* book is what the strategy reads (``add_book`` returns it, callbacks fire after each applied
  frame), fed at each frame's local receive time;
- the *exchange* book is what the venue matches against, fed at the frame's exchange time (the receive
  time minus the feed latency, see docs/backtest.md).

Orders go through the usual ``create_order``/``cancel_order`` calls. A request reaches the venue
``Latency.entry`` after it was sent; answers and user-stream updates come back ``Latency.response`` after
the venue produced them. At the venue an order is checked against the recorded instrument filters and
refused with the venue's own answer, the ``TradingError`` the live connector raises for it (the venue's
backtest object builds it: ``refusal``; Binance's codes are tabled in docs/backtest.md), then matched: a
taker walks the exchange book and consumes what it takes, a resting order joins its level's queue (``QueueModel``) and fills on trades at its
price or through it. Every price and quantity is a scaled integer at 8 decimals, as in the compiled book;
money is exact ``Decimal``. Time is the runner's ``VirtualClock`` (engine/backtest/clock.py); nothing here
reads the wall clock. Everything venue-specific (frame layout, filters, refusals, the connector's name)
comes from the venue's backtest object, ``ConnectorFactory.backtest(name)`` (for Binance,
engine/connectors/binance/backtest.py); this module names no venue.
"""
from __future__ import annotations

import asyncio
import decimal
import random
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, AsyncIterator, Callable, Optional

from engine.book import BookSync, DepthOutcome, OrderBook
from engine.connectors.base import BaseConnector, BookState, BookStatus, ConnectorState, StreamHealth, UserDataStream
from engine.errors import FrameError, InvalidRequestError, TradingError
from engine.models import (Balance, Candle, OrderBookSnapshot, OrderStatus, OrderType, OrderUpdate, Side,
                           TimeInForce, Trade)
from engine.symbols import Symbol, SymbolMap

from . import recording as R
from .clock import VirtualClock
from .models import Fees, Latency, QueueModel

SCALE = 10 ** 8  # the compiled book's 8 decimals
MONEY = decimal.Context(prec=80)  # products of exact amounts stay exact
S = OrderStatus


class Precision(ValueError):
    """An amount with more decimals than the book's 8 (the venue's ``refusal("precision")`` answers it)."""


def scaled(value, name: str) -> int:
    """An exact amount as an integer at 8 decimals; ValueError when it has more decimals than that."""
    if isinstance(value, float):
        raise TypeError(f"{name} must be Decimal, str or int, not float (a float is not an exact amount)")
    try:
        d = Decimal(value)
    except (ArithmeticError, ValueError, TypeError):
        raise ValueError(f"{name}={value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{name}={value!r} is not finite")
    q = MONEY.multiply(d, SCALE)
    if q != q.to_integral_value():
        raise Precision(f"{name}={value!r} has more than 8 decimals")
    return int(q)


def unscale(n: int) -> Decimal:
    return Decimal(n).scaleb(-8)


def plain(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


@dataclass(frozen=True)
class Filters:
    """One symbol's instrument filters as scaled integers (0 = no limit), read by the venue's backtest
    object from its recorded instrument list."""

    symbol: str
    base: str = ""
    quote: str = ""
    trading: bool = True  # whether the symbol takes orders
    status: str = ""  # the venue's word for its state, for the refusal's message
    tick: int = 0
    min_price: int = 0
    max_price: int = 0
    step: int = 0
    min_qty: int = 0
    max_qty: int = 0
    min_notional: int = 0  # scaled at 8 decimals, like a price
    notional_name: str = ""  # the venue's name of its minimum-notional filter, for the refusal
    apply_to_market: bool = True

    def check(self, price: Optional[int], qty: int, ref_price: Optional[int], market: bool) -> Optional[str]:
        """What an order breaks, else None: ``"status"``, ``"price"``, ``"qty"`` or ``"notional"`` (the
        venue's ``refusal(kind, self)`` turns it into its answer)."""
        if not self.trading:
            return "status"
        if price is not None:
            if price <= 0 or (self.min_price and price < self.min_price) or \
                    (self.max_price and price > self.max_price) or (self.tick and price % self.tick):
                return "price"
        if qty <= 0 or (self.min_qty and qty < self.min_qty) or (self.max_qty and qty > self.max_qty) or \
                (self.step and qty % self.step):
            return "qty"
        ref = price if price is not None else ref_price
        if self.min_notional and ref is not None and (not market or self.apply_to_market):
            if ref * qty < self.min_notional * SCALE:
                return "notional"
        return None


@dataclass(slots=True)
class VOrder:
    """One order as the venue holds it."""

    cid: str
    oid: str
    symbol: str  # native
    side: Side
    type: OrderType
    tif: TimeInForce
    price: Optional[int]
    qty: int
    sent_ns: int
    arrival_ns: int = 0
    filled: int = 0
    notional: int = 0  # sum of price * qty over fills (scale 10**16)
    fees: Decimal = Decimal(0)
    status: OrderStatus = S.SUBMITTED
    ahead: int = 0  # queue quantity ahead of it at its level
    level_seen: int = 0  # its level's size at the last exchange-book frame
    traded_since: int = 0  # traded at its price (its side) since that frame
    reason: str = ""
    done_ns: Optional[int] = None  # venue time it became final (filled, cancelled, expired, refused)

    @property
    def remaining(self) -> int:
        return self.qty - self.filled

    @property
    def open(self) -> bool:
        return self.status in (S.OPEN, S.PARTIALLY_FILLED)


@dataclass(frozen=True, slots=True)
class Fill:
    t_ns: int  # venue (exchange) time of the fill
    symbol: str  # unified
    client_order_id: str
    side: str
    price: str
    qty: str
    liquidity: str  # "maker" or "taker"
    fee: str


class LocalFeed:
    """One symbol's local book as the strategy sees it (``.book``, ``.health``, like the live feed)."""

    def __init__(self, symbol: str, futures: bool):
        self.symbol = symbol
        self.book = OrderBook(symbol, futures=futures)
        self.sync = BookSync(self.book)
        self.health = StreamHealth(symbol, self.book)
        self.callbacks: list = []
        self.applied_ns: Optional[int] = None
        self.changed = asyncio.Event()


class ExchangeBook:
    """One symbol at the venue: the exchange-time book, what was consumed off its levels (by our takers and
    by recorded trades) and not yet restated by a later frame, and our resting orders in arrival order."""

    def __init__(self, symbol: str, futures: bool, book: Optional[OrderBook] = None):
        # ``book``: match against a book someone else keeps current (paper trading: the live feed's book,
        # engine/backtest/paper.py); then there is no recorded frame to feed, and no ``sync``
        self.book = book if book is not None else OrderBook(symbol, futures=futures)
        self.sync = BookSync(self.book) if book is None else None
        self.consumed = {Side.BUY: {}, Side.SELL: {}}  # side of the book -> price -> qty taken off it
        self.resting: list = []

    def restated(self, levels) -> None:
        """A depth frame states these levels (``(is_bid, price)``) afresh: what was consumed at them is
        forgotten."""
        for is_bid, price in levels:
            used = self.consumed[Side.BUY if is_bid else Side.SELL]
            if used:
                used.pop(scaled(price, "price"), None)

    def top(self, side: Side, n: int = -1) -> list:
        """The recorded (price, qty) levels best first on ``side`` (BUY = bids), at most ``n`` (all: -1)."""
        return self.book.bids_scaled(n) if side is Side.BUY else self.book.asks_scaled(n)

    def levels(self, side: Side):
        """(price, available) best first on ``side``, after what was consumed (read lazily: most callers
        stop at the first level or two)."""
        used = self.consumed[side]
        n, seen = 16, 0
        while True:
            raw = self.top(side, n)
            for p, q in raw[seen:]:
                left = q - used.get(p, 0) if used else q
                if left > 0:
                    yield p, left
            if len(raw) < n:
                return
            seen, n = len(raw), n * 8

    def level_qty(self, side: Side, price: int) -> int:
        """The available size at ``price`` on ``side`` (0 when there is no such level)."""
        n = 16
        while True:
            raw = self.top(side, n)
            for p, q in raw:
                if p == price:
                    return max(0, q - self.consumed[side].get(p, 0))
                if (p < price) if side is Side.BUY else (p > price):
                    return 0
            if len(raw) < n:
                return 0
            n *= 8

    def crosses(self, side: Side, price: int) -> bool:
        """Whether available liquidity on ``side`` is at or through ``price`` (for an order of the other side)."""
        for p, _ in self.levels(side):
            return p >= price if side is Side.BUY else p <= price
        return False


class BacktestUserStream(UserDataStream):
    async def start(self) -> None:
        self.running = True
        self._set_up(True)

    async def stop(self) -> None:
        self.running = False
        self._set_up(False)


class BacktestConnector(BaseConnector):
    """The venue behind ``BaseConnector`` for a backtest (see the module docstring and docs/backtest.md)."""

    def __init__(self, rec: "R.Recording", *, seed: int = 0, latency: Latency = Latency(),
                 queue_model: QueueModel = QueueModel(), fees: Fees = Fees(), clock: VirtualClock):
        super().__init__()
        self.rec = rec
        self._init_matcher(R.venue_backtest(rec.venue), seed=seed, latency=latency, queue_model=queue_model,
                           fees=fees, clock=clock)
        self.symbols = SymbolMap(self.name)
        try:
            parsed = self.venue.filters(rec.exchange_info)
        except ValueError as e:  # the venue names the symbol whose filters cannot be read
            raise R.RecordingError(str(e)) from None
        for flt in parsed:
            self.filters[flt.symbol] = flt
            if flt.base and flt.quote:
                self.symbols.add(Symbol(flt.base, flt.quote), flt.symbol)
        self.exch = {sym: ExchangeBook(sym, rec.futures) for sym in rec.symbols()}
        self.local: dict = {}
        self.trade_callbacks: dict = {}

    def _init_matcher(self, venue, *, seed: int, latency: Latency, queue_model: QueueModel, fees: Fees,
                      clock) -> None:
        """The matching state, shared with the paper connector (engine/backtest/paper.py), which drives the
        same matching with live frames on the wall clock. ``venue``: the venue's backtest object; ``clock``
        offers ``now_ns``, ``reach``, ``loop_time`` and ``sleep_until`` as ``VirtualClock`` does."""
        self.venue = venue
        self.name = venue.name
        self.rng = random.Random(seed)
        self.latency, self.queue_model, self.fees = latency, queue_model, fees
        self.clock = clock
        self._now_ns = clock.now_ns
        self.filters: dict = {}
        self.exch: dict = {}
        self.orders: dict = {}  # cid -> VOrder (every order that reached the venue or was refused there)
        self.fills: list = []
        self.positions: list = []  # (t_ns, unified symbol, position after the fill)
        self.marks: list = []  # (t_ns, unified symbol, venue book mid): at each fill and by the runner
        self.position_qty: dict = {}
        self._stream = BacktestUserStream()
        self._user_stream = self._stream
        self._out: deque = deque()  # (deliver_ns, callable): answers and updates on their way back
        self._out_last = 0
        self._out_timer = None
        self._in_last = 0
        self._cid = 0
        self._oid = 0
        self.malformed = 0

    # -- symbols
    def native(self, symbol: str) -> str:
        if symbol.upper() in self.exch:
            return symbol.upper()
        try:
            n = self.symbols.native(symbol)
        except ValueError:
            n = None
        if n is None or n not in self.exch:
            raise self.venue.refusal("unknown_symbol")
        return n

    def unified(self, symbol: str) -> str:
        n = symbol.upper()
        if n in self.symbols:
            return str(self.symbols.unified(n))
        return n

    def new_client_order_id(self) -> str:
        self._cid += 1
        return f"bt-{self._cid}"

    # -- lifecycle
    async def connect(self) -> None:
        self.state = ConnectorState.LIVE

    async def disconnect(self) -> None:
        self.state = ConnectorState.CLOSED

    # -- market data
    def _recorded(self, symbol: str) -> str:
        """``symbol``'s native name, or a ValueError naming what the recording has (a setup error)."""
        try:
            return self.native(symbol)
        except TradingError:
            raise ValueError(f"backtest: {symbol!r} has no book in the recording (it has "
                             f"{', '.join(sorted(self.exch)) or 'none'})") from None

    async def add_book(self, symbol: str, callback=None):
        n = self._recorded(symbol)
        feed = self.local.get(n)
        if feed is None:
            feed = self.local[n] = LocalFeed(n, self.rec.futures)
        if callback is not None:
            feed.callbacks.append(callback)
        return feed

    async def add_trades(self, symbol: str, callback) -> None:
        self.trade_callbacks.setdefault(self._recorded(symbol), []).append((callback, symbol))

    def _book_feed(self, symbol: str):
        return self.local.get(self.native(symbol))

    def _book_feeds(self):
        return self.local.values()

    def book_status(self, symbol: str) -> BookStatus:
        try:
            feed = self._book_feed(symbol)
        except Exception:
            feed = None
        name = self.unified(symbol)
        if feed is None:
            return BookStatus(name, BookState.UNSUBSCRIBED)
        age = float("inf") if feed.applied_ns is None else (self._now_ns() - feed.applied_ns) / 1e9
        book = feed.book
        if not book.synced:
            st = feed.health.state if feed.health.state is not BookState.LIVE else BookState.RESYNCING
            return BookStatus(name, st, None, age)
        bids, asks = book.top_exact(1)
        mid = (Decimal(bids[0][0]) + Decimal(asks[0][0])) / 2 if bids and asks else None
        return BookStatus(name, feed.health.state, mid, age, bool(book.crossed))

    async def get_orderbook(self, symbol: str, limit: int = 100) -> OrderBookSnapshot:
        feed = await self.add_book(symbol)
        bids, asks = feed.book.top(limit)
        return OrderBookSnapshot(self.name, self.unified(feed.symbol), bids, asks, feed.book.last_update_id,
                                 self._now_ns() // 1_000_000)

    async def get_candlesticks(self, symbol, interval="1m", limit=100, start_ms=None, end_ms=None) -> list[Candle]:
        raise InvalidRequestError("backtest venue: candles are not part of a recording", exchange=self.name)

    async def get_ticker_price(self, symbol: str) -> Decimal:
        st = self.book_status(symbol)
        if st.mid is None:
            raise InvalidRequestError(f"backtest venue: {st.reason}", exchange=self.name)
        return st.mid

    async def get_account(self) -> dict[str, Balance]:
        return {}

    def stream_orderbook(self, symbol: str) -> AsyncIterator[Any]:
        async def gen():
            feed = await self.add_book(symbol)
            while True:
                feed.changed.clear()
                await feed.changed.wait()
                yield feed.book
        return gen()

    def stream_trades(self, symbol: str) -> AsyncIterator[Trade]:
        async def gen():
            q: asyncio.Queue = asyncio.Queue()
            await self.add_trades(symbol, q.put_nowait)
            while True:
                yield await q.get()
        return gen()

    def get_user_data_stream(self) -> UserDataStream:
        return self._stream

    # -- the clock: requests in, answers out, each in order

    async def _arrive(self) -> int:
        """Wait for a request sent now to reach the venue; its arrival time."""
        t = max(self._in_last, self._now_ns() + self.latency.entry(self.rng))
        self._in_last = t
        await self.clock.sleep_until(t)
        return t

    def _send_back(self, t_ns: int, fn: Callable[[], None]) -> None:
        t = max(self._out_last, t_ns + self.latency.response(self.rng))
        self._out_last = t
        self._out.append((t, fn))
        if self._out_timer is None:
            self._out_timer = asyncio.get_running_loop().call_at(self.clock.loop_time(t), self._deliver, t)

    def _deliver(self, t_ns: int) -> None:
        self._out_timer = None
        self.clock.reach(t_ns)
        now = self._now_ns()
        while self._out and self._out[0][0] <= now:
            self._out.popleft()[1]()
        if self._out:
            head = self._out[0][0]
            self._out_timer = asyncio.get_running_loop().call_at(self.clock.loop_time(head), self._deliver, head)

    async def _answer(self, t_ns: int, result=None, error: Optional[BaseException] = None):
        fut = asyncio.get_running_loop().create_future()

        def land() -> None:
            if not fut.done():  # the caller may have been cancelled meanwhile (shutdown): nobody waits
                fut.set_exception(error) if error is not None else fut.set_result(result)
        self._send_back(t_ns, land)
        return await fut

    def _update(self, o: VOrder, t_ns: int, last_qty: int = 0, last_px: Optional[int] = None,
                last_fee: Decimal = Decimal(0)) -> OrderUpdate:
        avg = None if not o.filled else MONEY.divide(Decimal(o.notional), Decimal(o.filled) * SCALE)
        return OrderUpdate(self.name, self.unified(o.symbol), o.oid, o.cid, o.status, o.side, o.type,
                           unscale(o.price) if o.price is not None else None, unscale(o.qty), unscale(o.filled),
                           avg, unscale(last_qty), unscale(last_px) if last_px is not None else None,
                           last_fee if last_qty else o.fees, self._quote(o.symbol),
                           o.reason, t_ns // 1_000_000)

    def _quote(self, native: str) -> Optional[str]:
        flt = self.filters.get(native)
        return flt.quote if flt is not None and flt.quote else None

    def _emit(self, upd: OrderUpdate, t_ns: int) -> None:
        self._send_back(t_ns, lambda: self._stream.emit(upd))

    # -- orders
    async def create_order(self, symbol, side, order_type, quantity, price=None, *, stop_price=None,
                           time_in_force=None, client_order_id=None, reduce_only=False) -> OrderUpdate:
        side, otype = Side(side), OrderType(order_type)
        tif = TimeInForce(time_in_force) if time_in_force is not None else TimeInForce.GTC
        cid = client_order_id or self.new_client_order_id()
        sent = self._now_ns()
        if otype not in (OrderType.LIMIT, OrderType.LIMIT_MAKER, OrderType.MARKET):
            raise ValueError(f"backtest venue: {otype.value} orders are not modelled")
        if reduce_only:
            raise ValueError("backtest venue: reduce_only orders are not modelled")
        if otype is not OrderType.MARKET and price is None:
            raise ValueError(f"{otype.value} order needs a price")
        t = await self._arrive()
        try:
            native = self.native(symbol)
            try:
                px = scaled(price, "price") if otype is not OrderType.MARKET else None
                qty = scaled(quantity, "quantity")
            except Precision:
                raise self.venue.refusal("precision") from None
            if cid in self.orders:
                raise self.venue.refusal("duplicate")
            self._oid += 1
            o = VOrder(cid, str(self._oid), native, side, otype, tif, px, qty, sent, t)
            self._place(o, t)
        except Exception as e:  # a venue refusal (the TradingError the live connector raises) or bad input
            if isinstance(e, TradingError):
                self.orders.setdefault(cid, VOrder(cid, "", str(symbol).upper(), side, otype, tif, None, 0, sent, t,
                                                   status=S.REJECTED, reason=str(e), done_ns=t))
            return await self._answer(t, error=e)
        return await self._answer(t, result=self._update(o, t))

    def _place(self, o: VOrder, t: int) -> None:
        """Match one order that reached the venue at ``t`` (raises the venue's refusal)."""
        xb = self.exch[o.symbol]
        flt = self.filters.get(o.symbol)
        if not xb.book.synced:
            raise self.venue.refusal("not_synced", flt,
                                     "the venue's book is not synced (no recorded snapshot yet)")
        opp = Side.SELL if o.side is Side.BUY else Side.BUY  # the book side a taker of o.side eats
        if flt is not None:
            ref = None
            if o.price is None:
                bid, ask = next(xb.levels(Side.BUY), None), next(xb.levels(Side.SELL), None)
                ref = (bid[0] + ask[0]) // 2 if bid and ask else None
            broken = flt.check(o.price, o.qty, ref, o.price is None)
            if broken:
                raise self.venue.refusal(broken, flt)
        best = next(xb.levels(opp), None)
        crosses = best is not None and (o.price is None or (best[0] <= o.price if o.side is Side.BUY
                                                            else best[0] >= o.price))
        if o.type is OrderType.LIMIT_MAKER and crosses:
            raise self.venue.refusal("would_take")
        self.orders[o.cid] = o
        if o.tif is TimeInForce.FOK:
            avail = 0
            for p, q in xb.levels(opp):
                if o.price is not None and (p > o.price if o.side is Side.BUY else p < o.price):
                    break
                avail += q
            if avail < o.qty:
                o.status, o.done_ns = S.EXPIRED, t
                self._emit(self._update(o, t), t)
                return
        o.status = S.OPEN
        self._emit(self._update(o, t), t)  # executionReport NEW
        if crosses:
            for p, q in xb.levels(opp):
                if o.remaining <= 0 or (o.price is not None and (p > o.price if o.side is Side.BUY else p < o.price)):
                    break
                take = min(q, o.remaining)
                xb.consumed[opp][p] = xb.consumed[opp].get(p, 0) + take
                self._fill(o, t, p, take, maker=False)
        if o.remaining <= 0:
            return
        if o.type is OrderType.MARKET or o.tif in (TimeInForce.IOC, TimeInForce.FOK):
            o.status, o.done_ns = S.EXPIRED, t
            self._emit(self._update(o, t), t)
            return
        o.ahead = o.level_seen = xb.level_qty(o.side, o.price)
        xb.resting.append(o)

    def _fill(self, o: VOrder, t: int, price: int, qty: int, maker: bool) -> None:
        o.filled += qty
        o.notional += price * qty
        rate = self.fees.maker if maker else self.fees.taker
        fee = MONEY.multiply(MONEY.multiply(unscale(price), unscale(qty)), rate)
        o.fees = MONEY.add(o.fees, fee)
        o.status = S.FILLED if o.remaining <= 0 else S.PARTIALLY_FILLED
        if o.remaining <= 0:
            o.done_ns = t
        uni = self.unified(o.symbol)
        mid = self.mid(o.symbol)
        if mid is not None:
            self.marks.append((t, uni, plain(mid)))
        self.fills.append(Fill(t, uni, o.cid, o.side.value, plain(unscale(price)), plain(unscale(qty)),
                               "maker" if maker else "taker", plain(fee)))
        pos = self.position_qty.get(uni, 0) + (qty if o.side is Side.BUY else -qty)
        self.position_qty[uni] = pos
        self.positions.append((t, uni, plain(unscale(pos))))
        self._emit(self._update(o, t, qty, price, fee), t)

    async def cancel_order(self, symbol, order_id=None, client_order_id=None) -> OrderUpdate:
        t = await self._arrive()
        o = self.orders.get(client_order_id) if client_order_id else \
            next((x for x in self.orders.values() if x.oid == order_id), None)
        if o is None or not o.open:
            return await self._answer(t, error=self.venue.refusal("unknown_order"))
        self._cancel(o, t)
        return await self._answer(t, result=self._update(o, t))

    def _cancel(self, o: VOrder, t: int) -> None:
        o.status, o.done_ns = S.CANCELED, t
        self.exch[o.symbol].resting.remove(o)
        self._emit(self._update(o, t), t)

    async def cancel_all_orders(self, symbol: str) -> list[OrderUpdate]:
        t = await self._arrive()
        try:
            native = self.native(symbol)
        except Exception as e:
            return await self._answer(t, error=e)
        out = []
        for o in list(self.exch[native].resting):
            self._cancel(o, t)
            out.append(self._update(o, t))
        return await self._answer(t, result=out)

    async def get_order(self, symbol, order_id=None, client_order_id=None) -> Optional[OrderUpdate]:
        t = await self._arrive()
        o = self.orders.get(client_order_id) if client_order_id else \
            next((x for x in self.orders.values() if x.oid == order_id), None)
        return await self._answer(t, result=None if o is None or not o.oid else self._update(o, t))

    async def get_open_orders(self, symbol: Optional[str] = None) -> list[OrderUpdate]:
        t = await self._arrive()
        want = None if symbol is None else self.native(symbol)
        out = [self._update(o, t) for xb in self.exch.values() for o in xb.resting if want in (None, o.symbol)]
        return await self._answer(t, result=out)

    # -- the recorded market, fed by the runner
    def on_exchange_event(self, ev: "R.Event", t: int) -> None:
        """One recorded frame at the venue, at its exchange time ``t``."""
        xb = self.exch.get(ev.symbol)
        if xb is None:
            return
        if ev.kind == R.DEPTH or (ev.kind == R.SNAPSHOT and xb.sync.needs_snapshot):
            try:
                out = xb.sync.feed(ev.raw) if ev.kind == R.DEPTH else xb.sync.apply_snapshot(ev.raw)
            except FrameError:
                self.malformed += 1
                return
            if out == DepthOutcome.APPLIED:
                if ev.kind == R.SNAPSHOT:
                    xb.consumed[Side.BUY].clear()
                    xb.consumed[Side.SELL].clear()
                elif xb.consumed[Side.BUY] or xb.consumed[Side.SELL]:
                    xb.restated(self.venue.stated_levels(ev.raw))
                if xb.resting:
                    self._on_depth(xb, t)
        elif ev.kind == R.TRADE:
            try:
                agg = self.venue.decode_trade(ev.raw)
            except ValueError:
                self.malformed += 1
                return
            self._on_trade(xb, agg, t)

    def _on_depth(self, xb: ExchangeBook, t: int) -> None:
        prob = self.queue_model.kind == "probabilistic"
        n = self.queue_model.power
        for o in list(xb.resting):
            level = xb.level_qty(o.side, o.price)
            if prob:
                drop = o.level_seen - level - o.traded_since
                if drop > 0 and o.ahead > 0:
                    front = o.ahead
                    back = max(0, o.level_seen - o.traded_since - front)
                    fw, bw = front ** n, back ** n
                    o.ahead -= min(front, drop * fw // (fw + bw))
            o.ahead = min(o.ahead, level)
            o.level_seen, o.traded_since = level, 0
        # the recorded book crossed a resting order: those sellers (buyers) trade with it, at its price
        for o in list(xb.resting):
            opp = Side.SELL if o.side is Side.BUY else Side.BUY
            if not xb.crosses(opp, o.price):
                continue
            for p, q in xb.levels(opp):
                if o.remaining <= 0 or (p > o.price if o.side is Side.BUY else p < o.price):
                    break
                take = min(q, o.remaining)
                xb.consumed[opp][p] = xb.consumed[opp].get(p, 0) + take
                self._fill(o, t, o.price, take, maker=True)
            if o.remaining <= 0:
                xb.resting.remove(o)

    def _on_trade(self, xb: ExchangeBook, agg, t: int) -> None:
        px, qty = agg.price_scaled, agg.qty_scaled
        hit = Side.BUY if agg.buyer_is_maker else Side.SELL  # the passive side: a sell aggressor hits bids
        # the traded liquidity is gone from the displayed book until the next frame shows it
        xb.consumed[hit][px] = xb.consumed[hit].get(px, 0) + qty
        taken = 0  # fills this trade gave our orders at its price, in arrival order
        for o in list(xb.resting):
            if o.side is not hit:
                continue
            through = px < o.price if hit is Side.BUY else px > o.price
            if through:
                o.ahead = 0
                self._fill(o, t, o.price, o.remaining, maker=True)
            elif px == o.price:
                past = qty - o.ahead  # what trades after the queue ahead of it is gone
                o.ahead = max(0, o.ahead - qty)
                o.traded_since += qty
                give = min(o.remaining, past - taken)
                if give > 0:
                    taken += give
                    self._fill(o, t, o.price, give, maker=True)
            if o.remaining <= 0:
                xb.resting.remove(o)

    def on_local_event(self, ev: "R.Event", t: int) -> None:
        """One recorded frame as the strategy's side receives it, at its local receive time ``t``."""
        if ev.kind == R.TRADE:
            cbs = self.trade_callbacks.get(ev.symbol)
            if not cbs:
                return
            try:
                agg = self.venue.decode_trade(ev.raw)
            except ValueError:
                return
            for cb, sym in cbs:
                trade = Trade(self.name, sym, agg.price, agg.qty, Side.SELL if agg.buyer_is_maker else Side.BUY,
                              agg.agg_id, agg.trade_time, agg.price_str, agg.qty_str)
                cb(trade)
            return
        feed = self.local.get(ev.symbol)
        if feed is None or not (ev.kind == R.DEPTH or (ev.kind == R.SNAPSHOT and feed.sync.needs_snapshot)):
            return
        try:
            out = feed.sync.feed(ev.raw) if ev.kind == R.DEPTH else feed.sync.apply_snapshot(ev.raw)
        except FrameError:
            return
        if out == DepthOutcome.APPLIED:
            feed.applied_ns = t
            feed.health.applied(feed.book, feed.callbacks)
            feed.changed.set()
        elif out == DepthOutcome.GAP:
            feed.health.gaps += 1
            feed.health.resyncs += 1
            feed.health.state = BookState.RESYNCING

    def mid(self, native: str) -> Optional[Decimal]:
        bids, asks = self.exch[native].book.top_exact(1)
        return (Decimal(bids[0][0]) + Decimal(asks[0][0])) / 2 if bids and asks else None
