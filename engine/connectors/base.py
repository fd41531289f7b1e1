"""The connector contract every venue implements, and what the trading layer may rely on.

Symbols are accepted in the unified form (``ETH-USDT``) and in the venue's own spelling. Money sent to a
venue is ``Decimal``; the connector quantizes it to the venue's filters and sends exact decimal strings.
Every order carries a client order id (generated when the caller gives none) so that an order whose
outcome is unknown (timeout, 5xx: ``RPCTimeoutError``) can be reconciled by that id and is never sent twice.

Market data is exposed two ways: ``stream_orderbook``/``stream_trades`` async iterators for ordinary code,
and callbacks (``on_book``/``on_trade`` arguments) for the latency-sensitive path, which runs inside the
socket's receive callback with no queue between the socket and the book.
"""
from __future__ import annotations

import abc
import asyncio
import enum
import logging
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, AsyncIterator, Optional

from engine.models import (Balance, Candle, OrderBookSnapshot, OrderStatus, OrderType, OrderUpdate, Side,
                           TimeInForce, Trade)


class ConnectorState(str, enum.Enum):
    DISCONNECTED = "disconnected"
    CONNECTING = "connecting"
    LIVE = "live"
    DEGRADED = "degraded"  # connected, but a stream is down or resyncing: risk blocks new orders
    CLOSED = "closed"


class BookState(str, enum.Enum):
    SYNCING = "syncing"  # buffering, waiting for a snapshot
    LIVE = "live"
    RESYNCING = "resyncing"  # a gap or reconnect: buffering again for this symbol only


class StreamHealth:
    """Per-symbol health, for status lines and the risk manager's stale-book check.

    The per-frame counters (frames applied, last update id, time of the last apply) are read from the
    compiled book itself, so the hot path never calls Python just to count; the state, gaps and resyncs are
    kept here by the connector, which hears about every gap and sync step.
    """

    def __init__(self, symbol: str, book=None):
        self.symbol = symbol
        self.book = book
        self.state = BookState.SYNCING
        self.gaps = 0
        self.resyncs = 0
        self.crossed = 0
        self._base = 0  # frames applied before the book was replaced (counts stay monotonic)

    @property
    def messages(self) -> int:
        return self.book.applied if self.book is not None else 0

    @property
    def last_update_id(self) -> int:
        return self.book.last_update_id if self.book is not None else 0

    @property
    def age_s(self) -> float:
        t = self.book.last_apply_ns if self.book is not None else 0
        return float("inf") if not t else (time.monotonic_ns() - t) / 1e9

    def applied(self, book, callbacks=()) -> None:
        """The top of ``book`` moved: mark live, check crossing, tell the callbacks (errors logged)."""
        self.state = BookState.LIVE
        if book.crossed:
            self.crossed += 1
        for cb in callbacks:
            try:
                cb(book)
            except Exception:  # a strategy bug must not kill the feed
                logging.getLogger("engine.connectors").exception("book callback failed for %s", self.symbol)

    def as_dict(self) -> dict:
        age = self.age_s
        return {"symbol": self.symbol, "state": self.state.value, "last_update_id": self.last_update_id,
                "gaps": self.gaps, "resyncs": self.resyncs, "messages": self.messages, "crossed": self.crossed,
                "age_s": None if age == float("inf") else round(age, 3)}


@dataclass
class ReconnectPolicy:
    """Capped exponential backoff with full jitter (never synchronized retries, never hours of sleep)."""

    base_s: float = 0.25
    cap_s: float = 30.0
    attempt: int = 0
    rng: random.Random = field(default_factory=random.Random, repr=False)

    def next_delay(self) -> float:
        upper = min(self.cap_s, self.base_s * (2 ** min(self.attempt, 20)))
        self.attempt += 1
        return self.rng.uniform(0, upper)

    def reset(self) -> None:
        self.attempt = 0


class UserDataStream(abc.ABC):
    """The private stream of order updates and balance changes.

    ``listeners`` are called with every OrderUpdate as it arrives; ``on_resubscribed`` with a new epoch
    number after every (re)subscription, when events may have been missed and open orders must be
    reconciled over REST.
    """

    listeners: list
    on_resubscribed: list
    _queue: "asyncio.Queue"

    def emit(self, upd: OrderUpdate) -> None:
        """Hand one update to ``stream_order_updates`` readers and to every listener (errors are logged)."""
        self._queue.put_nowait(upd)
        for cb in self.listeners:
            try:
                cb(upd)
            except Exception:  # a strategy bug must not kill the stream
                logging.getLogger("engine.connectors").exception("order update listener failed")

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...

    @abc.abstractmethod
    def stream_order_updates(self) -> AsyncIterator[OrderUpdate]: ...


class BaseConnector(abc.ABC):
    """One venue. Use as ``async with connector:`` or call ``connect()``/``disconnect()``."""

    name: str = "base"

    def __init__(self) -> None:
        self.state = ConnectorState.DISCONNECTED

    async def __aenter__(self):
        await self.connect()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.disconnect()

    # -- lifecycle
    @abc.abstractmethod
    async def connect(self) -> None: ...

    @abc.abstractmethod
    async def disconnect(self) -> None: ...

    # -- market data (REST)
    @abc.abstractmethod
    async def get_orderbook(self, symbol: str, limit: int = 100) -> OrderBookSnapshot: ...

    @abc.abstractmethod
    async def get_candlesticks(self, symbol: str, interval: str = "1m", limit: int = 100,
                               start_ms: Optional[int] = None, end_ms: Optional[int] = None) -> list[Candle]: ...

    @abc.abstractmethod
    async def get_ticker_price(self, symbol: str) -> Decimal: ...

    # -- account and orders
    @abc.abstractmethod
    async def get_account(self) -> dict[str, Balance]: ...

    @abc.abstractmethod
    async def create_order(self, symbol: str, side: "Side | str", order_type: "OrderType | str",
                           quantity: "Decimal | str | int", price: "Decimal | str | int | None" = None, *,
                           stop_price: "Decimal | str | int | None" = None,
                           time_in_force: "TimeInForce | str | None" = None,
                           client_order_id: Optional[str] = None, reduce_only: bool = False) -> OrderUpdate: ...

    @abc.abstractmethod
    async def cancel_order(self, symbol: str, order_id: Optional[str] = None,
                           client_order_id: Optional[str] = None) -> OrderUpdate: ...

    @abc.abstractmethod
    async def cancel_all_orders(self, symbol: str) -> list[OrderUpdate]: ...

    @abc.abstractmethod
    async def get_order(self, symbol: str, order_id: Optional[str] = None,
                        client_order_id: Optional[str] = None) -> Optional[OrderUpdate]:
        """The venue's view of one order, or None if the venue does not know it (reconciliation)."""

    @abc.abstractmethod
    async def get_open_orders(self, symbol: Optional[str] = None) -> list[OrderUpdate]: ...

    # -- streams
    @abc.abstractmethod
    def stream_orderbook(self, symbol: str) -> AsyncIterator[Any]:
        """Yield the live local book (coalesced: each step sees the latest state, never a stale queue)."""

    @abc.abstractmethod
    def stream_trades(self, symbol: str) -> AsyncIterator[Trade]: ...

    @abc.abstractmethod
    def get_user_data_stream(self) -> UserDataStream: ...

    def new_client_order_id(self) -> str:
        """A client order id in the venue's own format (Binance: text; Lighter: an integer below 2^48)."""
        import uuid

        return "eng-" + uuid.uuid4().hex[:28]

    # -- the low-latency path: callbacks run right after the compiled book applied a frame
    async def add_book(self, symbol: str, callback=None):
        """Subscribe ``symbol``'s book; returns a feed with ``.book`` (live compiled book) and ``.health``."""
        raise NotImplementedError

    async def add_trades(self, symbol: str, callback) -> None:
        raise NotImplementedError

    def book_latency(self):
        """The compiled path's latency histogram snapshot (frame in -> book applied), or None."""
        return None

    # -- status
    def health(self) -> dict:
        return {"exchange": self.name, "state": self.state.value}


def is_open_status(status: OrderStatus) -> bool:
    return status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
