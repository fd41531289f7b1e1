"""The Binance simulator's REST surface beyond the connector's needs, as public clients call it: recent and
aggregate trades, tickers for every symbol or a symbols=[...] list, exchangeInfo of some symbols, allOrders
and order/test; each with the venue's weights."""
import hashlib
import hmac
import json
import time
import urllib.parse

import aiohttp

from engine.sim.binance import BinanceSimulator

from helpers import wait_for


def signed(sim, query: str) -> str:
    q = f"{query}&timestamp={int(time.time() * 1000)}" if query else f"timestamp={int(time.time() * 1000)}"
    return q + "&signature=" + hmac.new(sim.api_secret.encode(), q.encode(), hashlib.sha256).hexdigest()


async def get(s, url):
    async with s.get(url) as r:
        return r.status, await r.json(), int(r.headers["X-MBX-USED-WEIGHT-1M"])


async def test_recent_and_aggregate_trades_follow_the_simulated_market():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        await wait_for(lambda: len(sim.exchange.markets["BTCUSDT"].trades) >= 3, timeout=30)
        st, trades, w0 = await get(s, sim.rest_url + "/api/v3/trades?symbol=BTCUSDT&limit=2")
        assert st == 200 and len(trades) == 2 and {"id", "price", "qty", "time", "isBuyerMaker"} <= set(trades[0])
        st, agg, w1 = await get(s, sim.rest_url + "/api/v3/aggTrades?symbol=BTCUSDT")
        assert st == 200 and agg and {"a", "p", "q", "f", "l", "T", "m"} <= set(agg[0])
        assert [a["a"] for a in agg] == sorted(a["a"] for a in agg)
        st, since, _ = await get(s, sim.rest_url + f"/api/v3/aggTrades?symbol=BTCUSDT&fromId={agg[-1]['a']}")
        assert st == 200 and since[0]["a"] == agg[-1]["a"]
        assert w1 - w0 == 4  # aggTrades weighs 4 (trades weighs 25)
        st, err, _ = await get(s, sim.rest_url + "/api/v3/trades?symbol=NOPE")
        assert st == 400 and err["code"] == -1121


async def test_tickers_for_every_symbol_or_a_list_and_exchange_info_of_some():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        every = sorted(sim.exchange.markets)
        for path in ("/api/v3/ticker/price", "/api/v3/ticker/bookTicker", "/api/v3/ticker/24hr"):
            st, rows, _ = await get(s, sim.rest_url + path)
            assert st == 200 and sorted(r["symbol"] for r in rows) == every, path
            q = urllib.parse.quote(json.dumps(every[:1], separators=(",", ":")))
            st, rows, _ = await get(s, sim.rest_url + f"{path}?symbols={q}")
            assert st == 200 and [r["symbol"] for r in rows] == every[:1], path
            st, one, _ = await get(s, sim.rest_url + f"{path}?symbol={every[0]}")
            assert st == 200 and one["symbol"] == every[0], path  # one symbol: an object, not a list
        q = urllib.parse.quote('["BTCUSDT","NOPE"]')
        st, err, _ = await get(s, sim.rest_url + f"/api/v3/ticker/price?symbols={q}")
        assert st == 400 and err["code"] == -1121
        st, info, _ = await get(s, sim.rest_url + "/api/v3/exchangeInfo?symbol=BTCUSDT")
        assert st == 200 and [x["symbol"] for x in info["symbols"]] == ["BTCUSDT"]
        st, err, _ = await get(s, sim.rest_url + "/api/v3/exchangeInfo?symbols=notjson")
        assert st == 400 and err["code"] == -1100


async def test_all_orders_and_order_test_are_signed_and_order_test_places_nothing():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession(headers={"X-MBX-APIKEY": sim.api_key}) as s:
        order = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=0.001&price=30000"
        async with s.post(sim.rest_url + "/api/v3/order/test?" + signed(sim, order)) as r:
            assert r.status == 200 and await r.json() == {}
        assert not sim.exchange.open_orders("BTCUSDT")  # a test order is checked, never placed
        async with s.post(sim.rest_url + "/api/v3/order/test?" + signed(sim, order.replace("0.001", "0"))) as r:
            assert r.status == 400  # checked as a real order would be
        async with s.post(sim.rest_url + "/api/v3/order?" + signed(sim, order)) as r:
            placed = await r.json()
        async with s.delete(sim.rest_url + "/api/v3/order?" + signed(sim, f"symbol=BTCUSDT&orderId={placed['orderId']}")):
            pass
        st, rows, _ = await get(s, sim.rest_url + "/api/v3/allOrders?" + signed(sim, "symbol=BTCUSDT"))
        assert st == 200 and [(o["orderId"], o["status"]) for o in rows] == [(placed["orderId"], "CANCELED")]
        st, err, _ = await get(s, sim.rest_url + "/api/v3/allOrders?symbol=BTCUSDT")  # unsigned
        assert st == 400 and err["code"] == -1102


