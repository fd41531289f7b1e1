"""BinanceFuturesConnector: Binance USD-M futures behind BaseConnector (docs/binance_futures.md, "Connector").

Shared with the spot connector (same exchange, engine/connectors/binance/): HMAC auth, the REST transport
(subclassed in .http for the futures paths, weights and error table), the rate budget, filters, the book
streams (``BinanceMarketData`` with ``futures=True``: the compiled book chains depth events on ``pu``), and
the spot client's unknown-outcome rule (``_send_order``/``_reconcile``: an order whose answer is lost is looked
up by its client order id, never resent; its deadline is set from recvWindow each time it is signed).

Futures-specific here: the split stream routes (.urls.ROUTES: depth and bookTicker on /public, aggTrade,
markPrice and kline on /market, user data on /private), the route watch (a stream that delivers nothing within
``first_data_deadline_s`` is named in ``health()["stream_problems"]``; ``wait_streams()`` raises
``StreamSilentError``), positions, leverage, margin type, position mode, reduceOnly/positionSide/closePosition,
GTX post-only, and the listenKey user stream (.user_stream).
"""
from __future__ import annotations

import logging
from decimal import Decimal
from typing import Callable, Optional

from engine.book import DEFAULT_MAX_FRAME_BYTES
from engine.config import reveal, venue_settings
from engine.connectors.base import BaseConnector, ConnectorState
from engine.connectors.binance.auth import BinanceAuth
from engine.connectors.binance.client import BinanceConnector, _enum, new_client_order_id
from engine.connectors.binance.filters import SymbolRules, plain
from engine.connectors.binance.limits import binance_rate_limits
from engine.connectors.binance.parse import SIDE_TO_VENUE, TIF_TO_VENUE, candle_from_kline
from engine.errors import AuthenticationError, InvalidRequestError, OrderNotFoundError
from engine.models import Balance, Candle, OrderBookSnapshot, OrderType, OrderUpdate, Side, TimeInForce
from engine.symbols import Symbol, SymbolMap

from .http import FuturesHttp, depth_weight, klines_weight
from .parse import EXCHANGE, TYPE_TO_VENUE, order_from_rest
from .streams import FIRST_DATA_DEADLINE_S, FuturesMarketData, RawStream, RouteWatch
from .urls import ENVIRONMENTS, ROUTES, FuturesEndpoints
from .user_stream import FuturesUserStream

log = logging.getLogger("engine.binance_futures")
POSITION_SIDES = ("BOTH", "LONG", "SHORT")
_MARKET_TYPES = (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
_STOP_TYPES = (OrderType.STOP_LIMIT, OrderType.TAKE_PROFIT_LIMIT, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


def normalize_filters(s: dict) -> dict:
    """A futures exchangeInfo symbol in the spot filter reader's terms: futures' MIN_NOTIONAL names its bound
    ``notional`` (spot's NOTIONAL: ``minNotional``)."""
    filters = []
    for f in s.get("filters", ()):
        if f.get("filterType") == "MIN_NOTIONAL" and "notional" in f:
            f = {"filterType": "NOTIONAL", "minNotional": f["notional"], "applyMinToMarket": True}
        filters.append(f)
    return {**s, "filters": filters}


def _dec(v) -> Optional[Decimal]:
    return None if v in (None, "") else Decimal(str(v))


class BinanceFuturesConnector(BaseConnector):
    name = EXCHANGE

    def __init__(self, config=None, *, endpoints: Optional[FuturesEndpoints] = None, api_key: Optional[str] = None,
                 api_secret: Optional[str] = None, testnet: bool = False, symbols: Optional[list] = None,
                 snapshot_limit: int = 1000, recv_window: int = 5000, timeout_s: float = 10.0,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, routes: Optional[dict] = None,
                 first_data_deadline_s: float = FIRST_DATA_DEADLINE_S, keepalive_s: float = 1800.0):
        super().__init__()
        if config is not None:  # the engine's Settings or BinanceFuturesSettings; keywords win
            own = venue_settings(config, self.name)
            api_key = api_key or reveal(own.api_key)
            api_secret = api_secret or reveal(own.api_secret)
            testnet = testnet or bool(own.testnet)
            if endpoints is None and (own.rest_url or own.ws_url or own.ws_api_url):
                base = ENVIRONMENTS["testnet" if testnet else "mainnet"]
                endpoints = FuturesEndpoints(own.rest_url or base.rest, own.ws_url or base.ws,
                                             own.ws_api_url or base.ws_api)
        self.endpoints = endpoints or ENVIRONMENTS["testnet" if testnet else "mainnet"]
        self.routes = {**ROUTES, **(routes or {})}
        self.auth = BinanceAuth(api_key, api_secret, recv_window=recv_window) if api_key and api_secret else None
        self.limits = binance_rate_limits()
        self.http = FuturesHttp(self.endpoints.route(self.routes["depth"]), self.limits, self.auth,
                                timeout_s=timeout_s)
        self.watch = RouteWatch(first_data_deadline_s)
        # the books on the depth route (futures sync: pu chaining); aggTrade on its own route's connection
        self.market = FuturesMarketData(self.endpoints.route(self.routes["depth"]), self.http,
                                        snapshot_limit=snapshot_limit, max_frame_bytes=max_frame_bytes, futures=True)
        self.trades = FuturesMarketData(self.endpoints.route(self.routes["aggTrade"]), self.http,
                                        max_frame_bytes=max_frame_bytes, futures=True)
        self.raw_streams: list[RawStream] = []
        self.rules: dict[str, SymbolRules] = {}
        self.symbols = SymbolMap(EXCHANGE)
        self._wanted = symbols
        self._keepalive_s = keepalive_s
        self._user_stream: Optional[FuturesUserStream] = None

    def __repr__(self) -> str:
        return f"BinanceFuturesConnector(rest={self.endpoints.rest!r}, auth={self.auth!r}, state={self.state.value})"

    @classmethod
    def for_simulator(cls, sim, **kwargs) -> "BinanceFuturesConnector":
        """Against a simulator offering ``rest_url``, ``ws_url`` (no route), ``ws_api_url``, ``api_key``, ``api_secret``."""
        kw = {"endpoints": FuturesEndpoints(sim.rest_url, sim.ws_url, sim.ws_api_url), "api_key": sim.api_key,
              "api_secret": sim.api_secret, **kwargs}
        return cls(**kw)

    # -- lifecycle
    async def connect(self) -> None:
        self.state = ConnectorState.CONNECTING
        await self.http.open()
        try:
            if self.auth is not None:
                await self.http.sync_time()
            info = await self.http.request("GET", "/fapi/v1/exchangeInfo")
        except Exception:
            await self.http.close()
            self.state = ConnectorState.DISCONNECTED
            raise
        self._load_exchange_info(info)
        await self.market.start()
        await self.trades.start()
        self.state = ConnectorState.LIVE

    def _load_exchange_info(self, info: dict) -> None:
        """The spot loader on the symbols with futures' MIN_NOTIONAL renamed (``normalize_filters``)."""
        BinanceConnector._load_exchange_info(self, {**info, "symbols": [normalize_filters(s) for s in
                                                                        info.get("symbols", ())]})

    async def disconnect(self) -> None:
        if self._user_stream is not None:
            await self._user_stream.stop()
        for r in self.raw_streams:
            await r.stop()
        self.raw_streams.clear()
        await self.market.stop()
        await self.trades.stop()
        await self.http.close()
        self.state = ConnectorState.CLOSED

    native = BinanceConnector.native
    clock_offset_ms = BinanceConnector.clock_offset_ms  # server time from /fapi/v1/time (FuturesHttp)

    def _unified(self, native: str) -> str:
        return str(self.symbols.unified(native))

    # -- market data (REST)
    async def get_orderbook(self, symbol: str, limit: int = 100) -> OrderBookSnapshot:
        native = self.native(symbol)
        body = await self.http.request("GET", "/fapi/v1/depth", {"symbol": native, "limit": limit},
                                       weight=depth_weight(limit))
        f = lambda side: [(float(p), float(q)) for p, q in body[side]]  # noqa: E731
        return OrderBookSnapshot(EXCHANGE, self._unified(native), f("bids"), f("asks"), int(body["lastUpdateId"]))

    async def get_candlesticks(self, symbol: str, interval: str = "1m", limit: int = 100,
                               start_ms: Optional[int] = None, end_ms: Optional[int] = None) -> list[Candle]:
        params = {"symbol": self.native(symbol), "interval": interval, "limit": limit}
        if start_ms is not None:
            params["startTime"] = start_ms
        if end_ms is not None:
            params["endTime"] = end_ms
        rows = await self.http.request("GET", "/fapi/v1/klines", params, weight=klines_weight(limit))
        return [candle_from_kline(r) for r in rows]

    async def get_ticker_price(self, symbol: str) -> Decimal:
        body = await self.http.request("GET", "/fapi/v1/ticker/price", {"symbol": self.native(symbol)})
        return Decimal(body["price"])

    async def get_book_ticker(self, symbol: str) -> dict:
        """Best bid/ask as exact Decimals: {bid, bid_qty, ask, ask_qty}."""
        b = await self.http.request("GET", "/fapi/v1/ticker/bookTicker", {"symbol": self.native(symbol)})
        return {"bid": Decimal(b["bidPrice"]), "bid_qty": Decimal(b["bidQty"]), "ask": Decimal(b["askPrice"]),
                "ask_qty": Decimal(b["askQty"])}

    async def get_premium_index(self, symbol: str) -> dict:
        """Mark price and funding: {mark_price, index_price, funding_rate, next_funding_time_ms}."""
        b = await self.http.request("GET", "/fapi/v1/premiumIndex", {"symbol": self.native(symbol)})
        return {"mark_price": Decimal(b["markPrice"]), "index_price": Decimal(b["indexPrice"]),
                "funding_rate": Decimal(b["lastFundingRate"]), "next_funding_time_ms": int(b["nextFundingTime"])}

    async def get_funding_history(self, symbol: str, limit: int = 100) -> list[dict]:
        rows = await self.http.request("GET", "/fapi/v1/fundingRate", {"symbol": self.native(symbol), "limit": limit})
        return [{"funding_rate": Decimal(r["fundingRate"]), "funding_time_ms": int(r["fundingTime"])} for r in rows]

    # -- account
    def _require_keys(self) -> None:
        if self.auth is None:
            raise AuthenticationError("binance_futures: no API keys (set BINANCE_FUTURES_API_KEY and "
                                      "BINANCE_FUTURES_API_SECRET)", exchange=EXCHANGE)

    async def _signed(self, method: str, path: str, params=None, **kw):
        self._require_keys()
        return await self.http.request(method, path, params or {}, signed=True, **kw)

    async def get_account(self) -> dict[str, Balance]:
        """Per asset: free = availableBalance, locked = balance - availableBalance (margin in use)."""
        rows = await self._signed("GET", "/fapi/v2/balance")
        out = {}
        for r in rows:
            total, free = Decimal(r["balance"]), Decimal(r["availableBalance"])
            out[r["asset"]] = Balance(r["asset"], free, total - free)
        return out

    async def get_positions(self, symbol: Optional[str] = None, *, include_flat: bool = False) -> list[dict]:
        """positionRisk rows as exact values: symbol (unified), position_side, amount (signed), entry_price,
        mark_price, unrealized_pnl, leverage, margin_type, liquidation_price."""
        params = {"symbol": self.native(symbol)} if symbol else {}
        out = []
        for r in await self._signed("GET", "/fapi/v2/positionRisk", params):
            amt = Decimal(r["positionAmt"])
            if amt == 0 and not include_flat:
                continue
            out.append({"symbol": self._unified(r["symbol"]), "position_side": r.get("positionSide", "BOTH"),
                        "amount": amt, "entry_price": _dec(r.get("entryPrice")), "mark_price": _dec(r.get("markPrice")),
                        "unrealized_pnl": _dec(r.get("unRealizedProfit")), "leverage": int(r.get("leverage") or 0),
                        "margin_type": r.get("marginType"), "liquidation_price": _dec(r.get("liquidationPrice"))})
        return out

    async def set_leverage(self, symbol: str, leverage: int) -> int:
        body = await self._signed("POST", "/fapi/v1/leverage", {"symbol": self.native(symbol), "leverage": int(leverage)})
        return int(body["leverage"])

    async def set_margin_type(self, symbol: str, margin_type: str) -> None:
        """``ISOLATED`` or ``CROSSED``; already so (-4046) is not an error."""
        mt = margin_type.upper()
        if mt not in ("ISOLATED", "CROSSED"):
            raise ValueError(f"margin_type={margin_type!r}; valid: ISOLATED, CROSSED")
        try:
            await self._signed("POST", "/fapi/v1/marginType", {"symbol": self.native(symbol), "marginType": mt})
        except InvalidRequestError as e:
            if e.code != -4046:
                raise

    async def set_position_mode(self, hedge: bool) -> None:
        """Hedge mode (LONG/SHORT positions) or one-way (BOTH); already so (-4059) is not an error."""
        try:
            await self._signed("POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true" if hedge else "false"})
        except InvalidRequestError as e:
            if e.code != -4059:
                raise

    async def get_position_mode(self) -> bool:
        """True in hedge mode."""
        return bool((await self._signed("GET", "/fapi/v1/positionSide/dual"))["dualSidePosition"])

    # -- orders
    async def create_order(self, symbol, side, order_type, quantity=None, price=None, *, stop_price=None,
                           time_in_force=None, client_order_id=None, reduce_only=False,
                           position_side: Optional[str] = None, close_position: bool = False,
                           working_type: Optional[str] = None) -> OrderUpdate:
        """LIMIT, MARKET, STOP(_MARKET), TAKE_PROFIT(_MARKET) (the engine's STOP_LIMIT/TAKE_PROFIT_LIMIT are the
        venue's STOP/TAKE_PROFIT), post-only as ``LIMIT_MAKER`` or ``time_in_force=POST_ONLY`` (GTX);
        ``position_side`` LONG/SHORT in hedge mode; ``close_position`` for the _MARKET stops (no quantity)."""
        self._require_keys()
        side = _enum(Side, side, "side")
        order_type = _enum(OrderType, order_type, "order_type")
        tif = _enum(TimeInForce, time_in_force, "time_in_force")
        native = self.native(symbol)
        rules = self.rules[native]
        market = order_type in _MARKET_TYPES
        params = [("symbol", native), ("side", SIDE_TO_VENUE[side]), ("type", TYPE_TO_VENUE[order_type])]
        if position_side is not None:
            if position_side.upper() not in POSITION_SIDES:
                raise ValueError(f"position_side={position_side!r}; valid: {', '.join(POSITION_SIDES)}")
            params.append(("positionSide", position_side.upper()))
        px = None
        if not market:
            if price is None:
                raise ValueError(f"{order_type.value} order needs a price")
            px = rules.quantize_price(price, side is Side.BUY)
            post_only = order_type is OrderType.LIMIT_MAKER or tif is TimeInForce.POST_ONLY
            params.append(("timeInForce", "GTX" if post_only else TIF_TO_VENUE.get(tif or TimeInForce.GTC, "GTC")))
        if close_position:
            if order_type not in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
                raise ValueError("close_position is for STOP_MARKET and TAKE_PROFIT_MARKET orders only")
            params.append(("closePosition", "true"))
        else:
            if quantity is None:
                raise ValueError("an order needs a quantity (or close_position)")
            qty = rules.quantize_qty(quantity, market=market)
            if not reduce_only:  # a reduce-only order is exempt from MIN_NOTIONAL: the venue judges it
                rules.check(px, qty, market=market)
            params.append(("quantity", plain(qty)))
        if px is not None:
            params.append(("price", plain(px)))
        if order_type in _STOP_TYPES:
            if stop_price is None:
                raise ValueError(f"{order_type.value} order needs a stop_price")
            params.append(("stopPrice", plain(rules.quantize_price(stop_price, side is Side.BUY))))
        if reduce_only:
            params.append(("reduceOnly", "true"))
        if working_type is not None:
            params.append(("workingType", working_type.upper()))
        cid = client_order_id or new_client_order_id()
        params += [("newClientOrderId", cid), ("newOrderRespType", "RESULT")]
        body = await self._send_order(native, cid, "order.place", params, "POST", "/fapi/v1/order")
        if isinstance(body, OrderUpdate):  # reconciled
            return body
        return order_from_rest(body, self._unified(native))

    async def _call(self, ws_method: str, params, method: str, path: str, *, on_send=None, weight=None):
        """Signed REST (the futures WS API is not used for orders yet); ``ws_method`` is unused."""
        return await self.http.request(method, path, params, signed=True, on_send=on_send, weight=weight)

    # the spot client's unknown-outcome rule, unchanged: deadline at signing, reconcile by client id, never resend
    _send_order = BinanceConnector._send_order
    _reconcile = BinanceConnector._reconcile
    _order_ref = BinanceConnector._order_ref

    async def cancel_order(self, symbol, order_id=None, client_order_id=None) -> OrderUpdate:
        native, params = self._order_ref("cancel_order", symbol, order_id, client_order_id)
        try:
            body = await self._signed("DELETE", "/fapi/v1/order", params)
        except OrderNotFoundError:
            found = await self.get_order(native, order_id=order_id, client_order_id=client_order_id)
            if found is not None:
                return found
            raise
        return order_from_rest(body, self._unified(native))

    async def cancel_all_orders(self, symbol: str) -> list[OrderUpdate]:
        """Cancel every open order of ``symbol``; the venue answers only a code, so the orders are read first."""
        native = self.native(symbol)
        before = await self.get_open_orders(native)
        await self._signed("DELETE", "/fapi/v1/allOpenOrders", {"symbol": native})
        return before

    async def get_order(self, symbol, order_id=None, client_order_id=None) -> Optional[OrderUpdate]:
        native, params = self._order_ref("get_order", symbol, order_id, client_order_id)
        try:
            body = await self._signed("GET", "/fapi/v1/order", params)
        except OrderNotFoundError:
            return None
        return order_from_rest(body, self._unified(native))

    async def get_open_orders(self, symbol: Optional[str] = None) -> list[OrderUpdate]:
        params = {"symbol": self.native(symbol)} if symbol else {}
        rows = await self._signed("GET", "/fapi/v1/openOrders", params, weight=1 if symbol else 40)
        return [order_from_rest(r, self._unified(r["symbol"])) for r in rows]

    # -- streams
    async def add_book(self, symbol, callback=None):
        native = self.native(symbol)
        first = native not in self.market.books
        feed = await self.market.add_book(native, callback)
        if first:
            self.watch.subscribed(feed.stream, self.routes["depth"])
            feed.callbacks.append(lambda *_a, s=feed.stream: self.watch.data(s))
        return feed

    async def add_trades(self, symbol, callback) -> None:
        """``callback(Trade)`` per new aggregate trade (the ``aggTrade`` route), unified symbol."""
        native = self.native(symbol)
        stream = f"{native.lower()}@aggTrade"
        self.watch.subscribed(stream, self.routes["aggTrade"])

        def seen(trade):
            self.watch.data(stream)
            callback(trade)
        await self.trades.add_trades(native, seen, unified=self._unified(native))

    async def subscribe(self, symbol: str, kind: str, callback: Callable[[dict], None], suffix: str = "") -> str:
        """A raw stream of ``kind`` (bookTicker, markPrice, kline) on its route: ``callback(payload dict)``.
        ``suffix`` completes the name (``_1m`` for kline, ``@1s`` for markPrice). Returns the stream name."""
        if kind not in self.routes or kind in ("depth", "aggTrade", "user"):
            raise ValueError(f"kind={kind!r}; valid: bookTicker, markPrice, kline")
        stream = f"{self.native(symbol).lower()}@{kind}{suffix}"
        route = self.routes[kind]
        self.watch.subscribed(stream, route)
        raw = RawStream(lambda: self.http._session, f"{self.endpoints.ws}/{route}/ws/{stream}", stream, callback,
                        self.watch)
        raw.start()
        self.raw_streams.append(raw)
        return stream

    async def wait_streams(self, streams: Optional[list] = None) -> None:
        """Until every subscription has delivered; ``StreamSilentError`` naming any silent past its deadline."""
        await self.watch.wait(streams)

    book_latency = BinanceConnector.book_latency
    stream_orderbook = BinanceConnector.stream_orderbook
    stream_trades = BinanceConnector.stream_trades
    _book_feed = BinanceConnector._book_feed
    _book_feeds = BinanceConnector._book_feeds

    def get_user_data_stream(self) -> FuturesUserStream:
        self._require_keys()
        if self._user_stream is None:
            self._user_stream = FuturesUserStream(self.endpoints, self.auth, self.http, self.symbols,
                                                  keepalive_s=self._keepalive_s)
        return self._user_stream

    def health(self) -> dict:
        limits = self.limits.status()
        weight = limits.get("REQUEST_WEIGHT/1M")
        budget = None if weight is None else {**weight, "kind": "weight", "banned_for_s": limits["banned_for_s"]}
        books = [{**b, "symbol": self._unified(b["symbol"]), "native": b["symbol"]} for b in self.market.health()]
        us = self._user_stream
        return {"exchange": EXCHANGE, "state": self.state.value, "books": books, "rest": self.http.stats(),
                "rest_budget": budget, "ws_disconnects": self.market.disconnects + self.trades.disconnects,
                "garbage_frames": self.market.garbage_frames, "market": self.market.status(),
                "stream_problems": self.watch.problems(),
                "user_stream": None if us is None else us.status()}
