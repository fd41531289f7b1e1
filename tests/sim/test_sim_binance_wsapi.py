"""The Binance simulator's WS API (/ws-api/v3) over a real WebSocket: every method, its weight, its errors."""
import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import time

import aiohttp
import pytest

from engine.sim.binance import BinanceSimulator
from helpers import wait_for

FAR_BID = "30000.00"  # far below the simulated BTCUSDT market (~60000): a BUY there rests


class Api:
    """A minimal WS API client: one request at a time, user-data events kept aside."""

    def __init__(self, ws, sim):
        self.ws, self.sim = ws, sim
        self.ids = itertools.count(1)
        self.events: list = []

    async def call(self, method, params=None, *, sign=None, key=None) -> dict:
        params = dict(params or {})
        if sign is not None:
            params.setdefault("apiKey", key or self.sim.api_key)
            params.setdefault("timestamp", int(time.time() * 1000))
            payload = "&".join(f"{k}={json.dumps(v) if isinstance(v, bool) else v}"
                               for k, v in sorted(params.items())).encode()  # true/false as sent in JSON
            params["signature"] = sign(payload)
        rid = next(self.ids)
        await self.ws.send_str(json.dumps({"id": rid, "method": method, "params": params}))
        while True:
            msg = json.loads((await self.ws.receive(timeout=20)).data)
            if "subscriptionId" in msg and "event" in msg:
                self.events.append(msg)
                continue
            assert msg["id"] == rid
            return msg

    def hmac(self, payload: bytes) -> str:
        return hmac.new(self.sim.api_secret.encode(), payload, hashlib.sha256).hexdigest()

    async def signed(self, method, params=None, **kw) -> dict:
        return await self.call(method, params, sign=self.hmac, **kw)


class Conn:
    def __init__(self, **sim_kw):
        self.sim_kw = sim_kw

    async def __aenter__(self):
        self.sim = await BinanceSimulator(**self.sim_kw).start()
        self.http = aiohttp.ClientSession()
        self.ws = await self.http.ws_connect(self.sim.ws_api_url)
        return Api(self.ws, self.sim)

    async def __aexit__(self, *exc):
        await self.ws.close()
        await self.http.close()
        await self.sim.stop()


def weight_of(answer) -> int:
    return next(r["count"] for r in answer["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT")


def limit_order(**kw) -> dict:
    p = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.00100",
         "price": FAR_BID}
    p.update(kw)
    return p


def error_of(answer) -> tuple:
    assert "result" not in answer
    return answer["status"], answer["error"]["code"]


async def test_market_data_methods_answer_rest_shapes():
    async with Conn(seed=3) as api:
        m = api.sim.exchange.markets["BTCUSDT"]
        await wait_for(lambda: len(m.trades) >= 3, timeout=30)
        d = await api.call("depth", {"symbol": "BTCUSDT", "limit": 5})
        assert len(d["result"]["bids"]) == 5 and d["result"]["lastUpdateId"] > 0
        assert d["result"]["bids"][0][0] < d["result"]["asks"][0][0]
        tr = (await api.call("trades.recent", {"symbol": "BTCUSDT", "limit": 2}))["result"]
        assert len(tr) == 2 and {"id", "price", "qty", "quoteQty", "time", "isBuyerMaker"} <= set(tr[0])
        agg = (await api.call("trades.aggregate", {"symbol": "BTCUSDT", "limit": 3}))["result"]
        assert len(agg) == 3 and agg[0]["a"] < agg[-1]["a"] and {"p", "q", "f", "l", "T", "m"} <= set(agg[0])
        later = (await api.call("trades.aggregate", {"symbol": "BTCUSDT", "fromId": agg[-1]["a"]}))["result"]
        assert later[0]["a"] == agg[-1]["a"]
        kl = (await api.call("klines", {"symbol": "BTCUSDT", "interval": "1m", "limit": 3}))["result"]
        assert len(kl) == 3 and len(kl[0]) == 12
        px = (await api.call("ticker.price", {"symbol": "ETHUSDT"}))["result"]
        assert px["symbol"] == "ETHUSDT" and float(px["price"]) > 0
        two = (await api.call("ticker.price", {"symbols": ["BTCUSDT", "SOLUSDT"]}))["result"]
        assert [t["symbol"] for t in two] == ["BTCUSDT", "SOLUSDT"]
        book = (await api.call("ticker.book", {"symbol": "BTCUSDT"}))["result"]
        assert float(book["bidPrice"]) < float(book["askPrice"])
        day = (await api.call("ticker.24hr", {"symbol": "BTCUSDT"}))["result"]
        assert day["symbol"] == "BTCUSDT" and day["count"] >= 3
        assert float((await api.call("avgPrice", {"symbol": "BTCUSDT"}))["result"]["price"]) > 0
        info = (await api.call("exchangeInfo", {"symbol": "ETHUSDT"}))["result"]
        assert [s["symbol"] for s in info["symbols"]] == ["ETHUSDT"]
        assert info["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        assert error_of(await api.call("depth", {"symbol": "NOPEUSDT"})) == (400, -1121)
        assert error_of(await api.call("ticker.price", {"symbols": ["BTCUSDT", "NOPEUSDT"]})) == (400, -1121)
        assert error_of(await api.call("klines", {"symbol": "BTCUSDT", "interval": "7m"})) == (400, -1120)
        assert error_of(await api.call("depth", {})) == (400, -1102)
        assert error_of(await api.call("no.such.method")) == (400, -1100)
        assert (await api.call("v3/time"))["status"] == 200  # a method may carry its version prefix


async def test_every_answer_counts_the_request_weight_like_rest():
    async with Conn(seed=3) as api:
        before = weight_of(await api.call("ping"))
        expected = [("depth", {"symbol": "BTCUSDT", "limit": 1000}, 50), ("depth", {"symbol": "BTCUSDT"}, 5),
                    ("exchangeInfo", {}, 20), ("klines", {"symbol": "BTCUSDT", "interval": "1m"}, 2),
                    ("trades.recent", {"symbol": "BTCUSDT"}, 25), ("trades.aggregate", {"symbol": "BTCUSDT"}, 4),
                    ("ticker.price", {}, 4), ("time", {}, 1)]
        for method, params, weight in expected:
            a = await api.call(method, params)
            assert weight_of(a) - before == weight, method
            before = weight_of(a)
        a = await api.signed("account.status")
        assert weight_of(a) - before == 20 and "balances" in a["result"]
        before = weight_of(a)
        a = await api.signed("openOrders.status")  # all symbols
        assert weight_of(a) - before == 80
        failed = await api.call("depth", {"symbol": "NOPEUSDT", "limit": 500})
        assert weight_of(failed) - weight_of(a) == 25  # an error answer carries (and costs) its weight too
        quiet = await api.call("time", {"returnRateLimits": False})
        assert "rateLimits" not in quiet and "serverTime" in quiet["result"]


async def test_weight_over_the_limit_is_429_minus_1003_with_retry_after():
    async with Conn(seed=3) as api:
        api.sim.wsapi.weights.limit = 30
        answers = [await api.call("exchangeInfo") for _ in range(3)]  # 20 each: the 2nd (3rd across a minute) is over
        statuses = [a["status"] for a in answers]
        assert statuses[0] == 200 and 429 in statuses
        refused = answers[statuses.index(429)]
        assert error_of(refused) == (429, -1003) and refused["error"]["data"]["retryAfter"] > time.time() * 1000


async def test_order_lifecycle_and_its_errors():
    async with Conn(seed=5) as api:
        placed = await api.signed("order.place", limit_order(newClientOrderId="ws-1"))
        o = placed["result"]
        assert placed["status"] == 200 and o["status"] == "NEW" and o["clientOrderId"] == "ws-1"
        orders = {r["interval"]: r for r in placed["rateLimits"] if r["rateLimitType"] == "ORDERS"}
        assert orders["SECOND"]["count"] == 1 and orders["DAY"]["count"] == 1
        st = (await api.signed("order.status", {"symbol": "BTCUSDT", "origClientOrderId": "ws-1"}))["result"]
        assert st["orderId"] == o["orderId"] and st["status"] == "NEW" and "isWorking" in st
        opened = (await api.signed("openOrders.status", {"symbol": "BTCUSDT"}))["result"]
        assert [x["orderId"] for x in opened] == [o["orderId"]]
        canceled = (await api.signed("order.cancel", {"symbol": "BTCUSDT", "orderId": o["orderId"]}))["result"]
        assert canceled["status"] == "CANCELED" and canceled["origClientOrderId"] == "ws-1"
        assert api.sim.exchange.orders[o["orderId"]].status == "CANCELED"
        assert error_of(await api.signed("order.cancel", {"symbol": "BTCUSDT", "orderId": o["orderId"]})) == \
            (400, -2011)
        assert error_of(await api.signed("order.status", {"symbol": "BTCUSDT", "orderId": 999999})) == (400, -2013)
        assert error_of(await api.signed("order.place", limit_order(symbol="NOPEUSDT"))) == (400, -1121)
        no_qty = limit_order()
        del no_qty["quantity"]
        assert error_of(await api.signed("order.place", no_qty)) == (400, -1102)
        assert error_of(await api.signed("order.status", {"symbol": "BTCUSDT"})) == (400, -1102)
        every = (await api.signed("allOrders", {"symbol": "BTCUSDT"}))["result"]
        assert [x["orderId"] for x in every] == [o["orderId"]] and every[0]["status"] == "CANCELED"


async def test_signature_key_and_timestamp_errors():
    async with Conn(seed=5) as api:
        bad = await api.call("order.place", limit_order(), sign=lambda p: api.hmac(p)[:-1] + "0"
                             if api.hmac(p)[-1] != "0" else api.hmac(p)[:-1] + "1")
        assert error_of(bad) == (400, -1022)
        assert error_of(await api.call("account.status", {"timestamp": int(time.time() * 1000)})) == (401, -2014)
        assert error_of(await api.signed("account.status", key="Unknownkey123")) == (401, -2015)
        stale = await api.signed("account.status", {"timestamp": int(time.time() * 1000) - 60_000})
        assert error_of(stale) == (400, -1021)
        ahead = await api.signed("account.status", {"timestamp": int(time.time() * 1000) + 60_000})
        assert error_of(ahead) == (400, -1021) and "ahead" in ahead["error"]["msg"]
        assert not api.sim.exchange.orders  # nothing refused was placed


async def test_order_test_validates_without_placing():
    async with Conn(seed=5) as api:
        ok = await api.signed("order.test", limit_order())
        assert ok["status"] == 200 and ok["result"] == {} and not api.sim.exchange.orders
        off_tick = await api.signed("order.test", limit_order(price="30000.005"))
        assert error_of(off_tick) == (400, -1013)
        rates = await api.signed("order.test", dict(limit_order(), computeCommissionRates=True))
        assert rates["result"]["standardCommissionForOrder"]["taker"] == "0.00100000"
        assert weight_of(rates) - weight_of(off_tick) == 20


async def test_cancel_replace_outcomes():
    async with Conn(seed=6) as api:
        first = (await api.signed("order.place", limit_order()))["result"]
        both = await api.signed("order.cancelReplace", dict(limit_order(price="31000.00"),
                                                             cancelReplaceMode="STOP_ON_FAILURE",
                                                             cancelOrderId=first["orderId"]))
        r = both["result"]
        assert r["cancelResult"] == r["newOrderResult"] == "SUCCESS"
        assert r["cancelResponse"]["status"] == "CANCELED" and r["newOrderResponse"]["price"] == "31000.00000000"
        assert [o.order_id for o in api.sim.exchange.open_orders()] == [r["newOrderResponse"]["orderId"]]
        stop = await api.signed("order.cancelReplace", dict(limit_order(), cancelReplaceMode="STOP_ON_FAILURE",
                                                             cancelOrderId=999999))
        assert error_of(stop) == (400, -2022)
        assert stop["error"]["data"]["cancelResult"] == "FAILURE"
        assert stop["error"]["data"]["newOrderResult"] == "NOT_ATTEMPTED"
        assert stop["error"]["data"]["cancelResponse"]["code"] == -2011
        assert len(api.sim.exchange.open_orders()) == 1
        allow = await api.signed("order.cancelReplace", dict(limit_order(), cancelReplaceMode="ALLOW_FAILURE",
                                                              cancelOrderId=999999))
        assert error_of(allow) == (409, -2021) and allow["error"]["data"]["newOrderResult"] == "SUCCESS"
        assert len(api.sim.exchange.open_orders()) == 2
        keep = api.sim.exchange.open_orders()[0].order_id
        broke = await api.signed("order.cancelReplace", dict(limit_order(quantity="50.00000"),  # > the USDT held
                                                              cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=keep))
        assert error_of(broke) == (409, -2021)
        assert broke["error"]["data"]["cancelResult"] == "SUCCESS"
        assert broke["error"]["data"]["newOrderResponse"]["code"] == -2010
        assert api.sim.exchange.orders[keep].status == "CANCELED"
        filtered = await api.signed("order.cancelReplace", dict(limit_order(price="1.001"),
                                                                 cancelReplaceMode="STOP_ON_FAILURE",
                                                                 cancelOrderId=api.sim.exchange.open_orders()[0].order_id))
        assert error_of(filtered) == (400, -1013) and len(api.sim.exchange.open_orders()) == 1  # nothing canceled


async def test_cancel_all_my_trades_and_order_counts():
    async with Conn(seed=7) as api:
        for _ in range(2):
            await api.signed("order.place", limit_order())
        gone = (await api.signed("openOrders.cancelAll", {"symbol": "BTCUSDT"}))["result"]
        assert [x["status"] for x in gone] == ["CANCELED", "CANCELED"] and not api.sim.exchange.open_orders()
        assert error_of(await api.signed("openOrders.cancelAll", {"symbol": "BTCUSDT"})) == (400, -2011)
        market = (await api.signed("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                   "quantity": "0.00100"}))["result"]
        assert market["status"] == "FILLED" and market["fills"]
        mine = (await api.signed("myTrades", {"symbol": "BTCUSDT", "orderId": market["orderId"]}))["result"]
        assert mine and all(t["orderId"] == market["orderId"] and t["isBuyer"] for t in mine)
        counts = (await api.signed("account.rateLimits.orders"))["result"]
        counts = {(c["interval"], c["intervalNum"]): c["count"] for c in counts}
        # three orders counted, the market order's first fill took one off again (the 10 s window may turn)
        assert counts[("DAY", 1)] == 2 and 0 <= counts[("SECOND", 10)] <= 2
        acct = (await api.signed("account.status", {"omitZeroBalances": True}))["result"]
        assert {b["asset"] for b in acct["balances"]} >= {"BTC", "USDT"}


def test_the_simulators_ed25519_verifier_on_the_rfc8032_vector():
    from engine.sim.binance import ed25519
    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")  # RFC 8032 7.1 TEST 1
    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    sig = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
                        "1cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert ed25519.public_key(seed) == public and ed25519.verify(public, b"", sig)
    assert not ed25519.verify(public, b"x", sig)
    assert not ed25519.verify(public, b"", sig[:32] + (int.from_bytes(sig[32:], "little") + ed25519.L)
                              .to_bytes(32, "little"))  # S + L: the same point, refused as non-canonical


eddsa = pytest.importorskip("Crypto.Signature.eddsa", reason="pycryptodome (python-binance's dependency) signs "
                                                               "the Ed25519 requests here")


def ed25519_key(sim, name="simEd25519key"):
    from Crypto.PublicKey import ECC
    key = ECC.generate(curve="ed25519")
    sim.wsapi.add_ed25519_key(name, key.public_key().export_key(format="raw"))
    signer = eddsa.new(key, "rfc8032")
    return name, key, (lambda payload: base64.b64encode(signer.sign(payload)).decode())


async def test_ed25519_per_request_signatures_and_bad_ones():
    async with Conn(seed=8) as api:
        name, _, sign = ed25519_key(api.sim)
        ok = await api.call("account.status", sign=sign, key=name)
        assert ok["status"] == 200 and "balances" in ok["result"]
        _, _, other = ed25519_key(api.sim, "simOtherkey")
        assert error_of(await api.call("account.status", sign=other, key=name)) == (400, -1022)


async def test_session_logon_then_signed_methods_need_no_signature():
    async with Conn(seed=8) as api:
        name, _, sign = ed25519_key(api.sim)
        assert (await api.call("session.status"))["result"]["apiKey"] is None
        assert error_of(await api.call("order.place", dict(limit_order(), timestamp=int(time.time() * 1000)))) \
            == (401, -2014)
        assert error_of(await api.signed("session.logon")) == (401, -1002)  # HMAC keys cannot log on
        logon = await api.call("session.logon", sign=sign, key=name)
        assert logon["status"] == 200 and logon["result"]["apiKey"] == name and logon["result"]["authorizedSince"]
        assert (await api.call("session.status"))["result"]["apiKey"] == name
        sub = (await api.call("userDataStream.subscribe"))["result"]["subscriptionId"]
        placed = await api.call("order.place", dict(limit_order(), timestamp=int(time.time() * 1000)))
        assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
        await wait_for(lambda: any(e["event"].get("e") == "executionReport" for e in api.events))
        assert api.events[0]["subscriptionId"] == sub
        assert (await api.signed("account.status"))["status"] == 200  # HMAC per-request signatures still work
        stale = await api.call("account.status", {"timestamp": int(time.time() * 1000) - 60_000})
        assert error_of(stale) == (400, -1021)  # the timestamp is still checked after logon
        out = await api.call("session.logout")
        assert out["result"]["apiKey"] is None
        await wait_for(lambda: any(e["event"].get("e") == "eventStreamTerminated" for e in api.events))
        assert error_of(await api.call("order.place", dict(limit_order(), timestamp=int(time.time() * 1000)))) \
            == (401, -2014)


async def test_python_binance_ws_api_calls_work_unchanged():
    binance = pytest.importorskip("binance", reason="python-binance (test extra) not installed")
    from Crypto.PublicKey import ECC
    async with BinanceSimulator(seed=9) as sim:
        clients = []
        c = binance.AsyncClient(sim.api_key, sim.api_secret)
        key = ECC.generate(curve="ed25519")
        sim.wsapi.add_ed25519_key("simPyBinanceEd", key.public_key().export_key(format="raw"))
        ed = binance.AsyncClient("simPyBinanceEd", private_key=key.export_key(format="PEM"))
        for client in (c, ed):
            # configuration only: python-binance derives the WS API URL from tld/testnet/demo and has no
            # parameter for it, so the URL attribute of its WS API connection is set; its code is untouched
            client.ws_api._url = sim.ws_api_url
            clients.append(client)
        try:
            book = await c.ws_get_order_book(symbol="BTCUSDT", limit=5)
            assert len(book["bids"]) == 5
            o = await c.ws_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                        quantity="0.00100", price=FAR_BID)
            assert o["status"] == "NEW"
            got = await c.ws_get_order(symbol="BTCUSDT", orderId=o["orderId"])
            assert got["orderId"] == o["orderId"]
            assert (await c.ws_cancel_order(symbol="BTCUSDT", orderId=o["orderId"]))["status"] == "CANCELED"
            assert "balances" in await c.ws_get_account()
            assert await c.ws_ping() == {} and (await c.ws_get_time())["serverTime"] > 0
            assert [s["symbol"] for s in (await c.ws_get_exchange_info(symbol="ETHUSDT"))["symbols"]] == ["ETHUSDT"]
            await wait_for(lambda: len(sim.exchange.markets["BTCUSDT"].trades) >= 2, timeout=30)
            assert len(await c.ws_get_recent_trades(symbol="BTCUSDT", limit=2)) == 2
            assert len(await c.ws_get_aggregate_trades(symbol="BTCUSDT", limit=2)) == 2
            assert len(await c.ws_get_klines(symbol="BTCUSDT", interval="1m", limit=2)) == 2
            assert (await c.ws_get_symbol_ticker(symbol="BTCUSDT"))["symbol"] == "BTCUSDT"
            assert float((await c.ws_get_orderbook_ticker(symbol="BTCUSDT"))["bidPrice"]) > 0
            assert (await c.ws_get_ticker(symbol="BTCUSDT"))["symbol"] == "BTCUSDT"
            assert float((await c.ws_get_avg_price(symbol="BTCUSDT"))["price"]) > 0
            assert await c.ws_create_test_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                quantity="0.00100", price=FAR_BID) == {}
            rest = await c.ws_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                           quantity="0.00100", price=FAR_BID)
            swap = await c.ws_cancel_and_replace_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                                       quantity="0.00100", price="31000.00",
                                                       cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=rest["orderId"])
            assert swap["cancelResult"] == swap["newOrderResult"] == "SUCCESS"
            assert [x["orderId"] for x in await c.ws_get_open_orders(symbol="BTCUSDT")] == \
                [swap["newOrderResponse"]["orderId"]]
            assert [x["status"] for x in await c.ws_cancel_all_open_orders(symbol="BTCUSDT")] == ["CANCELED"]
            assert len(await c.ws_get_all_orders(symbol="BTCUSDT")) == 3
            assert await c.ws_get_my_trades(symbol="BTCUSDT") == []
            assert {r["interval"] for r in await c.ws_get_account_rate_limits_orders()} == {"SECOND", "DAY"}
            o2 = await ed.ws_create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                          quantity="0.00100", price=FAR_BID)  # signed with Ed25519
            assert o2["status"] == "NEW" and sim.exchange.orders[o2["orderId"]].status == "NEW"
            with pytest.raises(binance.exceptions.BinanceAPIException) as e:
                await c.ws_get_order(symbol="BTCUSDT", orderId=123456789)
            assert e.value.code == -2013
        finally:  # python-binance's close waits out its reader's 10 s receive timeout: close both at once
            await asyncio.gather(*(client.close_connection() for client in clients))
