"""The Binance USD-M futures simulator over real sockets: REST surface, order lifecycle, positions and entry price,
hedge mode, reduceOnly/closePosition rules, futures error codes, batch orders, countdownCancelAll, faults.
Requests are signed here with hashlib/hmac (tests/sim/test_sim_binance_futures_client.py)."""
import contextlib
from decimal import Decimal as D

import aiohttp

from engine.sim.binance_futures import BinanceFuturesSimulator
from helpers import wait_for
from test_sim_binance_futures_client import Api, Listener


@contextlib.asynccontextmanager
async def running(**kw):
    async with BinanceFuturesSimulator(seed=3, **kw) as sim:
        async with aiohttp.ClientSession() as s:
            yield sim, Api(sim, s), s


def far_bid(sim, symbol="BTCUSDT") -> str:
    """A BUY price that rests (4 % under the mark, inside PERCENT_PRICE's 5 %)."""
    m = sim.exchange.markets[symbol]
    return f"{(m.mark() * D('0.96')).quantize(m.spec.tick):f}"


async def test_public_rest_surface():
    async with running() as (sim, api, s):
        assert await api.ok("GET", "/fapi/v1/ping", signed=False) == {}
        info = await api.ok("GET", "/fapi/v1/exchangeInfo", signed=False)
        btc = next(x for x in info["symbols"] if x["symbol"] == "BTCUSDT")
        filters = {f["filterType"]: f for f in btc["filters"]}
        assert filters["MIN_NOTIONAL"]["notional"] == "100" and filters["PRICE_FILTER"]["tickSize"] == "0.10"
        assert {"LOT_SIZE", "MARKET_LOT_SIZE", "PERCENT_PRICE"} <= set(filters)
        assert btc["contractType"] == "PERPETUAL" and "GTX" in btc["timeInForce"]
        assert [r["limit"] for r in info["rateLimits"]] == [2400, 1200, 300]
        book = await api.ok("GET", "/fapi/v1/depth", signed=False, symbol="BTCUSDT", limit=5)
        assert len(book["bids"]) == 5 and D(book["bids"][0][0]) < D(book["asks"][0][0]) and "T" in book
        assert await api.code("GET", "/fapi/v1/depth", signed=False, symbol="BTCUSDT", limit=7) == -1130
        assert await api.code("GET", "/fapi/v1/depth", signed=False, symbol="NOPE") == -1121
        prem = await api.ok("GET", "/fapi/v1/premiumIndex", signed=False, symbol="BTCUSDT")
        assert D(prem["markPrice"]) > 0 and prem["lastFundingRate"] == "0.00010000" and prem["nextFundingTime"] > 0
        bars = await api.ok("GET", "/fapi/v1/klines", signed=False, symbol="BTCUSDT", interval="1m", limit=3)
        assert len(bars) == 3 and bars[1][0] - bars[0][0] == 60_000
        t = await api.ok("GET", "/fapi/v1/ticker/bookTicker", signed=False, symbol="ETHUSDT")
        assert D(t["bidPrice"]) < D(t["askPrice"])
        assert D((await api.ok("GET", "/fapi/v1/ticker/price", signed=False, symbol="BTCUSDT"))["price"]) > 0
        status, body = await api.call("GET", "/fapi/v2/account", signed=False)
        assert status == 401 and body["code"] == -2014
        api.sim.api_secret, secret = "00" * 32, api.sim.api_secret
        assert await api.code("GET", "/fapi/v2/account") == -1022
        api.sim.api_secret = secret


async def test_order_lifecycle_and_user_stream():
    async with running() as (sim, api, s):
        key = (await api.ok("POST", "/fapi/v1/listenKey", signed=False, key=True))["listenKey"]
        async with Listener(s, f"{sim.ws_url}/private/ws/{key}") as user:
            o = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                             timeInForce="GTC", quantity="0.010", price=far_bid(sim), newClientOrderId="c1")
            assert o["status"] == "NEW" and o["positionSide"] == "BOTH" and o["clientOrderId"] == "c1"
            q = await api.ok("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="c1")
            assert q["orderId"] == o["orderId"]
            opened = await api.ok("GET", "/fapi/v1/openOrders", symbol="BTCUSDT")
            assert [x["orderId"] for x in opened] == [o["orderId"]]
            c = await api.ok("DELETE", "/fapi/v1/order", symbol="BTCUSDT", orderId=o["orderId"])
            assert c["status"] == "CANCELED"
            assert await api.code("DELETE", "/fapi/v1/order", symbol="BTCUSDT", orderId=o["orderId"]) == -2011
            assert await api.code("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=1) == -2013
            await wait_for(lambda: len(user.events("ORDER_TRADE_UPDATE")) >= 2)
            xs = [(e["o"]["x"], e["o"]["X"], e["o"]["c"]) for e in user.events("ORDER_TRADE_UPDATE")]
            assert xs == [("NEW", "NEW", "c1"), ("CANCELED", "CANCELED", "c1")]
            assert not user.events("ACCOUNT_UPDATE")  # no fill, no account change


async def test_market_orders_build_a_position_with_its_entry_price():
    async with running() as (sim, api, s):
        sim.paused = True
        a = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
        m = sim.exchange.markets["BTCUSDT"]
        m.move_to(m.mark() + 150)  # the second buy fills at other prices: the entry is their weighted mean
        b = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.030")
        assert a["status"] == b["status"] == "FILLED" and a["avgPrice"] != b["avgPrice"]
        pos = await api.position()
        entry = (D(a["cumQuote"]) + D(b["cumQuote"])) / D("0.040")
        assert D(pos["positionAmt"]) == D("0.040") and D(pos["entryPrice"]) == entry.quantize(D("1e-8"), "ROUND_DOWN")
        assert pos["leverage"] == "20" and pos["marginType"] == "cross"
        wallet0 = sim.exchange.account.wallet
        c = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.040")
        trades = await api.ok("GET", "/fapi/v1/userTrades", symbol="BTCUSDT", orderId=c["orderId"])
        rp = sum(D(t["realizedPnl"]) for t in trades)
        fee = sum(D(t["commission"]) for t in trades)
        assert rp == ((D(c["cumQuote"]) / D("0.040")) - entry) * D("0.040")
        assert sim.exchange.account.wallet == wallet0 + rp - fee
        assert D((await api.position())["positionAmt"]) == 0


async def test_one_way_flip_keeps_the_remainder_at_the_fill_price():
    async with running() as (sim, api, s):
        sim.paused = True
        await api.ok("POST", "/fapi/v1/order", symbol="ETHUSDT", side="BUY", type="MARKET", quantity="0.100")
        c = await api.ok("POST", "/fapi/v1/order", symbol="ETHUSDT", side="SELL", type="MARKET", quantity="0.300")
        pos = await api.position("ETHUSDT")
        assert D(pos["positionAmt"]) == D("-0.2")
        last = (await api.ok("GET", "/fapi/v1/userTrades", symbol="ETHUSDT", orderId=c["orderId"]))[-1]
        assert D(pos["entryPrice"]) == D(last["price"])


async def test_hedge_mode_positions_and_position_side_rules():
    async with running() as (sim, api, s):
        sim.paused = True
        assert (await api.ok("GET", "/fapi/v1/positionSide/dual"))["dualSidePosition"] is False
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="0.010", positionSide="LONG") == -4061
        assert (await api.ok("POST", "/fapi/v1/positionSide/dual", dualSidePosition="true"))["code"] == 200
        assert await api.code("POST", "/fapi/v1/positionSide/dual", dualSidePosition="true") == -4059
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="0.010") == -4061
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="0.010", positionSide="LONG", reduceOnly="true") == -1106
        await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.020",
                     positionSide="LONG")
        await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.010",
                     positionSide="SHORT")
        assert D((await api.position(side="LONG"))["positionAmt"]) == D("0.020")
        assert D((await api.position(side="SHORT"))["positionAmt"]) == D("-0.010")
        assert await api.code("POST", "/fapi/v1/positionSide/dual", dualSidePosition="false") == -4068
        # closing more than the LONG holds is refused; closing it exactly leaves SHORT alone
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET",
                              quantity="0.030", positionSide="LONG") == -2022
        await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.020",
                     positionSide="LONG")
        assert D((await api.position(side="LONG"))["positionAmt"]) == 0
        assert D((await api.position(side="SHORT"))["positionAmt"]) == D("-0.010")


async def test_reduce_only_rules():
    async with running() as (sim, api, s):
        sim.paused = True
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET",
                              quantity="0.010", reduceOnly="true") == -2022  # nothing to reduce
        await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="0.010", reduceOnly="true") == -2022  # same direction
        # a reduce-only order larger than the position trades only the position, the rest expires
        o = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.050",
                         reduceOnly="true")
        assert o["status"] == "EXPIRED" and D(o["executedQty"]) == D("0.010")
        assert D((await api.position())["positionAmt"]) == 0
        # below min notional is allowed only reduce-only
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                              timeInForce="GTC", quantity="0.001", price=far_bid(sim)) == -4164


async def test_order_rejections_with_futures_codes():
    async with running(wallet="1000") as (sim, api, s):
        sim.paused = True
        m = sim.exchange.markets["BTCUSDT"]
        ask = f"{m.px(m.best_ask()):f}"
        order = dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC")
        assert await api.code("POST", "/fapi/v1/order", **order, quantity="1.000", price=far_bid(sim)) == -2019
        assert await api.code("POST", "/fapi/v1/order", **{**order, "timeInForce": "GTX"}, quantity="0.010",
                              price=ask) == -5022
        assert await api.code("POST", "/fapi/v1/order", **order, quantity="0.010", price="60000.05") == -1111
        assert await api.code("POST", "/fapi/v1/order", **order, quantity="0.0101", price=far_bid(sim)) == -1111
        assert await api.code("POST", "/fapi/v1/order", **order, quantity="0.010",
                              price=f"{m.mark() * 2:.1f}") == -4016
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="STOP_MARKET",
                              stopPrice=f"{m.mark() - 100:.1f}", quantity="0.010") == -2021
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="STOP_MARKET",
                              stopPrice=f"{m.mark() - 100:.1f}", closePosition="true", quantity="0.010") == -1106
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                              quantity="0.010", price=far_bid(sim)) == -1102  # no timeInForce
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="UP", type="MARKET",
                              quantity="0.010") == -1117
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="ICEBERG",
                              quantity="0.010") == -1116
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="abc") == -1100
        assert await api.code("POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage=126) == -4028
        assert (await api.ok("POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage=125))["leverage"] == 125
        assert await api.code("POST", "/fapi/v1/marginType", symbol="BTCUSDT", marginType="CROSSED") == -4046


async def test_close_position_stop_market_triggers_on_the_mark():
    async with running() as (sim, api, s):
        sim.paused = True
        await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.020")
        m = sim.exchange.markets["BTCUSDT"]
        stop = m.mark() - 50
        o = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="STOP_MARKET",
                         stopPrice=f"{stop:.1f}", closePosition="true", workingType="MARK_PRICE")
        assert o["status"] == "NEW" and o["closePosition"] is True
        m.move_to(stop - 10)
        sim.exchange.step()
        q = await api.ok("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=o["orderId"])
        assert q["status"] == "FILLED" and q["origType"] == "STOP_MARKET" and D(q["executedQty"]) == D("0.020")
        assert D((await api.position())["positionAmt"]) == 0


async def test_isolated_margin_and_leverage_shape_the_position():
    async with running() as (sim, api, s):
        sim.paused = True
        await api.ok("POST", "/fapi/v1/marginType", symbol="ETHUSDT", marginType="ISOLATED")
        await api.ok("POST", "/fapi/v1/leverage", symbol="ETHUSDT", leverage=10)
        o = await api.ok("POST", "/fapi/v1/order", symbol="ETHUSDT", side="BUY", type="MARKET", quantity="1.000")
        pos = await api.position("ETHUSDT")
        assert pos["marginType"] == "isolated" and pos["leverage"] == "10"
        assert D(pos["isolatedWallet"]) == (D(o["cumQuote"]) / 10).quantize(D("1e-8"))
        assert D(pos["liquidationPrice"]) < D(pos["entryPrice"])
        assert await api.code("POST", "/fapi/v1/marginType", symbol="ETHUSDT", marginType="CROSSED") == -4048
        acct = await api.ok("GET", "/fapi/v3/account")
        assert D(acct["totalCrossWalletBalance"]) == D(acct["totalWalletBalance"]) - D(pos["isolatedWallet"])


async def test_batch_orders_answer_each_item():
    async with running() as (sim, api, s):
        import json
        good = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010",
                "price": far_bid(sim)}
        bad = {**good, "quantity": "0.001"}
        out = await api.ok("POST", "/fapi/v1/batchOrders", batchOrders=json.dumps([good, bad]))
        assert out[0]["status"] == "NEW" and out[1]["code"] == -4164
        gone = await api.ok("DELETE", "/fapi/v1/batchOrders", symbol="BTCUSDT",
                            orderIdList=json.dumps([out[0]["orderId"], 12345]))
        assert gone[0]["status"] == "CANCELED" and gone[1]["code"] == -2011
        assert await api.code("POST", "/fapi/v1/batchOrders", batchOrders=json.dumps([good] * 6)) == -1130


async def test_countdown_cancel_all_fires_and_zero_disarms():
    async with running() as (sim, api, s):
        btc = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                           quantity="0.010", price=far_bid(sim))
        eth = await api.ok("POST", "/fapi/v1/order", symbol="ETHUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                           quantity="0.100", price=far_bid(sim, "ETHUSDT"))
        r = await api.ok("POST", "/fapi/v1/countdownCancelAll", symbol="BTCUSDT", countdownTime=200)
        assert r == {"symbol": "BTCUSDT", "countdownTime": "200"}
        await api.ok("POST", "/fapi/v1/countdownCancelAll", symbol="BTCUSDT", countdownTime=0)  # disarmed
        await api.ok("POST", "/fapi/v1/countdownCancelAll", symbol="ETHUSDT", countdownTime=200)

        async def status(sym, oid):
            return (await api.ok("GET", "/fapi/v1/order", symbol=sym, orderId=oid))["status"]
        await wait_for(lambda: not sim.exchange.countdowns)
        assert await status("ETHUSDT", eth["orderId"]) == "CANCELED"
        assert await status("BTCUSDT", btc["orderId"]) == "NEW"
        # a heartbeat re-arms: the deadline moves on each call
        await api.ok("POST", "/fapi/v1/countdownCancelAll", symbol="BTCUSDT", countdownTime=60_000)
        first = sim.exchange.countdowns["BTCUSDT"][0]
        await api.ok("POST", "/fapi/v1/countdownCancelAll", symbol="BTCUSDT", countdownTime=120_000)
        assert sim.exchange.countdowns["BTCUSDT"][0] > first


async def test_rest_faults_429_418_1008_and_unknown_outcome():
    async with running() as (sim, api, s):
        sim.faults.rate_limit_429 = 1
        status, body = await api.call("GET", "/fapi/v1/time", signed=False)
        assert status == 429 and body["code"] == -1003
        sim.faults.rate_limit_429 = 1
        status, body = await api.call("GET", "/fapi/v1/time", signed=False)
        assert status == 418 and body["code"] == -1003
        sim.rest.weights.banned_until.clear()
        sim.paused = True
        sim.faults.throttle_1008 = 1
        assert await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET",
                              quantity="0.010") == -1008
        await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
        sim.faults.throttle_1008 = 1  # reduce-only orders are exempt
        await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="MARKET", quantity="0.010",
                     reduceOnly="true")
        assert sim.faults.throttle_1008 == 1
        sim.faults.throttle_1008 = 0
        sim.faults.order_5xx = 1
        status, body = await api.call("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT",
                                      timeInForce="GTC", quantity="0.010", price=far_bid(sim),
                                      newClientOrderId="unknown-1")
        assert status == 503 and body["code"] == -1007
        placed = await api.ok("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="unknown-1")
        assert placed["status"] == "NEW"


async def test_bad_input_gets_a_code_never_a_crash():
    async with running() as (sim, api, s):
        bad = [("DELETE", "/fapi/v1/batchOrders", dict(symbol="BTCUSDT", orderIdList="[1,")),
               ("POST", "/fapi/v1/batchOrders", dict(batchOrders="{}")),
               ("GET", "/fapi/v1/klines", dict(signed=False, symbol="BTCUSDT", interval="1m", limit="x")),
               ("GET", "/fapi/v1/klines", dict(signed=False, symbol="BTCUSDT", interval="7m")),
               ("POST", "/fapi/v1/leverage", dict(symbol="BTCUSDT", leverage="abc")),
               ("POST", "/fapi/v1/countdownCancelAll", dict(symbol="BTCUSDT", countdownTime="-1")),
               ("POST", "/fapi/v1/positionSide/dual", dict(dualSidePosition="maybe")),
               ("POST", "/fapi/v1/marginType", dict(symbol="BTCUSDT", marginType="HALF")),
               ("POST", "/fapi/v1/order", dict(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="NaN")),
               ("POST", "/fapi/v1/order", dict(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010",
                                               reduceOnly="perhaps")),
               ("POST", "/fapi/v1/order", dict(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                               quantity="0.010", price="-5")),
               ("GET", "/fapi/v1/userTrades", dict(symbol="BTCUSDT", fromId="x"))]
        for method, path, params in bad:
            status, body = await api.call(method, path, **params)
            assert 400 <= status < 500 and body["code"] < 0 and body["msg"], (path, params, status, body)
        async with Listener(s, f"{sim.ws_url}/public/ws") as c:
            await c.ws.send_str("{not json")
            await c.send({"method": "SUBSCRIBE", "params": "btcusdt@depth", "id": 9})
            await wait_for(lambda: len(c.msgs) == 2)
            assert c.msgs[0]["code"] == 3 and c.msgs[1]["code"] == 2 and not c.closed


def test_cli_serves_and_prints_its_urls():
    import json
    import subprocess
    import sys
    import urllib.request
    proc = subprocess.Popen([sys.executable, "-m", "engine.sim.binance_futures", "--funding-interval-s", "5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["exchange"] == "binance_futures" and info["public_ws_url"].endswith("/public")
        with urllib.request.urlopen(info["rest_url"] + "/fapi/v1/ping", timeout=10) as r:
            assert json.loads(r.read()) == {}
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0
    bad = subprocess.run([sys.executable, "-m", "engine.sim.binance_futures", "--funding-interval-s", "0"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and "--funding-interval-s" in bad.stderr
