"""The connector contract every venue implements, and what the trading layer may rely on.

Symbols are accepted in the unified form (``ETH-USDT``) and in the venue's own spelling. Money sent to a
venue is ``Decimal``; the connector quantizes it to the venue's filters and sends exact decimal strings.
Every order carries a client order id (generated when the caller gives none) so that an order whose
outcome is unknown (timeout, 5xx: ``RPCTimeoutError``) can be reconciled by that id and is never sent twice.

Market data is exposed two ways: ``stream_orderbook``/``stream_trades`` async iterators for ordinary code,
and callbacks (``on_book``/``on_trade`` arguments) for the latency-sensitive path, which runs inside the
socket's receive callback with no queue between the socket and the book.

Book state is part of the contract: ``book_status(symbol)`` says whether that symbol's book is live, its
exact mid and its age, and ``state`` is DEGRADED whenever a subscribed book or a started user stream is not
live. The RiskManager reads both itself, so no caller can switch its book checks off.
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
from typing import Any, AsyncIterator, Callable, Iterable, Optional

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
    UNSUBSCRIBED = "unsubscribed"  # nobody asked for this symbol's book


@dataclass(frozen=True, slots=True)
class BookStatus:
    """One symbol's book as the trading layer sees it (``BaseConnector.book_status``).

    ``mid`` is exact (from the book's decimal strings), None when a side is empty; ``age_s`` is the time
    since the last applied frame or snapshot (inf when never applied). ``live`` needs all three: a LIVE
    book, a mid, and an uncrossed top.
    """

    symbol: str
    state: BookState
    mid: Optional[Decimal] = None
    age_s: float = float("inf")
    crossed: bool = False

    @property
    def live(self) -> bool:
        return self.state is BookState.LIVE and self.mid is not None and not self.crossed

    @property
    def reason(self) -> str:
        """Why the book is not usable for a new order ("" when it is)."""
        if self.state is not BookState.LIVE:
            return f"{self.symbol} book is {self.state.value}"
        if self.mid is None:
            return f"{self.symbol} book has an empty side (no mid)"
        if self.crossed:
            return f"{self.symbol} book is crossed"
        return ""


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
        self.stalls = 0  # times this book's socket went silent and was declared dead (ReadDeadline)
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
                "stalls": self.stalls, "age_s": None if age == float("inf") else round(age, 3)}


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


@dataclass(frozen=True)
class ReadDeadline:
    """How long a socket may stay silent before it is declared dead and replaced.

    No frame for ``idle_s`` -> we ping; no pong within ``reply_s`` of that ping -> the socket is dead (a
    stalled TCP stream or a frozen server: no FIN, no RST, nothing), closed, counted as a stall and replaced.
    Without this a book fed by such a socket keeps its LIVE state while it grows stale, and an order sent on
    it waits for an answer that cannot come. Pings go out only on a silent socket, so a busy one sends none
    (venues count client pings against their per-connection message limits).
    """

    idle_s: float = 5.0
    reply_s: float = 2.5

    def __post_init__(self) -> None:
        if not 0 < self.reply_s <= self.idle_s:  # picows refuses a reply timeout above the idle timeout
            raise ValueError(f"ReadDeadline needs 0 < reply_s <= idle_s (got {self.reply_s}, {self.idle_s})")

    @property
    def bound_s(self) -> float:
        """The longest a silent socket is taken for a live one."""
        return self.idle_s + self.reply_s

    def picows_options(self) -> dict:
        """``ws_connect`` keywords: picows pings after ``idle_s`` without data and, with no PONG ``reply_s``
        later, sends a close (1001) and aborts the socket."""
        return {"enable_auto_ping": True, "auto_ping_idle_timeout": self.idle_s,
                "auto_ping_reply_timeout": self.reply_s}

    @property
    def aiohttp_heartbeat_s(self) -> float:
        """aiohttp's ``heartbeat``: it pings after that long without data and waits half of it for the pong,
        so the heartbeat is the largest that keeps both within this deadline."""
        return min(self.idle_s, 2 * self.reply_s)

    @staticmethod
    def expired(transport) -> bool:
        """Whether a disconnected picows transport was closed by its own ping deadline: then picows sent a
        going-away close (1001) the peer never sent first (the connectors close with 1000 themselves and echo
        a peer's close only after receiving it)."""
        hs = getattr(transport, "close_handshake", None)
        sent = getattr(hs, "sent", None)
        return sent is not None and int(sent.code) == 1001 and getattr(hs, "recv", None) is None


class UserDataStream(abc.ABC):
    """The private stream of order updates and balance changes.

    ``listeners`` are called with every OrderUpdate as it arrives; ``on_resubscribed`` with a new epoch
    number after every (re)subscription, when events may have been missed and open orders must be
    reconciled over REST. ``up`` says whether the venue currently confirms the subscription.

    ``stream_order_updates()`` readers each get their own queue, created by that call and
    bounded at ``queue_max``: a reader that falls behind loses the oldest updates (counted in ``reader_drops``),
    never the process's memory. Nothing is queued while nobody iterates.
    """

    queue_max = 10_000

    def __init__(self) -> None:
        self.listeners: list[Callable[[OrderUpdate], None]] = []
        self.on_resubscribed: list[Callable[[int], None]] = []
        self.subscribed = asyncio.Event()
        self.running = False  # between start() and stop(): only a running stream can make the venue DEGRADED
        self.reader_drops = 0
        self._readers: list[asyncio.Queue] = []

    @property
    def up(self) -> bool:
        return self.subscribed.is_set()

    def _set_up(self, up: bool) -> None:
        self.subscribed.set() if up else self.subscribed.clear()

    def emit(self, upd: OrderUpdate) -> None:
        """Hand one update to every ``stream_order_updates`` reader and every listener (errors are logged)."""
        for q in self._readers:
            if q.full():
                q.get_nowait()
                self.reader_drops += 1
            q.put_nowait(upd)
        for cb in self.listeners:
            try:
                cb(upd)
            except Exception:  # a strategy bug must not kill the stream
                logging.getLogger("engine.connectors").exception("order update listener failed")

    def stream_order_updates(self) -> "OrderUpdateReader":
        """An async iterator of every update from now on (its queue exists from this call, not from the
        first ``__anext__``, so nothing emitted in between is missed); ``aclose()`` detaches it."""
        return OrderUpdateReader(self)

    @abc.abstractmethod
    async def start(self) -> None: ...

    @abc.abstractmethod
    async def stop(self) -> None: ...


class OrderUpdateReader:
    """One ``stream_order_updates()`` reader: a bounded queue fed by ``UserDataStream.emit``."""

    def __init__(self, stream: UserDataStream):
        self._stream = stream
        self.queue: asyncio.Queue = asyncio.Queue(maxsize=stream.queue_max)
        stream._readers.append(self.queue)

    def __aiter__(self) -> "OrderUpdateReader":
        return self

    async def __anext__(self) -> OrderUpdate:
        if self.queue not in self._stream._readers:
            raise StopAsyncIteration
        return await self.queue.get()

    async def aclose(self) -> None:
        if self.queue in self._stream._readers:
            self._stream._readers.remove(self.queue)


class OrderDeadlines:
    """Client order id -> the wall-clock ms after which the venue can no longer place that order.

    Kept for ``keep_ms`` past each deadline (lookups after it still need it), then pruned on insert.
    """

    def __init__(self, keep_ms: int = 3_600_000):
        self.keep_ms = keep_ms
        self._by_cid: dict[str, int] = {}

    def set(self, client_order_id: str, deadline_ms: int) -> None:
        now = int(time.time() * 1000)
        if len(self._by_cid) > 1024:
            self._by_cid = {k: v for k, v in self._by_cid.items() if v + self.keep_ms > now}
        self._by_cid[str(client_order_id)] = int(deadline_ms)

    def get(self, client_order_id: str) -> Optional[int]:
        return self._by_cid.get(str(client_order_id))


class BaseConnector(abc.ABC):
    """One venue. Use as ``async with connector:`` or call ``connect()``/``disconnect()``."""

    name: str = "base"

    def __init__(self) -> None:
        self._state = ConnectorState.DISCONNECTED
        self._user_stream: Optional[UserDataStream] = None
        self.deadlines = OrderDeadlines()  # filled by create_order where the venue bounds a request's life

    @property
    def state(self) -> ConnectorState:
        """The lifecycle state; a connected venue reads DEGRADED while any subscribed book or the started
        user stream is not live (derived on every read, so no event can be missed)."""
        if self._state is ConnectorState.LIVE and not self._streams_live():
            return ConnectorState.DEGRADED
        return self._state

    @state.setter
    def state(self, value: ConnectorState) -> None:
        self._state = value

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
    def get_user_data_stream(self) -> UserDataStream:
        """This account's order updates. Without credentials: ``AuthenticationError`` naming the settings
        to set, raised before any network I/O (the caller then runs market-data-only)."""

    # -- book state and connector state (read by the RiskManager itself)
    def _book_feed(self, symbol: str):
        """The feed (``.book``, ``.health``) of ``symbol``'s subscribed book, or None."""
        return None

    def _book_feeds(self) -> Iterable:
        """Every subscribed book's feed."""
        return ()

    def book_status(self, symbol: str) -> BookStatus:
        """Whether ``symbol``'s book is live, its exact mid and age (an unknown symbol is UNSUBSCRIBED)."""
        try:
            feed = self._book_feed(symbol)
        except (KeyError, ValueError):
            feed = None
        name = self._unified_or(symbol)
        if feed is None:
            return BookStatus(name, BookState.UNSUBSCRIBED)
        book, health = feed.book, feed.health
        if not book.synced:  # the health row may lag the book by one callback: the book decides
            state = health.state if health.state is not BookState.LIVE else BookState.RESYNCING
            return BookStatus(name, state, None, health.age_s)
        bids, asks = book.top_exact(1)
        mid = (Decimal(bids[0][0]) + Decimal(asks[0][0])) / 2 if bids and asks else None
        return BookStatus(name, health.state, mid, health.age_s, bool(book.crossed))

    def unified(self, symbol: str) -> str:
        """``symbol`` in the unified spelling (``ETH-USDT``), whichever spelling was given."""
        symbols = getattr(self, "symbols", None)
        if symbols is None:
            return symbol
        return str(symbols.unified(symbols.native(symbol)))

    def _unified_or(self, symbol: str) -> str:
        try:
            return self.unified(symbol)
        except (KeyError, ValueError):
            return symbol

    def _streams_live(self) -> bool:
        if any(f.health.state is not BookState.LIVE for f in self._book_feeds()):
            return False
        us = self._user_stream
        return us is None or not us.running or us.up

    def order_deadline_ms(self, client_order_id: str) -> Optional[int]:
        """Wall-clock ms (UTC) after which the venue can no longer place this order if it has not yet (the
        request's own expiry), or None when the connector does not know one. An order the venue has not
        shown stays UNKNOWN until then."""
        return self.deadlines.get(client_order_id)

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

    # -- built against an embedded simulator; the clock
    @classmethod
    def for_simulator(cls, sim: Any, **kwargs: Any) -> "BaseConnector":
        """A connector (not connected) for the venue's embedded simulator ``sim``, read by attribute only
        (``rest_url``, ``ws_url`` and the throwaway keys it hands out), so that neither imports the other.
        ``ConnectorFactory.open_simulated`` starts the simulator and calls this."""
        raise NotImplementedError(f"{cls.__name__} has no embedded simulator")

    async def clock_offset_ms(self) -> Optional[float]:
        """The venue's clock minus the local clock in milliseconds, measured now (for `engine doctor`), or
        None when this venue's requests do not depend on the local clock. Opens and closes what it needs
        when the connector is not connected."""
        return None


def is_open_status(status: OrderStatus) -> bool:
    return status in (OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
