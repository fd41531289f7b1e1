"""Binance market streams: combined-stream sockets (picows) feeding compiled books, with per-symbol resync.

Data path: picows frame -> compiled ``StreamListener`` (engine._ws) -> ``BookSync.feed`` on the frame's
bytes, with no Python object per level and no queue. Python is called only when something happened that
Python must act on: a gap or a sync step (schedule a snapshot for that ONE symbol), a changed book when
someone listens, a trade, a control reply, a disconnect.

Connection management:
- many symbols share one combined connection (up to ``streams_per_connection``);
- control messages (SUBSCRIBE/UNSUBSCRIBE) are paced under the venue's 5 inbound messages per second;
- server pings are answered by picows (auto-pong); we never ping on our own (pings count against the limit);
- a disconnect reconnects with capped, jittered backoff and resyncs only that connection's symbols;
- before the venue's 24 h cut (and on ``serverShutdown``) a connection is rotated make-before-break: the new
  socket syncs fresh books, each symbol switches over when its new book is live, then the old socket closes;
- snapshots are fetched through the shared weight budget, one queue for all symbols, so a reconnect of 100
  symbols waits for budget instead of earning a 418.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Callable, Optional

import orjson
from picows import ws_connect

from engine._build import load
from engine.book import BookSync, DepthOutcome, OrderBook
from engine.connectors.base import BookState, ReconnectPolicy, StreamHealth
from engine.errors import TradingError, WebSocketDisconnectedError
from engine.feed import decode_agg_trade

from .http import BinanceHttp, depth_weight
from .urls import BinanceEndpoints

_ws = load("engine._ws")
log = logging.getLogger("engine.binance.ws")

CONTROL_INTERVAL_S = 0.25  # 4 control messages/s: under the 5/s inbound limit with a margin
ROTATE_AFTER_S = 23.5 * 3600  # the venue cuts at 24 h
QUIET_SNAPSHOT_S = 3.0  # a newly subscribed symbol with no diff yet gets its snapshot after this long


class BookFeed:
    """One symbol's live book: the compiled book + sync, health, and who to tell about changes."""

    def __init__(self, symbol: str, stream: str, futures: bool = False):
        self.symbol = symbol  # venue spelling, upper case
        self.stream = stream  # e.g. btcusdt@depth@100ms
        self.book = OrderBook(symbol, futures=futures)
        self.sync = BookSync(self.book)
        self.health = StreamHealth(symbol, self.book)
        self.callbacks: list[Callable[[OrderBook], None]] = []
        self.changed = asyncio.Event()
        self.snapshot_pending = False
        self.conn: Optional["StreamConnection"] = None


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
            lambda: _ws.StreamListener(self), self.url(), enable_auto_ping=False, enable_auto_pong=True,
            websocket_handshake_timeout=10)
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
    """All market-data streams of one connector."""

    def __init__(self, endpoints: BinanceEndpoints, http: BinanceHttp, *, snapshot_limit: int = 1000,
                 streams_per_connection: int = 200, futures: bool = False,
                 rotate_after_s: float = ROTATE_AFTER_S, reconnect: Optional[ReconnectPolicy] = None):
        self.endpoints = endpoints
        self.http = http
        self.snapshot_limit = snapshot_limit
        self.streams_per_connection = streams_per_connection
        self.futures = futures
        self.rotate_after_s = rotate_after_s
        self.reconnect_policy = reconnect or ReconnectPolicy()
        self.books: dict[str, BookFeed] = {}
        self.trade_callbacks: dict[str, list[Callable]] = {}
        self.connections: list[StreamConnection] = []
        self._snapshots: deque[BookFeed] = deque()
        self._snapshot_wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._closing = False
        self._next_conn_id = 1
        self.garbage_frames = 0
        self.disconnects = 0
        self.last_disconnect: Optional[WebSocketDisconnectedError] = None
        self.recorder = None  # an engine.record.FrameRecorder: raw frames + snapshots to JSONL.gz

    # -- public
    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._snapshot_worker(), name="binance-snapshots"))

    async def stop(self) -> None:
        self._closing = True
        for t in self._tasks:
            t.cancel()
        for c in list(self.connections):
            if c._run_task:
                c._run_task.cancel()
            await c.close()
        await asyncio.gather(*self._tasks, *(c._run_task for c in self.connections if c._run_task),
                             return_exceptions=True)
        self._tasks.clear()
        self.connections.clear()

    async def add_book(self, symbol: str, callback: Optional[Callable[[OrderBook], None]] = None) -> BookFeed:
        feed = self.books.get(symbol)
        if feed is None:
            feed = BookFeed(symbol, f"{symbol.lower()}@depth@100ms", self.futures)
            self.books[symbol] = feed
            await self._add_stream(feed.stream)
        if callback is not None:
            feed.callbacks.append(callback)
        return feed

    async def add_trades(self, symbol: str, callback: Callable) -> None:
        stream = f"{symbol.lower()}@aggTrade"
        first = symbol not in self.trade_callbacks
        self.trade_callbacks.setdefault(symbol, []).append(callback)
        if first:
            await self._add_stream(stream)

    def health(self) -> list[dict]:
        return [f.health.as_dict() for f in self.books.values()]

    # -- connections
    async def _add_stream(self, stream: str) -> None:
        conn = next((c for c in self.connections if len(c.streams) < self.streams_per_connection), None)
        if conn is None:
            conn = StreamConnection(self, self._next_conn_id)
            self._next_conn_id += 1
            conn.streams.add(stream)
            self.connections.append(conn)
            conn._run_task = asyncio.create_task(self._run(conn), name=f"binance-ws-{conn.id}")
            await asyncio.wait_for(conn.connected.wait(), 30)
            return
        conn.streams.add(stream)
        self._register(conn, stream, active=False)
        conn.send_control("SUBSCRIBE", [stream])

    def _register(self, conn: StreamConnection, stream: str, active: bool = True) -> None:
        """Route ``stream`` on ``conn``; ``active`` = the server is already sending it (it was in the URL)."""
        name = stream.encode()
        symbol = stream.split("@", 1)[0].upper()
        if "@depth" in stream:
            feed = self.books[symbol]
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

    async def _run(self, conn: StreamConnection) -> None:
        """Keep one connection up: connect, wait for it to drop, back off, reconnect (and resync)."""
        while not self._closing:
            try:
                await conn.open()
                self.reconnect_policy.reset()
                rotate = asyncio.get_running_loop().call_later(self.rotate_after_s, self._schedule_rotation, conn)
                try:
                    await conn.wait_disconnected()
                finally:
                    rotate.cancel()
                conn.connected.clear()
                if self._closing or conn.closed_by_us:
                    return
                self.disconnects += 1
                self.last_disconnect = WebSocketDisconnectedError(
                    f"binance stream connection #{conn.id} closed", exchange="binance",
                    close_code=conn.close_code, reason=conn.close_reason)
                log.warning("%s (code=%s reason=%r); reconnecting", self.last_disconnect, conn.close_code,
                            conn.close_reason)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # connect refused, handshake failed, ...
                conn.connected.clear()
                log.warning("binance ws#%d: connect failed: %s", conn.id, e)
            for s in conn.streams:
                feed = self.books.get(s.split("@", 1)[0].upper())
                if feed is not None and feed.conn is conn:
                    # continuity is lost with the socket: never let a stale book pass for a live one
                    self._reset_feed(feed)
                    feed.health.state = BookState.RESYNCING
                    feed.health.resyncs += 1
            conn.reconnects += 1
            await asyncio.sleep(self.reconnect_policy.next_delay())

    def _schedule_rotation(self, conn: StreamConnection) -> None:
        if not self._closing and conn in self.connections:
            asyncio.get_running_loop().create_task(self._rotate(conn))

    async def _rotate(self, old: StreamConnection) -> None:
        """Make-before-break: a new socket with the same streams; books resync on it; then close the old."""
        new = StreamConnection(self, self._next_conn_id)
        self._next_conn_id += 1
        new.streams = set(old.streams)
        # the old socket stops feeding books the moment the new one registers them (register re-points them)
        self.connections.append(new)
        new._run_task = asyncio.create_task(self._run(new), name=f"binance-ws-{new.id}")
        await asyncio.wait_for(new.connected.wait(), 30)
        if old in self.connections:
            self.connections.remove(old)
        if old._run_task:
            old._run_task.cancel()
        await old.close()

    # -- events from the compiled listener
    def _on_book(self, feed: BookFeed, outcome: int) -> None:
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
                trade = decode_agg_trade(payload)
            except ValueError:
                self.garbage_frames += 1
                return
            for cb in self.trade_callbacks.get(trade.symbol, ()):
                try:
                    cb(trade)
                except Exception:
                    log.exception("trade callback failed for %s", trade.symbol)

    # -- snapshots, one queue under the weight budget
    def _want_snapshot(self, feed: BookFeed) -> None:
        if not feed.snapshot_pending:
            feed.snapshot_pending = True
            self._snapshots.append(feed)
            self._snapshot_wakeup.set()

    async def _snapshot_worker(self) -> None:
        while True:
            while not self._snapshots:
                self._snapshot_wakeup.clear()
                await self._snapshot_wakeup.wait()
            feed = self._snapshots.popleft()
            try:
                await self._snapshot(feed)
            except asyncio.CancelledError:
                raise
            except TradingError as e:
                log.warning("binance %s: snapshot failed (%s); will retry", feed.symbol, e)
                await asyncio.sleep(e.retry_after or 1.0)
                feed.snapshot_pending = False
                self._want_snapshot(feed)
            except Exception:
                log.exception("binance %s: snapshot failed", feed.symbol)
                await asyncio.sleep(1.0)
                feed.snapshot_pending = False
                self._want_snapshot(feed)

    async def _snapshot(self, feed: BookFeed) -> None:
        limit = self.snapshot_limit
        for _ in range(5):
            body = await self.http.request_raw("GET", "/api/v3/depth", [("symbol", feed.symbol), ("limit", limit)],
                                               weight=depth_weight(limit))
            if self.recorder is not None:
                self.recorder.snapshot(feed.symbol, body)
            outcome = feed.sync.apply_snapshot(body)
            if outcome == DepthOutcome.SNAPSHOT_TOO_OLD:
                await asyncio.sleep(0.2)
                continue
            feed.snapshot_pending = False
            if outcome == DepthOutcome.APPLIED:
                feed.health.applied(feed.book, feed.callbacks)
                feed.changed.set()
            elif outcome == DepthOutcome.GAP:
                feed.health.gaps += 1
                self._want_snapshot(feed)
            return
        feed.snapshot_pending = False
        self._want_snapshot(feed)
