"""The USD-M futures connector against the futures simulator over real sockets (each test on asyncio and uvloop:
tests/conftest.py). Market data, the route watch, orders and the listenKey user stream."""
import asyncio
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
            await asyncio.wait_for(conn.wait_streams(), 10)
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


# -- account and orders
async def test_order_lifecycle_positions_leverage_and_margin_type():
    async with futures() as (sim, conn):
        assert await conn.set_leverage("BTCUSDT", 10) == 10 and sim.exchange.account.leverage["BTCUSDT"] == 10
        await conn.set_margin_type("BTCUSDT", "ISOLATED")
        await conn.set_margin_type("BTCUSDT", "ISOLATED")  # already so (-4046): not an error
        assert sim.exchange.account.margin_type["BTCUSDT"] == "ISOLATED"
        bal = await conn.get_account()
        assert bal["USDT"].free == D("100000")
        resting = await conn.create_order("BTCUSDT", "buy", "limit", "0.01", "58000.07", client_order_id="rest-1")
        assert resting.status is OrderStatus.OPEN and resting.price == D("58000.0")  # quantized down for a buy
        stop = await conn.create_order("BTCUSDT", "sell", "stop_market", "0.01", stop_price="50000")
        assert stop.status is OrderStatus.OPEN
        assert {o.client_order_id for o in await conn.get_open_orders("BTCUSDT")} == {"rest-1", stop.client_order_id}
        got = await conn.get_order("BTCUSDT", client_order_id="rest-1")
        assert got.order_id == resting.order_id
        canceled = await conn.cancel_order("BTCUSDT", client_order_id="rest-1")
        assert canceled.status is OrderStatus.CANCELED
        assert await conn.get_order("BTCUSDT", client_order_id="nope") is None
        filled = await conn.create_order("BTCUSDT", "buy", "market", "0.01")
        assert filled.status is OrderStatus.FILLED and filled.filled_quantity == D("0.010")
        [pos] = await conn.get_positions("BTCUSDT")
        assert pos["amount"] == D("0.010") and pos["leverage"] == 10 and pos["margin_type"].upper() == "ISOLATED"
        assert pos["symbol"] == "BTC-USDT" and pos["position_side"] == "BOTH"
        assert [o.order_id for o in await conn.cancel_all_orders("BTCUSDT")] == [stop.order_id]
        assert await conn.get_open_orders("BTCUSDT") == []


async def test_reduce_only_without_a_position_is_refused_with_2022():
    async with futures() as (sim, conn):
        with pytest.raises(OrderRejectedError) as e:
            await conn.create_order("BTCUSDT", "sell", "market", "0.001", reduce_only=True)
        assert e.value.code == -2022
        await conn.create_order("BTCUSDT", "buy", "market", "0.002")
        closed = await conn.create_order("BTCUSDT", "sell", "market", "0.001", reduce_only=True)  # below min notional
        assert closed.status is OrderStatus.FILLED
        assert (await conn.get_positions("BTCUSDT"))[0]["amount"] == D("0.001")


async def test_post_only_that_would_take_is_refused_with_5022():
    async with futures() as (sim, conn):
        ask = sim.exchange.markets["BTCUSDT"].px(sim.exchange.markets["BTCUSDT"].best_ask())
        with pytest.raises(OrderRejectedError) as e:
            await conn.create_order("BTCUSDT", "buy", "limit", "0.01", ask, time_in_force="POST_ONLY")
        assert e.value.code == -5022


async def test_hedge_mode_needs_position_side():
    async with futures() as (sim, conn):
        await conn.set_position_mode(True)
        await conn.set_position_mode(True)  # already so (-4059): not an error
        assert await conn.get_position_mode() is True
        with pytest.raises(OrderRejectedError) as e:
            await conn.create_order("BTCUSDT", "buy", "market", "0.01")  # BOTH in hedge mode
        assert e.value.code == -4061
        await conn.create_order("BTCUSDT", "buy", "market", "0.01", position_side="LONG")
        await conn.create_order("BTCUSDT", "sell", "market", "0.01", position_side="SHORT")
        sides = {(p["position_side"], p["amount"]) for p in await conn.get_positions("BTCUSDT")}
        assert sides == {("LONG", D("0.010")), ("SHORT", D("-0.010"))}


async def test_an_unknown_outcome_is_reconciled_by_client_id_never_resent():
    async with futures() as (sim, conn):
        sim.faults.order_5xx = 1  # placed, answered 503 -1007
        o = await conn.create_order("BTCUSDT", "buy", "limit", "0.01", "58000", client_order_id="fate-1")
        assert o.client_order_id == "fate-1" and o.status is OrderStatus.OPEN
        assert [x.client_id for x in sim.exchange.orders.values()] == ["fate-1"]  # exactly one order
        assert conn.deadlines.get("fate-1") is not None  # set from recvWindow when signed


# -- user data on /private
async def test_user_stream_order_updates_positions_and_listen_key_expiry():
    async with futures() as (sim, conn):
        us = conn.get_user_data_stream()
        seen = []
        us.listeners.append(seen.append)
        await us.start()
        assert us.epoch == 1
        await conn.create_order("BTCUSDT", "buy", "market", "0.01", client_order_id="u-1")
        await wait_for(lambda: any(u.client_order_id == "u-1" and u.status is OrderStatus.FILLED for u in seen))
        await wait_for(lambda: ("BTCUSDT", "BOTH") in us.positions)
        assert D(us.positions[("BTCUSDT", "BOTH")]["pa"]) == D("0.01")
        assert seen[-1].symbol == "BTC-USDT" and seen[-1].exchange == "binance_futures"
        first_key = us.listen_key
        sim.expire_listen_key()
        await wait_for(lambda: us.expiries == 1 and us.epoch == 2 and us.up)
        assert us.listen_key and us.listen_key != first_key
        await conn.create_order("BTCUSDT", "sell", "market", "0.01", client_order_id="u-2")  # after the new key
        await wait_for(lambda: any(u.client_order_id == "u-2" for u in seen))
        await wait_for(lambda: D(us.positions[("BTCUSDT", "BOTH")]["pa"]) == 0)


async def test_user_stream_keepalive_extends_the_key():
    async with futures(sim_kw={"listen_key_ttl_s": 1.0}, keepalive_s=0.2) as (sim, conn):
        us = conn.get_user_data_stream()
        await us.start()
        first = us.listen_key
        # 6 PUTs 0.2 s apart outlive the 1 s key: each moved the simulator's expiry on
        await wait_for(lambda: us.keepalives >= 6)
        assert us.epoch == 1 and us.expiries == 0 and sim.exchange.listen_key == us.listen_key == first


def test_settings_read_keys_as_secrets_and_urls_as_overrides():
    from engine.connectors.binance_futures.settings import BinanceFuturesSettings
    own = BinanceFuturesSettings.from_env({"BINANCE_FUTURES_API_KEY": "k" * 64, "BINANCE_FUTURES_API_SECRET": "s3cr3t",
                                           "BINANCE_FUTURES_REST_URL": "http://127.0.0.1:1",
                                           "BINANCE_FUTURES_WS_URL": "ws://127.0.0.1:2"})
    assert "s3cr3t" not in repr(own) and "k" * 20 not in repr(own)
    conn = BinanceFuturesConnector(own)
    assert conn.endpoints.rest == "http://127.0.0.1:1" and conn.endpoints.ws == "ws://127.0.0.1:2"
    assert conn.endpoints.ws_api == "wss://ws-fapi.binance.com/ws-fapi/v1" and conn.auth is not None
    assert BinanceFuturesConnector(BinanceFuturesSettings.from_env({})).endpoints.rest == "https://fapi.binance.com"


async def test_waiting_on_a_stream_never_subscribed_is_a_clear_error():
    async with futures() as (sim, conn):
        with pytest.raises(ValueError, match="not subscribed: ethusdt@aggTrade"):
            await conn.wait_streams(["ethusdt@aggTrade"])
