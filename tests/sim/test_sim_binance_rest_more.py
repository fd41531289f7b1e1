"""More of the Binance simulator's REST surface over real sockets: historicalTrades (API key, fromId), the
rolling-window ticker, account/commission, order/cancelReplace (both modes, the venue's -2021/-2022 bodies, the
ORDERS count), myTrades filters, MARKET orders by quoteOrderQty, and order amend keepPriority on REST and the
WS API; each with the venue's weight."""
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from decimal import Decimal

import aiohttp

from engine.sim.binance import BinanceSimulator

from helpers import wait_for

FAR = "30000.00"  # far below the simulated BTCUSDT market (~60000): a BUY there rests
REST_ORDER = f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00100&price={FAR}"


def signed(sim, query: str) -> str:
    q = f"{query}&timestamp={int(time.time() * 1000)}" if query else f"timestamp={int(time.time() * 1000)}"
    return q + "&signature=" + hmac.new(sim.api_secret.encode(), q.encode(), hashlib.sha256).hexdigest()


async def call(s, method, url):
    async with s.request(method, url) as r:
        return r.status, await r.json(), r.headers


def used(h) -> int:
    return int(h["X-MBX-USED-WEIGHT-1M"])


class Sim:
    """A simulator and a keyed REST session; ``paused`` freezes the market (no trades, no book moves)."""

    def __init__(self, seed=11, paused=False):
        self.seed, self.paused = seed, paused

    async def __aenter__(self):
        self.sim = await BinanceSimulator(seed=self.seed).start()
        self.sim.paused = self.paused
        self.s = aiohttp.ClientSession(headers={"X-MBX-APIKEY": self.sim.api_key})
        return self

    async def __aexit__(self, *exc):
        await self.s.close()
        await self.sim.stop()

    async def get(self, path, query="", sign=False):
        q = signed(self.sim, query) if sign else query
        return await call(self.s, "GET", f"{self.sim.rest_url}{path}" + (f"?{q}" if q else ""))

    async def send(self, method, path, query):
        return await call(self.s, method, f"{self.sim.rest_url}{path}?{signed(self.sim, query)}")


async def test_historical_trades_need_an_api_key_and_page_from_an_id():
    async with Sim() as t:
        m = t.sim.exchange.markets["BTCUSDT"]
        await wait_for(lambda: len(m.trades) >= 6, timeout=30)
        t.sim.paused = True
        async with aiohttp.ClientSession() as bare:
            st, err, _ = await call(bare, "GET", t.sim.rest_url + "/api/v3/historicalTrades?symbol=BTCUSDT")
            assert (st, err["code"]) == (401, -2014)
            async with bare.get(t.sim.rest_url + "/api/v3/historicalTrades?symbol=BTCUSDT",
                                headers={"X-MBX-APIKEY": "simSomeoneElse"}) as r:
                assert (r.status, (await r.json())["code"]) == (401, -2015)
        ids = [x.first_id for x in m.trades]
        st, rows, h0 = await t.get("/api/v3/historicalTrades", "symbol=BTCUSDT&limit=3")
        assert st == 200 and [r["id"] for r in rows] == ids[-3:]  # the most recent without fromId
        assert set(rows[0]) == {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker", "isBestMatch"}
        st, rows, h1 = await t.get("/api/v3/historicalTrades", f"symbol=BTCUSDT&fromId={ids[1]}&limit=2")
        assert st == 200 and [r["id"] for r in rows] == ids[1:3]  # from that id on, oldest first
        assert used(h1) - used(h0) == 25
        st, err, _ = await t.get("/api/v3/historicalTrades", "symbol=BTCUSDT&fromId=x")
        assert (st, err["code"]) == (400, -1100)


async def test_rolling_window_ticker_counts_the_trades_of_its_window():
    async with Sim() as t:
        m = t.sim.exchange.markets["BTCUSDT"]
        await wait_for(lambda: len(m.trades) >= 3, timeout=30)
        t.sim.paused = True
        m.trades[0].time_ms -= 2 * 3_600_000  # a trade two hours old: outside a 1h window
        st, one, h0 = await t.get("/api/v3/ticker", "symbol=BTCUSDT&windowSize=1h")
        assert st == 200 and one["symbol"] == "BTCUSDT" and one["openTime"] % 60_000 == 0
        assert one["closeTime"] - one["openTime"] <= 3_600_000 + 59_999
        inside = [x for x in m.trades if one["openTime"] <= x.time_ms <= one["closeTime"]]
        assert one["count"] == len(inside) == len(m.trades) - 1 and one["firstId"] == inside[0].first_id
        assert one["lastId"] == inside[-1].last_id and one["lastPrice"] == m.spec.px(inside[-1].price)
        assert Decimal(one["volume"]) == m.spec.step * sum(x.qty for x in inside)
        assert list(one) == ["symbol", "priceChange", "priceChangePercent", "weightedAvgPrice", "openPrice",
                             "highPrice", "lowPrice", "lastPrice", "volume", "quoteVolume", "openTime",
                             "closeTime", "firstId", "lastId", "count"]
        q = urllib.parse.quote('["BTCUSDT","ETHUSDT"]')
        st, rows, h1 = await t.get("/api/v3/ticker", f"symbols={q}&type=MINI")
        assert st == 200 and [r["symbol"] for r in rows] == ["BTCUSDT", "ETHUSDT"]
        assert "priceChange" not in rows[0] and "weightedAvgPrice" not in rows[0]
        assert used(h1) - used(h0) == 8  # 4 a symbol
        for bad, code in (("symbol=BTCUSDT&windowSize=60m", -1100), ("symbol=BTCUSDT&windowSize=1d2h", -1100),
                          ("symbol=BTCUSDT&type=HUGE", -1100), ("windowSize=1d", -1102), ("symbol=NOPE", -1121)):
            st, err, _ = await t.get("/api/v3/ticker", bad)
            assert (st, err["code"]) == (400, code), bad


async def test_account_commission_is_signed_and_states_the_simulators_rates():
    async with Sim() as t:
        st, body, h0 = await t.get("/api/v3/account/commission", "symbol=BTCUSDT", sign=True)
        assert st == 200 and body["symbol"] == "BTCUSDT"
        assert body["standardCommission"] == {"maker": "0.00100000", "taker": "0.00100000", "buyer": "0.00000000",
                                              "seller": "0.00000000"}
        assert set(body) == {"symbol", "standardCommission", "specialCommission", "taxCommission", "discount"}
        st, _, h1 = await t.get("/api/v3/account/commission", "symbol=BTCUSDT", sign=True)
        assert used(h1) - used(h0) == 20
        st, err, _ = await t.get("/api/v3/account/commission", "symbol=BTCUSDT")  # unsigned
        assert (st, err["code"]) == (400, -1102)


async def test_cancel_replace_modes_bodies_and_order_count():
    async with Sim(paused=True) as t:
        ex = t.sim.exchange
        st, first, _ = await t.send("POST", "/api/v3/order", REST_ORDER)
        assert st == 200
        new = f"symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.00200&price={FAR}"
        st, both, h = await t.send("POST", "/api/v3/order/cancelReplace",
                                   f"{new}&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={first['orderId']}")
        assert st == 200 and (both["cancelResult"], both["newOrderResult"]) == ("SUCCESS", "SUCCESS")
        assert both["cancelResponse"]["status"] == "CANCELED" and both["newOrderResponse"]["status"] == "NEW"
        assert ex.orders[first["orderId"]].status == "CANCELED" and h["X-MBX-ORDER-COUNT-1D"] == "2"
        # the cancel fails (unknown order): STOP_ON_FAILURE attempts nothing and is -2022, still one order
        st, body, h = await t.send("POST", "/api/v3/order/cancelReplace",
                                   f"{new}&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId=999999")
        assert st == 400 and body == {"code": -2022, "msg": "Order cancel-replace failed.", "data": {
            "cancelResult": "FAILURE", "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": {"code": -2011, "msg": "Unknown order sent."}, "newOrderResponse": None}}
        assert h["X-MBX-ORDER-COUNT-1D"] == "3" and len(ex.open_orders()) == 1
        # ALLOW_FAILURE places the new order anyway: -2021, HTTP 409
        st, body, _ = await t.send("POST", "/api/v3/order/cancelReplace",
                                   f"{new}&cancelReplaceMode=ALLOW_FAILURE&cancelOrderId=999999")
        assert (st, body["code"], body["msg"]) == (409, -2021, "Order cancel-replace partially failed.")
        assert (body["data"]["cancelResult"], body["data"]["newOrderResult"]) == ("FAILURE", "SUCCESS")
        assert len(ex.open_orders()) == 2
        # the cancel succeeds, the new order fails (a LIMIT_MAKER that would take): -2021 as well
        keep = ex.open_orders()[0].order_id
        taker = "symbol=BTCUSDT&side=BUY&type=LIMIT_MAKER&quantity=0.00100&price=99999.00"
        st, body, _ = await t.send("POST", "/api/v3/order/cancelReplace",
                                   f"{taker}&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={keep}")
        assert (st, body["code"]) == (409, -2021) and body["data"]["newOrderResponse"] == {
            "code": -2010, "msg": "Order would immediately match and take."}
        assert ex.orders[keep].status == "CANCELED"
        # both fail: -2022, HTTP 400
        st, body, _ = await t.send("POST", "/api/v3/order/cancelReplace",
                                   f"{taker}&cancelReplaceMode=ALLOW_FAILURE&cancelOrderId=999999")
        assert (st, body["code"], body["data"]["newOrderResult"]) == (400, -2022, "FAILURE")
        # filters and the ORDERS limit are checked before anything is canceled
        left = ex.open_orders()[0].order_id
        st, body, _ = await t.send("POST", "/api/v3/order/cancelReplace", new.replace(FAR, "30000.001") +
                                   f"&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={left}")
        assert (st, body["code"]) == (400, -1013) and ex.orders[left].status == "NEW"
        ex.order_limits.configure(per_day=ex.order_limits.count_of("DAY", 1))
        st, body, h = await t.send("POST", "/api/v3/order/cancelReplace",
                                   f"{new}&cancelReplaceMode=STOP_ON_FAILURE&cancelOrderId={left}")
        assert (st, body["code"]) == (429, -1015) and "data" not in body and ex.orders[left].status == "NEW"
        st, body, _ = await t.send("POST", "/api/v3/order/cancelReplace", f"{new}&cancelOrderId={left}")
        assert (st, body["code"]) == (400, -1102)  # no cancelReplaceMode


async def test_my_trades_filters_and_weights():
    async with Sim(paused=True) as t:
        ids = []
        for _ in range(3):
            st, o, _ = await t.send("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.00100")
            assert st == 200 and o["status"] == "FILLED"
            ids.append(o["orderId"])
        st, rows, h0 = await t.get("/api/v3/myTrades", "symbol=BTCUSDT", sign=True)
        assert st == 200 and {r["orderId"] for r in rows} == set(ids)
        trade_ids, times = [r["id"] for r in rows], [r["time"] for r in rows]
        st, mine, h1 = await t.get("/api/v3/myTrades", f"symbol=BTCUSDT&orderId={ids[1]}", sign=True)
        assert st == 200 and mine and {r["orderId"] for r in mine} == {ids[1]}
        assert used(h1) - used(h0) == 5  # 5 with orderId
        st, _, h2 = await t.get("/api/v3/myTrades", "symbol=BTCUSDT", sign=True)
        assert used(h2) - used(h1) == 20
        st, since, _ = await t.get("/api/v3/myTrades", f"symbol=BTCUSDT&fromId={trade_ids[1]}&limit=1", sign=True)
        assert [r["id"] for r in since] == [trade_ids[1]]
        st, last, _ = await t.get("/api/v3/myTrades", "symbol=BTCUSDT&limit=1", sign=True)
        assert [r["id"] for r in last] == [trade_ids[-1]]
        st, window, _ = await t.get("/api/v3/myTrades", f"symbol=BTCUSDT&startTime={times[0]}&endTime={times[-1]}",
                                    sign=True)
        assert [r["id"] for r in window] == trade_ids
        st, none, _ = await t.get("/api/v3/myTrades", f"symbol=BTCUSDT&endTime={times[0] - 1}", sign=True)
        assert none == []
        for bad, code in ((f"startTime={times[0]}&endTime={times[0] + 86_400_001}", -1127),
                          (f"fromId={trade_ids[0]}&startTime={times[0]}", -1128), ("orderId=abc", -1100)):
            st, err, _ = await t.get("/api/v3/myTrades", f"symbol=BTCUSDT&{bad}", sign=True)
            assert (st, err["code"]) == (400, code), bad


async def test_market_orders_by_quote_order_qty():
    async with Sim(paused=True) as t:
        spec = t.sim.exchange.spec("BTCUSDT")
        st, buy, _ = await t.send("POST", "/api/v3/order", "symbol=BTCUSDT&side=BUY&type=MARKET&quoteOrderQty=100")
        assert st == 200 and buy["status"] == "FILLED" and buy["origQuoteOrderQty"] == "100.00000000"
        spent, got = Decimal(buy["cummulativeQuoteQty"]), Decimal(buy["executedQty"])
        assert spent <= 100 and got % spec.step == 0 and got > 0
        assert 100 - spent < Decimal(buy["fills"][-1]["price"]) * spec.step  # one more step would overspend
        st, sell, _ = await t.send("POST", "/api/v3/order", "symbol=BTCUSDT&side=SELL&type=MARKET&quoteOrderQty=50")
        assert st == 200 and Decimal(sell["cummulativeQuoteQty"]) <= 50 and Decimal(sell["executedQty"]) > 0
        st, q, _ = await t.get("/api/v3/order", f"symbol=BTCUSDT&orderId={sell['orderId']}", sign=True)
        assert q["origQuoteOrderQty"] == "50.00000000"
        for bad, code in (("type=MARKET&quantity=0.001&quoteOrderQty=100", -1106), ("type=MARKET", -1102),
                          (f"type=LIMIT&timeInForce=GTC&quantity=0.001&price={FAR}&quoteOrderQty=100", -1106),
                          ("type=MARKET&quoteOrderQty=1", -1013)):  # below the 5 USDT minimum notional
            st, err, _ = await t.send("POST", "/api/v3/order", f"symbol=BTCUSDT&side=BUY&{bad}")
            assert (st, err["code"]) == (400, code), bad


async def test_amend_keep_priority_reduces_in_place_and_keeps_the_queue():
    async with Sim(paused=True) as t:
        ex = t.sim.exchange
        m = ex.markets["BTCUSDT"]
        events = []
        ex.listeners.append(events.append)
        _, a, _ = await t.send("POST", "/api/v3/order", REST_ORDER.replace("0.00100", "0.00300"))
        _, b, _ = await t.send("POST", "/api/v3/order", REST_ORDER)
        level = int(Decimal(FAR) / m.spec.tick)
        assert m.bids[level] == 400  # 0.003 + 0.001 BTC in 0.00001 steps
        free = ex.balances["USDT"].free
        count = ex.order_limits.count_of("DAY", 1)
        st, body, h0 = await t.send("PUT", "/api/v3/order/amend/keepPriority",
                                    f"symbol=BTCUSDT&orderId={a['orderId']}&newQty=0.00200&newClientOrderId=amended1")
        assert st == 200 and set(body) == {"transactTime", "executionId", "amendedOrder"}
        am = body["amendedOrder"]
        assert (am["orderId"], am["qty"], am["clientOrderId"]) == (a["orderId"], "0.00200000", "amended1")
        assert am["origClientOrderId"] == a["clientOrderId"] and am["status"] == "NEW"
        assert m.bids[level] == 300 and ex.balances["USDT"].free == free + Decimal("30.00")  # 0.001 BTC at 30000
        assert ex.order_limits.count_of("DAY", 1) == count  # an amend counts no order
        assert any(e.get("e") == "executionReport" and e["x"] == "REPLACED" and e["i"] == a["orderId"]
                   and e["q"] == "0.00200000" for e in events)
        # priority kept: a sell reaching our level fills the amended (older) order before b
        above = sum(q for p, q in m.bids.items() if p > level)
        m._sweep("SELL", level, above + 100)
        assert ex.orders[a["orderId"]].filled == 100 and ex.orders[b["orderId"]].filled == 0
        st, _, h1 = await t.send("PUT", "/api/v3/order/amend/keepPriority",
                                 f"symbol=BTCUSDT&orderId={a['orderId']}&newQty=0.00150")
        assert st == 200 and used(h1) - used(h0) == 4
        for bad, code, msg in (
                (f"orderId={b['orderId']}&newQty=0.00200", -2038, "Order amend (quantity increase) is not supported."),
                (f"orderId={b['orderId']}&newQty=0.00100", -2038, "The requested action would change no state; "
                                                                   "rejecting"),
                ("orderId=999999&newQty=0.00050", -2038, "Unknown order sent."),
                ("newQty=0.00050", -1102, None),
                (f"orderId={b['orderId']}&newQty=0.000505", -1013, "Filter failure: LOT_SIZE"),
                (f"orderId={a['orderId']}&newQty=0.00100", -1013, "Invalid newQty.")):  # not below what filled
            st, err, _ = await t.send("PUT", "/api/v3/order/amend/keepPriority", f"symbol=BTCUSDT&{bad}")
            assert (st, err["code"]) == (400, code) and (msg is None or err["msg"] == msg), bad


async def test_ws_api_amend_keep_priority_and_cancel_replace_count_as_rest_does():
    async with Sim(paused=True) as t, t.s.ws_connect(t.sim.ws_api_url) as ws:
        rid = itertools.count(1)

        async def ws_signed(method, params):
            params = dict(params, apiKey=t.sim.api_key, timestamp=int(time.time() * 1000))
            payload = "&".join(f"{k}={v}" for k, v in sorted(params.items())).encode()
            params["signature"] = hmac.new(t.sim.api_secret.encode(), payload, hashlib.sha256).hexdigest()
            n = next(rid)
            await ws.send_str(json.dumps({"id": n, "method": method, "params": params}))
            while True:
                msg = json.loads((await ws.receive(timeout=20)).data)
                if msg.get("id") == n:
                    return msg

        _, a, _ = await t.send("POST", "/api/v3/order", REST_ORDER.replace("0.00100", "0.00300"))
        amend = await ws_signed("order.amend.keepPriority", {"symbol": "BTCUSDT", "orderId": a["orderId"],
                                                             "newQty": "0.00200"})
        assert amend["status"] == 200 and amend["result"]["amendedOrder"]["qty"] == "0.00200000"
        weights = [r["count"] for r in amend["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT"]
        assert len(amend["rateLimits"]) == 1  # no ORDERS rows: an amend places no order
        again = await ws_signed("order.amend.keepPriority", {"symbol": "BTCUSDT", "orderId": a["orderId"],
                                                             "newQty": "0.00100"})
        assert again["rateLimits"][0]["count"] - weights[0] == 4
        bad = await ws_signed("order.amend.keepPriority", {"symbol": "BTCUSDT", "orderId": a["orderId"],
                                                           "newQty": "0.00500"})
        assert bad["status"] == 400 and bad["error"]["code"] == -2038
        replaced = await ws_signed("order.cancelReplace", {
            "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.00100",
            "price": FAR, "cancelReplaceMode": "STOP_ON_FAILURE", "cancelOrderId": a["orderId"]})
        assert replaced["status"] == 200 and replaced["result"]["newOrderResult"] == "SUCCESS"
        rows = {r["interval"]: r["count"] for r in replaced["rateLimits"] if r["rateLimitType"] == "ORDERS"}
        assert rows["DAY"] == 2  # the REST order and the cancelReplace: one account count
