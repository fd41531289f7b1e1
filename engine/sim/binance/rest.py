"""The simulator's REST API (aiohttp): Binance spot paths, shapes, weights, signatures and error codes.

Every answer to an order-placing request (``ORDER_PATHS``) carries the account's ``X-MBX-ORDER-COUNT-*``
headers (engine/sim/binance/order_limits.py), refusals included."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import random
import time
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import web

from .account_rest import AccountRest
from .errors import SimError, key_problem
from .exchange import SimExchange
from .faults import Faults
from .market import now_ms
from .public_rest import PublicRest
from .weights import WEIGHTS, depth_weight, my_trades_weight, rolling_ticker_weight

INTERVALS_MS = {"1s": 1000, "1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000,
                "1h": 3_600_000, "2h": 7_200_000, "4h": 14_400_000, "6h": 21_600_000, "8h": 28_800_000,
                "12h": 43_200_000, "1d": 86_400_000, "3d": 259_200_000, "1w": 604_800_000, "1M": 2_592_000_000}


class WeightWindow:
    """Binance's per-IP fixed one-minute weight window, with 429 then 418 escalation."""

    def __init__(self, limit: int):
        self.limit = limit
        self.window = 0
        self.used: dict[str, int] = {}
        self.banned_until: dict[str, float] = {}
        self.warned: dict[str, bool] = {}
        self.answered_429 = 0
        self.answered_418 = 0

    def charge(self, ip: str, weight: int) -> int:
        w = int(time.time() // 60)
        if w != self.window:
            self.window, self.used, self.warned = w, {}, {}
        self.used[ip] = self.used.get(ip, 0) + weight
        return self.used[ip]

    def retry_after(self) -> int:
        return max(1, 60 - int(time.time() % 60))


# the requests that place an order: their answers carry the X-MBX-ORDER-COUNT-* headers
ORDER_PATHS = frozenset({("POST", "/api/v3/order"), ("POST", "/api/v3/order/cancelReplace")})

# the weight headers _wrap puts on every answer, for a handler that answers with its own response
ANSWER_HEADERS = web.RequestKey("answer_headers", dict)


class RestApi(PublicRest, AccountRest):
    def __init__(self, ex: SimExchange, faults: Faults, api_key: str, api_secret: str, weight_limit: int = 6000):
        self.ex = ex
        self.faults = faults
        self.api_key = api_key
        self.api_secret = api_secret.encode()
        self.weights = WeightWindow(weight_limit)
        self.requests = 0
        self.depth_requests: dict[str, int] = {}  # symbol -> depth requests that reached the handler (REST and WS API)
        self.replay = None  # a replay.Session: snapshots and exchangeInfo come from the recording

    def server_ms(self) -> int:
        return now_ms() + self.faults.clock_skew_ms

    # ---------------------------------------------------------------- plumbing
    def routes(self, app: web.Application) -> None:
        r = app.router
        for method, path, handler in (
                ("GET", "/api/v3/ping", self.ping), ("GET", "/api/v3/time", self.time),
                ("GET", "/api/v3/exchangeInfo", self.exchange_info), ("GET", "/api/v3/depth", self.depth),
                ("GET", "/api/v3/klines", self.klines), ("GET", "/api/v3/ticker/price", self.ticker_price),
                ("GET", "/api/v3/ticker/24hr", self.ticker_24hr),
                ("GET", "/api/v3/ticker/bookTicker", self.book_ticker), ("GET", "/api/v3/avgPrice", self.avg_price),
                ("GET", "/api/v3/account", self.account), ("POST", "/api/v3/order", self.new_order),
                ("GET", "/api/v3/order", self.query_order), ("DELETE", "/api/v3/order", self.cancel_order),
                ("GET", "/api/v3/openOrders", self.open_orders), ("DELETE", "/api/v3/openOrders", self.cancel_all),
                ("GET", "/api/v3/myTrades", self.my_trades), ("GET", "/api/v3/trades", self.trades),
                ("GET", "/api/v3/aggTrades", self.agg_trades), ("GET", "/api/v3/allOrders", self.all_orders),
                ("POST", "/api/v3/order/test", self.order_test),
                ("GET", "/api/v3/rateLimit/order", self.rate_limit_order),
                ("GET", "/api/v3/historicalTrades", self.historical_trades),
                ("GET", "/api/v3/ticker", self.rolling_ticker),
                ("GET", "/api/v3/account/commission", self.account_commission),
                ("POST", "/api/v3/order/cancelReplace", self.cancel_replace),
                ("PUT", "/api/v3/order/amend/keepPriority", self.amend_keep_priority)):
            r.add_route(method, path, self._wrap(handler))

    def _wrap(self, handler):
        async def run(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            ip = request.remote or "?"
            headers = {}
            try:
                params, raw_query, body = await self._params(request)
                weight = self._weight(request, params)
                used = self._charge(ip, weight)
                headers = {"X-MBX-USED-WEIGHT-1M": str(used), "x-mbx-used-weight": str(used)}
                request[ANSWER_HEADERS] = headers
                if self.faults.take("status_5xx"):
                    raise SimError(-1000, "An unknown error occured while processing the request.", http=500)
                result = await handler(request, params, raw_query, body)
                if isinstance(result, web.StreamResponse):
                    return result
                if (request.method, request.path) in ORDER_PATHS:
                    headers.update(self.ex.order_limits.headers())
                return web.json_response(result, headers=headers)
            except SimError as e:
                headers.update(e.headers)
                if (request.method, request.path) in ORDER_PATHS:
                    headers.update(self.ex.order_limits.headers())
                if e.code == -1003 and "Retry-After" not in headers:
                    headers["Retry-After"] = str(self.weights.retry_after())
                return web.json_response(e.body(), status=e.http, headers=headers)
        return run

    async def _params(self, request: web.Request):
        raw_query = request.rel_url.raw_query_string
        body = (await request.read()).decode("utf-8", "replace") if request.can_read_body else ""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if body:
            for k, v in parse_qsl(body, keep_blank_values=True):
                params.setdefault(k, v)  # the query wins on duplicates
        return params, raw_query, body

    def _weight(self, request: web.Request, params: dict) -> int:
        key = (request.method, request.path)
        if request.path == "/api/v3/depth":
            return depth_weight(int(params.get("limit", 100) or 100))
        if request.path == "/api/v3/openOrders" and request.method == "GET":
            return 6 if params.get("symbol") else 80
        if request.path in _TICKERS and not params.get("symbol"):  # every symbol, or a symbols=[...] list
            return _TICKERS[request.path] if params.get("symbols") else 2 * _TICKERS[request.path]
        if request.path == "/api/v3/order/test" and params.get("computeCommissionRates") == "true":
            return 20
        if key == ("GET", "/api/v3/myTrades"):
            return my_trades_weight(params)
        if key == ("GET", "/api/v3/ticker"):
            try:
                n = 1 if params.get("symbol") else len(json.loads(params.get("symbols") or "[0]"))
            except (ValueError, TypeError):
                n = 1
            return rolling_ticker_weight(max(1, n))
        return WEIGHTS.get(key, 1)

    def _charge(self, ip: str, weight: int) -> int:
        w = self.weights
        now = time.time()
        if w.banned_until.get(ip, 0) > now:
            w.answered_418 += 1
            until = int(w.banned_until[ip] * 1000)
            raise SimError(-1003, f"Way too much request weight used; IP banned until {until}. Please use "
                                  "WebSocket Streams for live updates to avoid bans.", http=418,
                           headers={"Retry-After": str(max(1, int(w.banned_until[ip] - now)))})
        forced = self.faults.take("rate_limit_429")
        used = w.charge(ip, weight)
        if used > w.limit or forced:
            if w.warned.get(ip):  # kept hammering after a 429: ban (Binance escalates 2 min -> 3 days)
                w.banned_until[ip] = now + self.faults.ban_seconds
                w.answered_418 += 1
                raise SimError(-1003, f"Way too much request weight used; IP banned until "
                                      f"{int((now + self.faults.ban_seconds) * 1000)}. Please use WebSocket Streams "
                                      "for live updates to avoid bans.", http=418,
                               headers={"Retry-After": str(int(self.faults.ban_seconds))})
            w.warned[ip] = True
            w.answered_429 += 1
            raise SimError(-1003, f"Too much request weight used; current limit is {w.limit} request weight per "
                                  "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling the API.",
                           http=429, headers={"Retry-After": str(self.weights.retry_after())})
        return used

    def _signed(self, request: web.Request, params: dict, raw_query: str, body: str) -> None:
        problem = key_problem(request.headers.get("X-MBX-APIKEY"), self.api_key)
        if problem:
            raise SimError(*problem, http=401)
        sig = params.get("signature")
        if not sig:
            raise SimError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        payload = _strip_signature(raw_query) + _strip_signature(body)
        want = hmac.new(self.api_secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig.lower()):
            raise SimError(-1022, "Signature for this request is not valid.")
        ts = params.get("timestamp")
        if not ts or not ts.isdigit():
            raise SimError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        window = Decimal(params.get("recvWindow", "5000"))
        if window > 60000:
            raise SimError(-1131, "recvWindow must be less than 60000")
        server = self.server_ms()
        ts = int(ts)
        if ts >= server + 1000:
            raise SimError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server - ts > window:
            raise SimError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # ---------------------------------------------------------------- public endpoints
    async def ping(self, request, p, q, b):
        return {}

    async def time(self, request, p, q, b):
        return {"serverTime": self.server_ms()}

    async def exchange_info(self, request, p, q, b):
        if self.replay is not None and self.replay.exchange_info is not None:
            return self.replay.exchange_info
        symbols = []
        for m in self._listed(p):
            s = m.spec
            symbols.append({
                "symbol": s.symbol, "status": "TRADING", "baseAsset": s.base, "baseAssetPrecision": 8,
                "quoteAsset": s.quote, "quotePrecision": 8, "quoteAssetPrecision": 8, "baseCommissionPrecision": 8,
                "quoteCommissionPrecision": 8,
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT"],
                "icebergAllowed": True, "ocoAllowed": True, "quoteOrderQtyMarketAllowed": True,
                "allowTrailingStop": True, "cancelReplaceAllowed": True, "amendAllowed": True, "isSpotTradingAllowed": True,
                "isMarginTradingAllowed": False,
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": f"{s.tick:.8f}", "maxPrice": "1000000.00000000",
                     "tickSize": f"{s.tick:.8f}"},
                    {"filterType": "LOT_SIZE", "minQty": f"{s.min_qty:.8f}", "maxQty": "9000.00000000",
                     "stepSize": f"{s.step:.8f}"},
                    {"filterType": "NOTIONAL", "minNotional": f"{s.min_notional:.8f}", "applyMinToMarket": True,
                     "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "100.00000000",
                     "stepSize": "0.00000000"},
                    {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200},
                ],
                "permissions": [], "permissionSets": [["SPOT"]], "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"]})
        return {"timezone": "UTC", "serverTime": self.server_ms(),
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                     "limit": self.weights.limit},
                    *self.ex.order_limits.rate_limits(with_count=False),
                    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 300000}],
                "exchangeFilters": [], "symbols": symbols}

    def _listed(self, p) -> list:
        """The markets ``exchangeInfo`` lists: ``symbol=X`` or ``symbols=["X","Y"]`` (in that order), else all;
        an unknown one is -1121 as on the venue."""
        if p.get("symbol"):
            names = [p["symbol"]]
        elif p.get("symbols"):
            try:
                names = json.loads(p["symbols"])
            except ValueError:
                names = None
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise SimError(-1100, "Illegal characters found in parameter 'symbols'.")
        else:
            return list(self.ex.markets.values())
        if any(n not in self.ex.markets for n in names):
            raise SimError(-1121, "Invalid symbol.")
        return [self.ex.markets[n] for n in dict.fromkeys(names)]

    def _market(self, p):
        sym = p.get("symbol")
        if not sym:
            raise SimError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.")
        m = self.ex.markets.get(sym)
        if m is None:
            raise SimError(-1121, "Invalid symbol.")
        return m

    async def depth(self, request, p, q, b):
        if self.replay is not None and p.get("symbol") in self.replay.snapshots:
            return web.Response(body=self.replay.snapshots[p["symbol"]], content_type="application/json")
        m = self._market(p)
        limit = int(p.get("limit", 100) or 100)
        sym = p["symbol"]
        self.depth_requests[sym] = self.depth_requests.get(sym, 0) + 1
        if self.faults.slow_snapshot_s:
            await asyncio.sleep(self.faults.slow_snapshot_s)
        snap = m.snapshot(min(limit, 5000))
        pad = self.faults.pad_snapshot.get(sym)
        if not pad or request is None:  # the WS API's depth (request None) is never padded
            return snap
        body = json.dumps(snap, separators=(",", ":")).encode()
        body = body[:-1] + b" " * max(0, pad - len(body)) + b"}"
        if not self.faults.snapshot_no_length:
            return web.Response(body=body, content_type="application/json", headers=request[ANSWER_HEADERS])
        resp = web.StreamResponse(headers=request[ANSWER_HEADERS])
        resp.content_type = "application/json"
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for i in range(0, len(body), 1 << 16):
                await resp.write(body[i:i + (1 << 16)])
            await resp.write_eof()
        except (ConnectionError, RuntimeError):
            pass  # the client hung up once it had read enough to refuse the answer
        return resp

    async def klines(self, request, p, q, b):
        m = self._market(p)
        iv = p.get("interval")
        if iv not in INTERVALS_MS:
            raise SimError(-1120, "Invalid interval.")
        # the streams' candle calendar (1w from Monday 00:00 UTC, 1M from the 1st of the UTC month), so REST
        # and @kline_<interval> agree on open and close times; imported here as streams.py imports this module
        from .streams import kline_close, kline_open
        limit = min(int(p.get("limit", 500) or 500), 1000)
        end = int(p.get("endTime", now_ms()))
        if "startTime" in p:
            start_open = kline_open(iv, int(p["startTime"]))
        else:
            start_open = kline_open(iv, end)
            for _ in range(limit - 1):
                start_open = kline_open(iv, start_open - 1)
        rows = []
        spec = m.spec
        price = m.mid
        rng = random.Random(f"{spec.symbol}/{iv}/{start_open}")  # the same candles on every call
        t = start_open
        for _ in range(limit):
            if t > end:
                break
            close = kline_close(iv, t)
            o = price
            hi = o + rng.randint(0, 20)
            lo = o - rng.randint(0, 20)
            c = rng.randint(lo, hi)
            price = c
            vol = spec.step * rng.randint(100, 10000)
            rows.append([t, spec.px(o), spec.px(hi), spec.px(lo), spec.px(c), f"{vol:.8f}", close,
                         f"{vol * spec.tick * c:.8f}", rng.randint(10, 500), f"{vol / 2:.8f}",
                         f"{vol / 2 * spec.tick * c:.8f}", "0"])
            t = close + 1
        return rows

    def _last_price(self, m) -> int:
        return m.trades[-1].price if m.trades else m.mid

    async def ticker_price(self, request, p, q, b):
        if not p.get("symbol"):  # symbols=[...] or every symbol: a list of the one-symbol answers
            return [await self.ticker_price(request, {"symbol": m.spec.symbol}, q, b) for m in self._listed(p)]
        if "symbol" in p:
            m = self._market(p)
            return {"symbol": m.spec.symbol, "price": m.spec.px(self._last_price(m))}
        return [{"symbol": m.spec.symbol, "price": m.spec.px(self._last_price(m))} for m in self.ex.markets.values()]

    async def book_ticker(self, request, p, q, b):
        if not p.get("symbol"):  # symbols=[...] or every symbol: a list of the one-symbol answers
            return [await self.book_ticker(request, {"symbol": m.spec.symbol}, q, b) for m in self._listed(p)]
        def one(m):
            bb, ba = m.best_bid(), m.best_ask()
            return {"symbol": m.spec.symbol, "bidPrice": m.spec.px(bb or 0), "bidQty": m.spec.qty(m.bids.get(bb, 0)),
                    "askPrice": m.spec.px(ba or 0), "askQty": m.spec.qty(m.asks.get(ba, 0))}
        if "symbol" in p:
            return one(self._market(p))
        return [one(m) for m in self.ex.markets.values()]

    async def ticker_24hr(self, request, p, q, b):
        if not p.get("symbol"):  # symbols=[...] or every symbol: a list of the one-symbol answers
            return [await self.ticker_24hr(request, {"symbol": m.spec.symbol}, q, b) for m in self._listed(p)]
        m = self._market(p)
        s, last = m.spec, self._last_price(m)
        prices = [t.price for t in m.trades] or [last]
        first = prices[0]
        vol = s.step * m.volume_24h
        bb, ba = m.best_bid() or 0, m.best_ask() or 0
        return {"symbol": s.symbol, "priceChange": s.px(last - first) if last >= first else "-" + s.px(first - last),
                "priceChangePercent": f"{(last - first) / first * 100:.3f}" if first else "0.000",
                "weightedAvgPrice": s.px(last), "prevClosePrice": s.px(first), "lastPrice": s.px(last),
                "lastQty": s.qty(m.trades[-1].qty if m.trades else 0), "bidPrice": s.px(bb),
                "bidQty": s.qty(m.bids.get(bb, 0)), "askPrice": s.px(ba), "askQty": s.qty(m.asks.get(ba, 0)),
                "openPrice": s.px(first), "highPrice": s.px(max(prices)), "lowPrice": s.px(min(prices)),
                "volume": f"{vol:.8f}", "quoteVolume": f"{vol * s.tick * last:.8f}",
                "openTime": now_ms() - 86_400_000, "closeTime": now_ms(),
                "firstId": m.trades[0].first_id if m.trades else -1,
                "lastId": m.trades[-1].last_id if m.trades else -1, "count": len(m.trades)}

    async def avg_price(self, request, p, q, b):
        m = self._market(p)
        return {"mins": 5, "price": m.spec.px(self._last_price(m)), "closeTime": now_ms()}

    # ---------------------------------------------------------------- signed endpoints
    async def account(self, request, p, q, b):
        self._signed(request, p, q, b)
        bal = [{"asset": a, "free": f"{v.free:.8f}", "locked": f"{v.locked:.8f}"} for a, v in self.ex.balances.items()]
        if p.get("omitZeroBalances") == "true":
            bal = [x for x in bal if Decimal(x["free"]) or Decimal(x["locked"])]
        return {"makerCommission": 10, "takerCommission": 10, "buyerCommission": 0, "sellerCommission": 0,
                "commissionRates": {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                    "seller": "0.00000000"},
                "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
                "requireSelfTradePrevention": False, "preventSor": False, "updateTime": now_ms(),
                "accountType": "SPOT", "balances": bal, "permissions": ["SPOT"], "uid": 354937868}

    async def rate_limit_order(self, request, p, q, b):
        self._signed(request, p, q, b)
        return self.ex.order_limits.rate_limits()

    async def new_order(self, request, p, q, b):
        self._signed(request, p, q, b)
        o = self.ex.place(p)
        resp = p.get("newOrderRespType") or ("FULL" if o.type in ("LIMIT", "MARKET") else "ACK")
        body = self.ex.order_json(o, resp)
        fault = self.faults.take_order_fault()
        if fault == "5xx":  # the order IS placed; the client cannot know
            raise SimError(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                                  "execution status unknown.", http=503)
        if fault == "timeout":
            await asyncio.sleep(self.faults.order_timeout_s)
        return body

    async def query_order(self, request, p, q, b):
        self._signed(request, p, q, b)
        return self.ex.query_json(self.ex.find(p))

    async def cancel_order(self, request, p, q, b):
        self._signed(request, p, q, b)
        o = self.ex.cancel(p)
        return self.ex.order_json(o, "RESULT", cancel_client_id=p.get("newClientOrderId") or f"cancel-{o.order_id}")

    async def open_orders(self, request, p, q, b):
        self._signed(request, p, q, b)
        if p.get("symbol") and p["symbol"] not in self.ex.markets:
            raise SimError(-1121, "Invalid symbol.")
        return [self.ex.query_json(o) for o in self.ex.open_orders(p.get("symbol"))]

    async def cancel_all(self, request, p, q, b):
        self._signed(request, p, q, b)
        m = self._market(p)
        orders = self.ex.open_orders(m.spec.symbol)
        if not orders:
            raise SimError(-2011, "Unknown order sent.")
        out = []
        for o in orders:
            self.ex.cancel({"symbol": o.symbol, "orderId": str(o.order_id)})
            out.append(self.ex.order_json(o, "RESULT", cancel_client_id=f"cancel-{o.order_id}"))
        return out

    # the endpoints the WS API serves too: its methods hold their logic (engine/sim/binance/wsapi_methods.py)
    def _as_wsapi(self):
        import types

        return types.SimpleNamespace(rest=self, ex=self.ex)

    async def trades(self, request, p, q, b):
        from .wsapi_methods import trades_recent

        return await trades_recent(self._as_wsapi(), p, None)

    async def agg_trades(self, request, p, q, b):
        from .wsapi_methods import trades_aggregate

        return await trades_aggregate(self._as_wsapi(), p, None)

    async def all_orders(self, request, p, q, b):
        from .wsapi_methods import all_orders

        self._signed(request, p, q, b)
        return await all_orders(self._as_wsapi(), p, None)

    async def order_test(self, request, p, q, b):
        from .wsapi_methods import order_test

        self._signed(request, p, q, b)
        return await order_test(self._as_wsapi(), p, None)


# ticker endpoints -> the weight of a symbols=[...] request (every symbol costs twice that)
_TICKERS = {"/api/v3/ticker/price": 4, "/api/v3/ticker/bookTicker": 4, "/api/v3/ticker/24hr": 40}


def _strip_signature(s: str) -> str:
    """The signed payload is everything sent except the signature parameter itself."""
    if "signature=" not in s:
        return s
    parts = [kv for kv in s.split("&") if not kv.startswith("signature=")]
    return "&".join(parts)
