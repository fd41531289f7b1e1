"""Binance market streams: combined-stream sockets (picows) feeding compiled books, with per-symbol resync.

Data path: picows frame -> compiled ``StreamListener`` (engine._ws) -> ``BookSync.feed`` on the frame's
bytes, with no Python object per level and no queue. Python is called only when something happened that
Python must act on: a gap or a sync step (schedule a snapshot for that ONE symbol), a changed book when
someone listens, a trade, a control reply, a disconnect.

Connection management:
- many symbols share one combined connection (up to ``streams_per_connection``);
- control messages (SUBSCRIBE/UNSUBSCRIBE) are paced under the venue's 5 inbound messages per second;
- server pings are answered by picows (auto-pong); we ping only a socket silent for ``read_deadline.idle_s``
  (pings count against the 5/s limit: at most one per silent period), and a socket that does not answer
  within ``reply_s`` is dead (a stalled stream or a frozen server sends neither data nor close): counted in
  ``stalls`` and in each of its books' health, its books RESYNCING (they are stale), and replaced like a lost
  one. Mid-rotation the rotation's own paths apply: a stalled new socket is reopened while the old one keeps
  the live books; a stalled old socket's books resync on the new socket;
- a disconnect reconnects with capped, jittered backoff and resyncs only that connection's symbols;
- ``rotate_after_s`` after each connect (before the venue's 24 h cut) and on ``serverShutdown`` a connection
  is replaced make-before-break: a new socket opens with the same streams while the old one keeps feeding
  the live books. On the new socket each symbol syncs a shadow book from its own snapshot (same queue, same
  weight budget). A symbol switches when its shadow is synced and the live book has reached the shadow's
  update id: the new socket's route is pointed at the live ``BookSync`` and the old socket stops feeding
  it. The switch never resets the live book: the ``BookFeed``'s book and sync objects stay the same, its
  state is untouched (a LIVE book stays LIVE) and its update id never goes back. When every symbol has switched the old socket closes. Symbols not switched within
  ``rotation_timeout_s``, or still on the old socket when it dies, resync on the new socket as after a
  disconnect (counted in ``rotation_fallbacks``); ``rotations`` counts replaced connections;
- snapshots are fetched through the shared weight budget, one queue for all symbols, so a reconnect of 100
  symbols waits for budget instead of earning a 418. A snapshot body longer than ``max_frame_bytes`` (or one
  the book refuses) is refused unparsed, counted in ``snapshots_refused`` and in its book's health, and that
  symbol asks again only after a backoff (``SNAPSHOT_BACKOFF_S`` doubling up to ``SNAPSHOT_BACKOFF_CAP_S``)
  while the other symbols' snapshots go on;
- caps from the venue's published limits (engine/connectors/binance/limits.py, docs/binance.md): at most
  1024 streams a connection (``streams_per_connection`` defaults to 200), ``max_symbols`` symbols (default
  derived from the per-IP connection attempt limit) refused with a ValueError before any socket opens, and
  every connection attempt (first connect, reconnect, rotation) paced by a ``ConnectionPacer``;
- a frame longer than picows' ``max_frame_size`` (twice ``max_frame_bytes``) makes picows close the socket:
  that is a disconnect like any other (counted, reason "frame too large", reconnected); frames between
  ``max_frame_bytes`` and that are refused by the book (its symbol resyncs, the socket stays).

Trades: ``aggTrade`` frames become ``engine.models.Trade`` with the symbol the caller subscribed with, each
aggregate trade id delivered once per symbol (both sockets carry the trades during a rotation); repeats
are counted in ``duplicate_trades``.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Callable, Optional

import orjson
from picows import WSCloseCode, WSProtocolError, ws_connect

from engine._build import load
from engine.book import DEFAULT_MAX_FRAME_BYTES, BookSync, DepthOutcome, OrderBook
from engine.connectors.base import BookState, ReadDeadline, ReconnectPolicy, StreamHealth
from engine.errors import FrameError, TradingError, WebSocketDisconnectedError
from engine.feed import decode_agg_trade
from engine.models import Side, Trade

from .http import BinanceHttp, ResponseTooLargeError, depth_weight
from .limits import DEFAULT_MAX_CONNECTIONS, MAX_STREAMS_PER_CONNECTION, ConnectionPacer
from .urls import BinanceEndpoints

_ws = load("engine._ws")
log = logging.getLogger("engine.binance.ws")

CONTROL_INTERVAL_S = 0.25  # 4 control messages/s: under the 5/s inbound limit with a margin
ROTATE_AFTER_S = 23.5 * 3600  # the venue cuts at 24 h
QUIET_SNAPSHOT_S = 3.0  # a newly subscribed symbol with no diff yet gets its snapshot after this long
# our bound on keeping two sockets per rotation: every book of the connection needs a snapshot through the
# weight budget before it can switch (100 books at limit 1000 are 5000 of the 6000 weight per minute)
ROTATION_TIMEOUT_S = 120.0
# how often a rotation re-checks its shadows: the listener tells Python of an applied diff only when the
# top of book moved, so the moment a live book catches up with its shadow may pass unannounced
ROTATION_POLL_S = 0.01
CONNECT_TIMEOUT_S = 30.0  # add_book's wait for a new socket, counted from when the pacer lets it connect
STREAMS_PER_SYMBOL = 2  # a symbol's depth diffs and its aggregate trades
# a refused snapshot (too large, malformed) is asked for again after this, doubling per refusal up to the cap:
# the venue serving it is broken or hostile, and fetching it in a loop costs weight, memory and loop time
SNAPSHOT_BACKOFF_S = 5.0
SNAPSHOT_BACKOFF_CAP_S = 300.0


def default_max_symbols(streams_per_connection: int) -> int:
    """As many symbols as ``DEFAULT_MAX_CONNECTIONS`` sockets carry (see engine/connectors/binance/limits.py)."""
    return DEFAULT_MAX_CONNECTIONS * streams_per_connection // STREAMS_PER_SYMBOL


class BookHealth(StreamHealth):
    """``StreamHealth`` plus the snapshots this book refused (too large or malformed)."""

    def __init__(self, symbol: str, book=None):
        super().__init__(symbol, book)
        self.snapshots_refused = 0

    def as_dict(self) -> dict:
        return {**super().as_dict(), "snapshots_refused": self.snapshots_refused}


class BookFeed:
    """One symbol's live book: the compiled book + sync, health, and who to tell about changes."""

    def __init__(self, symbol: str, stream: str, futures: bool = False,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        self.symbol = symbol  # venue spelling, upper case
        self.stream = stream  # e.g. btcusdt@depth@100ms
        self.book = OrderBook(symbol, futures=futures, max_frame_bytes=max_frame_bytes)
        self.sync = BookSync(self.book)
        self.health = BookHealth(symbol, self.book)
        self.refusals = 0  # snapshots refused in a row (the backoff grows with it)
        self.callbacks: list[Callable[[OrderBook], None]] = []
        self.changed = asyncio.Event()
        self.snapshot_pending = False
        self.conn: Optional["StreamConnection"] = None

    @property
    def wants_snapshot(self) -> bool:
        return self.sync.needs_snapshot


class ShadowBook:
    """One symbol's book on a connection that is taking over from another, until the live book switches.

    It is synced from the new socket by its own snapshot so that the live ``BookFeed`` can move to that
    socket only once the new socket is known to carry a continuous chain, and to be carrying it now: a diff
    applied after the snapshot (a snapshot alone says nothing of a new socket that has gone silent, and a
    live book moved onto a stalled socket would go stale there); it is dropped at the switch.
    """

    def __init__(self, feed: BookFeed, conn: "StreamConnection"):
        self.feed = feed
        self.symbol = feed.symbol  # what the snapshot worker fetches
        self.conn = conn
        self.book = OrderBook(feed.symbol, futures=feed.book.futures, max_frame_bytes=feed.book.max_frame_bytes)
        self.sync = BookSync(self.book)
        self.snapshot_pending = False
        self.dropped = False
        self.refusals = 0
        self.applied_at_sync: Optional[int] = None  # the book's applied-diff count when its snapshot landed

    @property
    def wants_snapshot(self) -> bool:
        return not self.dropped and self.sync.needs_snapshot


class StreamConnection:
    """One combined-stream socket and the streams it carries."""

    def __init__(self, owner: "BinanceMarketData", conn_id: int):
        self.owner = owner
        self.id = conn_id
        self.streams: set[str] = set()
        self.transport = None
        self.listener = None
        self.connected = asyncio.Event()
        self.opened_at = 0.0
        self.closed_by_us = False
        self.close_code: Optional[int] = None
        self.close_reason = ""
        self._next_id = 1
        self._control: deque = deque()
        self._control_task: Optional[asyncio.Task] = None
        self._run_task: Optional[asyncio.Task] = None
        self.reconnects = 0
        self.predecessor: Optional[StreamConnection] = None  # set while this socket takes over from another
        self.successor: Optional[StreamConnection] = None  # set while this socket is being replaced
        self.shadows: dict[str, ShadowBook] = {}  # depth stream -> its shadow, while taking over
        self.rotate_again = False  # a rotation was asked for while this socket was still taking over

    # -- called by the compiled listener (Python calls only on rare events)
    def on_ws_connected(self, transport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, close_code: int, reason: str) -> None:
        self.close_code, self.close_reason = close_code, reason

    def on_control(self, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            self.owner.garbage_frames += 1
            return
        if isinstance(msg, dict) and isinstance(msg.get("data"), dict):
            msg = msg["data"]  # combined-stream wrapper (e.g. "!serverShutdown")
        if isinstance(msg, dict) and msg.get("e") == "serverShutdown":
            log.warning("binance ws#%d: serverShutdown received; rotating", self.id)
            self.owner._schedule_rotation(self)
        elif isinstance(msg, dict) and "code" in msg and "result" not in msg:
            log.error("binance ws#%d: control error %s", self.id, msg)
        # {"result": null, "id": n} acks need no action

    def on_stream(self, key, payload: bytes) -> None:
        self.owner._on_stream(key, payload)

    def on_book(self, feed: BookFeed, outcome: int) -> None:
        self.owner._on_book(feed, outcome)

    def on_garbage(self, payload: bytes) -> None:
        self.owner.garbage_frames += 1

    # -- lifecycle
    def url(self) -> str:
        return f"{self.owner.endpoints.ws}/stream?streams=" + "/".join(sorted(self.streams))

    async def open(self) -> None:
        self.closed_by_us = False
        self.transport, self.listener = await ws_connect(
            lambda: _ws.StreamListener(self), self.url(), enable_auto_pong=True, websocket_handshake_timeout=10,
            max_frame_size=self.owner.max_ws_frame_bytes, **self.owner.read_deadline.picows_options())
        if self.listener is None:  # picows returns no listener when the server closes during the handshake
            raise ConnectionError("closed by the server during the WebSocket handshake")
        if self.owner.recorder is not None:
            self.listener.recorder = self.owner.recorder.frame_writer(f"binance-{self.id}")
        for s in self.streams:
            self.owner._register(self, s)
        self.opened_at = time.monotonic()
        self.connected.set()
        if self._control_task is None or self._control_task.done():
            self._control_task = asyncio.create_task(self._pace_control())

    def send_control(self, method: str, params: list) -> None:
        self._control.append((method, params))

    async def _pace_control(self) -> None:
        while True:
            while not self._control:
                await asyncio.sleep(CONTROL_INTERVAL_S)
            method, params = self._control.popleft()
            if self.transport is None or self.transport.is_disconnected:
                self._control.appendleft((method, params))
                await asyncio.sleep(CONTROL_INTERVAL_S)
                continue
            msg = {"method": method, "params": params, "id": self._next_id}
            self._next_id += 1
            self.transport.send(1, orjson.dumps(msg))  # 1 = TEXT
            await asyncio.sleep(CONTROL_INTERVAL_S)

    async def close(self) -> None:
        self.closed_by_us = True
        if self._control_task:
            self._control_task.cancel()
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close(1000, b"rotate" if self.owner._closing is False else b"bye")
            self.transport.disconnect()
            try:
                await asyncio.wait_for(self.transport.wait_disconnected(), 2)
            except (asyncio.TimeoutError, Exception):
                pass

    async def wait_disconnected(self) -> None:
        await self.transport.wait_disconnected()


class BinanceMarketData:
    """All market-data streams of one connector.

    Counters a status line may read (all in ``status()``): ``disconnects``, ``stalls`` (sockets declared dead
    by the read deadline, also counted in disconnects), ``oversized_frames`` (sockets closed by a frame over
    ``max_ws_frame_bytes``, also in disconnects), ``connect_failures``, ``garbage_frames``, ``rotations``
    (connections replaced make-before-break), ``rotation_fallbacks`` (symbols that resynced instead of
    switching live during a rotation), ``duplicate_trades`` (aggregate trades seen again and not delivered)
    and ``snapshots_refused``.
    """

    def __init__(self, endpoints: BinanceEndpoints, http: BinanceHttp, *, snapshot_limit: int = 1000,
                 streams_per_connection: int = 200, futures: bool = False,
                 rotate_after_s: float = ROTATE_AFTER_S, rotation_timeout_s: float = ROTATION_TIMEOUT_S,
                 reconnect: Optional[ReconnectPolicy] = None, read_deadline: Optional[ReadDeadline] = None,
                 max_symbols: Optional[int] = None, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES,
                 pacer: Optional[ConnectionPacer] = None):
        if not 1 <= streams_per_connection <= MAX_STREAMS_PER_CONNECTION:
            raise ValueError(f"binance: streams_per_connection={streams_per_connection}; the venue allows 1 to "
                             f"{MAX_STREAMS_PER_CONNECTION} streams on one connection")
        self.endpoints = endpoints
        self.read_deadline = read_deadline or ReadDeadline()
        self.http = http
        self.snapshot_limit = snapshot_limit
        self.streams_per_connection = streams_per_connection
        self.max_symbols = max_symbols if max_symbols is not None else default_max_symbols(streams_per_connection)
        self.max_frame_bytes = max_frame_bytes  # each book's frame cap, and the snapshot body cap
        self.max_ws_frame_bytes = 2 * max_frame_bytes  # picows closes the socket on a larger frame
        self.pacer = pacer or ConnectionPacer()
        self.futures = futures
        self.rotate_after_s = rotate_after_s
        self.rotation_timeout_s = rotation_timeout_s
        self.reconnect_policy = reconnect or ReconnectPolicy()
        self.books: dict[str, BookFeed] = {}
        self.trade_callbacks: dict[str, list[Callable[[Trade], None]]] = {}
        self.trade_symbols: dict[str, str] = {}  # venue symbol -> the symbol its Trade values carry
        self.trade_watermark: dict[str, int] = {}  # venue symbol -> highest aggregate trade id delivered
        self.connections: list[StreamConnection] = []
        self._snapshots: deque = deque()  # BookFeed and ShadowBook waiting for a snapshot
        self._snapshot_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._rotation_tasks: set[asyncio.Task] = set()
        self._closing = False
        self._next_conn_id = 1
        self.garbage_frames = 0
        self.disconnects = 0
        self.stalls = 0
        self.connect_failures = 0  # connection attempts refused, reset or timed out before the handshake ended
        self.rotations = 0
        self.rotation_fallbacks = 0
        self.duplicate_trades = 0
        self.oversized_frames = 0
        self.snapshots_refused = 0
        self.last_disconnect: Optional[WebSocketDisconnectedError] = None
        self.recorder = None  # an engine.record.FrameRecorder: raw frames + snapshots to JSONL.gz

    # -- public
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._snapshot_worker(), name="binance-snapshots"))

    async def stop(self) -> None:
        self._closing = True
        for t in (*self._tasks, *self._rotation_tasks):
            t.cancel()
        for c in list(self.connections):
            if c._run_task:
                c._run_task.cancel()
            await c.close()
        await asyncio.gather(*self._tasks, *self._rotation_tasks,
                             *(c._run_task for c in self.connections if c._run_task), return_exceptions=True)
        self._tasks.clear()
        self.connections.clear()

    def check_capacity(self, symbols) -> None:
        """Refuse (ValueError) when ``symbols`` (venue spellings) would take this connector past ``max_symbols``,
        before a socket or a book is made for any of them."""
        have = self.books.keys() | self.trade_callbacks.keys()
        total = len(have | set(symbols))
        if total > self.max_symbols:
            raise ValueError(
                f"binance: {total} symbols asked for market data, more than max_symbols={self.max_symbols} "
                f"({self.streams_per_connection} streams a connection, {STREAMS_PER_SYMBOL} a symbol, at most "
                f"{DEFAULT_MAX_CONNECTIONS} connections within the venue's 300 connection attempts per 5 minutes "
                f"per IP; see docs/binance.md); nothing was subscribed")

    async def add_book(self, symbol: str, callback: Optional[Callable[[OrderBook], None]] = None) -> BookFeed:
        feed = self.books.get(symbol)
        if feed is None:
            self.check_capacity((symbol,))
            feed = BookFeed(symbol, f"{symbol.lower()}@depth@100ms", self.futures, self.max_frame_bytes)
            self.books[symbol] = feed
            await self._add_stream(feed.stream)
        if callback is not None:
            feed.callbacks.append(callback)
        return feed

    async def add_trades(self, symbol: str, callback: Callable[[Trade], None], unified: Optional[str] = None) -> None:
        """``callback(Trade)`` for each new aggregate trade of ``symbol`` (venue spelling); the Trade carries
        ``unified`` as its symbol when given (the first subscription of a symbol decides), else ``symbol``."""
        stream = f"{symbol.lower()}@aggTrade"
        first = symbol not in self.trade_callbacks
        if first:
            self.check_capacity((symbol,))
        self.trade_callbacks.setdefault(symbol, []).append(callback)
        self.trade_symbols.setdefault(symbol, unified or symbol)
        if first:
            await self._add_stream(stream)

    def health(self) -> list[dict]:
        return [f.health.as_dict() for f in self.books.values()]

    def status(self) -> dict:
        """The market streams as a whole, for ``health()``: sockets, their losses and why, refused snapshots,
        the connection pacer."""
        last = self.last_disconnect
        return {"connections": len(self.connections), "symbols": len(self.books.keys() | self.trade_callbacks.keys()),
                "max_symbols": self.max_symbols, "disconnects": self.disconnects, "stalls": self.stalls,
                "connect_failures": self.connect_failures, "oversized_frames": self.oversized_frames,
                "garbage_frames": self.garbage_frames, "snapshots_refused": self.snapshots_refused,
                "snapshots_queued": len(self._snapshots), "rotations": self.rotations,
                "rotation_fallbacks": self.rotation_fallbacks, "duplicate_trades": self.duplicate_trades,
                "last_disconnect": None if last is None else f"{last} (code={last.close_code} reason={last.reason!r})",
                "pacer": self.pacer.status()}

    async def rotate(self, old: StreamConnection) -> Optional[StreamConnection]:
        """Replace ``old`` make-before-break (see the module docstring); returns the new connection once the
        old one is closed, or None when ``old`` cannot be rotated now (closing, not connected, or already
        being replaced; a socket still taking over from another rotates when that finishes)."""
        if old.predecessor is not None:
            old.rotate_again = True
            return None
        if self._closing or old not in self.connections or old.successor is not None or not old.connected.is_set():
            return None
        new = StreamConnection(self, self._next_conn_id)
        self._next_conn_id += 1
        new.streams = set(old.streams)
        new.predecessor, old.successor = old, new
        self.connections.append(new)
        new._run_task = asyncio.create_task(self._run(new), name=f"binance-ws-{new.id}")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.rotation_timeout_s
        while self._still_on(old) or not (new.connected.is_set() or old.successor is None):
            if loop.time() >= deadline:
                moved = self._hand_over(old, new)
                self.rotation_fallbacks += moved
                log.warning("binance ws#%d: %d symbols did not switch to ws#%d within %.0f s; resyncing them",
                            old.id, moved, new.id, self.rotation_timeout_s)
                break
            for shadow in list(new.shadows.values()):
                self._try_switch(shadow)
            await asyncio.sleep(ROTATION_POLL_S)
        if old in self.connections:
            self.connections.remove(old)
        if old._run_task:
            old._run_task.cancel()
        await old.close()
        new.predecessor = None
        self.rotations += 1
        log.info("binance ws#%d replaced by ws#%d", old.id, new.id)
        if new.rotate_again:
            new.rotate_again = False
            self._schedule_rotation(new)
        return new

    # -- connections
    async def _add_stream(self, stream: str) -> None:
        conn = next((c for c in self.connections
                     if c.successor is None and len(c.streams) < self.streams_per_connection), None)
        if conn is None:
            conn = StreamConnection(self, self._next_conn_id)
            self._next_conn_id += 1
            conn.streams.add(stream)
            self.connections.append(conn)
            delay = self.pacer.reserve()  # booked here so that the wait below knows how long the pacer holds it
            conn._run_task = asyncio.create_task(self._run(conn, delay), name=f"binance-ws-{conn.id}")
            await asyncio.wait_for(conn.connected.wait(), delay + CONNECT_TIMEOUT_S)
            return
        conn.streams.add(stream)
        if conn.listener is None:
            return  # a rotation's socket not open yet: its URL will carry the stream
        self._register(conn, stream, active=False)
        conn.send_control("SUBSCRIBE", [stream])

    def _register(self, conn: StreamConnection, stream: str, active: bool = True) -> None:
        """Route ``stream`` on ``conn``; ``active`` = the server is already sending it (it was in the URL)."""
        name = stream.encode()
        symbol = stream.split("@", 1)[0].upper()
        if "@depth" in stream:
            feed = self.books[symbol]
            if conn.predecessor is not None and feed.conn is conn.predecessor:
                # taking over: the live book stays on the old socket until this one proves continuous
                shadow = ShadowBook(feed, conn)
                stale = conn.shadows.pop(stream, None)
                if stale is not None:
                    stale.dropped = True
                conn.shadows[stream] = shadow
                conn.listener.register_book(name, shadow.sync, shadow)
                self._want_snapshot(shadow)
                return
            feed.conn = conn
            self._reset_feed(feed)
            conn.listener.register_book(name, feed.sync, feed)
            if active:
                # buffering has started: ask for the snapshot now rather than waiting for a first diff (a
                # quiet symbol may send none for long); BookSync refuses a snapshot older than the buffer
                self._want_snapshot(feed)
            else:
                # a SUBSCRIBE takes effect later: the first buffered diff asks for the snapshot; a quiet
                # symbol gets one after a few seconds anyway
                asyncio.get_running_loop().call_later(QUIET_SNAPSHOT_S, self._snapshot_if_still_waiting, feed)
        else:
            conn.listener.register_raw(name, stream)

    def _snapshot_if_still_waiting(self, feed: BookFeed) -> None:
        if feed.sync.needs_snapshot and not self._closing:
            self._want_snapshot(feed)

    def _reset_feed(self, feed: BookFeed) -> None:
        feed.sync.reset()
        feed.health.state = BookState.RESYNCING if feed.health.messages else BookState.SYNCING
        feed.snapshot_pending = False

    def _resync(self, feed: BookFeed) -> None:
        # continuity is lost with the socket: never let a stale book pass for a live one (counted once per loss
        # of a live book, not once per failed reconnection attempt)
        if feed.health.state is BookState.LIVE:
            feed.health.resyncs += 1
        self._reset_feed(feed)
        feed.health.state = BookState.RESYNCING

    async def _run(self, conn: StreamConnection, first_delay: Optional[float] = None) -> None:
        """Keep one connection up: connect (paced), wait for it to drop, back off, reconnect (and resync).
        ``first_delay`` is the pacer's delay when the caller booked the first attempt itself."""
        delay = first_delay
        while not self._closing:
            try:
                await self.pacer.wait(self.pacer.reserve() if delay is None else delay)
                delay = None
                await conn.open()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connect refused, handshake failed, ...
                conn.connected.clear()
                self.connect_failures += 1
                log.warning("binance ws#%d: connect failed: %s", conn.id, e)
            else:
                self.reconnect_policy.reset()
                rotate = asyncio.get_running_loop().call_later(self.rotate_after_s, self._schedule_rotation, conn)
                lost: Optional[Exception] = None
                try:
                    await conn.wait_disconnected()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # picows re-raises the protocol error it closed the socket for
                    lost = e
                finally:
                    rotate.cancel()
                conn.connected.clear()
                if self._closing or conn.closed_by_us:
                    return
                self._lost(conn, lost)
            for shadow in conn.shadows.values():
                shadow.dropped = True  # the next open() starts fresh ones
            conn.shadows.clear()
            if conn.successor is not None:
                # lost while being replaced: its symbols resync on the new socket, this one is not reopened
                moved = self._hand_over(conn, conn.successor)
                self.rotation_fallbacks += moved
                log.warning("binance ws#%d: lost mid-rotation; %d symbols resync on ws#%d", conn.id, moved,
                            conn.successor.id)
                conn.successor = None
                return
            for s in conn.streams:
                feed = self.books.get(s.split("@", 1)[0].upper())
                if feed is not None and feed.conn is conn:
                    self._resync(feed)
            conn.reconnects += 1
            await asyncio.sleep(self.reconnect_policy.next_delay())

    def _lost(self, conn: StreamConnection, error: Optional[Exception]) -> None:
        """Count and log an open socket that closed without us asking, with the reason it closed."""
        self.disconnects += 1
        if isinstance(error, WSProtocolError) and error.code == WSCloseCode.MESSAGE_TOO_BIG:
            self.oversized_frames += 1
            conn.close_code = int(WSCloseCode.MESSAGE_TOO_BIG)
            conn.close_reason = f"frame too large (over max_frame_size={self.max_ws_frame_bytes} bytes)"
        elif ReadDeadline.expired(conn.transport):
            self._stalled(conn)
        elif error is not None:
            if isinstance(error, WSProtocolError):
                conn.close_code = int(error.code)
            conn.close_reason = f"{type(error).__name__}: {error}"
        self.last_disconnect = WebSocketDisconnectedError(
            f"binance stream connection #{conn.id} closed", exchange="binance",
            close_code=conn.close_code, reason=conn.close_reason)
        log.warning("%s (code=%s reason=%r); reconnecting", self.last_disconnect, conn.close_code, conn.close_reason)

    def _stalled(self, conn: StreamConnection) -> None:
        """``conn`` went silent past the read deadline; the books it fed are stale (they resync below)."""
        self.stalls += 1
        for _, feed in self._still_on(conn):
            feed.health.stalls += 1
        conn.close_reason = f"silent for {self.read_deadline.bound_s:g} s (no data, no pong)"
        log.warning("binance ws#%d: no data and no pong within %.1f s; declared dead", conn.id,
                    self.read_deadline.bound_s)

    def _schedule_rotation(self, conn: StreamConnection) -> None:
        if not self._closing and conn in self.connections:
            task = asyncio.get_running_loop().create_task(self.rotate(conn), name=f"binance-rotate-{conn.id}")
            self._rotation_tasks.add(task)
            task.add_done_callback(self._rotation_tasks.discard)

    def _still_on(self, conn: StreamConnection) -> list[tuple[str, BookFeed]]:
        """(stream, feed) of the live books ``conn`` still feeds."""
        feeds = ((s, self.books.get(s.split("@", 1)[0].upper())) for s in sorted(conn.streams) if "@depth" in s)
        return [(s, f) for s, f in feeds if f is not None and f.conn is conn]

    def _try_switch(self, shadow: ShadowBook) -> bool:
        """Move the live book onto the shadow's socket if that socket now continues the live chain."""
        feed, new = shadow.feed, shadow.conn
        if (shadow.dropped or shadow.sync.needs_snapshot or feed.sync.needs_snapshot
                or shadow.applied_at_sync is None or shadow.book.applied <= shadow.applied_at_sync
                or feed.book.last_update_id < shadow.book.last_update_id
                or new.transport is None or new.transport.is_disconnected):
            return False
        # the shadow has applied every diff the new socket carried, up to its update id, and the live book
        # is at or past it: the new socket's next diff continues the live book (or is stale to it)
        name = feed.stream.encode()
        new.listener.register_book(name, feed.sync, feed)
        old = feed.conn
        if old is not None and old.listener is not None:
            # muted rather than unregistered: an unrouted frame would go through the control path's JSON parse
            old.listener.register_raw(name, feed.stream)
        feed.conn = new
        new.shadows.pop(feed.stream, None)
        shadow.dropped = True
        return True

    def _hand_over(self, old: StreamConnection, new: StreamConnection) -> int:
        """Resync on ``new`` every live book ``old`` still feeds; returns how many."""
        moved = self._still_on(old)
        for stream, feed in moved:
            shadow = new.shadows.pop(stream, None)
            if shadow is not None:
                shadow.dropped = True
            feed.conn = new
            self._resync(feed)
            if new.connected.is_set():
                self._register(new, stream)  # else its open() registers it
        return len(moved)

    # -- events from the compiled listener
    def _on_book(self, feed: BookFeed, outcome: int) -> None:
        if type(feed) is ShadowBook:
            if outcome == DepthOutcome.APPLIED:
                self._try_switch(feed)
            elif outcome in (DepthOutcome.GAP, DepthOutcome.BUFFERED):
                self._want_snapshot(feed)
            return
        h = feed.health
        if outcome == DepthOutcome.APPLIED:
            h.applied(feed.book, feed.callbacks)
            feed.changed.set()
        elif outcome == DepthOutcome.GAP:
            h.gaps += 1
            h.resyncs += 1
            h.state = BookState.RESYNCING
            log.warning("binance %s: gap after update id %d; resyncing this symbol", feed.symbol,
                        feed.book.last_update_id)
            self._want_snapshot(feed)
        elif outcome == DepthOutcome.BUFFERED:
            self._want_snapshot(feed)

    def _on_stream(self, stream: str, payload: bytes) -> None:
        if stream.endswith("@aggTrade"):
            try:
                agg = decode_agg_trade(payload)
            except ValueError:
                self.garbage_frames += 1
                return
            symbol = agg.symbol
            seen = self.trade_watermark.get(symbol)
            if seen is not None and agg.agg_id <= seen:
                self.duplicate_trades += 1  # the other socket of a rotation (or a repeat) delivered it already
                return
            self.trade_watermark[symbol] = agg.agg_id
            trade = Trade(exchange="binance", symbol=self.trade_symbols.get(symbol, symbol), price=agg.price,
                          size=agg.qty, side=Side.SELL if agg.buyer_is_maker else Side.BUY, trade_id=agg.agg_id,
                          timestamp_ms=agg.trade_time, price_str=agg.price_str, size_str=agg.qty_str)
            for cb in self.trade_callbacks.get(symbol, ()):
                try:
                    cb(trade)
                except Exception:
                    log.exception("trade callback failed for %s", symbol)

    # -- snapshots, one queue under the weight budget
    def _want_snapshot(self, target) -> None:
        if not target.snapshot_pending:
            target.snapshot_pending = True
            self._snapshots.append(target)
            self._snapshot_wakeup.set()

    async def _snapshot_worker(self) -> None:
        while True:
            while not self._snapshots:
                self._snapshot_wakeup.clear()
                await self._snapshot_wakeup.wait()
            target = self._snapshots.popleft()
            try:
                await self._snapshot(target)
            except asyncio.CancelledError:
                raise
            except (ResponseTooLargeError, FrameError) as e:
                self._snapshot_refused(target, e)
            except TradingError as e:
                log.warning("binance %s: snapshot failed (%s); will retry", target.symbol, e)
                await asyncio.sleep(e.retry_after or 1.0)
                target.snapshot_pending = False
                self._want_snapshot(target)
            except Exception:
                log.exception("binance %s: snapshot failed", target.symbol)
                await asyncio.sleep(1.0)
                target.snapshot_pending = False
                self._want_snapshot(target)

    def _snapshot_refused(self, target, error: Exception) -> None:
        """Count a refused snapshot and ask again for that symbol only after a backoff (the worker goes on
        with the others; the target stays pending, so its buffered diffs do not queue it again meanwhile)."""
        target.refusals += 1
        delay = min(SNAPSHOT_BACKOFF_CAP_S, SNAPSHOT_BACKOFF_S * 2 ** (target.refusals - 1))
        self.snapshots_refused += 1
        feed = target if type(target) is BookFeed else target.feed
        feed.health.snapshots_refused += 1
        log.warning("binance %s: snapshot refused (%s); asking again in %.0f s", target.symbol, error, delay)
        asyncio.get_running_loop().call_later(delay, self._retry_snapshot, target)

    def _retry_snapshot(self, target) -> None:
        target.snapshot_pending = False
        if not self._closing and target.wants_snapshot:
            self._want_snapshot(target)

    async def _snapshot(self, target) -> None:
        """Sync ``target`` (a BookFeed or a ShadowBook) from a REST snapshot."""
        limit = self.snapshot_limit
        for _ in range(5):
            # a target queued twice, or a shadow dropped, needs none: a snapshot applied to a live book
            # would take its update id back
            if not target.wants_snapshot:
                target.snapshot_pending = False
                return
            body = await self.http.request_raw("GET", "/api/v3/depth", [("symbol", target.symbol), ("limit", limit)],
                                               weight=depth_weight(limit), max_bytes=self.max_frame_bytes)
            if self.recorder is not None:
                self.recorder.snapshot(target.symbol, body)
            if not target.wants_snapshot:
                continue  # synced or dropped while we waited: the check above returns
            outcome = target.sync.apply_snapshot(body)
            target.refusals = 0
            if outcome == DepthOutcome.SNAPSHOT_TOO_OLD:
                await asyncio.sleep(0.2)
                continue
            target.snapshot_pending = False
            if outcome == DepthOutcome.GAP:
                if type(target) is BookFeed:
                    target.health.gaps += 1
                self._want_snapshot(target)
            elif type(target) is ShadowBook:
                target.applied_at_sync = target.book.applied  # the next diff shows the socket is alive
                self._try_switch(target)
            else:
                target.health.applied(target.book, target.callbacks)
                target.changed.set()
            return
        target.snapshot_pending = False
        self._want_snapshot(target)
