"""The Lighter simulator's WebSocket ``/stream``: subscribe with ``/``, frames come back with ``:``.

``order_book/<id>`` answers with the full book (``subscribed/order_book``, begin_nonce 0) and then
``update/order_book`` deltas whose ``begin_nonce`` equals the previous frame's ``nonce``; ``trade/<id>``
with the last prints then updates. Errors are sent exactly as captured: ``{"error": {...}}`` with no
type and no channel. App-level ``{"type":"ping"}`` is answered with ``{"type":"pong"}``.

``account_all/<account>`` (no auth token, as documented and as lighter-sdk's WsClient subscribes) answers
``subscribed/account_all`` with the account's positions, USDC asset and trade counts (docs/lighter.md
"account_all"), then ``update/account_all`` with the markets whose position changed, the fills of that
block and the assets when the collateral moved.

``account_orders/<market>/<account>`` (auth token) sends that market's orders in the shape of
``account_all_orders`` with ``account`` and ``nonce`` (the simulator key's next nonce; the documented frame has
one, its meaning is not), its ``channel`` "account_orders:<market>" as documented.
``user_stats/<account>`` (no auth token, as documented) and ``account_all_assets/<account>`` (auth token)
answer with the account's USDC figures and update when the collateral moved or there were fills.

Also: ``market_stats/<id|all>``; the account channels ``account_all_orders``, ``account_all_positions`` and
``account_all_trades`` (auth token required and checked; a subscription ends with a 20013 error frame when
its token expires); ``jsonapi/sendtx`` and ``jsonapi/sendtxbatch`` with the REST rules and the caller's
``id`` echoed on the answer.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from decimal import Decimal

from aiohttp import WSMsgType, web

from .auth import AuthError
from .tx import TxError, sequence, sequence_batch


def dumps(obj) -> str:
    return json.dumps(obj, separators=(",", ":"))


PRIVATE = ("account_all_orders", "account_all_positions", "account_all_trades", "account_all_assets")
STATS_EVERY = 10  # ticks between market_stats updates


class Session:
    def __init__(self, ws: web.WebSocketResponse):
        self.ws = ws
        self.channels: set = set()  # subscribed, in the ":" form
        self.tokens: dict = {}  # private channel -> the auth token it was subscribed with


class LighterStream:
    def __init__(self, sim):
        self.sim = sim
        self.sessions: set = set()
        self.gaps_injected = 0
        self.subscribes: list = []  # (channel, auth token or None), every subscribe received, for tests
        self.auth_expired = 0
        self.big_frames = 0  # book updates sent padded by the big_frame_bytes fault
        self.mute_tx_answers = False
        self.pongs = 0
        self.shutdown_forced = 0  # sessions still open when a planned shutdown's time came
        self._ticks = 0

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
            await s.ws.send_str(dumps({"error": {"code": 30000, "message": "Invalid JSON"}}))
            return
        if kind == "ping":
            await s.ws.send_str(dumps({"type": "pong"}))
            return
        if kind == "pong":  # the answer to our app-level ping (ping_all)
            self.pongs += 1
            return
        if kind in ("jsonapi/sendtx", "jsonapi/sendtxbatch"):
            await self._send_tx(s, kind, m.get("data"))
            return
        if kind not in ("subscribe", "unsubscribe"):
            await s.ws.send_str(dumps({"error": {"code": 30001, "message": "Invalid Type"}}))
            return
        if kind == "subscribe":
            self.subscribes.append((channel, m.get("auth")))
        name, _, arg = str(channel).partition("/")
        if name == "account_all" and arg.isdigit():
            await self._account_all(s, kind, int(arg))
            return
        if name == "account_orders":
            await self._account_orders(s, kind, arg, m.get("auth"))
            return
        if name == "user_stats" and arg.isdigit():
            if await self._claim(s, kind, f"user_stats:{arg}"):
                await s.ws.send_str(dumps(self.user_stats_frame(int(arg), "subscribed/user_stats")))
            return
        if name in PRIVATE and arg.isdigit():
            await self._account_channel(s, kind, name, int(arg), m.get("auth"))
            return
        market = None
        if name in ("order_book", "trade", "market_stats") and arg.isdigit():
            market = self.sim.market_by_id(int(arg))
        if market is None and not (name == "market_stats" and arg == "all"):
            await s.ws.send_str(dumps({"error": {"code": 30005, "message": "Invalid Channel:  (marketId)"}}))
            return
        wire = f"{name}:{arg}"
        if not await self._claim(s, kind, wire):
            return
        if name == "order_book":
            await s.ws.send_str(self.book_frame(market, "subscribed/order_book", 0, market.nonce,
                                                {("a", p): q for p, q in market.levels("a")} |
                                                {("b", p): q for p, q in market.levels("b")}))
        elif name == "trade":
            await s.ws.send_str(self.trade_frame(market, "subscribed/trade", market.trades[-50:]))
        else:
            await s.ws.send_str(self.stats_frame(arg, "subscribed/market_stats"))

    async def _account_channel(self, s: Session, kind: str, name: str, account: int, auth) -> None:
        wire = f"{name}:{account}"
        if kind == "unsubscribe":
            s.channels.discard(wire)
            s.tokens.pop(wire, None)
            await s.ws.send_str(json.dumps({"type": "unsubscribed", "channel": wire}))
            return
        try:
            self.sim.tokens.check(auth, account, where=f"auth field is required: {wire}")
        except AuthError as e:
            await s.ws.send_str(dumps({"error": {"code": e.code, "message": e.message}}))
            return
        if wire in s.channels:
            await s.ws.send_str(dumps({"error": {"code": 30003, "message": f"Already Subscribed to : {wire}"}}))
            return
        s.channels.add(wire)
        s.tokens[wire] = auth
        orders = self.sim.orders
        if name == "account_all_orders":
            frame = {"channel": wire, "orders": orders.open_by_market() if account == self.sim.account_index else {},
                     "type": "subscribed/account_all_orders"}
        elif name == "account_all_positions":
            frame = {"channel": wire, "positions": {str(mid): orders.position_json(m, stream=True) for mid, m in
                                                    self.sim.markets.items()} if account == self.sim.account_index
                     else {}, "shares": [], "type": "subscribed/account_all_positions"}
        elif name == "account_all_assets":
            frame = self.assets_frame(account, "subscribed/account_all_assets")
        else:  # fills are never replayed: the snapshot is always empty (captured)
            frame = {"channel": wire, "daily_volume": 0, "monthly_volume": 0, "total_volume": 0, "trades": {},
                     "type": "subscribed/account_all_trades", "weekly_volume": 0}
        await s.ws.send_str(dumps(frame))

    async def _account_orders(self, s: Session, kind: str, arg: str, auth) -> None:
        market, _, account = arg.partition("/")
        if not (market.isdigit() and account.isdigit() and int(market) in self.sim.markets):
            await s.ws.send_str(dumps({"error": {"code": 30005, "message": "Invalid Channel:  (marketId)"}}))
            return
        wire = f"account_orders/{market}/{account}"  # the session's key; frames say account_orders:<market>
        if kind == "subscribe":
            try:
                self.sim.tokens.check(auth, int(account), where=f"auth field is required: {wire}")
            except AuthError as e:
                await s.ws.send_str(dumps({"error": {"code": e.code, "message": e.message}}))
                return
        if not await self._claim(s, kind, wire):
            s.tokens.pop(wire, None)
            return
        s.tokens[wire] = auth
        rows = [self.sim.orders.public(o) for o in self.sim.orders.active() if o["market_index"] == int(market)]
        await s.ws.send_str(dumps(self.account_orders_frame(int(account), market, rows if int(account) ==
                                                             self.sim.account_index else [], "subscribed")))

    def account_orders_frame(self, account: int, market: str, rows: list, kind: str) -> dict:
        return {"account": account, "channel": f"account_orders:{market}",
                "nonce": self.sim.nonces.get((self.sim.account_index, self.sim.api_key_index), 0),
                "orders": {market: rows}, "type": f"{kind}/account_orders"}

    @staticmethod
    async def _claim(s: Session, kind: str, wire: str) -> bool:
        """Unsubscribe (acknowledged) or subscribe (30003 if already); True when a snapshot is due."""
        if kind == "unsubscribe":
            s.channels.discard(wire)
            await s.ws.send_str(json.dumps({"type": "unsubscribed", "channel": wire}))
            return False
        if wire in s.channels:
            await s.ws.send_str(dumps({"error": {"code": 30003, "message": f"Already Subscribed to : {wire}"}}))
            return False
        s.channels.add(wire)
        return True

    async def _account_all(self, s: Session, kind: str, account: int) -> None:
        wire = f"account_all:{account}"
        if not await self._claim(s, kind, wire):
            return
        ours = account == self.sim.account_index
        positions = ({str(mid): self.sim.orders.position_json(m, stream=True) for mid, m in self.sim.markets.items()}
                     if ours else {})
        await s.ws.send_str(dumps(self.account_all_frame(account, "subscribed/account_all", positions, {}, ours)))

    def usdc_asset(self) -> dict:
        """The account's USDC row (the nautilus_trader account_all_assets fixture's keys); margin_balance is the
        collateral (the simulator has no unrealized PnL)."""
        usdc = f"{self.sim.collateral:.6f}"
        return {"symbol": "USDC", "asset_id": 3, "balance": usdc, "locked_balance": "0.000000",
                "margin_mode": "enabled" if self.sim.account.asset_margin_modes.get(3) else "disabled",
                "margin_balance": usdc}

    def assets_frame(self, account: int, kind: str) -> dict:
        return {"assets": {"3": self.usdc_asset()} if account == self.sim.account_index else {},
                "channel": f"account_all_assets:{account}", "timestamp": int(time.time() * 1000), "type": kind}

    def user_stats_frame(self, account: int, kind: str) -> dict:
        """user_stats (WebSocket reference "Account Stats" keys): collateral, portfolio value, available balance
        and buying power are the collateral (no unrealized PnL, no margin held), leverage the positions' notional
        over it, margin usage 0; cross_stats and total_stats the same figures."""
        if account == self.sim.account_index:
            coll = self.sim.collateral
            notional = sum(Decimal(self.sim.orders.position_json(m)["position_value"])
                           for m in self.sim.markets.values())
            lev = f"{notional / coll if coll else Decimal(0):.2f}"
            usdc = f"{coll:.6f}"
        else:
            usdc, lev = "0.000000", "0.00"
        figures = {"collateral": usdc, "portfolio_value": usdc, "leverage": lev, "available_balance": usdc,
                   "margin_usage": "0.00", "buying_power": usdc}
        return {"channel": f"user_stats:{account}",
                "stats": {**figures, "cross_stats": dict(figures), "total_stats": dict(figures)}, "type": kind}

    def account_all_frame(self, account: int, kind: str, positions: dict, trades: dict, assets: bool) -> dict:
        """One account_all frame: the documented keys; counts and volumes (whole USD) over the fills kept in
        history, by the UTC day / week (7 days) / month (30 days) they happened in."""
        counts: dict = {}
        if account == self.sim.account_index:
            now_ms = int(time.time() * 1000)
            for label, span in (("daily", 86_400_000), ("weekly", 7 * 86_400_000), ("monthly", 30 * 86_400_000),
                                ("total", None)):
                rows = [r for r in self.sim.orders.history if span is None or now_ms - r["timestamp"] < span]
                counts[f"{label}_trades_count"] = len(rows)
                counts[f"{label}_volume"] = int(sum(Decimal(r["usd_amount"]) for r in rows))
        else:
            counts = {f"{label}_{what}": 0 for label in ("daily", "weekly", "monthly", "total")
                      for what in ("trades_count", "volume")}
        return {"account": account,
                "assets": {"3": {k: v for k, v in self.usdc_asset().items()
                                 if k not in ("margin_mode", "margin_balance")}}
                if assets and account == self.sim.account_index else {},
                "channel": f"account_all:{account}", **counts, "funding_histories": {}, "positions": positions,
                "shares": [], "trades": trades, "type": kind}

    async def _send_tx(self, s: Session, kind: str, data) -> None:
        """jsonapi/sendtx(batch): the REST rules, answered on the socket with the caller's ``id`` echoed."""
        data = data if isinstance(data, dict) else {}
        rid = data.get("id")
        try:
            if kind == "jsonapi/sendtx":
                answer = sequence(self.sim, int(data.get("tx_type", -1)), data.get("tx_info"))
            else:
                answer = sequence_batch(self.sim, data.get("tx_types"), data.get("tx_infos"))
        except TxError as e:
            reply = {"error": {"code": e.code, "message": e.message}}
        except (TypeError, ValueError):
            reply = {"error": {"code": 21100, "message": "invalid tx type"}}
        else:
            reply = {"code": 200, "predicted_execution_time_ms": answer["predicted_execution_time_ms"],
                     "tx_hash": answer["tx_hash"], "type": kind}
        if rid is not None:
            reply["id"] = rid
        if self.mute_tx_answers:  # fault: sequenced (or refused) but the answer is lost on the way back
            return
        await s.ws.send_str(dumps(reply))

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

    def stats_frame(self, arg: str, kind: str) -> str:
        """market_stats rows: the keys of the live-looking nautilus subscribed frame (incl. base_interest_rate,
        which the older documentation example lacks); prices are strings, daily statistics floats."""
        def stats(m) -> dict:
            spec = m.spec
            last = m.trades[-1][1] if m.trades else m.mid
            return {"symbol": spec.symbol, "market_id": spec.market_id, "index_price": spec.px(m.mid),
                    "mark_price": spec.px(m.mid), "mid_price": spec.px(m.mid), "open_interest": "0.000000",
                    "open_interest_limit": "72057594037927936.000000", "funding_clamp_small": "0.0500",
                    "funding_clamp_big": "4.0000", "last_trade_price": spec.px(last),
                    "current_funding_rate": "0.0001", "funding_rate": "0.0001", "base_interest_rate": "0.0100",
                    "funding_timestamp": (int(time.time()) // 3600 + 1) * 3_600_000,
                    "daily_base_token_volume": 0.0, "daily_quote_token_volume": 0.0,
                    "daily_price_low": float(spec.px(m.mid)), "daily_price_high": float(spec.px(m.mid)),
                    "daily_price_change": 0.0}
        body = ({str(mid): stats(m) for mid, m in self.sim.markets.items()} if arg == "all"
                else stats(self.sim.markets[int(arg)]))
        return dumps({"channel": f"market_stats:{arg}", "market_stats": body, "timestamp": int(time.time() * 1000),
                      "type": kind})

    async def _to(self, wire: str, frame: str) -> None:
        for s in list(self.sessions):
            if wire in s.channels:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await s.ws.send_str(frame)

    async def _expire_tokens(self) -> None:
        """A private subscription ends when its token does: the 20013 error frame, and no more updates."""
        now = time.time()
        for s in list(self.sessions):
            for wire, token in list(s.tokens.items()):
                if self.sim.tokens.expires_at(token) <= now:
                    s.channels.discard(wire)
                    del s.tokens[wire]
                    self.auth_expired += 1
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await s.ws.send_str(dumps({"error": {"code": 20013,
                                                             "message": "invalid auth: invalid deadline"}}))

    async def publish(self) -> None:
        """One tick: account changes, each market's changes as one chained update, new trades, stats."""
        await self._expire_tokens()
        acct, orders = self.sim.account_index, self.sim.orders
        changed, fills, positions = orders.take_changed(), orders.take_fills(), orders.take_positions()
        if changed:
            await self._to(f"account_all_orders:{acct}", dumps({"channel": f"account_all_orders:{acct}",
                                                                "orders": changed, "type": "update/account_all_orders"}))
            for market, rows in changed.items():
                await self._to(f"account_orders/{market}/{acct}",
                               dumps(self.account_orders_frame(acct, market, rows, "update")))
        if fills:
            await self._to(f"account_all_trades:{acct}", dumps({"channel": f"account_all_trades:{acct}",
                                                                "trades": fills, "type": "update/account_all_trades"}))
        balance = self.sim.account.balance_changed
        self.sim.account.balance_changed = False
        if fills or positions or balance:
            await self._to(f"account_all:{acct}", dumps(self.account_all_frame(
                acct, "update/account_all", positions, fills, balance or bool(fills))))
        if fills or balance:
            await self._to(f"user_stats:{acct}", dumps(self.user_stats_frame(acct, "update/user_stats")))
            await self._to(f"account_all_assets:{acct}", dumps(self.assets_frame(acct, "update/account_all_assets")))
        if positions:
            await self._to(f"account_all_positions:{acct}", dumps({
                "channel": f"account_all_positions:{acct}", "positions": positions, "shares": [],
                "type": "update/account_all_positions"}))
        self._ticks += 1
        if self._ticks % STATS_EVERY == 0:
            for arg in ["all", *map(str, self.sim.markets)]:
                if any(f"market_stats:{arg}" in s.channels for s in self.sessions):
                    await self._to(f"market_stats:{arg}", self.stats_frame(arg, "update/market_stats"))
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
                    big = self.sim.faults.get("big_frame_bytes", 0)
                    if big:  # fault: this update, padded with JSON whitespace to that many bytes (still valid)
                        self.sim.faults["big_frame_bytes"] = 0
                        frame = frame[:-1] + " " * max(0, big - len(frame)) + frame[-1]
                        self.big_frames += 1
            tframe = self.trade_frame(m, "update/trade", new_trades) if new_trades else None
            for s in list(self.sessions):
                try:
                    if frame is not None and book_ch in s.channels:
                        await s.ws.send_str(frame)
                    if tframe is not None and trade_ch in s.channels:
                        await s.ws.send_str(tframe)
                except (ConnectionError, RuntimeError):
                    self.sessions.discard(s)

    async def shutdown_all(self, close_in_ms: int = 1000) -> int:
        """A planned close: ``{"type":"shutdown","close_in_ms":N}`` to every session, which is closed N ms later
        unless the client went first (the SDK's ws_client handles this frame; no capture exists)."""
        doomed = list(self.sessions)
        for s in doomed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await s.ws.send_str(dumps({"type": "shutdown", "close_in_ms": close_in_ms}))

        async def close_later():
            await asyncio.sleep(close_in_ms / 1000)
            for s in doomed:
                if not s.ws.closed:
                    self.shutdown_forced += 1
                    await s.ws.close(code=1001, message=b"shutdown")

        self._shutdown = asyncio.get_running_loop().create_task(close_later())
        return len(doomed)

    async def ping_all(self) -> int:
        """An app-level ``{"type":"ping"}`` to every session; the venue closes clients that never answer."""
        for s in list(self.sessions):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await s.ws.send_str(dumps({"type": "ping"}))
        return len(self.sessions)

    async def close_all(self) -> int:
        n = 0
        for s in list(self.sessions):
            await s.ws.close(code=1001, message=b"closed by the simulator")
            n += 1
        return n
