"""ccxt (async_support) and ccxt.pro's binance against the Binance simulator, every base URL pointed at it.

Besides the URLs, the client gets ccxt's documented spot-only options (no futures or margin markets, no currency
list: the simulator is a spot venue); `test_load_markets_with_default_options` shows what the defaults need.
"""
import asyncio
import contextlib

import pytest

ccxt_async = pytest.importorskip("ccxt.async_support", reason="the fidelity extra (ccxt) is not installed")
ccxt_pro = pytest.importorskip("ccxt.pro", reason="the fidelity extra (ccxt, which includes ccxt.pro) is not installed")

from engine.sim.binance import BinanceSimulator  # noqa: E402
from fidelity_env import CALL_TIMEOUT, call, lacks, rewrite_urls  # noqa: E402

SPOT_ONLY = {"fetchMarkets": {"types": ["spot"]}, "fetchMargins": False, "fetchCurrencies": False}
FAR_BID = 30000.0  # far below the simulated BTCUSDT market (~60000): a BUY there rests


@contextlib.asynccontextmanager
async def client(module=ccxt_async, options=SPOT_ONLY):
    """(simulator, ccxt binance on it); both closed on the way out."""
    async with BinanceSimulator(seed=1) as sim:
        ex = module.binance({"apiKey": sim.api_key, "secret": sim.api_secret, "options": dict(options)})
        ex.urls["api"] = rewrite_urls(ex.urls["api"], sim)
        try:
            yield sim, ex
        finally:
            await asyncio.wait_for(ex.close(), CALL_TIMEOUT)


async def test_market_data_reads():
    """load_markets, fetch_order_book, fetch_ticker, fetch_ohlcv, fetch_balance (one simulator, to keep it fast)."""
    async with client() as (sim, ex):
        markets = await call(ex.load_markets())
        assert {"BTC/USDT", "ETH/USDT"} <= set(markets)
        assert markets["BTC/USDT"]["id"] == "BTCUSDT" and markets["BTC/USDT"]["spot"]
        book = await call(ex.fetch_order_book("BTC/USDT", 5))
        assert len(book["bids"]) == len(book["asks"]) == 5 and book["bids"][0][0] < book["asks"][0][0]
        assert book["nonce"] > 0
        t = await call(ex.fetch_ticker("BTC/USDT"))
        assert t["symbol"] == "BTC/USDT" and t["bid"] < t["ask"] and t["last"] > 0
        bars = await call(ex.fetch_ohlcv("BTC/USDT", "1m", limit=5))
        assert len(bars) == 5 and all(b[0] % 60_000 == 0 and b[3] <= b[1] <= b[2] for b in bars)
        bal = await call(ex.fetch_balance())
        assert bal["USDT"]["free"] > 0 and "BTC" in bal


@lacks("the futures and margin surfaces ccxt's default load_markets reads: /fapi/v1/exchangeInfo, "
       "/dapi/v1/exchangeInfo, /sapi/v1/margin/allPairs, /sapi/v1/capital/config/getall (404)")
async def test_load_markets_with_default_options():
    async with client(options={}) as (sim, ex):
        await call(ex.load_markets())


async def test_fetch_tickers_all():
    async with client() as (sim, ex):
        tickers = await call(ex.fetch_tickers())
        assert {"BTC/USDT", "ETH/USDT"} <= set(tickers)


async def test_fetch_tickers_list():
    async with client() as (sim, ex):
        tickers = await call(ex.fetch_tickers(["BTC/USDT", "ETH/USDT"]))
        assert set(tickers) == {"BTC/USDT", "ETH/USDT"}


async def test_fetch_trades():
    async with client() as (sim, ex):
        assert isinstance(await call(ex.fetch_trades("BTC/USDT")), list)


async def test_orders():
    """create_order limit and market, fetch_order, fetch_open_orders, cancel_order, cancel_all_orders."""
    async with client() as (sim, ex):
        o = await call(ex.create_order("BTC/USDT", "limit", "buy", 0.001, FAR_BID))
        assert o["status"] == "open" and o["price"] == FAR_BID and o["amount"] == 0.001
        assert (await call(ex.fetch_order(o["id"], "BTC/USDT")))["status"] == "open"
        assert [x["id"] for x in await call(ex.fetch_open_orders("BTC/USDT"))] == [o["id"]]
        assert (await call(ex.cancel_order(o["id"], "BTC/USDT")))["status"] == "canceled"
        assert (await call(ex.fetch_order(o["id"], "BTC/USDT")))["status"] == "canceled"
        assert await call(ex.fetch_open_orders("BTC/USDT")) == []

        m = await call(ex.create_order("BTC/USDT", "market", "buy", 0.001))
        assert m["status"] == "closed" and m["filled"] == 0.001 and m["average"] > 0

        ids = {(await call(ex.create_order("BTC/USDT", "limit", "buy", 0.001, FAR_BID - i)))["id"] for i in range(2)}
        canceled = await call(ex.cancel_all_orders("BTC/USDT"))
        assert {x["id"] for x in canceled} == ids
        assert await call(ex.fetch_open_orders("BTC/USDT")) == []


# ccxt.pro: market streams over /ws/<n> + SUBSCRIBE, orders over the WS API
WATCH_TIMEOUT = 10.0  # a stream the simulator serves answers at its first event: generous costs nothing


async def watch(coro, timeout=WATCH_TIMEOUT):
    async with client(ccxt_pro) as (sim, ex):
        await call(ex.load_markets())
        return await call(coro(ex), timeout)


async def test_pro_watch_order_book():
    book = await watch(lambda ex: ex.watch_order_book("BTC/USDT"))
    assert book["bids"] and book["asks"]


async def test_pro_watch_trades():
    assert await watch(lambda ex: ex.watch_trades("BTC/USDT"))


async def test_pro_watch_ticker():
    assert (await watch(lambda ex: ex.watch_ticker("BTC/USDT")))["symbol"] == "BTC/USDT"


async def test_pro_watch_ohlcv():
    assert await watch(lambda ex: ex.watch_ohlcv("BTC/USDT", "1m"))


async def test_pro_create_order_ws():
    o = await watch(lambda ex: ex.create_order_ws("BTC/USDT", "limit", "buy", 0.001, FAR_BID))
    assert o["status"] == "open"
