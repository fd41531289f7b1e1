"""A simulated Lighter perp market: integer prices/sizes in the market's decimals, a seeded random-walk
book, and the order_book channel's global nonce chain (each update's begin_nonce = the previous nonce)."""
from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from decimal import Decimal


@dataclass(frozen=True)
class MarketSpec:
    market_id: int
    symbol: str
    price_decimals: int
    size_decimals: int
    start_price: Decimal
    min_base_amount: Decimal
    min_quote_amount: Decimal = Decimal("10")

    def px(self, ticks: int) -> str:
        return f"{Decimal(ticks).scaleb(-self.price_decimals):.{self.price_decimals}f}"

    def sz(self, units: int) -> str:
        return f"{Decimal(units).scaleb(-self.size_decimals):.{self.size_decimals}f}"


DEFAULT_MARKETS = (
    MarketSpec(0, "ETH", 2, 4, Decimal("3000.00"), Decimal("0.0050")),
    MarketSpec(1, "BTC", 1, 5, Decimal("60000.0"), Decimal("0.00020")),
    MarketSpec(36, "CRV", 5, 1, Decimal("0.20000"), Decimal("50.0")),
)


@dataclass
class LighterMarket:
    spec: MarketSpec
    rng: random.Random
    nonce: int
    bids: dict = field(default_factory=dict)  # price units -> size units
    asks: dict = field(default_factory=dict)
    pending: dict = field(default_factory=dict)  # (side, price) -> size changed since the last update
    trades: list = field(default_factory=list)
    offset: int = 415_800
    next_trade_id: int = 26_412_422_000
    on_sweep: object = None  # callable(market, side, price, size) when the walk trades through a level

    def __post_init__(self):
        s = self.spec
        self.mid = int(s.start_price.scaleb(s.price_decimals))
        self.step = max(1, self.mid // 20_000)  # ~0.5 bps per price step
        for d in range(1, 120):
            if self.rng.random() < 0.8:
                self.bids[self.mid - d * self.step] = self._size()
            if self.rng.random() < 0.8:
                self.asks[self.mid + d * self.step] = self._size()

    def _size(self) -> int:
        notional = Decimal(self.rng.randint(20, 20_000))
        return max(1, int((notional / self.spec.start_price).scaleb(self.spec.size_decimals)))

    def _set(self, side: str, price: int, size: int) -> None:
        book = self.bids if side == "b" else self.asks
        if size <= 0:
            if price not in book:
                return
            del book[price]
            size = 0
        else:
            book[price] = size
        self.pending[(side, price)] = size

    def step_market(self) -> None:
        r = self.rng.random()
        if r < 0.15:
            self.mid += self.step
        elif r < 0.30:
            self.mid -= self.step
        for side, book, cross in (("a", self.asks, lambda p: p <= self.mid), ("b", self.bids, lambda p: p >= self.mid)):
            for p in [p for p in book if cross(p)]:
                self._print(p, book[p], is_maker_ask=(side == "a"))
                if self.on_sweep is not None:
                    self.on_sweep(self, side, p, book[p])
                self._set(side, p, 0)
        for _ in range(self.rng.randint(2, 8)):
            side = self.rng.choice("ba")
            d = 1 + int(self.rng.expovariate(1 / 6))
            price = self.mid - d * self.step if side == "b" else self.mid + d * self.step
            self._set(side, price, 0 if self.rng.random() < 0.3 else self._size())

    def _print(self, price: int, size: int, is_maker_ask: bool) -> None:
        self.next_trade_id += 1
        self.trades.append((self.next_trade_id, price, size, is_maker_ask, int(time.time() * 1000)))
        if len(self.trades) > 500:
            del self.trades[:100]

    def take_update(self) -> tuple | None:
        """(begin_nonce, nonce, changes) for one update frame, or None if nothing changed."""
        if not self.pending:
            return None
        changes, self.pending = self.pending, {}
        begin = self.nonce
        self.nonce += self.rng.randint(20, 400)
        self.offset += self.rng.choice((1, 1, 2, 3))
        return begin, self.nonce, changes

    def levels(self, side: str) -> list:
        book = self.bids if side == "b" else self.asks
        return sorted(book.items(), reverse=(side == "b"))
