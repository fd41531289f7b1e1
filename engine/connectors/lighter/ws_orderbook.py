"""Lighter order books over one picows connection, applied by the compiled book straight from the frames.

Each market is subscribed as ``order_book/<id>``: the ``subscribed/order_book`` frame seeds the book and
every ``update/order_book`` must chain (``begin_nonce`` == previous ``nonce``). A broken chain is a GAP:
the book is left untouched and marked unsynced, and only that market is resynced (unsubscribe, wait for
the ack, subscribe: a duplicate subscribe would get 30003 and no new snapshot). The server's app-level
``{"type":"ping"}`` is answered with ``{"type":"pong"}`` at once; a lost socket reconnects with capped, jittered
backoff and resubscribes every market (each gets a fresh snapshot). Signed transactions can go out on the
same socket (``tx``: jsonapi/sendtx, kept in nonce order) and their answers come back here.

A silent socket is a lost one: with no frame for ``read_deadline.idle_s`` picows sends a protocol ping (which
also counts as the client traffic the venue wants every 2 minutes), and with no pong ``reply_s`` later the
socket is closed, counted in ``stalls`` (and in each book's health) and replaced like any lost socket, so a
stalled stream or a frozen server is noticed within ``read_deadline.bound_s`` (7.5 s by default), not a minute.

A frame longer than ``max_frame_bytes`` (``engine.book.DEFAULT_MAX_FRAME_BYTES`` by default; picows'
``max_frame_size`` on the socket and each book's frame cap) makes picows close the socket unread (1009): a
disconnect like any other, counted in ``oversized_frames`` and ``disconnects``, reason "frame too large", then
reconnected, every market resubscribed from a fresh snapshot. Only a failed connection attempt counts in
``connect_failures``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable, Optional

import orjson
from picows import WSCloseCode, WSProtocolError, ws_connect

from engine._build import load
from engine.book import DEFAULT_MAX_FRAME_BYTES, DepthOutcome, OrderBook
from engine.connectors.base import BookState, ReadDeadline, ReconnectPolicy, StreamHealth
from engine.errors import RateLimitExceededError, WebSocketDisconnectedError
from engine.ratelimit import RateLimits

from .errors import lighter_error, permanent_auth_failure
from .limits import MAX_MARKETS, WS_CLIENT_MESSAGES_PER_MINUTE, check_max_markets
from .ws_tx import WsTxSender

_ws = load("engine._ws")
log = logging.getLogger("engine.lighter.ws")
# the venue takes at most 200 client messages a minute per IP (30009 beyond; sendtx frames excluded): every
# subscribe, unsubscribe and pong goes through this budget, in order
CONTROL_PER_MINUTE = WS_CLIENT_MESSAGES_PER_MINUTE
CONTROL_BACKOFF_S = 10.0  # after the venue said "too many messages"
SHUTDOWN_LEAD_MAX_S = 5.0  # after a shutdown notice, leave at half the notice, at most this late


class LighterBook:
    def __init__(self, market_id: int, symbol: str, price_decimals: int, size_decimals: int, *,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES):
        self.market_id = market_id
        self.symbol = symbol
        self.channel = f"order_book:{market_id}"
        self.book = OrderBook(symbol, price_decimals=price_decimals, qty_decimals=size_decimals,
                              max_frame_bytes=max_frame_bytes)
        self.health = StreamHealth(symbol, self.book)
        self.callbacks: list[Callable] = []
        self.changed = asyncio.Event()
        self.resyncing = False


class LighterMarketData:
    def __init__(self, ws_url: str, *, reconnect: Optional[ReconnectPolicy] = None,
                 read_deadline: Optional[ReadDeadline] = None, tx_timeout_s: float = 10.0,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, max_markets: int = MAX_MARKETS):
        self.max_markets = check_max_markets(max_markets)
        if max_frame_bytes < 1:
            raise ValueError(f"lighter: max_frame_bytes must be a positive number of bytes (got {max_frame_bytes})")
        self.ws_url = ws_url
        self.max_frame_bytes = max_frame_bytes  # picows' max_frame_size on the socket, and each book's frame cap
        self.read_deadline = read_deadline or ReadDeadline()
        self.books: dict[int, LighterBook] = {}
        self.trade_callbacks: dict[int, list] = {}
        self.trade_watermark: dict[int, int] = {}  # market_id -> highest trade_id delivered
        self.private: dict = {}  # channel ("account_all_orders:516") -> stream with on_frame() and subscribe()
        self.transport = None
        self.listener = None
        self.connected = asyncio.Event()
        self._policy = reconnect or ReconnectPolicy()
        self._task: Optional[asyncio.Task] = None
        self._control: asyncio.Queue = asyncio.Queue()
        self.control_budget = RateLimits([{"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 1,
                                           "limit": CONTROL_PER_MINUTE}])
        self._pacer: Optional[asyncio.Task] = None
        self._closing = False
        self.disconnects = 0
        self.stalls = 0  # sockets declared dead by the read deadline (also in disconnects)
        self.connect_failures = 0  # connection attempts refused, reset or timed out before the handshake ended
        self.planned_reconnects = 0  # after the venue announced a shutdown
        self.resyncs = 0  # book resyncs, all markets: a broken nonce chain, or the books of a lost socket
        self.oversized_frames = 0  # sockets closed because a frame was over max_frame_bytes (also in disconnects)
        self.errors: list = []
        self.last_disconnect: Optional[WebSocketDisconnectedError] = None
        self.close_code: Optional[int] = None
        self.close_reason = ""
        # jsonapi/sendtx on this socket (ordered), answers matched in on_control
        self.tx = WsTxSender(timeout_s=tx_timeout_s)

    # -- lifecycle
    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="lighter-ws")
        self._pacer = asyncio.create_task(self._pace(), name="lighter-ws-control")
        await asyncio.wait_for(self.connected.wait(), 30)

    async def stop(self) -> None:
        self._closing = True
        for t in (self._task, self._pacer):
            if t is not None:
                t.cancel()
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send_close(1000, b"bye")
            self.transport.disconnect()
        await asyncio.gather(*(t for t in (self._task, self._pacer) if t is not None), return_exceptions=True)

    async def _run(self) -> None:
        while not self._closing:
            try:
                self.transport, self.listener = await ws_connect(
                    lambda: _ws.StreamListener(self, prefix=_ws.LIGHTER_PREFIX), self.ws_url,
                    max_frame_size=self.max_frame_bytes, **self.read_deadline.picows_options())
                if self.listener is None:  # picows returns no listener when the server closes during the handshake
                    raise ConnectionError("closed by the server during the WebSocket handshake")
                for lb in self.books.values():
                    self._route(lb)
                    self._send({"type": "subscribe", "channel": f"order_book/{lb.market_id}"})
                for mid in self.trade_callbacks:
                    self.listener.register_raw(f"trade:{mid}".encode(), mid)
                    self._send({"type": "subscribe", "channel": f"trade/{mid}"})
                for channel in self.private:
                    self.listener.register_raw(channel.encode(), channel)
                for stream in self._private_streams():
                    asyncio.get_running_loop().create_task(stream.subscribe())  # the current auth token again
                self.tx.transport = self.transport
                self.connected.set()
                self._policy.reset()
                lost: Optional[Exception] = None
                try:
                    await self.transport.wait_disconnected()
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # picows re-raises the protocol error it closed the socket for
                    lost = e
                self.connected.clear()
                self.tx.on_disconnect()
                if self._closing:
                    return
                self.disconnects += 1
                if isinstance(lost, WSProtocolError) and lost.code == WSCloseCode.MESSAGE_TOO_BIG:
                    self._oversized()
                elif ReadDeadline.expired(self.transport):
                    self._stalled()
                elif lost is not None:
                    if isinstance(lost, WSProtocolError):
                        self.close_code = int(lost.code)
                    self.close_reason = f"{type(lost).__name__}: {lost}"
                self.last_disconnect = WebSocketDisconnectedError(
                    "lighter stream closed", exchange="lighter", close_code=self.close_code, reason=self.close_reason)
                log.warning("%s (code=%s reason=%r); reconnecting", self.last_disconnect, self.close_code,
                            self.close_reason)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.connected.clear()
                self.connect_failures += 1
                log.warning("lighter ws: connect failed: %s", e)
            for lb in self.books.values():
                if lb.health.state is BookState.LIVE:
                    lb.health.resyncs += 1
                    self.resyncs += 1
                lb.health.state = BookState.RESYNCING
                lb.book.clear()  # continuity is lost with the socket
            for stream in self._private_streams():
                stream._set_up(False)  # until the venue confirms the resubscription
            await asyncio.sleep(self._policy.next_delay())

    def _stalled(self) -> None:
        """The socket went silent past the read deadline: its books are stale (they resync with the rest)."""
        self.stalls += 1
        for lb in self.books.values():
            lb.health.stalls += 1
        self.close_reason = f"silent for {self.read_deadline.bound_s:g} s (no data, no pong)"
        log.warning("lighter stream: no data and no pong within %.1f s; declared dead", self.read_deadline.bound_s)

    def _oversized(self) -> None:
        """picows closed the socket on a frame over ``max_frame_bytes`` (unread): a disconnect like any other."""
        self.oversized_frames += 1
        self.close_code = int(WSCloseCode.MESSAGE_TOO_BIG)
        self.close_reason = f"frame too large (over max_frame_size={self.max_frame_bytes} bytes)"
        log.warning("lighter stream: a frame over %d bytes; the socket was closed unread", self.max_frame_bytes)

    def _private_streams(self) -> list:
        return list({id(st): st for st in self.private.values()}.values())

    def _send(self, msg: dict) -> None:
        self._control.put_nowait(orjson.dumps(msg))

    async def _pace(self) -> None:
        while True:
            data = await self._control.get()
            await self.control_budget.acquire(0)
            while self.transport is None or self.transport.is_disconnected:
                await asyncio.sleep(0.05)
            self.transport.send(1, data)

    def _route(self, lb: LighterBook) -> None:
        lb.book.clear()
        lb.health.state = BookState.SYNCING if not lb.health.messages else BookState.RESYNCING
        self.listener.register_lighter_book(lb.channel.encode(), lb.book, lb)

    # -- public
    def markets(self) -> set:
        """Markets with a book or trades on this connection."""
        return self.books.keys() | self.trade_callbacks.keys()

    def _admit(self, market_id: int) -> None:
        """Refuse a market past ``max_markets`` (ValueError), before anything is subscribed."""
        if market_id not in self.markets() and len(self.markets()) >= self.max_markets:
            raise ValueError(f"lighter: market {market_id} refused: max_markets={self.max_markets} markets already "
                             f"on the connection (at most {MAX_MARKETS}: the venue's 500 subscriptions per "
                             f"connection, docs/lighter.md)")

    async def add_book(self, market_id: int, symbol: str, price_decimals: int, size_decimals: int,
                       callback: Optional[Callable] = None) -> LighterBook:
        lb = self.books.get(market_id)
        if lb is None:
            self._admit(market_id)
            lb = LighterBook(market_id, symbol, price_decimals, size_decimals, max_frame_bytes=self.max_frame_bytes)
            self.books[market_id] = lb
            if self.listener is not None:
                self._route(lb)
                self._send({"type": "subscribe", "channel": f"order_book/{market_id}"})
        if callback is not None:
            lb.callbacks.append(callback)
        return lb

    async def add_trades(self, market_id: int, callback: Callable) -> None:
        self._admit(market_id)
        first = market_id not in self.trade_callbacks
        self.trade_callbacks.setdefault(market_id, []).append(callback)
        if first and self.listener is not None:
            self.listener.register_raw(f"trade:{market_id}".encode(), market_id)
            self._send({"type": "subscribe", "channel": f"trade/{market_id}"})

    def health(self) -> list:
        return [lb.health.as_dict() for lb in self.books.values()]

    def status(self) -> dict:
        """The connection as a whole, for the connector's ``health()``: its losses and why, resyncs, and the
        transactions on it (``late_answers``: answers that came after their caller's deadline)."""
        last = self.last_disconnect
        return {"connected": self.connected.is_set(), "markets": len(self.markets()), "max_markets": self.max_markets,
                "disconnects": self.disconnects,
                "stalls": self.stalls, "connect_failures": self.connect_failures,
                "oversized_frames": self.oversized_frames, "resyncs": self.resyncs,
                "planned_reconnects": self.planned_reconnects,
                "last_disconnect": None if last is None else f"{last} (code={last.close_code} reason={last.reason!r})",
                "tx_sent": self.tx.sent, "tx_inflight": len(self.tx.inflight), "late_answers": self.tx.late_answers,
                "tx_timeout_s": self.tx.timeout_s}

    # -- called by the compiled listener
    def on_ws_connected(self, transport) -> None:
        pass

    def on_ws_disconnected(self, code: int, reason: str) -> None:
        self.close_code, self.close_reason = code, reason

    def on_book(self, lb: LighterBook, outcome: int) -> None:
        h = lb.health
        if outcome == DepthOutcome.APPLIED:
            h.applied(lb.book, lb.callbacks)
            lb.changed.set()
        elif outcome == DepthOutcome.GAP and not lb.resyncing:
            h.gaps += 1
            h.resyncs += 1
            self.resyncs += 1
            h.state = BookState.RESYNCING
            lb.resyncing = True
            log.warning("lighter %s: nonce chain broken after %d; resubscribing this market", lb.symbol,
                        lb.book.last_update_id)
            self._send({"type": "unsubscribe", "channel": f"order_book/{lb.market_id}"})

    def on_stream(self, market_id, payload: bytes) -> None:
        if market_id in self.private:
            self.private[market_id].on_frame(payload)
            return
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        # subscribed/trade replays the last 50 prints: the first time they only set the watermark (history,
        # not news); after a reconnect the ones past the watermark are the prints missed while away
        seen = self.trade_watermark.get(market_id)
        replay = str(msg.get("type", "")).startswith("subscribed/")
        for t in msg.get("trades") or ():
            try:
                tid = int(t["trade_id"])
            except (KeyError, TypeError, ValueError):
                continue
            if seen is not None and tid <= seen:
                continue
            self.trade_watermark[market_id] = max(tid, self.trade_watermark.get(market_id, tid))
            if replay and seen is None:
                continue
            for cb in self.trade_callbacks.get(market_id, ()):
                try:
                    cb(t)
                except Exception:
                    log.exception("trade callback failed")

    def on_control(self, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        kind = msg.get("type")
        if (kind == "jsonapi/sendtx" or "id" in msg or "error" in msg) and self.tx.on_reply(msg):
            return
        if kind == "ping":
            # answered at once, past the control queue: a pong held back by a backoff is a "no pong" close (1008)
            if self.transport is not None and not self.transport.is_disconnected:
                self.transport.send(1, b'{"type":"pong"}')
        elif kind == "shutdown":
            # a planned close: go now, at a moment of our choosing (answers in flight first), not when cut
            try:
                notice_s = max(0.0, float(msg.get("close_in_ms") or 0) / 1000)
            except (TypeError, ValueError):
                notice_s = 0.0
            wait = min(notice_s / 2, SHUTDOWN_LEAD_MAX_S)
            log.warning("lighter stream: venue shutdown in %s ms; reconnecting in %.2f s", msg.get("close_in_ms"), wait)
            self.planned_reconnects += 1
            asyncio.get_running_loop().call_later(wait, self._leave, self.transport)
        elif kind == "unsubscribed":
            ch = str(msg.get("channel", ""))
            for lb in self.books.values():
                if lb.channel == ch and lb.resyncing:
                    lb.resyncing = False
                    self._route(lb)
                    self._send({"type": "subscribe", "channel": f"order_book/{lb.market_id}"})
        elif "error" in msg:
            err = lighter_error(None, msg, endpoint="stream")
            self.errors.append(err)
            del self.errors[:-100]
            log.warning("%s", err)
            if err.code == 20013:  # a token the venue no longer takes; error frames name no channel
                for stream in self._private_streams():
                    stream.on_auth_error(err)
            elif permanent_auth_failure(err):  # the key itself is refused: the account streams stop for good
                for stream in self._private_streams():
                    stream.on_auth_failure(err)
            elif isinstance(err, RateLimitExceededError):  # 30009/30010/23xxx: hold our control messages back
                self.control_budget.ban(min(err.retry_after or CONTROL_BACKOFF_S, CONTROL_BACKOFF_S))

    def _leave(self, transport) -> None:
        if transport is not None and not transport.is_disconnected and transport is self.transport:
            self.close_reason = "venue shutdown announced"
            transport.send_close(1000, b"reconnecting before the venue's shutdown")
            transport.disconnect()

    def on_garbage(self, payload: bytes) -> None:
        log.warning("lighter ws: malformed frame dropped (%d bytes)", len(payload))
