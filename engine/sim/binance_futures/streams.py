"""The futures streams (aiohttp WebSockets) on the split routes of fstream (docs/binance_futures.md, "Streams"):

* ``/public``: ``<s>@depth``, ``@depth@100ms``, ``@depth@500ms``, ``@depth<5|10|20>[@100ms|@500ms]``, ``@bookTicker``
* ``/market``: ``<s>@aggTrade``, ``@markPrice``, ``@markPrice@1s``, ``@kline_<interval>``
* ``/private``: the user data stream of a live listenKey (``/private/ws/<listenKey>`` or ``?listenKey=``)

Each route serves ``/<route>/ws``, ``/<route>/ws/<stream>`` (raw payloads) and ``/<route>/stream?streams=a/b``
(``{"stream","data"}``), with live SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS. A URL with no route (``/ws``,
``/stream``) behaves as ``/public``. A stream subscribed on a route that does not carry it is accepted and
delivers nothing, as on the venue."""
from __future__ import annotations

import asyncio
import contextlib
import json
import re

from aiohttp import WSMsgType, web

from engine.sim.binance.rest import INTERVALS_MS

from .exchange import FuturesExchange, f8
from .faults import Faults
from .market import now_ms
from .rest import kline_rows

PUBLIC_KINDS = re.compile(r"depth(5|10|20)?(@(100|250|500)ms)?|bookTicker")
MARKET_KINDS = re.compile(r"aggTrade|markPrice(@1s)?|kline_(1m|3m|5m|15m|30m|1h|2h|4h|6h|8h|12h|1d|3d|1w|1M)")


def route_of(name: str) -> str | None:
    """The route that carries a market stream name (``<lowercase symbol>@<kind>``), or None when none does."""
    sym, _, kind = name.partition("@")
    if not sym.isalnum() or sym != sym.lower():
        return None
    if PUBLIC_KINDS.fullmatch(kind):
        return "public"
    if MARKET_KINDS.fullmatch(kind):
        return "market"
    return None


class Conn:
    def __init__(self, ws: web.WebSocketResponse, route: str, combined: bool, listen_key: str | None):
        self.ws = ws
        self.route = route
        self.combined = combined
        self.listen_key = listen_key
        self.streams: list[str] = []
        self.queue: asyncio.Queue = asyncio.Queue()


class StreamServer:
    def __init__(self, ex: FuturesExchange, faults: Faults, tick_s: float, ping_interval_s: float = 180.0):
        self.ex = ex
        self.faults = faults
        self.tick_s = tick_s
        self.ping_interval_s = ping_interval_s
        self.conns: set[Conn] = set()
        self.steps = 0
        self.depth_pu: dict[tuple, int] = {}  # (symbol, speed ms) -> u of that stream's previous event
        self.depth_acc: dict[tuple, dict] = {}  # (symbol, speed) -> accumulated {U, changes}
        self.agg_id: dict[str, int] = {}
        self.last_top: dict[str, tuple] = {}
        ex.listeners.append(self.on_user_event)

    def routes(self, app: web.Application) -> None:
        for route in ("public", "market", "private"):
            app.router.add_get(f"/{route}/ws", self._handler(route, False))
            app.router.add_get(f"/{route}/ws/{{name}}", self._handler(route, False))
            app.router.add_get(f"/{route}/stream", self._handler(route, True))
        app.router.add_get("/ws", self._handler("public", False))
        app.router.add_get("/ws/{name}", self._handler("public", False))
        app.router.add_get("/stream", self._handler("public", True))

    def _handler(self, route: str, combined: bool):
        async def handle(request: web.Request) -> web.WebSocketResponse:
            ws = web.WebSocketResponse(heartbeat=self.ping_interval_s, autoping=True)
            await ws.prepare(request)
            key = None
            names = []
            if route == "private":
                key = request.match_info.get("name") or request.query.get("listenKey")
            elif request.match_info.get("name"):
                names = [request.match_info["name"]]
            if combined and request.query.get("streams"):
                names = [n for n in request.query["streams"].split("/") if n]
            c = Conn(ws, route, combined, key)
            c.streams = names
            self.conns.add(c)
            sender = asyncio.create_task(self._send_loop(c))
            try:
                async for msg in ws:
                    if msg.type == WSMsgType.TEXT:
                        await self._control(c, msg.data)
                    elif msg.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                        break
            finally:
                self.conns.discard(c)
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await sender
            return ws
        return handle

    async def _control(self, c: Conn, text: str) -> None:
        try:
            req = json.loads(text)
        except ValueError:
            c.queue.put_nowait(json.dumps({"code": 3, "msg": "Invalid JSON: expected value"}))
            return
        if not isinstance(req, dict):
            c.queue.put_nowait(json.dumps({"code": 2, "msg": "Invalid request: request must be an object"}))
            return
        method, rid, params = req.get("method"), req.get("id"), req.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE") and (not isinstance(params, list) or
                                                      not all(isinstance(p, str) for p in params)):
            c.queue.put_nowait(json.dumps({"code": 2, "msg": "Invalid request: params must be a list of names",
                                           "id": rid}))
            return
        if method == "SUBSCRIBE":
            for n in params:
                if n not in c.streams:
                    c.streams.append(n)
            c.queue.put_nowait(json.dumps({"result": None, "id": rid}))
        elif method == "UNSUBSCRIBE":
            c.streams = [n for n in c.streams if n not in params]
            c.queue.put_nowait(json.dumps({"result": None, "id": rid}))
        elif method == "LIST_SUBSCRIPTIONS":
            c.queue.put_nowait(json.dumps({"result": list(c.streams), "id": rid}))
        else:
            c.queue.put_nowait(json.dumps({"code": 2, "msg": f"Invalid request: unknown method {method!r}",
                                           "id": rid}))

    async def _send_loop(self, c: Conn) -> None:
        while True:
            text = await c.queue.get()
            while self.faults.stall_streams:
                await asyncio.sleep(0.05)
            await c.ws.send_str(text)

    def _deliver(self, stream: str, payload: dict) -> None:
        """Send one market payload to every connection on the right route that subscribed to ``stream``."""
        want = route_of(stream)
        raw = combined = None
        for c in self.conns:
            if c.route != want or stream not in c.streams:
                continue
            if c.combined:
                combined = combined or json.dumps({"stream": stream, "data": payload}, separators=(",", ":"))
                c.queue.put_nowait(combined)
            else:
                raw = raw or json.dumps(payload, separators=(",", ":"))
                c.queue.put_nowait(raw)

    def _subscribed(self, stream: str) -> bool:
        return any(stream in c.streams for c in self.conns)

    def on_user_event(self, event: dict) -> None:
        for c in self.conns:
            if c.route != "private" or c.listen_key is None:
                continue
            if c.listen_key != self.ex.listen_key and event.get("e") != "listenKeyExpired":
                continue
            if event.get("e") == "listenKeyExpired" and event.get("listenKey") != c.listen_key:
                continue
            body = {"stream": c.listen_key, "data": event} if c.combined else event
            c.queue.put_nowait(json.dumps(body, separators=(",", ":")))

    async def disconnect_all(self, route: str | None = None) -> int:
        cut = [c for c in self.conns if route is None or c.route == route]
        for c in cut:
            await c.ws.close(code=1001, message=b"simulated disconnect")
        return len(cut)

    async def stop(self) -> None:
        await self.disconnect_all()

    # ------------------------------------------------------------------ publishing (once per clock step)
    def publish(self) -> None:
        self.steps += 1
        t = now_ms()
        per = {ms: max(1, round(ms / 1000 / self.tick_s)) for ms in (100, 250, 500, 1000, 3000)}
        for sym, m in self.ex.markets.items():
            s = sym.lower()
            link = m.close_event()
            if link is not None and self.faults.take("drop_diffs"):
                # this @depth@100ms link is never sent: the next one's pu names a u the client did not see
                self.depth_pu[(sym, 100)] = link[1]
                self.depth_acc[(sym, 100)] = {"U": None, "u": None, "b": {}, "a": {}}
                dropped = True
            else:
                dropped = False
            for speed in (100, 250, 500):
                acc = self.depth_acc.setdefault((sym, speed), {"U": None, "u": None, "b": {}, "a": {}})
                if link is not None and not (dropped and speed == 100):
                    U, u, pu, bids, asks = link
                    if acc["U"] is None:
                        acc["U"] = U
                    acc["u"] = u
                    acc["b"].update(dict(bids))
                    acc["a"].update(dict(asks))
                if self.steps % per[speed] or acc["U"] is None:
                    continue
                prev = self.depth_pu.get((sym, speed), acc["U"] - 1)
                ev = {"e": "depthUpdate", "E": t, "T": t, "s": sym, "U": acc["U"], "u": acc["u"], "pu": prev,
                      "b": [[f"{m.px(k):f}", f"{q:f}"] for k, q in sorted(acc["b"].items(), reverse=True)],
                      "a": [[f"{m.px(k):f}", f"{q:f}"] for k, q in sorted(acc["a"].items())]}
                self.depth_pu[(sym, speed)] = acc["u"]
                self.depth_acc[(sym, speed)] = {"U": None, "u": None, "b": {}, "a": {}}
                name = {100: f"{s}@depth@100ms", 250: f"{s}@depth", 500: f"{s}@depth@500ms"}[speed]
                self._deliver(name, ev)
                if speed == 250:
                    self._deliver(f"{s}@depth@250ms", ev)
                for n in (5, 10, 20):
                    pname = {100: f"{s}@depth{n}@100ms", 250: f"{s}@depth{n}", 500: f"{s}@depth{n}@500ms"}[speed]
                    if self._subscribed(pname):
                        self._deliver(pname, {**ev, "b": [[f"{m.px(k):f}", f"{q:f}"] for k, q in m.levels("b", n)],
                                              "a": [[f"{m.px(k):f}", f"{q:f}"] for k, q in m.levels("a", n)]})
            b, a = m.best_bid(), m.best_ask()
            top = (b, m.bids.get(b), a, m.asks.get(a))
            if b is not None and a is not None and top != self.last_top.get(sym):
                self.last_top[sym] = top
                self._deliver(f"{s}@bookTicker", {"e": "bookTicker", "u": m.last_u, "s": sym, "b": f"{m.px(b):f}",
                                                  "B": f"{m.bids[b]:f}", "a": f"{m.px(a):f}", "A": f"{m.asks[a]:f}",
                                                  "T": t, "E": t})
            for tr in m.new_trades:
                self.agg_id[sym] = self.agg_id.get(sym, 100_000_000) + 1
                self._deliver(f"{s}@aggTrade", {"e": "aggTrade", "E": t, "a": self.agg_id[sym], "s": sym,
                                                "p": f"{tr.price:f}", "q": f"{tr.qty:f}", "f": tr.id, "l": tr.id,
                                                "T": tr.time, "m": tr.buyer_maker})
            m.new_trades.clear()
            for name, every in ((f"{s}@markPrice", per[3000]), (f"{s}@markPrice@1s", per[1000])):
                if self.steps % every == 0 and self._subscribed(name):
                    mark = m.mark()
                    self._deliver(name, {"e": "markPriceUpdate", "E": t, "s": sym, "p": f"{mark:f}",
                                         "i": f"{mark:f}", "P": f"{mark:f}", "r": f8(m.funding_rate),
                                         "T": self.ex.next_funding_ms})
            if self.steps % per[250] == 0:
                for iv in INTERVALS_MS:
                    name = f"{s}@kline_{iv}"
                    if iv != "1s" and self._subscribed(name):
                        row = kline_rows(m, INTERVALS_MS[iv], 1)[0]
                        self._deliver(name, {"e": "kline", "E": t, "s": sym, "k": {
                            "t": row[0], "T": row[6], "s": sym, "i": iv, "f": -1, "L": -1, "o": row[1], "c": row[4],
                            "h": row[2], "l": row[3], "v": row[5], "n": row[8], "x": False, "q": row[7],
                            "V": row[9], "Q": row[10], "B": "0"}})
