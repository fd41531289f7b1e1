"""The simulated exchange's market per symbol: a seeded random-walk book, user orders, matching, trades.

Plain Python with exact integers: prices in ticks, quantities in lot steps. Every change of a public price
level takes the next update id, so depth diffs, snapshots and bookTicker share one id space exactly as on
Binance. Nothing here knows about sockets or JSON.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Optional


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick: Decimal  # PRICE_FILTER tickSize
    step: Decimal  # LOT_SIZE stepSize
    min_qty: Decimal
    min_notional: Decimal
    start_price: Decimal

    def px(self, ticks: int) -> str:
        return f"{(self.tick * ticks):.8f}"

    def qty(self, steps: int) -> str:
        return f"{(self.step * steps):.8f}"


DEFAULT_SYMBOLS = (
    SymbolSpec("BTCUSDT", "BTC", "USDT", Decimal("0.01"), Decimal("0.00001"), Decimal("0.00001"), Decimal("5"),
               Decimal("60000.00")),
    SymbolSpec("ETHUSDT", "ETH", "USDT", Decimal("0.01"), Decimal("0.0001"), Decimal("0.0001"), Decimal("5"),
               Decimal("3000.00")),
    SymbolSpec("SOLUSDT", "SOL", "USDT", Decimal("0.01"), Decimal("0.001"), Decimal("0.001"), Decimal("5"),
               Decimal("150.00")),
)


@dataclass
class Order:
    order_id: int
    client_id: str
    symbol: str
    side: str  # BUY / SELL
    type: str
    tif: str
    price: int  # ticks (0 for market)
    qty: int  # steps
    stop: int = 0  # ticks, for STOP_LOSS_LIMIT / TAKE_PROFIT_LIMIT
    filled: int = 0
    quote_filled: Decimal = Decimal(0)
    status: str = "NEW"
    time_ms: int = 0
    update_ms: int = 0
    working: bool = True  # False while a stop order waits for its trigger
    fills: list = field(default_factory=list)  # for newOrderRespType=FULL
    market_lock: Decimal = Decimal(0)  # quote locked for a market buy

    @property
    def remaining(self) -> int:
        return self.qty - self.filled


@dataclass
class Fill:
    order: Order
    price: int
    qty: int
    maker: bool
    trade_id: int


@dataclass
class Trade:
    agg_id: int
    price: int
    qty: int
    first_id: int
    last_id: int
    time_ms: int
    buyer_maker: bool


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class SymbolMarket:
    spec: SymbolSpec
    rng: random.Random
    bids: dict = field(default_factory=dict)  # price ticks -> total qty steps (makers + users)
    asks: dict = field(default_factory=dict)
    update_id: int = 1_000_000
    changes: list = field(default_factory=list)  # (update_id, side 'b'/'a', price, qty) since last drain
    trades: list = field(default_factory=list)  # recent Trade, bounded
    user_orders: dict = field(default_factory=dict)  # order_id -> Order resting on the book
    next_agg: int = 5_000_000
    next_trade: int = 9_000_000
    on_fill: Optional[Callable[[Fill], None]] = None
    volume_24h: int = 0

    def __post_init__(self):
        self.mid = int(self.spec.start_price / self.spec.tick)
        for d in range(1, 301):
            if self.rng.random() < 0.8:
                self.bids[self.mid - d] = self._rand_qty()
            if self.rng.random() < 0.8:
                self.asks[self.mid + d] = self._rand_qty()
        self.changes.clear()

    def _rand_qty(self) -> int:
        """A level's size: 50 to 20,000 quote units worth, in lot steps."""
        return max(1, int(Decimal(self.rng.randint(50, 20000)) / self.spec.start_price / self.spec.step))

    # -- public book
    def best_bid(self) -> Optional[int]:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> Optional[int]:
        return min(self.asks) if self.asks else None

    def _set(self, side: str, price: int, qty: int) -> None:
        book = self.bids if side == "b" else self.asks
        if qty <= 0:
            if price not in book:
                return
            del book[price]
            qty = 0
        else:
            if book.get(price) == qty:
                return
            book[price] = qty
        self.update_id += 1
        self.changes.append((self.update_id, side, price, qty))

    def snapshot(self, limit: int) -> dict:
        bids = sorted(self.bids.items(), reverse=True)[:limit]
        asks = sorted(self.asks.items())[:limit]
        return {"lastUpdateId": self.update_id,
                "bids": [[self.spec.px(p), self.spec.qty(q)] for p, q in bids],
                "asks": [[self.spec.px(p), self.spec.qty(q)] for p, q in asks]}

    def drain_changes(self, keep: int = 0) -> list:
        """The unpublished changes in update-id order, all but the last ``keep`` (those stay for the next
        drain, so a diff can end before the book's current update id)."""
        cut = len(self.changes) - max(0, keep)
        out, self.changes = self.changes[:cut], self.changes[cut:]
        return out

    # -- the random walk that keeps the market alive
    def step(self) -> None:
        r = self.rng.random()
        if r < 0.15:
            self.mid += 1
        elif r < 0.30:
            self.mid -= 1
        # a move sweeps whatever it crosses: trades, including fills of resting user orders
        ba, bb = self.best_ask(), self.best_bid()
        if ba is not None and ba < self.mid:
            self._sweep("BUY", self.mid - 1, None)
        if bb is not None and bb > self.mid:
            self._sweep("SELL", self.mid + 1, None)
        for _ in range(self.rng.randint(3, 12)):
            side = self.rng.choice("ba")
            d = 1 + int(self.rng.expovariate(1 / 8))
            price = self.mid - d if side == "b" else self.mid + d
            bb, ba = self.best_bid(), self.best_ask()
            if (side == "b" and ba is not None and price >= ba) or (side == "a" and bb is not None and price <= bb):
                continue  # makers never cross the book; only takers trade
            users = self._user_qty(side, price)
            if self.rng.random() < 0.3:
                self._set(side, price, users)  # makers leave; user orders stay
            else:
                self._set(side, price, users + self._rand_qty())
        if self.rng.random() < 0.2:  # an occasional small aggressive trade at the touch
            self._sweep(self.rng.choice(("BUY", "SELL")), None, self._rand_qty() // 3 or 1)

    def _user_qty(self, side: str, price: int) -> int:
        want = "BUY" if side == "b" else "SELL"
        return sum(o.remaining for o in self.user_orders.values() if o.working and o.side == want and o.price == price)

    def _sweep(self, taker_side: str, limit_price: Optional[int], max_qty: Optional[int],
               taker: Optional[Order] = None) -> int:
        """A taker order (random or a user's) consumes the opposite side; returns steps filled."""
        book = self.asks if taker_side == "BUY" else self.bids
        filled = 0
        while book:
            best = min(book) if taker_side == "BUY" else max(book)
            if limit_price is not None and ((taker_side == "BUY" and best > limit_price) or
                                            (taker_side == "SELL" and best < limit_price)):
                break
            want = (max_qty - filled) if max_qty is not None else book[best]
            if want <= 0:
                break
            avail = book[best]
            take = min(want, avail)
            # resting user orders at this price fill first (they are makers)
            left = take
            maker_side = "SELL" if taker_side == "BUY" else "BUY"
            for o in sorted((o for o in self.user_orders.values()
                             if o.working and o.side == maker_side and o.price == best), key=lambda o: o.order_id):
                if left <= 0:
                    break
                n = min(left, o.remaining)
                self._fill(o, best, n, maker=True)
                left -= n
            if taker is not None:
                self._fill(taker, best, take, maker=False)
            self._print(best, take, buyer_maker=(taker_side == "SELL"))
            self._set("a" if taker_side == "BUY" else "b", best, avail - take)
            filled += take
            if max_qty is None and limit_price is None:
                break
        return filled

    def _print(self, price: int, qty: int, buyer_maker: bool) -> None:
        first = self.next_trade
        self.next_trade += 1
        self.next_agg += 1
        self.volume_24h += qty
        self.trades.append(Trade(self.next_agg, price, qty, first, first, now_ms(), buyer_maker))
        if len(self.trades) > 5000:
            del self.trades[:1000]

    def _fill(self, o: Order, price: int, qty: int, maker: bool) -> None:
        o.filled += qty
        o.quote_filled += self.spec.tick * price * self.spec.step * qty
        o.status = "FILLED" if o.remaining == 0 else "PARTIALLY_FILLED"
        o.update_ms = now_ms()
        if o.remaining == 0:
            self.user_orders.pop(o.order_id, None)
        if self.on_fill is not None:
            self.on_fill(Fill(o, price, qty, maker, self.next_trade))

    # -- user orders
    def submit(self, o: Order) -> None:
        """Match a user order; what is left rests (GTC limit) or expires (IOC/FOK/market)."""
        if o.type in ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"):
            o.working = False
            self.user_orders[o.order_id] = o
            self.check_stops()
            return
        self._execute(o)

    def _execute(self, o: Order) -> None:
        if o.type == "LIMIT_MAKER":
            best = self.best_ask() if o.side == "BUY" else self.best_bid()
            if best is not None and ((o.side == "BUY" and o.price >= best) or (o.side == "SELL" and o.price <= best)):
                o.status = "EXPIRED"  # the REST layer turns this into -2010 "would immediately match"
                return
        if o.tif == "FOK":
            opp = self.asks if o.side == "BUY" else self.bids
            avail = sum(q for p, q in opp.items() if (p <= o.price if o.side == "BUY" else p >= o.price))
            if avail < o.qty:
                o.status = "EXPIRED"
                return
        limit = None if o.type == "MARKET" else o.price
        self._sweep(o.side, limit, o.remaining, taker=o)
        if o.remaining == 0:
            return
        if o.type == "MARKET" or o.tif in ("IOC", "FOK"):
            o.status = "EXPIRED"
            return
        o.working = True
        self.user_orders[o.order_id] = o
        side = "b" if o.side == "BUY" else "a"
        book = self.bids if side == "b" else self.asks
        self._set(side, o.price, book.get(o.price, 0) + o.remaining)

    def check_stops(self) -> None:
        last = self.trades[-1].price if self.trades else self.mid
        for o in list(self.user_orders.values()):
            if o.working:
                continue
            # stop-loss buys and take-profit sells trigger on a rise to the stop, the other two on a fall
            if (o.side == "BUY") == (o.type == "STOP_LOSS_LIMIT"):
                hit = last >= o.stop
            else:
                hit = last <= o.stop
            if hit:
                del self.user_orders[o.order_id]
                o.type = "LIMIT"
                self._execute(o)

    def cancel(self, o: Order) -> None:
        self.user_orders.pop(o.order_id, None)
        if o.working and o.remaining > 0:
            side = "b" if o.side == "BUY" else "a"
            book = self.bids if side == "b" else self.asks
            self._set(side, o.price, book.get(o.price, 0) - o.remaining)
        o.status = "CANCELED"
        o.update_ms = now_ms()
