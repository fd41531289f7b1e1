"""Small value types shared by connectors, execution, risk and strategies (stdlib only).

Money that goes to an exchange is ``Decimal`` (exact, sent as a plain decimal string); market data read
by strategies is ``float`` for speed, with exact strings kept where a caller may need them.
"""
from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Optional


class Side(str, enum.Enum):
    BUY = "buy"
    SELL = "sell"

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(str, enum.Enum):
    LIMIT = "limit"
    MARKET = "market"
    LIMIT_MAKER = "limit_maker"  # post-only
    STOP_LIMIT = "stop_limit"  # Binance STOP_LOSS_LIMIT
    TAKE_PROFIT_LIMIT = "take_profit_limit"
    STOP_MARKET = "stop_market"  # Binance STOP_LOSS; Lighter STOP_LOSS (the price is the worst acceptable)
    TAKE_PROFIT_MARKET = "take_profit_market"  # Binance TAKE_PROFIT; Lighter TAKE_PROFIT


class TimeInForce(str, enum.Enum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    POST_ONLY = "POST_ONLY"


class OrderStatus(str, enum.Enum):
    """The order lifecycle. UNKNOWN = a request whose outcome was not seen (timeout/5xx), to reconcile."""

    NEW = "new"  # created locally, not sent
    SUBMITTED = "submitted"  # sent, no answer yet
    OPEN = "open"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    EXPIRED = "expired"
    UNKNOWN = "unknown"

    @property
    def is_final(self) -> bool:
        return self in _FINAL


_FINAL = frozenset({OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED})


@dataclass(frozen=True, slots=True)
class OrderRequest:
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    price: Optional[Decimal] = None
    stop_price: Optional[Decimal] = None
    time_in_force: Optional[TimeInForce] = None
    client_order_id: Optional[str] = None
    reduce_only: bool = False


@dataclass(slots=True)
class OrderUpdate:
    """One change of an order's state as reported by a venue (REST answer or user stream)."""

    exchange: str
    symbol: str
    order_id: Optional[str]
    client_order_id: Optional[str]
    status: OrderStatus
    side: Optional[Side] = None
    type: Optional[OrderType] = None
    price: Optional[Decimal] = None
    quantity: Optional[Decimal] = None
    filled_quantity: Decimal = Decimal(0)
    average_price: Optional[Decimal] = None
    last_fill_quantity: Decimal = Decimal(0)
    last_fill_price: Optional[Decimal] = None
    fee: Decimal = Decimal(0)
    fee_asset: Optional[str] = None
    reason: str = ""
    timestamp_ms: int = 0
    raw: object = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade print. ``side`` is the taker's (aggressor's) side."""

    exchange: str
    symbol: str
    price: float
    size: float
    side: Side
    trade_id: int
    timestamp_ms: int
    price_str: str = ""
    size_str: str = ""


@dataclass(frozen=True, slots=True)
class OrderBookSnapshot:
    """A copy of the top of a book: ``bids``/``asks`` are (price, qty) floats, best first."""

    exchange: str
    symbol: str
    bids: list
    asks: list
    last_update_id: int = 0
    timestamp_ms: int = 0

    @property
    def best_bid(self) -> float:
        return self.bids[0][0] if self.bids else math.nan

    @property
    def best_ask(self) -> float:
        return self.asks[0][0] if self.asks else math.nan

    @property
    def mid(self) -> float:
        return (self.best_bid + self.best_ask) / 2

    @property
    def spread(self) -> float:
        return self.best_ask - self.best_bid


@dataclass(frozen=True, slots=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True, slots=True)
class Candle:
    open_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    close_time_ms: int
    trades: int = 0
