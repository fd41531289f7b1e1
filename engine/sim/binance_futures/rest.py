"""The futures simulator's REST API (aiohttp): /fapi/v1, /fapi/v2, /fapi/v3 paths, weights, HMAC signatures and
the futures error codes (docs/binance_futures.md). The weight window (429, then 418 while hammering) and the
signed-payload rule are the spot simulator's (engine/sim/binance/rest.py)."""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import web

from engine.sim.binance.rest import INTERVALS_MS, WeightWindow, _strip_signature
from engine.sim.binance.rest import RestApi as SpotRestApi

from .errors import SimError, err, key_problem
from .exchange import FuturesExchange, Order, f8
from .faults import Faults
from .market import now_ms

D = Decimal
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)

WEIGHTS = {  # (method, path) -> weight; parameter-dependent ones in RestApi._weight
    ("GET", "/fapi/v1/ping"): 1, ("GET", "/fapi/v1/time"): 1, ("GET", "/fapi/v1/exchangeInfo"): 1,
    ("GET", "/fapi/v1/fundingRate"): 1, ("GET", "/fapi/v2/account"): 5, ("GET", "/fapi/v3/account"): 5,
    ("GET", "/fapi/v2/balance"): 5, ("GET", "/fapi/v3/balance"): 5, ("GET", "/fapi/v2/positionRisk"): 5,
    ("GET", "/fapi/v3/positionRisk"): 5, ("POST", "/fapi/v1/leverage"): 1, ("POST", "/fapi/v1/marginType"): 1,
    ("POST", "/fapi/v1/positionSide/dual"): 1, ("GET", "/fapi/v1/positionSide/dual"): 30,
    ("POST", "/fapi/v1/order"): 0, ("GET", "/fapi/v1/order"): 1, ("DELETE", "/fapi/v1/order"): 1,
    ("POST", "/fapi/v1/batchOrders"): 5, ("DELETE", "/fapi/v1/batchOrders"): 1,
    ("DELETE", "/fapi/v1/allOpenOrders"): 1, ("POST", "/fapi/v1/countdownCancelAll"): 10,
    ("GET", "/fapi/v1/userTrades"): 5, ("POST", "/fapi/v1/listenKey"): 1, ("PUT", "/fapi/v1/listenKey"): 1,
    ("DELETE", "/fapi/v1/listenKey"): 1, ("GET", "/fapi/v1/leverageBracket"): 1, ("GET", "/fapi/v1/income"): 30,
}
ORDER_PATHS = frozenset({("POST", "/fapi/v1/order"), ("POST", "/fapi/v1/batchOrders")})


class OrderCount:
    """ORDERS limits of the account: 300 per 10 s and 1200 per minute (fixed windows), -1015 beyond."""
    LIMITS = ((10, 300, "10s"), (60, 1200, "1m"))

    def __init__(self):
        self.windows = {n: (0, 0) for n, _, _ in self.LIMITS}

    def count(self, n: int = 1) -> None:
        now = int(time.time())
        for secs, limit, label in self.LIMITS:
            w, c = self.windows[secs]
            if w != now // secs:
                w, c = now // secs, 0
            if c + n > limit:
                raise SimError(-1015, f"Too many new orders; current limit is {limit} orders per "
                                      f"{'10 SECOND' if secs == 10 else 'MINUTE'}.", http=429)
            self.windows[secs] = (w, c + n)

    def headers(self) -> dict:
        now = int(time.time())
        out = {}
        for secs, _, label in self.LIMITS:
            w, c = self.windows[secs]
            out[f"X-MBX-ORDER-COUNT-{label.upper()}"] = str(c if w == now // secs else 0)
        return out


class RestApi:
    def __init__(self, ex: FuturesExchange, faults: Faults, api_key: str, api_secret: str, weight_limit: int = 2400):
        self.ex = ex
        self.faults = faults
        self.api_key = api_key
        self.api_secret = api_secret.encode()
        self.weights = WeightWindow(weight_limit)
        self.order_count = OrderCount()
        self.requests = 0
        ex.throttle = lambda: faults.take("throttle_1008")

    def server_ms(self) -> int:
        return now_ms() + self.faults.clock_skew_ms

    # ---------------------------------------------------------------- plumbing
    def routes(self, app: web.Application) -> None:
        r = app.router
        table = [
            ("GET", "/fapi/v1/ping", self.ping, False), ("GET", "/fapi/v1/time", self.time, False),
            ("GET", "/fapi/v1/exchangeInfo", self.exchange_info, False), ("GET", "/fapi/v1/depth", self.depth, False),
            ("GET", "/fapi/v1/klines", self.klines, False), ("GET", "/fapi/v1/premiumIndex", self.premium, False),
            ("GET", "/fapi/v1/fundingRate", self.funding_rate, False),
            ("GET", "/fapi/v1/ticker/price", self.ticker_price, False),
            ("GET", "/fapi/v2/ticker/price", self.ticker_price, False),
            ("GET", "/fapi/v1/ticker/bookTicker", self.book_ticker, False),
            ("GET", "/fapi/v2/account", self.account, True), ("GET", "/fapi/v3/account", self.account, True),
            ("GET", "/fapi/v2/balance", self.balance, True), ("GET", "/fapi/v3/balance", self.balance, True),
            ("GET", "/fapi/v2/positionRisk", self.position_risk_v2, True),
            ("GET", "/fapi/v3/positionRisk", self.position_risk_v3, True),
            ("POST", "/fapi/v1/leverage", self.leverage, True), ("POST", "/fapi/v1/marginType", self.margin_type, True),
            ("POST", "/fapi/v1/positionSide/dual", self.set_dual, True),
            ("GET", "/fapi/v1/positionSide/dual", self.get_dual, True),
            ("POST", "/fapi/v1/order", self.new_order, True), ("GET", "/fapi/v1/order", self.query_order, True),
            ("DELETE", "/fapi/v1/order", self.cancel_order, True),
            ("POST", "/fapi/v1/batchOrders", self.batch_orders, True),
            ("DELETE", "/fapi/v1/batchOrders", self.batch_cancel, True),
            ("DELETE", "/fapi/v1/allOpenOrders", self.cancel_all, True),
            ("POST", "/fapi/v1/countdownCancelAll", self.countdown, True),
            ("GET", "/fapi/v1/openOrders", self.open_orders, True),
            ("GET", "/fapi/v1/userTrades", self.user_trades, True),
            ("GET", "/fapi/v1/leverageBracket", self.leverage_bracket, True),
            ("GET", "/fapi/v1/income", self.income, True),
            ("POST", "/fapi/v1/listenKey", self.listen_key_post, "key"),
            ("PUT", "/fapi/v1/listenKey", self.listen_key_put, "key"),
            ("DELETE", "/fapi/v1/listenKey", self.listen_key_delete, "key"),
        ]
        for method, path, handler, signed in table:
            r.add_route(method, path, self._wrap(handler, signed))

    def _wrap(self, handler, signed):
        async def run(request: web.Request) -> web.StreamResponse:
            self.requests += 1
            ip = request.remote or "?"
            headers = {}
            key = (request.method, request.path)
            try:
                raw_query = request.rel_url.raw_query_string
                body = (await request.read()).decode("utf-8", "replace") if request.can_read_body else ""
                params = dict(parse_qsl(raw_query, keep_blank_values=True))
                for k, v in parse_qsl(body, keep_blank_values=True):
                    params.setdefault(k, v)
                used = self._charge(ip, self._weight(request, params))
                headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
                if self.faults.take("status_5xx"):
                    raise SimError(-1000, "An unknown error occured while processing the request.", http=500)
                if signed == "key":
                    problem = key_problem(request.headers.get("X-MBX-APIKEY"), self.api_key)
                    if problem:
                        raise SimError(*problem, http=401)
                elif signed:
                    self._check_signature(request, params, raw_query, body)
                if key in ORDER_PATHS:
                    self.order_count.count(1)
                if key == ("GET", "/fapi/v1/depth") and self.faults.slow_snapshot_s:
                    await asyncio.sleep(self.faults.slow_snapshot_s)
                fault = self.faults.take_order_fault() if key == ("POST", "/fapi/v1/order") else None
                result = handler(params)
                if key in ORDER_PATHS:
                    headers.update(self.order_count.headers())
                if fault == "5xx":
                    raise SimError(-1007, "Timeout waiting for response from backend server. Send status unknown; "
                                          "execution status unknown.", http=503)
                if fault == "timeout":
                    await asyncio.sleep(self.faults.order_timeout_s)
                return web.json_response(result, headers=headers)
            except SimError as e:
                headers.update(e.headers)
                if key in ORDER_PATHS:
                    headers.update(self.order_count.headers())
                return web.json_response(e.body(), status=e.http, headers=headers)
        return run

    def _weight(self, request, p) -> int:
        return self._weight_of(request.method, request.path, p)

    def _weight_of(self, method: str, path: str, p: dict) -> int:
        """The request weight of ``method path`` with parameters ``p`` (REST and the WS API alike)."""
        if path == "/fapi/v1/depth":
            limit = _int(p.get("limit"), 500)
            return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20
        if path == "/fapi/v1/klines":
            limit = _int(p.get("limit"), 500)
            return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10
        if path == "/fapi/v1/premiumIndex":
            return 1 if p.get("symbol") else 10
        if path in ("/fapi/v1/ticker/price", "/fapi/v2/ticker/price"):
            return 1 if p.get("symbol") else 2
        if path == "/fapi/v1/ticker/bookTicker":
            return 2 if p.get("symbol") else 5
        if path == "/fapi/v1/openOrders":
            return 1 if p.get("symbol") else 40
        return WEIGHTS.get((method, path), 1)

    # the spot simulator's weight window: 429 past the limit, 418 (a ban) for a client that keeps going
    _charge = SpotRestApi._charge

    def _check_signature(self, request, params, raw_query, body) -> None:
        problem = key_problem(request.headers.get("X-MBX-APIKEY"), self.api_key)
        if problem:
            raise SimError(*problem, http=401)
        sig = params.get("signature")
        if not sig:
            raise err(-1102, "signature")
        payload = _strip_signature(raw_query)
        if body:
            payload = payload + _strip_signature(body) if payload else _strip_signature(body)
        want = hmac.new(self.api_secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, sig.lower()):
            raise SimError(-1022, "Signature for this request is not valid.")
        ts = params.get("timestamp")
        if not ts or not ts.isdigit():
            raise err(-1102, "timestamp")
        window = _int(params.get("recvWindow"), 5000)
        server = self.server_ms()
        if int(ts) >= server + 1000:
            raise SimError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server - int(ts) > window:
            raise SimError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # ---------------------------------------------------------------- public
    def ping(self, p):
        return {}

    def time(self, p):
        return {"serverTime": self.server_ms()}

    def exchange_info(self, p):
        symbols = []
        for m in self.ex.markets.values():
            s = m.spec
            symbols.append({
                "symbol": s.symbol, "pair": s.symbol, "contractType": "PERPETUAL", "deliveryDate": 4133404800000,
                "onboardDate": 1569398400000, "status": "TRADING", "maintMarginPercent": "2.5000",
                "requiredMarginPercent": "5.0000", "baseAsset": s.base, "quoteAsset": s.quote, "marginAsset": "USDT",
                "pricePrecision": s.price_places, "quantityPrecision": s.qty_places, "baseAssetPrecision": 8,
                "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [], "settlePlan": 0,
                "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": f"{s.tick:f}", "maxPrice": "4529764",
                     "tickSize": f"{s.tick:f}"},
                    {"filterType": "LOT_SIZE", "minQty": f"{s.min_qty:f}", "maxQty": f"{s.max_qty:f}",
                     "stepSize": f"{s.step:f}"},
                    {"filterType": "MARKET_LOT_SIZE", "minQty": f"{s.min_qty:f}", "maxQty": f"{s.market_max_qty:f}",
                     "stepSize": f"{s.step:f}"},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                    {"filterType": "MIN_NOTIONAL", "notional": f"{s.min_notional:f}"},
                    {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
                     "multiplierDecimal": "4"}],
                "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"]})
        return {"timezone": "UTC", "serverTime": self.server_ms(), "futuresType": "U_MARGINED",
                "rateLimits": [
                    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                     "limit": self.weights.limit},
                    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
                    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300}],
                "exchangeFilters": [], "assets": [{"asset": "USDT", "marginAvailable": True,
                                                   "autoAssetExchange": "-10000"}],
                "symbols": symbols}

    def depth(self, p):
        m = self.ex.market(p.get("symbol"))
        limit = _int(p.get("limit"), 500)
        if limit not in DEPTH_LIMITS:
            raise SimError(-1130, "Data sent for parameter 'limit' is not valid.")
        t = now_ms()
        return {"lastUpdateId": m.last_u, "E": t, "T": t,
                "bids": [[f"{m.px(k):f}", f"{q:f}"] for k, q in m.levels("b", limit)],
                "asks": [[f"{m.px(k):f}", f"{q:f}"] for k, q in m.levels("a", limit)]}

    def klines(self, p):
        m = self.ex.market(p.get("symbol"))
        iv = p.get("interval")
        if iv not in INTERVALS_MS or iv == "1s":
            raise SimError(-1120, "Invalid interval.")
        limit = min(_int(p.get("limit"), 500), 1500)
        return kline_rows(m, INTERVALS_MS[iv], limit, _int(p.get("endTime"), None))

    def _premium_one(self, m) -> dict:
        mark = m.mark()
        return {"symbol": m.spec.symbol, "markPrice": f"{mark:f}", "indexPrice": f"{mark:f}",
                "estimatedSettlePrice": f"{mark:f}", "lastFundingRate": f8(m.funding_rate),
                "interestRate": "0.00010000", "nextFundingTime": self.ex.next_funding_ms, "time": now_ms()}

    def premium(self, p):
        if p.get("symbol"):
            return self._premium_one(self.ex.market(p["symbol"]))
        return [self._premium_one(m) for m in self.ex.markets.values()]

    def funding_rate(self, p):
        limit = min(_int(p.get("limit"), 100), 1000)
        start, end = _int(p.get("startTime"), None), _int(p.get("endTime"), None)
        rows = []
        syms = [self.ex.market(p["symbol"]).spec.symbol] if p.get("symbol") else list(self.ex.markets)
        for s in syms:
            rows.extend(self.ex.funding_history[s])
        rows = [r for r in rows if (start is None or r["fundingTime"] >= start) and
                (end is None or r["fundingTime"] <= end)]
        rows.sort(key=lambda r: r["fundingTime"])
        return rows[:limit] if start is not None else rows[-limit:]

    def ticker_price(self, p):
        def one(m):
            return {"symbol": m.spec.symbol, "price": f"{m.last_price():f}", "time": now_ms()}
        if p.get("symbol"):
            return one(self.ex.market(p["symbol"]))
        return [one(m) for m in self.ex.markets.values()]

    def book_ticker(self, p):
        def one(m):
            b, a = m.best_bid(), m.best_ask()
            return {"symbol": m.spec.symbol, "bidPrice": f"{m.px(b):f}", "bidQty": f"{m.bids[b]:f}",
                    "askPrice": f"{m.px(a):f}", "askQty": f"{m.asks[a]:f}", "time": now_ms(),
                    "lastUpdateId": m.last_u}
        if p.get("symbol"):
            return one(self.ex.market(p["symbol"]))
        return [one(m) for m in self.ex.markets.values()]

    # ---------------------------------------------------------------- account
    def _asset(self) -> dict:
        ex = self.ex
        upnl = ex.total_upnl()
        pim = sum((ex.position_im(q) for q in ex.all_positions()), D(0))
        oim = ex.open_order_im()
        maint = sum((ex.maint(q) for q in ex.all_positions()), D(0))
        avail = ex.available()
        return {"asset": "USDT", "walletBalance": f8(ex.account.wallet), "unrealizedProfit": f8(upnl),
                "marginBalance": f8(ex.account.wallet + upnl), "maintMargin": f8(maint),
                "initialMargin": f8(pim + oim), "positionInitialMargin": f8(pim), "openOrderInitialMargin": f8(oim),
                "crossWalletBalance": f8(ex.cross_wallet()), "crossUnPnl": f8(ex.cross_upnl()),
                "availableBalance": f8(avail), "maxWithdrawAmount": f8(max(avail, D(0))), "marginAvailable": True,
                "updateTime": now_ms()}

    def account(self, p):
        a = self._asset()
        ex = self.ex
        positions = []
        for s in ex.markets:
            for q in ex.positions_of(s):
                positions.append({
                    "symbol": s, "initialMargin": f8(ex.position_im(q)), "maintMargin": f8(ex.maint(q)),
                    "unrealizedProfit": f8(ex.upnl(q)), "positionInitialMargin": f8(ex.position_im(q)),
                    "openOrderInitialMargin": "0", "leverage": str(ex.account.leverage[s]),
                    "isolated": ex.isolated(s), "entryPrice": f8(q.entry), "breakEvenPrice": f8(q.entry),
                    "maxNotional": "1000000", "bidNotional": "0", "askNotional": "0", "positionSide": q.side,
                    "positionAmt": f"{q.amt:f}", "notional": f8(q.amt * ex.mark(s)),
                    "isolatedWallet": f8(q.isolated_wallet), "updateTime": q.update_time})
        return {"feeTier": 0, "canTrade": True, "canDeposit": True, "canWithdraw": True, "updateTime": 0,
                "multiAssetsMargin": False, "tradeGroupId": -1,
                "totalInitialMargin": a["initialMargin"], "totalMaintMargin": a["maintMargin"],
                "totalWalletBalance": a["walletBalance"], "totalUnrealizedProfit": a["unrealizedProfit"],
                "totalMarginBalance": a["marginBalance"], "totalPositionInitialMargin": a["positionInitialMargin"],
                "totalOpenOrderInitialMargin": a["openOrderInitialMargin"],
                "totalCrossWalletBalance": a["crossWalletBalance"], "totalCrossUnPnl": a["crossUnPnl"],
                "availableBalance": a["availableBalance"], "maxWithdrawAmount": a["maxWithdrawAmount"],
                "assets": [a], "positions": positions}

    def balance(self, p):
        a = self._asset()
        return [{"accountAlias": "SgsR", "asset": "USDT", "balance": a["walletBalance"],
                 "crossWalletBalance": a["crossWalletBalance"], "crossUnPnl": a["crossUnPnl"],
                 "availableBalance": a["availableBalance"], "maxWithdrawAmount": a["maxWithdrawAmount"],
                 "marginAvailable": True, "updateTime": a["updateTime"]}]

    def _risk_rows(self, p, only_open: bool) -> list:
        ex = self.ex
        syms = [ex.market(p["symbol"]).spec.symbol] if p.get("symbol") else list(ex.markets)
        rows = []
        for s in syms:
            for q in ex.positions_of(s):
                if only_open and not q.amt:
                    continue
                mark = ex.mark(s)
                rows.append({
                    "symbol": s, "positionAmt": f"{q.amt:f}", "entryPrice": f8(q.entry),
                    "breakEvenPrice": f8(q.entry), "markPrice": f"{mark:f}", "unRealizedProfit": f8(ex.upnl(q)),
                    "liquidationPrice": f8(ex.liquidation_price(q)), "leverage": str(ex.account.leverage[s]),
                    "maxNotionalValue": "1000000", "marginType": "isolated" if ex.isolated(s) else "cross",
                    "isolatedMargin": f8(q.isolated_wallet + ex.upnl(q)) if ex.isolated(s) else "0.00000000",
                    "isAutoAddMargin": "false", "positionSide": q.side, "notional": f8(q.amt * mark),
                    "isolatedWallet": f8(q.isolated_wallet), "initialMargin": f8(ex.position_im(q)),
                    "maintMargin": f8(ex.maint(q)), "positionInitialMargin": f8(ex.position_im(q)),
                    "openOrderInitialMargin": "0", "marginAsset": "USDT", "adl": 0, "bidNotional": "0",
                    "askNotional": "0", "updateTime": q.update_time})
        return rows

    def position_risk_v2(self, p):
        return self._risk_rows(p, only_open=False)

    def position_risk_v3(self, p):
        return self._risk_rows(p, only_open=True)

    def leverage(self, p):
        s = self.ex.market(p.get("symbol")).spec.symbol
        lev = p.get("leverage")
        if not lev:
            raise err(-1102, "leverage")
        if not lev.isdigit():
            raise err(-4028, lev)
        self.ex.set_leverage(s, int(lev))
        return {"leverage": int(lev), "maxNotionalValue": "1000000", "symbol": s}

    def margin_type(self, p):
        s = self.ex.market(p.get("symbol")).spec.symbol
        if not p.get("marginType"):
            raise err(-1102, "marginType")
        self.ex.set_margin_type(s, p["marginType"].upper())
        return {"code": 200, "msg": "success"}

    def set_dual(self, p):
        v = p.get("dualSidePosition")
        if v not in ("true", "false"):
            raise err(-1102, "dualSidePosition")
        self.ex.set_dual(v == "true")
        return {"code": 200, "msg": "success"}

    def get_dual(self, p):
        return {"dualSidePosition": self.ex.account.dual}

    def leverage_bracket(self, p):
        out = []
        for m in self.ex.markets.values():
            if p.get("symbol") and p["symbol"] != m.spec.symbol:
                continue
            out.append({"symbol": m.spec.symbol, "brackets": [{
                "bracket": 1, "initialLeverage": m.spec.max_leverage, "notionalCap": 1000000, "notionalFloor": 0,
                "maintMarginRatio": float(m.spec.maint_rate), "cum": 0.0}]})
        if p.get("symbol"):
            if not out:
                raise err(-1121)
            return out[0]
        return out

    def income(self, p):
        rows = [r for r in self.ex.income if (not p.get("symbol") or r["symbol"] == p["symbol"])
                and (not p.get("incomeType") or r["incomeType"] == p["incomeType"])]
        return rows[-min(_int(p.get("limit"), 100), 1000):]

    # ---------------------------------------------------------------- orders
    def order_body(self, o: Order) -> dict:
        s = self.ex.markets[o.symbol].spec
        return {"orderId": o.order_id, "symbol": o.symbol, "status": o.status, "clientOrderId": o.client_id,
                "price": f"{o.price:.{s.price_places}f}", "avgPrice": f8(o.avg()),
                "origQty": f"{o.qty:.{s.qty_places}f}", "executedQty": f"{o.executed:.{s.qty_places}f}",
                "cumQty": f"{o.executed:.{s.qty_places}f}", "cumQuote": f8(o.cum_quote), "timeInForce": o.tif,
                "type": o.type, "reduceOnly": o.reduce_only, "closePosition": o.close_position, "side": o.side,
                "positionSide": o.position_side, "stopPrice": f"{o.stop_price:.{s.price_places}f}",
                "workingType": o.working_type, "priceProtect": False, "origType": o.orig_type, "priceMatch": "NONE",
                "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0, "time": o.time,
                "updateTime": o.update_time}

    def new_order(self, p):
        return self.order_body(self.ex.place(p))

    def _find(self, p) -> Order:
        s = self.ex.market(p.get("symbol")).spec.symbol
        if not p.get("orderId") and not p.get("origClientOrderId"):
            raise SimError(-1102, "Either orderId or origClientOrderId must be sent.")
        return self.ex.find(s, p.get("orderId"), p.get("origClientOrderId"))

    def query_order(self, p):
        o = self._find(p)
        if o is None:
            raise err(-2013)
        return self.order_body(o)

    def cancel_order(self, p):
        o = self._find(p)
        if o is None:
            raise err(-2011)
        return self.order_body(self.ex.cancel(o))

    def batch_orders(self, p):
        raw = p.get("batchOrders")
        if not raw:
            raise err(-1102, "batchOrders")
        try:
            items = json.loads(raw)
        except ValueError:
            raise SimError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
        if not isinstance(items, list) or not 1 <= len(items) <= 5 or not all(isinstance(i, dict) for i in items):
            raise SimError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
        out = []
        for item in items:
            try:
                out.append(self.new_order({k: (str(v).lower() if isinstance(v, bool) else str(v))
                                           for k, v in item.items()}))
            except SimError as e:
                out.append(e.body())
        return out

    def batch_cancel(self, p):
        s = self.ex.market(p.get("symbol")).spec.symbol
        ids, cids = _id_list(p, "orderIdList"), _id_list(p, "origClientOrderIdList")
        if not ids and not cids:
            raise SimError(-1102, "Either orderIdList or origClientOrderIdList must be sent.")
        out = []
        for ident in (ids or cids):
            o = self.ex.find(s, ident if ids else None, None if ids else ident)
            try:
                if o is None:
                    raise err(-2011)
                out.append(self.order_body(self.ex.cancel(o)))
            except SimError as e:
                out.append(e.body())
        return out

    def cancel_all(self, p):
        s = self.ex.market(p.get("symbol")).spec.symbol
        self.ex.cancel_all(s)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def countdown(self, p):
        s = self.ex.market(p.get("symbol")).spec.symbol
        ms = p.get("countdownTime")
        if ms is None or not ms.isdigit():
            raise err(-1102, "countdownTime")
        ms = int(ms)
        if ms == 0:
            self.ex.countdowns.pop(s, None)
        else:
            self.ex.countdowns[s] = (now_ms() + ms, ms)
        return {"symbol": s, "countdownTime": str(ms)}

    def open_orders(self, p):
        s = self.ex.market(p["symbol"]).spec.symbol if p.get("symbol") else None
        return [self.order_body(o) for o in self.ex.orders.values() if o.open and (s is None or o.symbol == s)]

    def user_trades(self, p):
        s = self.ex.market(p.get("symbol")).spec.symbol
        rows = [t for t in self.ex.user_trades if t["symbol"] == s]
        if p.get("orderId"):
            rows = [t for t in rows if str(t["orderId"]) == p["orderId"]]
        from_id, limit = _int(p.get("fromId"), None), min(_int(p.get("limit"), 500), 1000)
        if from_id is not None:
            rows = [t for t in rows if t["id"] >= from_id]
        return rows[-limit:]

    # ---------------------------------------------------------------- listenKey (API key, no signature)
    def listen_key_post(self, p):
        return {"listenKey": self.ex.listen_key_start()}

    def listen_key_put(self, p):
        return {"listenKey": self.ex.listen_key_keepalive()}

    def listen_key_delete(self, p):
        self.ex.listen_key_close()
        return {}


def kline_rows(m, iv_ms: int, limit: int, end_ms=None) -> list:
    """Candles from the market's public trades, one per interval up to now (a quiet interval repeats the close)."""
    now = end_ms or now_ms()
    last_open = now // iv_ms * iv_ms
    first_open = last_open - (limit - 1) * iv_ms
    buckets: dict[int, list] = {}
    for t in m.trades:
        if t.time >= first_open:
            buckets.setdefault(t.time // iv_ms * iv_ms, []).append(t)
    rows = []
    close = m.trades[0].price if m.trades else m.mark()
    for i in range(limit):
        ot = first_open + i * iv_ms
        trs = buckets.get(ot, [])
        if trs:
            prices = [t.price for t in trs]
            o, h, lo, c = prices[0], max(prices), min(prices), prices[-1]
        else:
            o = h = lo = c = close
        vol = sum((t.qty for t in trs), D(0))
        qv = sum((t.qty * t.price for t in trs), D(0))
        tb = sum((t.qty for t in trs if not t.buyer_maker), D(0))
        tq = sum((t.qty * t.price for t in trs if not t.buyer_maker), D(0))
        rows.append([ot, f"{o:f}", f"{h:f}", f"{lo:f}", f"{c:f}", f"{vol:f}", ot + iv_ms - 1, f"{qv:f}", len(trs),
                     f"{tb:f}", f"{tq:f}", "0"])
        close = c
    return rows


def _id_list(p: dict, name: str):
    """A JSON list of at most 10 ids (``orderIdList``/``origClientOrderIdList``), None when not sent."""
    if not p.get(name):
        return None
    try:
        ids = json.loads(p[name])
    except ValueError:
        ids = None
    if not isinstance(ids, list) or not 1 <= len(ids) <= 10 or not all(isinstance(i, (int, str)) for i in ids):
        raise SimError(-1130, f"Data sent for parameter '{name}' is not valid.")
    return ids


def _int(v, default):
    if v in (None, ""):
        return default
    try:
        return int(v)
    except ValueError:
        raise SimError(-1100, "Illegal characters found in a parameter.") from None
