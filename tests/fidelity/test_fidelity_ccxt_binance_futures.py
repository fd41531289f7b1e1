"""ccxt's async binanceusdm against the Binance USD-M futures simulator, every base URL pointed at it
(tests/fidelity/fidelity_env.py rewrite_urls); the only option changed is ccxt's documented ``fetchCurrencies``
(the currency list is a spot /sapi call the futures venue does not serve)."""
import asyncio
import contextlib

import pytest

ccxt_async = pytest.importorskip("ccxt.async_support", reason="the fidelity extra (ccxt) is not installed")

from engine.sim.binance_futures import BinanceFuturesSimulator  # noqa: E402
from fidelity_env import CALL_TIMEOUT, call, rewrite_urls  # noqa: E402
from helpers import wait_for  # noqa: E402


@contextlib.asynccontextmanager
async def client(**kw):
    async with BinanceFuturesSimulator(seed=1, **kw) as sim:
        ex = ccxt_async.binanceusdm({"apiKey": sim.api_key, "secret": sim.api_secret,
                                     "options": {"fetchCurrencies": False}})
        ex.urls["api"] = rewrite_urls(ex.urls["api"], sim)
        try:
            yield sim, ex
        finally:
            await asyncio.wait_for(ex.close(), CALL_TIMEOUT)


async def test_load_markets_and_order_book():
    async with client() as (sim, ex):
        markets = await call(ex.load_markets())
        m = markets["BTC/USDT:USDT"]
        assert m["id"] == "BTCUSDT" and m["swap"] and m["linear"] and m["settle"] == "USDT"
        assert m["precision"]["price"] == 0.1 and m["limits"]["cost"]["min"] == 100
        book = await call(ex.fetch_order_book("BTC/USDT:USDT", 5))
        assert len(book["bids"]) == len(book["asks"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
        assert book["nonce"] > 0  # the snapshot's lastUpdateId


async def test_create_order_and_fetch_positions():
    async with client() as (sim, ex):
        await call(ex.load_markets())
        sim.paused = True
        o = await call(ex.create_order("BTC/USDT:USDT", "market", "buy", 0.01))
        assert o["status"] == "closed" and o["filled"] == 0.01
        mark = float(sim.exchange.markets["BTCUSDT"].mark())
        rest = await call(ex.create_order("BTC/USDT:USDT", "limit", "buy", 0.01, round(mark * 0.96, 1)))
        assert rest["status"] == "open"
        positions = await call(ex.fetch_positions(["BTC/USDT:USDT"]))
        long = next(p for p in positions if p["contracts"])
        assert long["side"] == "long" and long["contracts"] == 0.01 and long["entryPrice"] > 0
        assert long["leverage"] == 20 and long["marginMode"] == "cross"
        await call(ex.cancel_order(rest["id"], "BTC/USDT:USDT"))
        assert await call(ex.fetch_open_orders("BTC/USDT:USDT")) == []


async def test_funding_and_balance_reads():
    async with client() as (sim, ex):
        await call(ex.load_markets())
        fr = await call(ex.fetch_funding_rate("BTC/USDT:USDT"))
        assert fr["fundingRate"] == 0.0001 and fr["markPrice"] > 0 and fr["fundingTimestamp"] > 0
        bal = await call(ex.fetch_balance())
        assert bal["USDT"]["total"] == 100000


async def test_account_settings_trades_and_funding_history():
    async with client(funding_interval_s=1.0) as (sim, ex):
        await call(ex.load_markets())
        sim.paused = True
        await call(ex.set_leverage(10, "BTC/USDT:USDT"))
        await call(ex.set_margin_mode("isolated", "BTC/USDT:USDT"))
        assert sim.exchange.account.leverage["BTCUSDT"] == 10
        assert sim.exchange.account.margin_type["BTCUSDT"] == "ISOLATED"
        await call(ex.set_position_mode(True))
        assert sim.exchange.account.dual
        o = await call(ex.create_order("BTC/USDT:USDT", "market", "buy", 0.01, params={"positionSide": "LONG"}))
        trades = await call(ex.fetch_my_trades("BTC/USDT:USDT"))
        assert [t["order"] for t in trades] == [o["id"]] and trades[0]["side"] == "buy"
        await wait_for(lambda: sim.exchange.funding_history["BTCUSDT"])  # one funding period of the simulator
        hist = await call(ex.fetch_funding_rate_history("BTC/USDT:USDT"))
        assert hist and hist[-1]["fundingRate"] == 0.0001


async def test_ccxt_pro_streams_on_the_split_routes():
    """ccxt.pro's binanceusdm opens the routed paths itself: its order book (``@depth``) on ``/public`` and its
    trades (``@aggTrade``, chosen with ccxt's ``watchTrades`` option) on ``/market``; the simulator serves each
    stream only on its route (docs/binance_futures.md, "Streams")."""
    pro = pytest.importorskip("ccxt.pro", reason="the fidelity extra (ccxt, which includes ccxt.pro) is not installed")
    async with BinanceFuturesSimulator(seed=1) as sim:
        ex = pro.binanceusdm({"options": {"fetchCurrencies": False, "watchTrades": {"name": "aggTrade"}}})
        ex.urls["api"] = rewrite_urls(ex.urls["api"], sim)
        try:
            await call(ex.load_markets())
            book = await call(ex.watch_order_book("BTC/USDT:USDT"))
            assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] > 0
            trades = await call(ex.watch_trades("BTC/USDT:USDT"))
            assert trades and trades[-1]["symbol"] == "BTC/USDT:USDT" and trades[-1]["price"] > 0
            routes = {s: c.route for c in sim.streams.conns for s in c.streams if "@" in s}
            depth = next(s for s in routes if "@depth" in s)
            assert routes["btcusdt@aggTrade"] == "market" and routes[depth] == "public"
        finally:
            await asyncio.wait_for(ex.close(), CALL_TIMEOUT)
