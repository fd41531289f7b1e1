"""BinanceConnector: the seed's Binance spot connector on the compiled hot path.

What a caller may rely on:
- symbols in the unified form (``ETH-USDT``) or Binance's (``ETHUSDT``);
- orders are quantized to the symbol's filters, sent as exact decimal strings, and always carry a client
  order id; an order whose answer is lost (timeout, 5xx, broken connection) is looked up by that id before
  anything else happens, and is never sent twice: if it still cannot be found, ``RPCTimeoutError`` tells
  the caller the outcome is unknown;
- ``-1021`` (clock) is healed by a time resync and one retry; 429/418 stop all REST on the shared budget
  until ``Retry-After``;
- the local books are exact and gap-checked; a gap resyncs that symbol only;
- with ``order_entry="ws"`` (BINANCE_ORDER_ENTRY) order placement, cancels, cancelReplace, amends, open
  orders and the account go over the WebSocket API (``ws_api.py``: one socket, logged on with the Ed25519
  key when one is given, else HMAC-signed per request), and over REST whenever that socket is down; the
  unknown-outcome rule above is the same on both.
"""
from __future__ import annotations

import asyncio
import logging
import time
import uuid
from decimal import Decimal
from typing import AsyncIterator, Optional

from engine.book import DEFAULT_MAX_FRAME_BYTES
from engine.config import reveal, venue_settings
from engine.connectors.base import BaseConnector, ConnectorState
from engine.errors import AuthenticationError, OrderNotFoundError, RPCTimeoutError, TradingError
from engine.models import Balance, Candle, OrderBookSnapshot, OrderType, OrderUpdate, Side, TimeInForce
from engine.symbols import Symbol, SymbolMap

from .auth import BinanceAuth, Ed25519Key
from .filters import SymbolRules, plain
from .http import BinanceHttp, depth_weight
from .limits import binance_rate_limits
from .parse import (SIDE_TO_VENUE, TIF_TO_VENUE, TYPE_TO_VENUE, balances_from_account, candle_from_kline,
                    order_from_rest)
from .urls import ENVIRONMENTS, BinanceEndpoints
from .settings import ORDER_ENTRY
from .user_stream import BinanceUserStream
from .ws_api import BinanceWsApi, WsApiUnavailable
from .ws_streams import BinanceMarketData

log = logging.getLogger("engine.binance")

RECONCILE_DELAYS_S = (0.2, 0.5, 1.0, 2.0)
RECV_WINDOW_MAX_MS = 60_000
_INT_PARAMS = frozenset({"orderId", "cancelOrderId"})  # the venue's largest recvWindow (the bound when none is sent)


def new_client_order_id() -> str:
    """Unique, within Binance's ``^[a-zA-Z0-9-_]{1,36}$``."""
    return "eng-" + uuid.uuid4().hex[:28]


def _enum(cls, value, name):
    if value is None or isinstance(value, cls):
        return value
    try:
        return cls(value.lower() if cls is not TimeInForce else value.upper())
    except (ValueError, AttributeError):
        raise ValueError(f"{name}={value!r}; valid: {', '.join(m.value for m in cls)}") from None


class BinanceConnector(BaseConnector):
    name = "binance"

    def __init__(self, config=None, *, endpoints: Optional[BinanceEndpoints] = None, api_key: Optional[str] = None,
                 api_secret: Optional[str] = None, testnet: bool = False, symbols: Optional[list] = None,
                 snapshot_limit: int = 1000, recv_window: int = 5000, timeout_s: float = 10.0,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, order_entry: Optional[str] = None,
                 ed25519_api_key: Optional[str] = None, ed25519_private_key: "str | bytes | None" = None,
                 ws_logon: bool = True, ws_start_timeout_s: float = 10.0):
        super().__init__()
        if config is not None:  # the engine's Settings or this venue's BinanceSettings; keywords win
            own = venue_settings(config, self.name)
            endpoints = endpoints or getattr(own, "endpoints", None)
            api_key = api_key or reveal(own.api_key)
            api_secret = api_secret or reveal(own.api_secret)
            testnet = testnet or bool(own.testnet)
            order_entry = order_entry or getattr(own, "order_entry", None)
            ed25519_api_key = ed25519_api_key or reveal(getattr(own, "ed25519_api_key", None))
            ed25519_private_key = ed25519_private_key or reveal(getattr(own, "ed25519_private_key", None))
        order_entry = (order_entry or "rest").lower()
        if order_entry not in ORDER_ENTRY:
            raise ValueError(f"order_entry={order_entry!r}; valid: {', '.join(ORDER_ENTRY)}")
        self.order_entry = order_entry
        self.endpoints = endpoints or ENVIRONMENTS["testnet" if testnet else "mainnet"]
        self.auth = BinanceAuth(api_key, api_secret, recv_window=recv_window) if api_key and api_secret else None
        self.limits = binance_rate_limits()
        self.http = BinanceHttp(self.endpoints, self.limits, self.auth, timeout_s=timeout_s)
        if bool(ed25519_api_key) != bool(ed25519_private_key):
            raise ValueError("an Ed25519 key needs both BINANCE_ED25519_API_KEY and BINANCE_ED25519_PRIVATE_KEY")
        self.ed25519 = Ed25519Key(ed25519_api_key, ed25519_private_key) if ed25519_private_key else None
        self.ws_api: Optional[BinanceWsApi] = None
        self._ws_start_timeout_s = ws_start_timeout_s
        if order_entry == "ws" and self.auth is None:
            log.warning("binance: BINANCE_ORDER_ENTRY=ws needs BINANCE_API_KEY and BINANCE_API_SECRET; no orders")
        if order_entry == "ws" and self.auth is not None:
            self.ws_api = BinanceWsApi(self.endpoints.ws_api, self.auth, self.limits, self._http_session,
                                       ed25519=self.ed25519, logon=ws_logon, resync=self.http.sync_time,
                                       timeout_s=timeout_s)
        # max_frame_bytes: each book's frame cap and the snapshot body cap (WebSocket frames up to twice it)
        self.market = BinanceMarketData(self.endpoints, self.http, snapshot_limit=snapshot_limit,
                                        max_frame_bytes=max_frame_bytes)
        self.rules: dict[str, SymbolRules] = {}
        self.symbols = SymbolMap("binance")
        self._wanted = symbols
        self._user_stream: Optional[BinanceUserStream] = None

    def __repr__(self) -> str:
        return (f"BinanceConnector(rest={self.endpoints.rest!r}, auth={self.auth!r}, "
                f"order_entry={self.order_entry!r}, ws_api={self.ws_api!r}, state={self.state.value})")

    def _http_session(self):
        return self.http._session

    @classmethod
    def for_simulator(cls, sim, **kwargs) -> "BinanceConnector":
        """Against a simulator offering ``rest_url``, ``ws_url``, ``ws_api_url``, ``api_key``, ``api_secret``."""
        kw = {"endpoints": BinanceEndpoints(sim.rest_url, sim.ws_url, sim.ws_api_url), "api_key": sim.api_key,
              "api_secret": sim.api_secret, **kwargs}
        return cls(**kw)

    async def clock_offset_ms(self, samples: int = 3) -> Optional[float]:
        """Server time minus ours (minimum-RTT sample of ``samples``); also what signed requests then use.
        Only signed requests carry our timestamp, so without keys nothing depends on the clock: None."""
        if self.auth is None:
            return None
        idle = self.state in (ConnectorState.DISCONNECTED, ConnectorState.CLOSED)
        if idle:
            await self.http.open()
        try:
            return await self.http.sync_time(samples)
        finally:
            if idle:
                await self.http.close()

    # -- lifecycle
    async def connect(self) -> None:
        self.state = ConnectorState.CONNECTING
        await self.http.open()
        try:
            if self.auth is not None:
                await self.http.sync_time()
            info = await self.http.request("GET", "/api/v3/exchangeInfo")
        except Exception:
            await self.http.close()
            self.state = ConnectorState.DISCONNECTED
            raise
        self._load_exchange_info(info)
        await self.market.start()
        if self.ws_api is not None:  # not ready in time: orders go over REST until it is
            await self.ws_api.start(self._ws_start_timeout_s)
        self.state = ConnectorState.LIVE

    def _load_exchange_info(self, info: dict) -> None:
        if info.get("rateLimits"):
            self.limits.reconfigure(info["rateLimits"])
        for s in info.get("symbols", ()):
            rules = SymbolRules.from_exchange_info(s)
            self.rules[rules.symbol] = rules
            if rules.base_asset and rules.quote_asset:
                self.symbols.add(Symbol(rules.base_asset, rules.quote_asset), rules.symbol)

    async def disconnect(self) -> None:
        if self._user_stream is not None:
            await self._user_stream.stop()
        if self.ws_api is not None:
            await self.ws_api.stop()
        await self.market.stop()
        await self.http.close()
        self.state = ConnectorState.CLOSED

    def native(self, symbol: "str | Symbol") -> str:
        return self.symbols.native(symbol)

    # -- market data (REST)
    async def get_orderbook(self, symbol: str, limit: int = 100) -> OrderBookSnapshot:
        native = self.native(symbol)
        body = await self.http.request("GET", "/api/v3/depth", {"symbol": native, "limit": limit},
                                       weight=depth_weight(limit))
        f = lambda side: [(float(p), float(q)) for p, q in body[side]]  # noqa: E731
        return OrderBookSnapshot("binance", str(self.symbols.unified(native)), f("bids"), f("asks"),
                                 int(body["lastUpdateId"]))

    async def get_candlesticks(self, symbol: str, interval: str = "1m", limit: int = 100,
                               start_ms: Optional[int] = None, end_ms: Optional[int] = None) -> list[Candle]:
        params = {"symbol": self.native(symbol), "interval": interval, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        return [candle_from_kline(r) for r in await self.http.request("GET", "/api/v3/klines", params)]

    async def get_ticker_price(self, symbol: str) -> Decimal:
        body = await self.http.request("GET", "/api/v3/ticker/price", {"symbol": self.native(symbol)})
        return Decimal(body["price"])

    # -- account
    async def get_account(self) -> dict[str, Balance]:
        return balances_from_account(await self._call("account.status", {}, "GET", "/api/v3/account"))

    async def _call(self, ws_method: str, params, method: str, path: str, *, on_send=None, weight=None):
        """One signed request over the WS API when its socket is up, else over REST (same params and
        answer bodies: docs/binance.md, "WebSocket API")."""
        if self.ws_api is not None and self.ws_api.up:
            # integer parameters are JSON integers on the WS API (docs/binance.md, "WebSocket API")
            ws_params = {k: int(v) if k in _INT_PARAMS and str(v).isdigit() else v
                         for k, v in (params.items() if isinstance(params, dict) else params)}
            try:
                return await self.ws_api.request(ws_method, ws_params, on_send=on_send, weight=weight)
            except WsApiUnavailable:
                log.info("binance %s: WS API down, sending over REST", ws_method)
        return await self.http.request(method, path, params, signed=True, on_send=on_send, weight=weight)

    # -- orders
    async def create_order(self, symbol, side, order_type, quantity, price=None, *, stop_price=None,
                           time_in_force=None, client_order_id=None, reduce_only=False) -> OrderUpdate:
        if reduce_only:
            raise ValueError("reduce_only is not a Binance spot order flag")
        native, cid, params = self._order_params(symbol, side, order_type, quantity, price, stop_price,
                                                 time_in_force, client_order_id)
        params += [("newClientOrderId", cid), ("newOrderRespType", "FULL")]
        body = await self._send_order(native, cid, "order.place", params, "POST", "/api/v3/order")
        if isinstance(body, OrderUpdate):  # reconciled
            return body
        return order_from_rest(body, str(self.symbols.unified(native)))

    def _order_params(self, symbol, side, order_type, quantity, price, stop_price, time_in_force,
                      client_order_id) -> tuple:
        """(native symbol, client order id, params) of a new order, quantized and checked by the filters."""
        side = _enum(Side, side, "side")
        order_type = _enum(OrderType, order_type, "order_type")
        tif = _enum(TimeInForce, time_in_force, "time_in_force")
        native = self.native(symbol)
        rules = self.rules[native]
        market = order_type in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
        qty = rules.quantize_qty(quantity, market=market)
        px = None
        if not market:
            if price is None:
                raise ValueError(f"{order_type.value} order needs a price")
            px = rules.quantize_price(price, side is Side.BUY)
        stop = rules.quantize_price(stop_price, side is Side.BUY) if stop_price is not None else None
        if order_type not in (OrderType.LIMIT, OrderType.MARKET, OrderType.LIMIT_MAKER) and stop is None:
            raise ValueError(f"{order_type.value} order needs a stop_price")
        rules.check(px, qty, market=market)
        cid = client_order_id or new_client_order_id()
        params = [("symbol", native), ("side", SIDE_TO_VENUE[side]), ("type", TYPE_TO_VENUE[order_type])]
        if px is not None and order_type is not OrderType.LIMIT_MAKER:
            params.append(("timeInForce", TIF_TO_VENUE.get(tif or TimeInForce.GTC, "GTC")))
        params.append(("quantity", plain(qty)))
        if px is not None:
            params.append(("price", plain(px)))
        if stop is not None:
            params.append(("stopPrice", plain(stop)))
        return native, cid, params

    async def _send_order(self, native: str, cid: str, ws_method: str, params: list, method: str, path: str):
        """Send a request that places the order ``cid``: the answer's body, or the reconciled OrderUpdate
        when the outcome was unknown (never resent), or RPCTimeoutError when it is still unknown."""
        # the venue refuses a request whose timestamp is more than recvWindow old when it gets to it: past
        # that (plus our clock's offset and a second of slack) an order not yet placed never will be. The
        # deadline is set again when the request is signed (REST or WS API): a wait in the rate limiter's
        # queue moves it later
        def set_deadline() -> None:
            window = (self.auth.recv_window or RECV_WINDOW_MAX_MS) + abs(self.auth.offset_ms) if self.auth else 0
            self.deadlines.set(cid, time.time() * 1000 + window + 1000)

        set_deadline()
        try:
            return await self._call(ws_method, params, method, path, on_send=set_deadline)
        except TradingError as e:
            # -1000/-1001 (UNKNOWN / DISCONNECTED) on an order is an unknown outcome too
            if not (e.outcome_unknown or e.code in (-1000, -1001)):
                raise
            log.warning("binance order %s: outcome unknown (%s); reconciling by client order id", cid, e)
            found = await self._reconcile(native, cid)
            if found is not None:
                return found
            raise RPCTimeoutError(f"binance order {cid}: outcome unknown after reconciliation; not resent",
                                  exchange="binance", raw=e.raw) from e

    async def cancel_replace(self, symbol, side, order_type, quantity, price=None, *, cancel_order_id=None,
                             cancel_client_order_id=None, time_in_force=None, client_order_id=None,
                             mode: str = "STOP_ON_FAILURE") -> tuple:
        """Cancel one order and place a new one in one request (``order.cancelReplace`` / REST
        ``cancelReplace``): (the canceled order, the new order) as OrderUpdates. A partial or total failure
        raises the venue's -2021/-2022 error (its ``raw`` holds both halves); an unknown outcome is reconciled
        by the new order's client id: (None, the new order as found)."""
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise ValueError(f"mode={mode!r}; valid: STOP_ON_FAILURE, ALLOW_FAILURE")
        native, cid, params = self._order_params(symbol, side, order_type, quantity, price, None, time_in_force,
                                                 client_order_id)
        if cancel_order_id is not None:
            params.append(("cancelOrderId", cancel_order_id))
        elif cancel_client_order_id is not None:
            params.append(("cancelOrigClientOrderId", cancel_client_order_id))
        else:
            raise ValueError("cancel_replace needs cancel_order_id or cancel_client_order_id")
        params += [("cancelReplaceMode", mode), ("newClientOrderId", cid), ("newOrderRespType", "FULL")]
        body = await self._send_order(native, cid, "order.cancelReplace", params, "POST",
                                      "/api/v3/order/cancelReplace")
        if isinstance(body, OrderUpdate):
            return None, body
        unified = str(self.symbols.unified(native))
        return (order_from_rest(body["cancelResponse"], unified),
                order_from_rest(body["newOrderResponse"], unified))

    async def amend_keep_priority(self, symbol, new_quantity, order_id=None, client_order_id=None,
                                  new_client_order_id: Optional[str] = None) -> OrderUpdate:
        """Lower an open order's quantity keeping its place in the queue (``order.amend.keepPriority``)."""
        native, params = self._order_ref("amend_keep_priority", symbol, order_id, client_order_id)
        qty = self.rules[native].quantize_qty(new_quantity)
        params.append(("newQty", plain(qty)))
        if new_client_order_id is not None:
            params.append(("newClientOrderId", new_client_order_id))
        body = await self._call("order.amend.keepPriority", params, "PUT", "/api/v3/order/amend/keepPriority")
        amended = dict(body["amendedOrder"])
        amended.setdefault("origQty", amended.get("qty"))  # the amend answer names the quantity ``qty``
        return order_from_rest(amended, str(self.symbols.unified(native)))

    async def _reconcile(self, native: str, client_order_id: str) -> Optional[OrderUpdate]:
        for delay in RECONCILE_DELAYS_S:
            await asyncio.sleep(delay)
            try:
                found = await self.get_order(native, client_order_id=client_order_id)
            except TradingError as e:
                log.warning("binance reconcile %s: lookup failed: %s", client_order_id, e)
                continue
            if found is not None:
                return found
        return None

    def _order_ref(self, what: str, symbol, order_id, client_order_id) -> tuple[str, list]:
        """(native symbol, params naming one order): by id when given (faster at the venue), else client id."""
        native = self.native(symbol)
        if order_id is not None:
            return native, [("symbol", native), ("orderId", order_id)]
        if client_order_id is not None:
            return native, [("symbol", native), ("origClientOrderId", client_order_id)]
        raise ValueError(f"{what} needs order_id or client_order_id")

    async def cancel_order(self, symbol, order_id=None, client_order_id=None) -> OrderUpdate:
        native, params = self._order_ref("cancel_order", symbol, order_id, client_order_id)
        try:
            body = await self._call("order.cancel", params, "DELETE", "/api/v3/order")
        except OrderNotFoundError:
            # -2011: already filled/canceled, or never existed; report the venue's view
            found = await self.get_order(native, order_id=order_id, client_order_id=client_order_id)
            if found is not None:
                return found
            raise
        return order_from_rest(body, str(self.symbols.unified(native)))

    async def cancel_all_orders(self, symbol: str) -> list[OrderUpdate]:
        native = self.native(symbol)
        try:
            rows = await self.http.request("DELETE", "/api/v3/openOrders", {"symbol": native}, signed=True)
        except OrderNotFoundError:
            return []  # -2011 when nothing is open
        unified = str(self.symbols.unified(native))
        return [order_from_rest(r, unified) for r in rows if "orderId" in r]

    async def get_order(self, symbol, order_id=None, client_order_id=None) -> Optional[OrderUpdate]:
        native, params = self._order_ref("get_order", symbol, order_id, client_order_id)
        try:
            body = await self.http.request("GET", "/api/v3/order", params, signed=True)
        except OrderNotFoundError:
            return None
        return order_from_rest(body, str(self.symbols.unified(native)))

    async def get_open_orders(self, symbol: Optional[str] = None) -> list[OrderUpdate]:
        params = {"symbol": self.native(symbol)} if symbol else {}
        rows = await self._call("openOrders.status", params, "GET", "/api/v3/openOrders", weight=6 if symbol else 80)
        return [order_from_rest(r, str(self.symbols.unified(r["symbol"]))) for r in rows]

    # -- streams
    async def add_book(self, symbol, callback=None):
        return await self.market.add_book(self.native(symbol), callback)

    async def add_trades(self, symbol, callback) -> None:
        """``callback(Trade)`` for every new aggregate trade, with the unified symbol (each trade id once)."""
        native = self.native(symbol)
        await self.market.add_trades(native, callback, unified=str(self.symbols.unified(native)))

    def book_latency(self):
        for c in self.market.connections:
            if c.listener is not None:
                return c.listener.latency.snapshot()
        return None

    async def stream_orderbook(self, symbol: str) -> AsyncIterator:
        """Yield the live compiled book after each change (coalesced: always the latest state)."""
        feed = await self.market.add_book(self.native(symbol))
        while True:
            await feed.changed.wait()
            feed.changed.clear()
            yield feed.book

    async def stream_trades(self, symbol: str) -> AsyncIterator:
        """Public trades as ``Trade`` (taker side, unified symbol), each aggregate trade id once."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=10_000)

        def put(trade):
            if queue.full():  # a slow consumer loses the oldest trade, never blocks the socket
                queue.get_nowait()
            queue.put_nowait(trade)

        await self.add_trades(symbol, put)
        while True:
            yield await queue.get()

    def _book_feed(self, symbol: str):
        return self.market.books.get(self.native(symbol))

    def _book_feeds(self):
        return self.market.books.values()

    def get_user_data_stream(self) -> BinanceUserStream:
        if self.auth is None:
            raise AuthenticationError("binance: no API keys, so no orders or user data stream (set "
                                      "BINANCE_API_KEY and BINANCE_API_SECRET)", exchange="binance")
        if self._user_stream is None:
            self._user_stream = BinanceUserStream(self.endpoints, self.auth, self.http, self.symbols)
        return self._user_stream

    def health(self) -> dict:
        """State, each book's health (``symbol`` unified, ``native`` Binance's), REST stats and the per-minute
        weight budget as ``rest_budget`` {used, limit, kind, banned_for_s}, stream disconnects, the market
        streams' ``status()`` as ``market``, ``order_entry`` and the WS API socket's ``status()`` as ``ws_api``."""
        limits = self.limits.status()
        weight = limits.get("REQUEST_WEIGHT/1M")
        budget = None if weight is None else {**weight, "kind": "weight", "banned_for_s": limits["banned_for_s"]}
        books = [{**b, "symbol": str(self.symbols.unified(b["symbol"])), "native": b["symbol"]}
                 for b in self.market.health()]
        us = self._user_stream
        return {"exchange": "binance", "state": self.state.value, "books": books, "rest": self.http.stats(),
                "rest_budget": budget, "ws_disconnects": self.market.disconnects,
                "garbage_frames": self.market.garbage_frames, "market": self.market.status(),
                "user_stream": None if us is None else us.status(), "order_entry": self.order_entry,
                "ws_api": None if self.ws_api is None else self.ws_api.status()}

