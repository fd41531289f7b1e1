"""The USD-M futures connector against the futures simulator over real sockets (each test on asyncio and uvloop:
tests/conftest.py). Market data, the route watch, orders and the listenKey user stream."""
import contextlib
from decimal import Decimal

import pytest

from engine.connectors.binance_futures.client import BinanceFuturesConnector
from engine.connectors.binance_futures.streams import StreamSilentError
from engine.errors import InvalidRequestError, OrderRejectedError
from engine.models import OrderStatus
from engine.sim.binance_futures import BinanceFuturesSimulator
from tests.helpers import wait_for

D = Decimal


@contextlib.asynccontextmanager
async def futures(sim_kw=None, **conn_kw):
    async with BinanceFuturesSimulator(seed=3, **(sim_kw or {})) as sim:
        conn = BinanceFuturesConnector.for_simulator(sim, **conn_kw)
        await conn.connect()
        try:
            yield sim, conn
        finally:
            await conn.disconnect()


def sim_top(sim, symbol, n=20):
    m = sim.exchange.markets[symbol]
    f = lambda side: [(m.px(k), D(q)) for k, q in m.levels(side, n)]  # noqa: E731
    return f("b"), f("a")


def book_top(book, n=20):
    bids, asks = book.top_exact(n)
    return [(D(p), D(q)) for p, q in bids], [(D(p), D(q)) for p, q in asks]


# -- market data
async def test_book_on_public_route_equals_the_simulators():
    async with futures() as (sim, conn):
        feed = await conn.add_book("BTC-USDT")
        await conn.wait_streams()
        await wait_for(lambda: feed.book.synced and feed.health.messages >= 5)  # several pu links applied
        sim.paused = True
        m = sim.exchange.markets["BTCUSDT"]
        await wait_for(lambda: feed.book.last_update_id == m.last_u)
        assert book_top(feed.book) == sim_top(sim, "BTCUSDT")
        h = conn.health()["books"][0]
        assert h["gaps"] == 0 and h["symbol"] == "BTC-USDT" and conn.health()["stream_problems"] == []


async def test_a_dropped_diff_breaks_the_pu_chain_and_resyncs():
    async with futures() as (sim, conn):
        feed = await conn.add_book("BTCUSDT")
        await wait_for(lambda: feed.book.synced and feed.health.messages >= 2)
        sim.faults.drop_diffs = 1
        await wait_for(lambda: feed.health.gaps >= 1)
        await wait_for(lambda: feed.book.synced)
        sim.paused = True
        await wait_for(lambda: feed.book.last_update_id == sim.exchange.markets["BTCUSDT"].last_u)
        assert book_top(feed.book) == sim_top(sim, "BTCUSDT")


async def test_a_stream_on_the_wrong_route_is_reported_not_waited_on():
    async with futures(routes={"aggTrade": "public"}, first_data_deadline_s=1.0) as (sim, conn):
        await conn.add_trades("BTCUSDT", lambda t: None)
        with pytest.raises(StreamSilentError, match=r"btcusdt@aggTrade \(route /public\)"):
            await conn.wait_streams()
        assert any("btcusdt@aggTrade" in p for p in conn.health()["stream_problems"])


async def test_trades_marks_and_book_ticker_arrive_on_their_routes():
    async with futures(first_data_deadline_s=5.0) as (sim, conn):
        trades, marks, tickers, klines = [], [], [], []
        await conn.add_trades("BTCUSDT", trades.append)
        await conn.subscribe("BTCUSDT", "markPrice", marks.append, "@1s")
        await conn.subscribe("BTCUSDT", "bookTicker", tickers.append)
        await conn.subscribe("BTCUSDT", "kline", klines.append, "_1m")
        await conn.wait_streams()
        assert trades[0].symbol == "BTC-USDT" and trades[0].price_str
        assert marks[0]["e"] == "markPriceUpdate" and tickers[0]["e"] == "bookTicker" and klines[0]["e"] == "kline"
        assert conn.health()["stream_problems"] == []


async def test_rest_market_data_and_futures_filters():
    async with futures() as (sim, conn):
        rules = conn.rules["BTCUSDT"]
        assert rules.min_notional == D("100") and rules.tick_size == D("0.10")  # MIN_NOTIONAL's "notional"
        prem = await conn.get_premium_index("BTCUSDT")
        assert prem["mark_price"] == sim.exchange.markets["BTCUSDT"].mark()
        assert prem["funding_rate"] == sim.exchange.markets["BTCUSDT"].funding_rate
        candles = await conn.get_candlesticks("BTCUSDT", "1m", limit=5)
        assert len(candles) == 5 and isinstance(candles[0].close, Decimal)
        bt = await conn.get_book_ticker("BTCUSDT")
        assert bt["bid"] < bt["ask"]
        snap = await conn.get_orderbook("BTCUSDT", limit=5)
        assert len(snap.bids) == 5
        with pytest.raises(OrderRejectedError, match="minNotional"):  # checked locally, nothing sent
            await conn.create_order("BTCUSDT", "buy", "limit", "0.001", "30000")
