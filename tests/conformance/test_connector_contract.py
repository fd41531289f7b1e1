"""The contract every connector passes: Binance and Lighter, market data and trading.

Every registered venue has a row in ``VENUES``; ``venue_row(venue)`` yields (connector, symbol,
far_buy_price): a connector built by ``ConnectorFactory.open_simulated`` and connected to its venue's
embedded simulator, a symbol in the unified form, and a limit price far enough below the market that a buy
rests. Adding a venue to the suite is adding its row.
"""
import asyncio
import contextlib
import math
from decimal import Decimal

import pytest

from engine.connectors.base import BaseConnector, ConnectorState
from engine.connectors.factory import ConnectorFactory
from engine.models import Balance, Candle, OrderBookSnapshot, OrderStatus, OrderUpdate

# The venue list: one row per registered venue (ConnectorFactory.available()), all the suite needs to know
# about it: a symbol in the unified form, a limit price far enough below the market that a buy rests, the
# module its trading needs (skipped without it), the simulator's arguments and an order size the venue's
# filters take at that price (``qty``, default 0.001). The connector itself comes from the factory against the
# venue's embedded simulator.
VENUES = {
    "lighter": {"symbol": "BTC-USDC", "far_buy": Decimal("40000"), "needs": "lighter.signer_client"},
    "binance": {"symbol": "BTC-USDT", "far_buy": Decimal("40000"), "sim_kw": {"seed": 7}},
    # USD-M: PERCENT_PRICE keeps a limit within 5 % of the mark (60000 at start), min notional 100
    "binance_futures": {"symbol": "BTC-USDT", "far_buy": Decimal("58000"), "qty": Decimal("0.002"),
                        "sim_kw": {"seed": 7}},
}
MARKET_DATA_VENUES = VENUES  # the full contract: market data and trading


@contextlib.asynccontextmanager
async def venue_row(venue):
    """(connector, symbol, far_buy_price): connected to the venue's embedded simulator through the factory."""
    row = VENUES[venue]
    if row.get("needs"):
        pytest.importorskip(row["needs"], reason=f"{venue} trading needs {row['needs']}, which is not installed")
    async with contextlib.AsyncExitStack() as stack:
        conn, _ = await ConnectorFactory.open_simulated(venue, stack, sim_kw=row.get("sim_kw"))
        await conn.connect()
        stack.push_async_callback(conn.disconnect)
        yield conn, row["symbol"], row["far_buy"]


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
    from engine.connectors.binance_futures.client import BinanceFuturesConnector
    from engine.connectors.lighter.client import LighterConnector

    classes = {"lighter": LighterConnector, "binance": BinanceConnector, "binance_futures": BinanceFuturesConnector}
    assert ConnectorFactory.available() == list(classes)
    for name in ConnectorFactory.available():
        c = ConnectorFactory.create(name, None, testnet=True)  # built, not connected: no socket is opened
        assert type(c) is classes[name] and isinstance(c, BaseConnector), name
        assert c.name == name and c.state is ConnectorState.DISCONNECTED
        # the keyword arguments reached the connector: its testnet endpoints are not its mainnet ones
        assert c.endpoints.rest != ConnectorFactory.create(name, None).endpoints.rest, name
    with pytest.raises(ValueError, match="available: lighter, binance, binance_futures"):
        ConnectorFactory.create("kraken")


def test_every_registered_venue_is_in_this_suite_with_its_settings_and_simulator():
    from engine.config import VenueSettings

    assert list(VENUES) == ConnectorFactory.available()
    for name in ConnectorFactory.available():
        cls = ConnectorFactory.settings_class(name)
        assert issubclass(cls, VenueSettings) and cls.venue == name
        assert ConnectorFactory.simulator_class(name).__module__.startswith(f"engine.sim.{name}")
        assert callable(ConnectorFactory.simulator_cli(name))
    for call in (ConnectorFactory.settings_class, ConnectorFactory.simulator_class, ConnectorFactory.spec):
        with pytest.raises(ValueError, match="available: lighter, binance, binance_futures"):
            call("kraken")


@pytest.mark.parametrize("venue", list(VENUES))
async def test_open_simulated_builds_the_connector_against_its_simulator(venue):
    async with contextlib.AsyncExitStack() as stack:
        conn, where = await ConnectorFactory.open_simulated(venue, stack, sim_kw=VENUES[venue].get("sim_kw"))
        assert type(conn) is ConnectorFactory.connector_class(venue) and conn.state is ConnectorState.DISCONNECTED
        assert "embedded" in where and "127.0.0.1" in conn.endpoints.rest and conn.endpoints.rest in where
        offset = await conn.clock_offset_ms()  # not connected: opens and closes what it needs
        assert offset is None or abs(offset) < 1000
    with pytest.raises(ValueError, match="available"):
        await ConnectorFactory.open_simulated("kraken", contextlib.AsyncExitStack())


@pytest.mark.parametrize("venue", list(VENUES))
def test_live_connectors_read_the_whole_settings_or_their_own(venue):
    from engine.config import ConfigError, Settings

    settings = Settings.from_env({})
    whole, where = ConnectorFactory.open_live(venue, settings)
    own = ConnectorFactory.create(venue, settings.venues[venue])
    assert type(whole) is type(own) and whole.endpoints == own.endpoints and where.startswith("live ")
    with pytest.raises(ConfigError, match="needs"):  # no keys in the environment: refused before building
        ConnectorFactory.open_live(venue, settings, trading=True)


@pytest.mark.parametrize("venue", list(MARKET_DATA_VENUES))
async def test_market_data_contract(venue):
    async with venue_row(venue) as (c, symbol, _):
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
    async with venue_row(venue) as (c, symbol, far_px):
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
        qty = VENUES[venue].get("qty", Decimal("0.001"))
        o = await c.create_order(symbol, "buy", "limit", qty, far_px)
        assert isinstance(o, OrderUpdate) and o.client_order_id
        assert o.status in (OrderStatus.OPEN, OrderStatus.SUBMITTED)
        found = await settled(c, symbol, o.client_order_id, OrderStatus.OPEN)
        assert found.order_id and o.order_id in (None, found.order_id) and found.quantity == qty
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
        o2 = await c.create_order(symbol, "buy", "limit", qty, far_px)
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

    async with venue_row(venue) as (c, symbol, _):
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
