"""The simulated USD-M perpetual markets: a random-walk book per symbol in exact ticks and steps, its depth diffs
(``U``/``u``/``pu`` with ``U`` jumping between events, as on the venue), public trades, mark/index price and the
funding rate. No floats: prices are integer ticks, quantities Decimal multiples of the step.

The mark price is the book's mid rounded down to a tick unless a test pins it (``Market.mark_override``); the
index price equals the mark (no premium is modelled, docs/binance_futures.md "Simplifications")."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from decimal import Decimal

D = Decimal
LEVELS = 20  # price levels kept on each side


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True)
class Spec:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    start: Decimal
    max_leverage: int
    maint_rate: Decimal  # maintenance margin rate of the first bracket

    @property
    def price_places(self) -> int:
        return max(0, -self.tick.normalize().as_tuple().exponent)

    @property
    def qty_places(self) -> int:
        return max(0, -self.step.normalize().as_tuple().exponent)


SPECS = {
    "BTCUSDT": Spec("BTCUSDT", "BTC", "USDT", D("0.10"), D("0.001"), D("0.001"), D("1000"), D("120"), D("100"),
                    D("60000"), 125, D("0.004")),
    "ETHUSDT": Spec("ETHUSDT", "ETH", "USDT", D("0.01"), D("0.001"), D("0.001"), D("10000"), D("2000"), D("20"),
                    D("3000"), 100, D("0.005")),
}
DEFAULT_SYMBOLS = ("BTCUSDT", "ETHUSDT")


@dataclass
class Trade:
    id: int
    price: Decimal
    qty: Decimal
    time: int
    buyer_maker: bool


@dataclass
class Market:
    spec: Spec
    rng: random.Random
    bids: dict = field(default_factory=dict)  # price ticks -> Decimal qty
    asks: dict = field(default_factory=dict)
    mid: int = 0  # ticks
    last_u: int = 0
    trades: list = field(default_factory=list)
    trade_id: int = 0
    changes: dict = field(default_factory=dict)  # (side, ticks) -> qty since the last step's event
    events: list = field(default_factory=list)  # this step's depthUpdate link (U, u, pu, bids, asks) or nothing
    funding_rate: Decimal = D("0.00010000")
    mark_override: Decimal | None = None
    new_trades: list = field(default_factory=list)  # this step's public trades

    def __post_init__(self):
        self.mid = int(self.spec.start / self.spec.tick)
        self.last_u = 1_000_000_000 + self.rng.randrange(1_000_000)
        self._fill_levels()
        self.changes.clear()

    # ------------------------------------------------------------ reads
    def px(self, ticks: int) -> Decimal:
        return ticks * self.spec.tick

    def best_bid(self) -> int | None:
        return max(self.bids) if self.bids else None

    def best_ask(self) -> int | None:
        return min(self.asks) if self.asks else None

    def mark(self) -> Decimal:
        if self.mark_override is not None:
            return self.mark_override
        b, a = self.best_bid(), self.best_ask()
        if b is None or a is None:
            return self.px(self.mid)
        return self.px((b + a) // 2)

    def last_price(self) -> Decimal:
        return self.trades[-1].price if self.trades else self.mark()

    def levels(self, side: str, n: int) -> list:
        book = self.bids if side == "b" else self.asks
        keys = sorted(book, reverse=(side == "b"))[:n]
        return [(k, book[k]) for k in keys]

    # ------------------------------------------------------------ changes
    def _set(self, side: str, ticks: int, qty: Decimal) -> None:
        book = self.bids if side == "b" else self.asks
        if qty <= 0:
            if ticks in book:
                del book[ticks]
                self.changes[(side, ticks)] = D(0)
        else:
            book[ticks] = qty
            self.changes[(side, ticks)] = qty

    def _rand_qty(self) -> Decimal:
        return self.spec.step * self.rng.randint(1, 2000)

    def _fill_levels(self) -> None:
        for k in list(self.bids):
            if k >= self.mid or k < self.mid - LEVELS:
                self._set("b", k, D(0))
        for k in list(self.asks):
            if k <= self.mid or k > self.mid + LEVELS:
                self._set("a", k, D(0))
        for i in range(1, LEVELS + 1):
            if self.mid - i not in self.bids:
                self._set("b", self.mid - i, self._rand_qty())
            if self.mid + i not in self.asks:
                self._set("a", self.mid + i, self._rand_qty())

    def move_to(self, price: Decimal) -> None:
        """Re-centre the book on ``price`` (tests: push the mark to a liquidation); the next step publishes it."""
        self.mid = int(D(price) / self.spec.tick)
        self.mark_override = None
        self._fill_levels()

    def take(self, side: str, ticks: int, qty: Decimal) -> Decimal:
        """Consume up to ``qty`` at one level of the book (a taker); returns what was taken."""
        book = self.bids if side == "b" else self.asks
        have = book.get(ticks, D(0))
        got = min(have, qty)
        self._set(side, ticks, have - got)
        return got

    def record_trade(self, price: Decimal, qty: Decimal, buyer_maker: bool, t: int) -> Trade:
        self.trade_id += 1
        tr = Trade(self.trade_id, price, qty, t, buyer_maker)
        self.trades.append(tr)
        del self.trades[:-5000]
        self.new_trades.append(tr)
        return tr

    # ------------------------------------------------------------ the clock
    def step(self, t: int) -> None:
        r = self.rng
        if r.random() < 0.3:
            self.mid += r.choice((-2, -1, 1, 2))
            self._fill_levels()
        for _ in range(3):
            side = r.choice("ba")
            k = (self.mid - r.randint(1, LEVELS)) if side == "b" else (self.mid + r.randint(1, LEVELS))
            self._set(side, k, self._rand_qty())
        if r.random() < 0.5:  # a public taker trade at the top of the book
            sell = r.random() < 0.5
            side = "b" if sell else "a"
            top = self.best_bid() if sell else self.best_ask()
            if top is not None:
                q = min(self.spec.step * r.randint(1, 50), (self.bids if sell else self.asks)[top])
                self.take(side, top, q)
                self.record_trade(self.px(top), q, sell, t)
            self._fill_levels()

    def close_event(self) -> tuple | None:
        """The depthUpdate link for this step's changes, or None when nothing changed: (U, u, pu, bids, asks)."""
        if not self.changes:
            return None
        pu = self.last_u
        first = pu + self.rng.randint(1, 4)  # U jumps: ids are shared with other books on the venue
        last = first + len(self.changes) + self.rng.randint(0, 3)
        bids = sorted(((k, q) for (s, k), q in self.changes.items() if s == "b"), reverse=True)
        asks = sorted((k, q) for (s, k), q in self.changes.items() if s == "a")
        self.changes = {}
        self.last_u = last
        return first, last, pu, bids, asks


def make_markets(seed: int, symbols=DEFAULT_SYMBOLS) -> dict:
    out = {}
    for i, s in enumerate(symbols):
        if s not in SPECS:
            raise ValueError(f"unknown futures symbol {s!r} (known: {', '.join(SPECS)})")
        out[s] = Market(SPECS[s], random.Random(seed * 1000 + i))
    return out
