"""The simulator's market streams on a picows server: raw ``/ws/<stream>`` and combined ``/stream?streams=``.

Per 100 ms tick each symbol's book changes are sent as one ``depthUpdate`` (U..u contiguous with the
previous event; ``@depth`` gathers them per 1000 ms); a diff may end before the book's current update id,
the rest of that tick's changes opening the next diff (``diff_split``), so a REST snapshot taken between two
diffs can fall inside the next one's U..u as on the venue; trades as ``aggTrade`` and ``trade``, top-of-book
changes as ``bookTicker`` (same update-id space as the diffs), partial books as ``@depth5/10/20``; candles as
``@kline_<interval>`` and ``@ticker``, ``@miniTicker``, ``@avgPrice`` from the simulated trades. A URL under
``/ws`` or ``/stream`` naming no market stream opens a bare connection for SUBSCRIBE. Control messages (SUBSCRIBE, UNSUBSCRIBE,
LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY) are answered like Binance; more than 5 inbound messages
per second closes the connection; the server pings every ``ping_interval_s`` and closes a connection that
has not answered within ``pong_timeout_s``; a connection lives at most ``max_connection_s``.
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from datetime import datetime, timezone
from typing import Optional
from urllib.parse import parse_qs, urlsplit

from picows import WSCloseCode, WSListener, WSMsgType, ws_create_server

from .exchange import SimExchange
from .faults import Faults
from .market import now_ms
from .rest import INTERVALS_MS

log = logging.getLogger("engine.sim.binance.streams")
PARTIAL = ("5", "10", "20")
MONDAY_MS = 4 * 86_400_000  # 1970-01-05, the first Monday after the epoch
DAY_MS = 86_400_000
AVG_PRICE_MS = 300_000  # @avgPrice: the 5 minute average


def valid_stream(name: str, symbols) -> bool:
    sym, _, kind = name.partition("@")
    if sym.upper() not in symbols:
        return False
    if kind in ("depth", "depth@100ms", "depth@1000ms", "aggTrade", "trade", "bookTicker"):
        return True
    if kind in ("ticker", "miniTicker", "avgPrice"):
        return True
    if kind.startswith("kline_") and kind[6:] in INTERVALS_MS:
        return True
    for n in PARTIAL:
        if kind in (f"depth{n}", f"depth{n}@100ms", f"depth{n}@1000ms"):
            return True
    return False


def kline_open(interval: str, ms: int) -> int:
    """Open time of the candle holding ``ms``: UTC months for 1M, weeks from Monday 00:00 UTC for 1w, and
    multiples of the interval since the epoch otherwise."""
    if interval == "1M":
        d = datetime.fromtimestamp(ms // 1000, timezone.utc)
        return int(datetime(d.year, d.month, 1, tzinfo=timezone.utc).timestamp()) * 1000
    step = INTERVALS_MS[interval]
    if interval == "1w":
        return (ms - MONDAY_MS) // step * step + MONDAY_MS
    return ms // step * step


def kline_close(interval: str, open_ms: int) -> int:
    """Close time (the last millisecond) of the candle opening at ``open_ms``: the ms before the next UTC
    month for 1M, open + interval - 1 otherwise."""
    if interval == "1M":
        d = datetime.fromtimestamp(open_ms // 1000, timezone.utc)
        y, mo = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return int(datetime(y, mo, 1, tzinfo=timezone.utc).timestamp()) * 1000 - 1
    return open_ms + INTERVALS_MS[interval] - 1


class Candle:
    """One symbol's current candle of one interval, built from the simulated trades it holds (prices in
    ticks, quantities in lot steps, quote volume in ticks x steps, all exact integers)."""

    def __init__(self, interval: str, open_ms: int, price: int):
        self.interval = interval
        self.t, self.T = open_ms, kline_close(interval, open_ms)
        self.o = self.h = self.l = self.c = price
        self.v = self.q = self.V = self.Q = self.n = 0
        self.f = self.L = -1
        self.last_agg = 0  # the newest aggregate already counted
        self.sent_at = 0.0  # monotonic time of the last open-candle frame

    def add(self, t) -> None:
        if t.agg_id <= self.last_agg:
            return
        self.last_agg = t.agg_id
        if self.n == 0:
            self.o = self.h = self.l = t.price
            self.f = t.first_id
        self.h, self.l, self.c, self.L = max(self.h, t.price), min(self.l, t.price), t.price, t.last_id
        self.n += t.last_id - t.first_id + 1
        self.v += t.qty
        self.q += t.qty * t.price
        if not t.buyer_maker:  # the taker bought
            self.V += t.qty
            self.Q += t.qty * t.price

    def following(self, ms: int) -> "Candle":
        """The candle holding ``ms``, opening at this one's close price."""
        nxt = Candle(self.interval, kline_open(self.interval, ms), self.c)
        nxt.last_agg = self.last_agg
        return nxt

    def frame(self, sp, E: int, closed: bool) -> bytes:
        unit = sp.tick * sp.step
        return json.dumps({"e": "kline", "E": E, "s": sp.symbol, "k": {
            "t": self.t, "T": self.T, "s": sp.symbol, "i": self.interval, "f": self.f, "L": self.L,
            "o": sp.px(self.o), "c": sp.px(self.c), "h": sp.px(self.h), "l": sp.px(self.l), "v": sp.qty(self.v),
            "n": self.n, "x": closed, "q": f"{unit * self.q:.8f}", "V": sp.qty(self.V), "Q": f"{unit * self.Q:.8f}",
            "B": "0"}}, separators=(",", ":")).encode()


class Conn(WSListener):
    def __init__(self, server: "StreamServer", streams: list, combined: bool):
        super().__init__()
        self.server = server
        self.streams = list(dict.fromkeys(streams))
        self.combined = combined
        self.transport = None
        self.opened = time.monotonic()
        self.inbound: list = []  # monotonic times of inbound messages in the last second
        self.ping_sent_at: Optional[float] = None
        self.closed = False
        self.held: Optional[list] = None  # frames kept back by StreamServer.hold(), in order

    def on_ws_connected(self, transport):
        self.transport = transport
        self.server.conns.add(self)

    def on_ws_disconnected(self, transport):
        self.closed = True
        self.server.conns.discard(self)

    def close(self, code=WSCloseCode.GOING_AWAY, reason: bytes = b""):
        if self.transport is not None and not self.closed:
            self.closed = True
            self.transport.send_close(code, reason)
            self.transport.disconnect()

    def send_text(self, data: bytes) -> None:
        if self.held is not None:
            self.held.append(data)
        elif not self.closed and self.transport is not None:
            self.transport.send(WSMsgType.TEXT, data)

    def on_ws_frame(self, transport, frame):
        t = frame.msg_type
        if self.closed:
            return  # frames still in the socket buffer after we closed
        if t == WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        now = time.monotonic()
        self.inbound = [x for x in self.inbound if now - x < 1.0]
        self.inbound.append(now)
        if len(self.inbound) > self.server.max_inbound_per_s:
            self.server.policy_closes += 1
            self.close(WSCloseCode.POLICY_VIOLATION, b"Too many requests")
            return
        if t == WSMsgType.PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif t == WSMsgType.PONG:
            self.ping_sent_at = None
        elif t == WSMsgType.TEXT:
            self.on_control(frame.get_payload_as_bytes())

    def on_control(self, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
        except ValueError:
            self.send_text(json.dumps({"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}).encode())
            return
        if not isinstance(msg, dict):
            self.send_text(b'{"code":3,"msg":"Invalid JSON: expected an object"}')
            return
        mid, method, params = msg.get("id"), msg.get("method"), msg.get("params", [])
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                self.send_text(json.dumps({"code": 2, "msg": "Invalid request: invalid params", "id": mid}).encode())
                return
            bad = [p for p in params if not valid_stream(p, self.server.ex.markets)]
            if bad:
                self.send_text(json.dumps({"code": 2, "msg": f"Invalid request: unknown stream {bad[0]!r}",
                                           "id": mid}).encode())
                return
            if method == "SUBSCRIBE":
                for p in params:
                    if p not in self.streams:
                        self.streams.append(p)
            else:
                self.streams = [s for s in self.streams if s not in params]
            self.send_text(json.dumps({"result": None, "id": mid}).encode())
        elif method == "LIST_SUBSCRIPTIONS":
            self.send_text(json.dumps({"result": self.streams, "id": mid}).encode())
        elif method == "SET_PROPERTY" and params and params[0] == "combined":
            if len(params) < 2 or not isinstance(params[1], bool):
                self.send_text(json.dumps({"code": 1, "msg": "Invalid value type: expected Boolean",
                                           "id": mid}).encode())
                return
            self.combined = params[1]
            self.send_text(json.dumps({"result": None, "id": mid}).encode())
        elif method == "GET_PROPERTY" and params == ["combined"]:
            self.send_text(json.dumps({"result": self.combined, "id": mid}).encode())
        else:
            self.send_text(json.dumps({"code": 2, "msg": f"Invalid request: unknown variant {method!r}",
                                       "id": mid}).encode())


class StreamServer:
    def __init__(self, ex: SimExchange, faults: Faults, *, ping_interval_s: float = 20.0,
                 pong_timeout_s: float = 60.0, max_connection_s: float = 24 * 3600, max_inbound_per_s: int = 5):
        self.ex = ex
        self.faults = faults
        self.ping_interval_s = ping_interval_s
        self.pong_timeout_s = pong_timeout_s
        self.max_connection_s = max_connection_s
        self.max_inbound_per_s = max_inbound_per_s
        self.conns: set[Conn] = set()
        self.server: Optional[asyncio.base_events.Server] = None
        self.port = 0
        self._last_ping = time.monotonic()
        self._slow_changes: dict[str, list] = {}  # for the 1000 ms @depth stream
        # Where a diff ends inside the changes the market made since the previous publish:
        #   "random" (default): a seeded random number of the newest changes (possibly none) wait for the next
        #            diff, so a snapshot taken between two diffs often lands inside the next diff's U..u;
        #   "always": whenever the market made two or more new changes, at least one waits and at least one is
        #            sent, so every snapshot taken between two such ticks straddles the next diff;
        #   "never":  every diff ends at the book's update id (a snapshot never straddles a diff).
        # Changes held back are always sent with the next publish, so a paused market catches up in one tick.
        self.diff_split = "random"
        self._split_rng = random.Random(20_261_203)
        self._held: dict[str, int] = {}  # symbol -> changes kept back by the last publish
        self._last_slow = time.monotonic()
        self._bbo: dict[str, tuple] = {}
        self._trade_seen: dict[str, int] = {m: 0 for m in ex.markets}
        self._candles: dict[tuple, Candle] = {}  # (symbol, interval) -> current candle, while subscribed
        self.sent_diffs = 0
        self.dropped_diffs = 0
        # (symbol, last update id) -> monotonic ns when the diff was written, for end-to-end latency
        # measurements in the benchmarks; None (off) unless a benchmark turns it on with a dict
        self.sent_at: dict | None = None
        self._pending_stamps: list = []
        self.policy_closes = 0
        self.big_frames = 0  # diffs sent padded by Faults.big_frame_bytes

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = await ws_create_server(self._factory, host, port, enable_auto_pong=False,
                                             websocket_handshake_timeout=10)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        for c in list(self.conns):
            c.close(WSCloseCode.GOING_AWAY, b"simulator stopping")
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    def _factory(self, request):
        path = request.path if isinstance(request.path, str) else request.path.decode()
        parts = urlsplit(path)
        if parts.path == "/ws" or parts.path.startswith("/ws/"):
            names = [s for s in parts.path[4:].split("/") if s]
            combined = False
        elif parts.path in ("/stream", "/stream/"):
            names = [s for s in parse_qs(parts.query).get("streams", [""])[0].split("/") if s]
            combined = True
        else:
            return None
        if len(names) > 1024:
            return None
        # A name in the URL that is not a market stream (ccxt.pro's /ws/0, a listen key as in /ws/<listenKey>)
        # opens a bare connection that the client fills with SUBSCRIBE; it carries no data and is not listed.
        return Conn(self, [s for s in names if valid_stream(s, self.ex.markets)], combined)

    # -- one tick: called by the simulator after the market moved
    def publish(self) -> None:
        now = time.monotonic()
        E = now_ms()
        out: dict[str, bytes] = {}
        slow = now - self._last_slow >= 1.0
        wanted = set().union(*(c.streams for c in self.conns))
        for sym, m in self.ex.markets.items():
            s = sym.lower()
            changes = m.drain_changes(self._keep(sym, len(m.changes)))
            self._slow_changes.setdefault(sym, []).extend(changes)
            if changes:
                if self.faults.take("drop_diffs"):
                    self.dropped_diffs += 1
                else:
                    diff = self._diff(m, sym, changes, E)
                    if self.faults.big_frame_bytes and self.faults.big_frame_symbol == sym:
                        diff = diff[:-1] + b" " * max(0, self.faults.big_frame_bytes - len(diff)) + b"}"
                        self.faults.big_frame_bytes = 0
                        self.big_frames += 1
                    out[f"{s}@depth@100ms"] = diff
                    self.sent_diffs += 1
                    if self.sent_at is not None:
                        self._pending_stamps.append((sym, changes[-1][0]))
            if slow and self._slow_changes[sym]:
                out[f"{s}@depth"] = out[f"{s}@depth@1000ms"] = self._diff(m, sym, self._slow_changes[sym], E)
                self._slow_changes[sym] = []
            for n in PARTIAL:
                snap = json.dumps(m.snapshot(int(n)), separators=(",", ":")).encode()
                out[f"{s}@depth{n}@100ms"] = snap
                if slow:
                    out[f"{s}@depth{n}"] = out[f"{s}@depth{n}@1000ms"] = snap
            bb, ba = m.best_bid(), m.best_ask()
            bbo = (bb, m.bids.get(bb), ba, m.asks.get(ba))
            if bbo != self._bbo.get(sym):
                self._bbo[sym] = bbo
                sp = m.spec
                out[f"{s}@bookTicker"] = json.dumps(
                    {"u": m.update_id, "s": sym, "b": sp.px(bb or 0), "B": sp.qty(bbo[1] or 0),
                     "a": sp.px(ba or 0), "A": sp.qty(bbo[3] or 0)}, separators=(",", ":")).encode()
            trades = [t for t in m.trades if t.agg_id > self._trade_seen[sym]]
            self._klines(m, s, trades, wanted, now, E, out)
            if slow:
                self._tickers(m, s, wanted, E, out)
            if trades:
                self._trade_seen[sym] = trades[-1].agg_id
                sp = m.spec
                out[f"{s}@aggTrade"] = [json.dumps(
                    {"e": "aggTrade", "E": E, "s": sym, "a": t.agg_id, "p": sp.px(t.price), "q": sp.qty(t.qty),
                     "f": t.first_id, "l": t.last_id, "T": t.time_ms, "m": t.buyer_maker, "M": True},
                    separators=(",", ":")).encode() for t in trades]
                # every simulated aggregate holds one trade (f == l), so one @trade frame per aggregate
                out[f"{s}@trade"] = [json.dumps(
                    {"e": "trade", "E": E, "s": sym, "t": t.first_id, "p": sp.px(t.price), "q": sp.qty(t.qty),
                     "T": t.time_ms, "m": t.buyer_maker, "M": True}, separators=(",", ":")).encode() for t in trades]
        if slow:
            self._last_slow = now
        self._send(out)
        if self.sent_at is not None:
            t = time.monotonic_ns()
            for key in self._pending_stamps:
                self.sent_at[key] = t
            self._pending_stamps.clear()
            if len(self.sent_at) > 10_000:  # stamps nobody consumed (symbols without a probe)
                self.sent_at.clear()
        self._keepalive(now)

    def _keep(self, sym: str, pending: int) -> int:
        """How many of the newest unpublished changes this publish leaves for the next one (never any that a
        previous publish held back already)."""
        new = pending - self._held.get(sym, 0)
        keep = 0
        if new >= 2 and self.diff_split == "always":
            keep = self._split_rng.randint(1, new - 1)
        elif new >= 1 and self.diff_split == "random":
            keep = self._split_rng.randint(0, new - 1)
        elif self.diff_split not in ("random", "always", "never"):
            raise ValueError(f"diff_split must be 'random', 'always' or 'never', not {self.diff_split!r}")
        self._held[sym] = keep
        return keep

    def _klines(self, m, s: str, trades: list, wanted: set, now: float, E: int, out: dict) -> None:
        """``@kline_<interval>``: the open candle every 1000 ms for 1s and every 2000 ms for the other
        intervals, and the candle with ``x`` true once a trade or the clock passes its close time."""
        sym, sp = m.spec.symbol, m.spec
        for iv in INTERVALS_MS:
            name = f"{s}@kline_{iv}"
            if name not in wanted:
                self._candles.pop((sym, iv), None)
                continue
            k = self._candles.get((sym, iv))
            frames = []
            if k is None:  # first subscriber: the candle so far, from the trades the market still holds
                k = Candle(iv, kline_open(iv, E), m.trades[-1].price if m.trades else m.mid)
                for t in m.trades:
                    if t.time_ms >= k.t and t.agg_id <= self._trade_seen[sym]:
                        k.add(t)
            for t in trades:
                if t.time_ms < k.t:
                    continue  # printed before the candle a first subscriber opened
                if t.time_ms > k.T:
                    frames.append(k.frame(sp, E, True))
                    k = k.following(t.time_ms)
                k.add(t)
            if E > k.T:
                frames.append(k.frame(sp, E, True))
                k = k.following(E)
            if now - k.sent_at >= (1.0 if iv == "1s" else 2.0):
                frames.append(k.frame(sp, E, False))
                k.sent_at = now
            self._candles[(sym, iv)] = k
            if frames:
                out[name] = frames

    @staticmethod
    def _tickers(m, s: str, wanted: set, E: int, out: dict) -> None:
        """``@ticker`` and ``@miniTicker`` (the 24 h rolling window) and ``@avgPrice`` (5 minutes), every
        1000 ms, from the trades the market holds."""
        names = (f"{s}@ticker", f"{s}@miniTicker", f"{s}@avgPrice")
        if not wanted.intersection(names):
            return
        sp, sym = m.spec, m.spec.symbol
        unit = sp.tick * sp.step
        last = m.trades[-1] if m.trades else None
        price = last.price if last else m.mid
        win = [t for t in m.trades if t.time_ms > E - DAY_MS]
        before = [t for t in m.trades if t.time_ms <= E - DAY_MS]
        o = win[0].price if win else price
        hi = max((t.price for t in win), default=price)
        lo = min((t.price for t in win), default=price)
        v = sum(t.qty for t in win)
        q = sum(t.qty * t.price for t in win)
        if names[0] in wanted:
            bb, ba = m.best_bid() or 0, m.best_ask() or 0
            out[names[0]] = json.dumps({
                "e": "24hrTicker", "E": E, "s": sym, "p": sp.px(price - o),
                "P": f"{(price - o) * 100 / o:.3f}" if o else "0.000",
                "w": f"{sp.tick * q / v:.8f}" if v else sp.px(price),
                "x": sp.px(before[-1].price if before else o), "c": sp.px(price),
                "Q": sp.qty(last.qty if last else 0), "b": sp.px(bb), "B": sp.qty(m.bids.get(bb, 0)),
                "a": sp.px(ba), "A": sp.qty(m.asks.get(ba, 0)), "o": sp.px(o), "h": sp.px(hi), "l": sp.px(lo),
                "v": sp.qty(v), "q": f"{unit * q:.8f}", "O": E - DAY_MS, "C": E,
                "F": win[0].first_id if win else -1, "L": win[-1].last_id if win else -1,
                "n": sum(t.last_id - t.first_id + 1 for t in win)}, separators=(",", ":")).encode()
        if names[1] in wanted:
            out[names[1]] = json.dumps({
                "e": "24hrMiniTicker", "E": E, "s": sym, "c": sp.px(price), "o": sp.px(o), "h": sp.px(hi),
                "l": sp.px(lo), "v": sp.qty(v), "q": f"{unit * q:.8f}"}, separators=(",", ":")).encode()
        if names[2] in wanted:
            recent = [t for t in win if t.time_ms > E - AVG_PRICE_MS]
            rv = sum(t.qty for t in recent)
            w = f"{sp.tick * sum(t.qty * t.price for t in recent) / rv:.8f}" if rv else sp.px(price)
            out[names[2]] = json.dumps({"e": "avgPrice", "E": E, "s": sym, "i": "5m", "w": w,
                                        "T": last.time_ms if last else 0}, separators=(",", ":")).encode()

    @staticmethod
    def _diff(m, sym: str, changes: list, E: int) -> bytes:
        sp = m.spec
        last: dict = {}
        for _, side, price, qty in changes:
            last[(side, price)] = qty
        b = [[sp.px(p), sp.qty(q)] for (side, p), q in last.items() if side == "b"]
        a = [[sp.px(p), sp.qty(q)] for (side, p), q in last.items() if side == "a"]
        return json.dumps({"e": "depthUpdate", "E": E, "s": sym, "U": changes[0][0], "u": changes[-1][0],
                           "b": b, "a": a}, separators=(",", ":")).encode()

    def _send(self, out: dict) -> None:
        for c in list(self.conns):
            for name in c.streams:
                payload = out.get(name)
                if payload is None:
                    continue
                for p in payload if isinstance(payload, list) else (payload,):
                    c.send_text(b'{"stream":"' + name.encode() + b'","data":' + p + b"}" if c.combined else p)

    def _keepalive(self, now: float) -> None:
        ping_due = now - self._last_ping >= self.ping_interval_s
        if ping_due:
            self._last_ping = now
        for c in list(self.conns):
            if now - c.opened >= self.max_connection_s:
                c.close(WSCloseCode.GOING_AWAY, b"24h connection limit")
                continue
            if c.ping_sent_at is not None and now - c.ping_sent_at > self.pong_timeout_s:
                c.close(WSCloseCode.POLICY_VIOLATION, b"pong timeout")
                continue
            if ping_due and c.transport is not None and not c.closed:
                c.transport.send_ping(b"")
                if c.ping_sent_at is None:
                    c.ping_sent_at = now

    # -- faults on live connections
    def close_all(self, code: int = 1001, reason: str = "closed by the simulator") -> int:
        n = 0
        for c in list(self.conns):
            c.close(WSCloseCode(code), reason.encode())
            n += 1
        return n

    def server_shutdown(self) -> None:
        ev = json.dumps({"e": "serverShutdown", "E": now_ms()}).encode()
        for c in list(self.conns):
            c.send_text(b'{"stream":"!serverShutdown","data":' + ev + b"}" if c.combined else ev)

    def rotate_now(self) -> None:
        """Force the 24 h cut early: every connection is now past its lifetime."""
        for c in list(self.conns):
            c.opened -= self.max_connection_s

    def hold(self) -> int:
        """A lagging path: frames to the connections open now are kept back (in order) until ``release``;
        connections opened later are not held. Returns how many are held."""
        for c in self.conns:
            c.held = []
        return len(self.conns)

    def release(self) -> None:
        """Send every held frame at once, in order, and stop holding."""
        for c in list(self.conns):
            held, c.held = c.held, None
            for data in held or ():
                c.send_text(data)

    def send_garbage(self, n: int = 1) -> None:
        for c in list(self.conns):
            for k in range(n):
                c.send_text(b'{"stream":"' + (c.streams[0].encode() if c.streams else b"x") +
                            b'","data":{"e":"depthUpdate","E":1,"s":"\xff\x00garbage' + bytes([k % 256]) + b'"')
