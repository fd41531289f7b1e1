"""The Lighter simulator's WebSocket ``/stream``: subscribe with ``/``, frames come back with ``:``.

``order_book/<id>`` answers with the full book (``subscribed/order_book``, begin_nonce 0) and then
``update/order_book`` deltas whose ``begin_nonce`` equals the previous frame's ``nonce``; ``trade/<id>``
with the last prints then updates. Errors are sent exactly as captured: ``{"error": {...}}`` with no
type and no channel. App-level ``{"type":"ping"}`` is answered with ``{"type":"pong"}``.
"""
from __future__ import annotations

import contextlib
import json
import time
import uuid

from aiohttp import WSMsgType, web


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Session:
    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.channels: set = set()  # subscribed, in the ":" form


class LighterStream:
    def __init__(self, sim):
        self.sim = sim
        self.sessions: set = set()
        self.gaps_injected = 0

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        s = Session(ws)
        self.sessions.add(s)
        await ws.send_str(dumps({"session_id": str(uuid.uuid4()), "type": "connected"}))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    await self._on_message(s, msg.data)
        finally:
            self.sessions.discard(s)
        return ws

    async def _on_message(self, s: Session, data: str) -> None:
        try:
            m = json.loads(data)
            kind, channel = m.get("type"), m.get("channel", "")
        except (ValueError, AttributeError):
            await s.ws.send_str(dumps({"error": {"code": 30001, "message": "Invalid Message"}}))
            return
        if kind == "ping":
            await s.ws.send_str(dumps({"type": "pong"}))
            return
        if kind not in ("subscribe", "unsubscribe"):
            await s.ws.send_str(dumps({"error": {"code": 30002, "message": "Invalid Type"}}))
            return
        name, _, arg = channel.partition("/")
        if name == "account_all_orders" and arg.isdigit():
            await self._account_channel(s, kind, int(arg), m.get("auth"))
            return
        market = None
        if name in ("order_book", "trade") and arg.isdigit():
            market = self.sim.market_by_id(int(arg))
        if market is None:
            await s.ws.send_str(dumps({"error": {"code": 30005, "message": "Invalid Channel:  (marketId)"}}))
            return
        wire = f"{name}:{arg}"
        if kind == "unsubscribe":
            s.channels.discard(wire)
            await s.ws.send_str(json.dumps({"type": "unsubscribed", "channel": wire}))
            return
        if wire in s.channels:
            await s.ws.send_str(dumps({"error": {"code": 30003, "message": f"Already Subscribed to : {wire}"}}))
            return
        s.channels.add(wire)
        if name == "order_book":
            await s.ws.send_str(self.book_frame(market, "subscribed/order_book", 0, market.nonce,
                                                {("a", p): q for p, q in market.levels("a")} |
                                                {("b", p): q for p, q in market.levels("b")}))
        else:
            await s.ws.send_str(self.trade_frame(market, "subscribed/trade", market.trades[-50:]))

    async def _account_channel(self, s: Session, kind: str, account: int, auth) -> None:
        wire = f"account_all_orders:{account}"
        if kind == "unsubscribe":
            s.channels.discard(wire)
            await s.ws.send_str(json.dumps({"type": "unsubscribed", "channel": wire}))
            return
        if not auth:
            await s.ws.send_str(dumps({"error": {"code": 20001,
                                                 "message": f"invalid param : auth field is required: {wire}"}}))
            return
        parts = str(auth).split(":")
        now = int(time.time())
        ok = (len(parts) == 4 and parts[0].isdigit() and parts[1] == str(account) and parts[2].isdigit()
              and len(parts[3]) == 160 and now < int(parts[0]) <= now + 8 * 3600)
        if not ok:
            await s.ws.send_str(dumps({"error": {"code": 20013, "message": "invalid auth: invalid deadline"}}))
            return
        s.channels.add(wire)
        await s.ws.send_str(dumps({"channel": wire, "orders": self.sim.orders.open_by_market(),
                                   "type": "subscribed/account_all_orders"}))

    def book_frame(self, m, kind: str, begin: int, nonce: int, changes: dict) -> str:
        spec = m.spec
        now_us = int(time.time() * 1e6)
        levels = lambda side: [{"price": spec.px(p), "size": spec.sz(q)}  # noqa: E731
                               for (sd, p), q in sorted(changes.items(), key=lambda kv: kv[0][1],
                                                        reverse=(side == "b")) if sd == side]
        ob = {"code": 0, "asks": levels("a"), "bids": levels("b"), "offset": m.offset, "nonce": nonce,
              "last_updated_at": now_us, "begin_nonce": begin}
        return dumps({"channel": f"order_book:{spec.market_id}", "last_updated_at": now_us, "offset": m.offset,
                      "order_book": ob, "timestamp": int(time.time() * 1000), "type": kind})

    def trade_frame(self, m, kind: str, trades: list) -> str:
        return dumps({"channel": f"trade:{m.spec.market_id}", "liquidation_trades": [], "nonce": m.nonce,
                      "trades": [self.sim.trade_json(m, t) for t in trades], "type": kind})

    async def publish(self) -> None:
        """One tick: each market's changes as one chained update, new trades as one trade update."""
        changed = self.sim.orders.take_changed()
        if changed:
            wire = f"account_all_orders:{self.sim.account_index}"
            frame = dumps({"channel": wire, "orders": changed, "type": "update/account_all_orders"})
            for s in list(self.sessions):
                if wire in s.channels:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await s.ws.send_str(frame)
        for m in self.sim.markets.values():
            seen = self.sim.trades_sent.get(m.spec.market_id, 0)
            new_trades = [t for t in m.trades if t[0] > seen]
            if new_trades:
                self.sim.trades_sent[m.spec.market_id] = new_trades[-1][0]
            upd = m.take_update()
            book_ch, trade_ch = f"order_book:{m.spec.market_id}", f"trade:{m.spec.market_id}"
            frame = None
            if upd is not None:
                begin, nonce, changes = upd
                if self.sim.faults.get("gap", 0) > 0:  # this update is never sent: the chain breaks
                    self.sim.faults["gap"] -= 1
                    self.gaps_injected += 1
                else:
                    frame = self.book_frame(m, "update/order_book", begin, nonce, changes)
            tframe = self.trade_frame(m, "update/trade", new_trades) if new_trades else None
            for s in list(self.sessions):
                try:
                    if frame is not None and book_ch in s.channels:
                        await s.ws.send_str(frame)
                    if tframe is not None and trade_ch in s.channels:
                        await s.ws.send_str(tframe)
                except (ConnectionError, RuntimeError):
                    self.sessions.discard(s)

    async def close_all(self) -> int:
        n = 0
        for s in list(self.sessions):
            await s.ws.close(code=1001, message=b"closed by the simulator")
            n += 1
        return n
