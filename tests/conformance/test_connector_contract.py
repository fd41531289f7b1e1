"""The contract every connector passes: Binance and Lighter, market data and trading.

Each row is an async context manager yielding (connector, symbol, far_buy_price): a connected connector
against its venue's embedded simulator, a symbol in the unified form, and a limit price far enough below
the market that a buy rests.
"""
import asyncio
import contextlib
import math
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from engine.connectors.base import BaseConnector, ConnectorState
from engine.connectors.factory import ConnectorFactory
from engine.models import Balance, Candle, OrderBookSnapshot, OrderStatus, OrderUpdate

sys.path.insert(0, str(Path(__file__).parents[1] / "connectors"))
from binance_env import binance  # noqa: E402


@contextlib.asynccontextmanager
async def binance_row():
    async with binance() as (sim, conn):
        yield conn, "BTC-USDT", Decimal("40000")


@contextlib.asynccontextmanager
async def lighter_row():
    pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
    from engine.connectors.lighter.client import LighterConnector
    from engine.connectors.lighter.signer import new_api_key
    from engine.connectors.lighter.urls import LighterEndpoints
    from engine.sim.lighter import LighterSimulator

    async with LighterSimulator() as sim:
        conn = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url), account_index=sim.account_index,
                                api_key_index=sim.api_key_index, api_private_key=new_api_key()[0])
        await conn.connect()
        try:
            yield conn, "BTC-USDC", Decimal("40000")
        finally:
            await conn.disconnect()


VENUES = {"binance": binance_row, "lighter": lighter_row}  # the full contract: market data and trading
MARKET_DATA_VENUES = VENUES


async def settled(c, symbol, client_order_id, status, timeout=10.0):
    """The venue's view of an order once it reached ``status``. A venue may answer an order request with
    SUBMITTED (Lighter: sequenced, executed a block later); the order lookup is the common ground."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    seen = None
    while loop.time() < end:
        seen = await c.get_order(symbol, client_order_id=client_order_id)
        if seen is not None and seen.status is status:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"{client_order_id} never {status.value}; last seen {seen}")


def test_factory_lists_and_builds_connectors():
    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.lighter.client import LighterConnector

    classes = {"lighter": LighterConnector, "binance": BinanceConnector}
    assert ConnectorFactory.available() == list(classes)
    for name in ConnectorFactory.available():
        c = ConnectorFactory.create(name, None, testnet=True)  # built, not connected: no socket is opened
        assert type(c) is classes[name] and isinstance(c, BaseConnector), name
        assert c.name == name and c.state is ConnectorState.DISCONNECTED
        assert "testnet" in c.endpoints.rest, name  # the keyword arguments reached the connector
    with pytest.raises(ValueError, match="available: lighter, binance"):
        ConnectorFactory.create("kraken")


@pytest.mark.parametrize("venue", list(MARKET_DATA_VENUES))
async def test_market_data_contract(venue):
    async with MARKET_DATA_VENUES[venue]() as (c, symbol, _):
        assert isinstance(c, BaseConnector) and c.state is ConnectorState.LIVE and c.name == venue
        ob = await c.get_orderbook(symbol, 5)
        assert isinstance(ob, OrderBookSnapshot) and ob.best_bid < ob.best_ask
        assert isinstance(await c.get_ticker_price(symbol), Decimal)
        changes = c.stream_orderbook(symbol).__aiter__()
        for _ in range(3):  # the snapshot, then frames through the compiled path
            book = await asyncio.wait_for(changes.__anext__(), 15)
        assert book.synced and book.best_bid < book.best_ask
        feed = await c.add_book(symbol)
        assert feed.book is book and feed.health.state.value == "live"
        lat = c.book_latency()
        assert lat is not None and lat["count"] > 0
        assert c.health()["exchange"] == venue


@pytest.mark.parametrize("venue", list(VENUES))
async def test_contract(venue):
    async with VENUES[venue]() as (c, symbol, far_px):
        assert isinstance(c, BaseConnector) and c.state is ConnectorState.LIVE
        assert c.health()["exchange"] == c.name == venue

        ob = await c.get_orderbook(symbol, 5)
        assert isinstance(ob, OrderBookSnapshot) and ob.best_bid < ob.best_ask and ob.symbol == symbol
        assert isinstance(await c.get_ticker_price(symbol), Decimal)
        candles = await c.get_candlesticks(symbol, "1m", limit=3)
        assert candles and all(isinstance(k, Candle) for k in candles)
        acct = await c.get_account()
        assert acct and all(isinstance(b, Balance) for b in acct.values())

        assert await c.get_order(symbol, client_order_id=c.new_client_order_id()) is None  # unknown: None
        o = await c.create_order(symbol, "buy", "limit", Decimal("0.001"), far_px)
        assert isinstance(o, OrderUpdate) and o.client_order_id
        assert o.status in (OrderStatus.OPEN, OrderStatus.SUBMITTED)
        found = await settled(c, symbol, o.client_order_id, OrderStatus.OPEN)
        assert found.order_id and o.order_id in (None, found.order_id) and found.quantity == Decimal("0.001")
        assert found.order_id in [x.order_id for x in await c.get_open_orders(symbol)]
        cancel = await c.cancel_order(symbol, client_order_id=o.client_order_id)
        assert cancel.status in (OrderStatus.CANCELED, OrderStatus.SUBMITTED)
        assert (await settled(c, symbol, o.client_order_id, OrderStatus.CANCELED)).order_id == found.order_id
        assert found.order_id not in [x.order_id for x in await c.get_open_orders(symbol)]
        assert await c.cancel_all_orders(symbol) == []

        books = c.stream_orderbook(symbol).__aiter__()
        book = await asyncio.wait_for(books.__anext__(), 15)
        assert book.best_bid < book.best_ask and not math.isnan(book.best_bid)
        trades = c.stream_trades(symbol).__aiter__()
        t = await asyncio.wait_for(trades.__anext__(), 20)
        assert t.side in ("buy", "sell") and t.price > 0 and t.size > 0

        us = c.get_user_data_stream()
        await us.start()
        updates = us.stream_order_updates().__aiter__()
        o2 = await c.create_order(symbol, "buy", "limit", Decimal("0.001"), far_px)
        u = await asyncio.wait_for(updates.__anext__(), 10)
        assert u.client_order_id == o2.client_order_id and u.status is OrderStatus.OPEN and u.order_id
        await c.cancel_order(symbol, order_id=u.order_id)
        u = await asyncio.wait_for(updates.__anext__(), 10)
        assert (u.client_order_id, u.status) == (o2.client_order_id, OrderStatus.CANCELED)
        await us.stop()


@pytest.mark.parametrize("venue", list(MARKET_DATA_VENUES))
async def test_book_state_contract(venue):
    """``book_status`` and ``state``: what the RiskManager reads from every connector."""
    from engine.connectors.base import BookState

    async with MARKET_DATA_VENUES[venue]() as (c, symbol, _):
        before = c.book_status(symbol)
        assert before.state is BookState.UNSUBSCRIBED and not before.live and before.mid is None
        assert c.state is ConnectorState.LIVE  # nothing subscribed yet: nothing to be degraded by
        feed = await c.add_book(symbol)
        if not feed.book.synced:
            assert c.state is ConnectorState.DEGRADED and not c.book_status(symbol).live
        loop = asyncio.get_running_loop()
        end = loop.time() + 15
        while not c.book_status(symbol).live and loop.time() < end:
            await asyncio.sleep(0.05)
        st = c.book_status(symbol)
        assert st.live and st.symbol == symbol and c.state is ConnectorState.LIVE
        bids, asks = feed.book.top_exact(1)
        assert Decimal(bids[0][0]) < st.mid < Decimal(asks[0][0]) and isinstance(st.mid, Decimal)
        assert 0 <= st.age_s < 15
        assert c.unified(symbol) == symbol and c.book_status("NOPE-XYZ").state is BookState.UNSUBSCRIBED


@pytest.mark.parametrize("venue", list(VENUES))
def test_a_keyless_connector_refuses_private_streams_before_any_network_io(venue):
    from engine.errors import AuthenticationError

    c = ConnectorFactory.create(venue)  # no credentials, never connected
    with pytest.raises(AuthenticationError) as e:
        c.get_user_data_stream()
    assert e.value.exchange == venue and "set" in str(e.value)
