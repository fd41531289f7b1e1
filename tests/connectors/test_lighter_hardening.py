"""Lighter connector hardening against the Lighter simulator over real sockets: a key the venue refuses for
good stops the account stream with one AuthenticationError (never a retry loop), health() shows every counter
of the connection and the account stream, oversized frames are counted disconnects, and the published
limits cap markets before any socket."""
import asyncio
import contextlib

import pytest

from engine.connectors.lighter.client import LighterConnector
from engine.connectors.lighter.urls import LighterEndpoints
from engine.errors import AuthenticationError, ErrorAction
from engine.sim.lighter import LighterSimulator
from helpers import wait_for


@contextlib.asynccontextmanager
async def trading(seed=7, **kw):
    pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
    async with LighterSimulator(seed=seed) as sim:
        c = LighterConnector.for_simulator(sim, **kw)
        await c.connect()
        try:
            yield sim, c
        finally:
            await c.disconnect()


def account_subscribes(sim) -> int:
    return sum(1 for ch, _ in sim.stream.subscribes if ch.startswith("account_"))


def assert_clean(text: str, sim, c) -> None:
    assert sim.api_private_key not in text and sim.api_private_key.lower() not in text.lower()
    if c.tokens._token:
        assert c.tokens._token not in text and c.tokens._token.rsplit(":", 1)[1] not in text


# -- 2. permanent authentication failures
@pytest.mark.parametrize("code, hint", [(21120, "LIGHTER_API_PRIVATE_KEY is not the key registered"),
                                        (21109, "no API key is registered at LIGHTER_API_KEY_INDEX")])
async def test_a_refused_key_fails_the_account_stream_once_and_for_good(code, hint):
    async with trading() as (sim, c):
        sim.refuse_key(code)
        us = c.get_user_data_stream()
        # start() answers with the refusal itself, long before its own timeout
        with pytest.raises(AuthenticationError) as exc:
            await asyncio.wait_for(us.start(timeout_s=120), 60)
        err = exc.value
        assert err.code == code and err.action is ErrorAction.FIX_CONFIG and hint in str(err)
        assert "\n" not in str(err)
        assert_clean(str(err), sim, c)
        st = c.health()["account_stream"]
        assert st["state"] == "failed" and st["subscribed"] is False and str(code) in st["last_error"]
        await wait_for(lambda: account_subscribes(sim) >= 2, 30)  # one subscribe per account channel
        # a reconnect re-subscribes the books, never the refused account channels
        before = c.market.disconnects
        await sim.stream.close_all()
        await wait_for(lambda: c.market.disconnects > before and c.market.connected.is_set(), 30)
        # a book added now is subscribed after anything the reconnect sent: once it is live, the simulator
        # has read every subscribe the reconnect made
        await c.add_book("CRV-USDC")
        await wait_for(lambda: [b["state"] for b in c.health()["books"] if b["native"] == "CRV"] == ["live"], 30)
        assert account_subscribes(sim) == 2 and us.renewals == 0  # never retried
        assert not any(ch in c.market.private for ch in us.channels)
        assert c.health()["account_stream"]["state"] == "failed"


async def test_a_key_refused_while_streaming_stops_the_stream():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        await us.start()
        assert c.health()["account_stream"]["state"] == "subscribed"
        sim.refuse_key(21120)
        await us.renew()  # the next subscription (a rotation) is refused
        await wait_for(lambda: us.failure is not None, 30)
        st = c.health()["account_stream"]
        assert st["state"] == "failed" and "21120" in st["last_error"] and us._rotation is None
        assert "LIGHTER_API_PRIVATE_KEY" in st["last_error"]


async def test_a_refused_key_on_a_private_read_is_not_retried():
    async with trading() as (sim, c):
        sim.refuse_key(21109)
        before = c.http.requests
        with pytest.raises(AuthenticationError) as exc:
            await c.get_open_orders("ETH-USDC")
        assert exc.value.code == 21109 and "LIGHTER_API_KEY_INDEX" in str(exc.value)
        assert c.http.requests == before + 1  # one request, no second token
        assert_clean(str(exc.value), sim, c)


async def test_an_expired_token_is_still_renewed():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        await us.start()
        sim.faults["auth_ttl_s"] = 0.5  # 20013: transient, the stream renews its token
        await wait_for(lambda: us.renewals >= 1 and us.up, 30)
        assert us.failure is None and c.health()["account_stream"]["state"] == "subscribed"


async def test_execution_engine_start_raises_the_authentication_error():
    from engine.execution import ExecutionEngine
    from engine.risk import RiskManager

    async with trading() as (sim, c):
        sim.refuse_key(21120)
        ex = ExecutionEngine({"lighter": c}, RiskManager())
        with pytest.raises(AuthenticationError, match="LIGHTER_API_PRIVATE_KEY"):
            await asyncio.wait_for(ex.start(), 60)


# -- 5. health(): what the connection lived through
async def test_health_reports_a_stall_its_disconnect_and_the_resync():
    from faults.venues import lighter_via_proxy, stream_link

    async with lighter_via_proxy(trading=False) as (sim, proxy, conn, _, _, feed):
        stream_link(proxy).stall()  # no close, no reset: silent both ways
        await wait_for(lambda: conn.health()["market"]["stalls"] == 1, conn.market.read_deadline.bound_s + 20)
        await wait_for(lambda: conn.health()["books"][0]["state"] == "live", 30)
        m = conn.health()["market"]
        assert m["disconnects"] == 1 and m["resyncs"] == 1 and "silent for" in m["last_disconnect"]
        assert conn.health()["books"][0]["resyncs"] == 1 and m["connected"] is True


async def test_health_reports_connect_failures():
    from faults.venues import inject, lighter_via_proxy, stream_link

    async with lighter_via_proxy(trading=False) as (sim, proxy, conn, _, _, feed):
        await inject(proxy, stream_link(proxy), "refuse")
        await wait_for(lambda: conn.health()["market"]["connect_failures"] >= 1, 30)
        assert conn.health()["market"]["connected"] is False
        await proxy.listen()
        await wait_for(lambda: conn.health()["market"]["connected"] and conn.health()["books"][0]["state"] == "live",
                       30)
        assert conn.health()["market"]["disconnects"] == 1


async def test_health_reports_a_tx_answer_that_came_after_its_deadline():
    pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
    from decimal import Decimal

    from engine.errors import RPCTimeoutError
    from faults.proxy import UP
    from faults.venues import lighter_via_proxy, stream_link

    async with lighter_via_proxy(trading=False) as (sim, proxy, conn, _, _, feed):
        conn.account_index, conn.api_key_index = sim.account_index, sim.api_key_index
        conn._private_key = sim.api_private_key
        await conn.get_open_orders()  # learn the tier and mint a token now, not while the socket is held
        conn._tier_known = True
        conn.market.tx.timeout_s = 0.5
        link = stream_link(proxy)
        link.stall(on_next=UP)  # the sendtx frame is held by the network
        m = sim.markets[0]
        with pytest.raises(RPCTimeoutError):
            await conn.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), Decimal(m.spec.px(m.mid)) - 50)
        assert conn.health()["market"]["late_answers"] == 0
        link.release()
        await wait_for(lambda: conn.health()["market"]["late_answers"] == 1, 30)
        assert conn.health()["market"]["tx_inflight"] == 0


# -- 4. a frame over the size cap
async def test_an_oversized_frame_is_a_counted_disconnect_then_a_resync(caplog):
    from engine.book import DEFAULT_MAX_FRAME_BYTES

    async with LighterSimulator(seed=11) as sim:
        c = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url))
        await c.connect()
        try:
            assert c.market.max_frame_bytes == DEFAULT_MAX_FRAME_BYTES
            lb = await c.add_book("ETH-USDC")
            await wait_for(lambda: c.book_status("ETH-USDC").live, 30)
            caplog.set_level("WARNING", logger="engine.lighter.ws")
            sim.faults["big_frame_bytes"] = DEFAULT_MAX_FRAME_BYTES + (1 << 20)  # the next book update
            await wait_for(lambda: c.health()["market"]["oversized_frames"] == 1, 30)
            m = c.health()["market"]
            assert m["disconnects"] == 1 and m["connect_failures"] == 0 and sim.stream.big_frames == 1
            assert "frame too large" in m["last_disconnect"] and "code=1009" in m["last_disconnect"]
            assert any("a frame over" in r.getMessage() for r in caplog.records)
            # reconnected and resynced from a fresh snapshot: equal to the simulator's book
            sim.paused = True
            market = sim.markets[lb.market_id]
            await wait_for(lambda: lb.book.synced and lb.health.state.value == "live"
                           and lb.book.last_update_id == market.nonce, 30)
            assert lb.book.bids_scaled() == market.levels("b") and lb.book.asks_scaled() == market.levels("a")
            assert c.health()["market"]["resyncs"] == 1 and c.health()["books"][0]["resyncs"] == 1
        finally:
            await c.disconnect()


def test_max_frame_bytes_must_be_positive():
    with pytest.raises(ValueError, match="max_frame_bytes"):
        LighterConnector(max_frame_bytes=0)


# -- 3. caps from the venue's published limits
def test_the_market_cap_follows_the_subscription_limit():
    from engine.connectors.lighter import limits

    assert limits.WS_SUBSCRIPTIONS_PER_CONNECTION == 500 and limits.MAX_CONNECTIONS == 1
    assert limits.MAX_MARKETS * limits.SUBSCRIPTIONS_PER_MARKET + limits.ACCOUNT_CHANNELS <= 500
    assert LighterConnector().market.max_markets == limits.MAX_MARKETS == 249
    for bad in (0, 250, 10**6):
        with pytest.raises(ValueError, match="500 subscriptions per connection"):
            LighterConnector(max_markets=bad)


async def test_markets_past_the_cap_are_refused_before_any_socket():
    from engine.connectors.lighter.limits import MAX_MARKETS
    from engine.connectors.lighter.ws_orderbook import LighterMarketData

    md = LighterMarketData("ws://127.0.0.1:9/never")  # never started: no socket at all
    for mid in range(MAX_MARKETS):
        await md.add_book(mid, f"M{mid}", 2, 4)
    await md.add_trades(0, lambda t: None)  # a market already on the connection: no new market
    with pytest.raises(ValueError, match=f"max_markets={MAX_MARKETS}"):
        await md.add_book(MAX_MARKETS, "ONE-TOO-MANY", 2, 4)
    with pytest.raises(ValueError, match="max_markets"):
        await md.add_trades(MAX_MARKETS, lambda t: None)
    assert len(md.markets()) == MAX_MARKETS and md._control.empty() and md.transport is None


async def test_a_market_past_max_markets_is_refused_unsubscribed():
    async with LighterSimulator(seed=3) as sim:
        c = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url), max_markets=2)
        await c.connect()
        try:
            await c.add_book("ETH-USDC")
            await c.add_trades("ETH-USDC", lambda t: None)
            await c.add_book("BTC-USDC")
            await wait_for(lambda: sum(1 for ch, _ in sim.stream.subscribes) == 3, 30)
            with pytest.raises(ValueError, match="max_markets=2"):
                await c.add_book("CRV-USDC")
            with pytest.raises(ValueError, match="max_markets=2"):
                await c.add_trades("CRV-USDC", lambda t: None)
            # the refused market never reaches the venue: a book added on a market already there does, after
            await c.add_book("BTC-USDC", lambda b: None)
            await c.add_trades("BTC-USDC", lambda t: None)
            await wait_for(lambda: sum(1 for ch, _ in sim.stream.subscribes) == 4, 30)
            assert not any("/36" in ch or ":36" in ch for ch, _ in sim.stream.subscribes)
            assert c.health()["market"]["markets"] == 2 and len(c.health()["books"]) == 2
        finally:
            await c.disconnect()
