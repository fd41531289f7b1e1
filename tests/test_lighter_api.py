"""The seed's Lighter API test: LighterConnector against the Lighter simulator over real sockets (market data now;
trading arrives with issue #4): books equal the true book, a broken nonce chain resyncs that market only,
reconnects re-seed from fresh snapshots."""
import asyncio
import contextlib
from decimal import Decimal

import pytest

from engine.connectors.lighter.client import LighterConnector
from engine.connectors.lighter.urls import LighterEndpoints
from engine.sim.lighter import LighterSimulator


@contextlib.asynccontextmanager
async def lighter(seed=5):
    async with LighterSimulator(seed=seed) as sim:
        c = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url))
        await c.connect()
        try:
            yield sim, c
        finally:
            await c.disconnect()


async def settled(sim, c, market_id, timeout=10.0):
    sim.paused = True
    lb = c.market.books[market_id]
    m = sim.markets[market_id]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await asyncio.sleep(0.15)
        if lb.book.synced and lb.health.state.value == "live" and lb.book.last_update_id == m.nonce:
            return lb, m
    raise AssertionError(f"not caught up: {lb.health.as_dict()} vs nonce {m.nonce}")


def assert_same(lb, m):
    assert lb.book.bids_scaled() == m.levels("b") and lb.book.asks_scaled() == m.levels("a")


async def test_markets_symbols_and_rest_reads():
    async with lighter() as (sim, c):
        assert c.native("ETH-USDC") == c.native("ETH-USDT") == "ETH"
        assert c.market_info("CRV-USDC")["price_decimals"] == 5
        ob = await c.get_orderbook("BTC-USDC", 5)
        assert ob.symbol == "BTC-USDC" and ob.best_bid < ob.best_ask and len(ob.bids) <= 5
        assert await c.get_ticker_price("ETH-USDC") > 0
        candles = await c.get_candlesticks("ETH-USDC", "1m", limit=5)
        assert len(candles) == 5 and all(a.open_time_ms < b.open_time_ms for a, b in zip(candles, candles[1:]))
        assert all(k.low <= min(k.open, k.close) and k.high >= max(k.open, k.close) for k in candles)
        with pytest.raises(Exception, match="LIGHTER_ACCOUNT_INDEX"):
            await c.get_account()  # no account configured
        c.account_index = sim.account_index
        acct = await c.get_account()
        assert acct["USDC"].free == Decimal("100000")
        assert (await c.get_positions())["ETH"] == 0


async def test_streamed_books_equal_the_true_books():
    async with lighter() as (sim, c):
        it = c.stream_orderbook("ETH-USDC").__aiter__()
        for _ in range(5):
            book = await asyncio.wait_for(it.__anext__(), 10)
        assert book.best_bid < book.best_ask
        await c.add_book("CRV-USDC")
        await asyncio.sleep(0.5)
        for mid in (0, 36):
            lb, m = await settled(sim, c, mid)
            assert_same(lb, m)


async def test_a_broken_chain_resyncs_that_market_only():
    async with lighter() as (sim, c):
        await c.add_book("ETH-USDC")
        await c.add_book("BTC-USDC")
        await asyncio.sleep(0.5)
        sim.faults["gap"] = 1
        for _ in range(100):
            await asyncio.sleep(0.05)
            if sum(lb.health.gaps for lb in c.market.books.values()):
                break
        gapped = [mid for mid, lb in c.market.books.items() if lb.health.gaps]
        assert len(gapped) == 1
        for mid in (0, 1):
            lb, m = await settled(sim, c, mid)
            assert_same(lb, m)
        assert c.market.errors == []  # no 30003: the resync waited for the unsubscribe ack


async def test_reconnect_reseeds_every_book():
    async with lighter() as (sim, c):
        await c.add_book("ETH-USDC")
        await asyncio.sleep(0.5)
        assert await sim.stream.close_all() == 1
        for _ in range(100):
            await asyncio.sleep(0.05)
            if c.market.disconnects:
                break
        assert c.market.last_disconnect.close_code == 1001
        lb, m = await settled(sim, c, 0)
        assert_same(lb, m)


async def test_trades_stream():
    async with lighter() as (sim, c):
        it = c.stream_trades("ETH-USDC").__aiter__()
        t = await asyncio.wait_for(it.__anext__(), 20)
        assert Decimal(t["price"]) > 0 and isinstance(t["is_maker_ask"], bool)


@contextlib.asynccontextmanager
async def trading(seed=5):
    pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
    from engine.connectors.lighter.signer import new_api_key

    async with LighterSimulator(seed=seed) as sim:
        priv, _ = new_api_key()  # the simulator checks shape and nonces, not the Schnorr signature
        c = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url), account_index=sim.account_index,
                             api_key_index=sim.api_key_index, api_private_key=priv)
        await c.connect()
        try:
            yield sim, c
        finally:
            await c.disconnect()


async def test_orders_are_signed_numbered_and_sequenced():
    async with trading() as (sim, c):
        o = await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.05"), Decimal("2999.99"), client_order_id="77")
        assert o.status.value == "submitted" and o.client_order_id == "77"  # sequenced, not yet accepted
        tx_type, info = sim.txs[-1]
        assert tx_type == 14 and (info["BaseAmount"], info["Price"], info["IsAsk"], info["ClientOrderIndex"]) == (
            500, 299999, 0, 77)
        assert info["TimeInForce"] == 1 and info["Nonce"] == 1
        await c.cancel_order("ETH-USDC", client_order_id="77")
        assert sim.txs[-1][0] == 15 and sim.txs[-1][1]["Index"] == 77 and sim.txs[-1][1]["Nonce"] == 2
        await c.cancel_all_orders("ETH-USDC")
        assert sim.txs[-1][0] == 16


async def test_a_nonce_conflict_is_healed_with_one_retry_and_no_duplicate():
    async with trading() as (sim, c):
        await c.create_order("BTC-USDC", "sell", "limit_maker", Decimal("0.001"), Decimal("70000"))
        sim.faults["nonce_conflict"] = 1  # another process used the key: the venue is one nonce ahead
        o = await c.create_order("BTC-USDC", "sell", "limit_maker", Decimal("0.001"), Decimal("70001"),
                                 client_order_id="900")
        creates = [info for t, info in sim.txs if t == 14 and info["ClientOrderIndex"] == 900]
        assert len(creates) == 1 and creates[0]["Nonce"] == 3 and creates[0]["TimeInForce"] == 2
        assert c.lane.conflicts == 1 and o.status.value == "submitted"


async def test_trading_without_keys_is_a_clear_error():
    async with lighter() as (sim, c):
        with pytest.raises(Exception, match="LIGHTER_API_PRIVATE_KEY"):
            await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), Decimal("3000"))


async def test_account_stream_reports_each_order_fate():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        await us.start()
        assert us.epoch == 1 and us.tokens_minted == 1
        updates = us.stream_order_updates().__aiter__()
        sim.paused = True  # a still market, so "crosses" and "rests" are certain
        m = sim.markets[0]
        best_ask = m.spec.px(min(m.asks))
        far = Decimal(m.spec.px(m.mid)) - 50
        rest = await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far, client_order_id="11")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("11", "open") and rest.status.value == "submitted"
        await c.create_order("ETH-USDC", "buy", "limit_maker", Decimal("0.01"), Decimal(best_ask),
                             client_order_id="12")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value, u.reason) == ("12", "rejected", "canceled-post-only")
        await c.create_order("ETH-USDC", "buy", "market", Decimal("0.01"), Decimal(best_ask) + 20,
                             client_order_id="13")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("13", "filled") and u.filled_quantity == Decimal("0.01")
        await c.cancel_order("ETH-USDC", client_order_id="11")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("11", "canceled")
        await us.stop()


async def test_account_stream_resubscribes_with_a_fresh_token_after_a_reconnect():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        await us.start()
        await sim.stream.close_all()
        for _ in range(100):
            await asyncio.sleep(0.05)
            if us.epoch == 2:
                break
        assert us.epoch == 2 and us.tokens_minted == 2


async def test_account_channel_needs_a_valid_token():
    import time as _t

    import aiohttp

    async with LighterSimulator() as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url) as ws:
            await ws.receive_str()
            await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{sim.account_index}"})
            err = await ws.receive_json()
            assert err["error"]["code"] == 20001 and "auth field is required" in err["error"]["message"]
            too_long = f"{int(_t.time()) + 9 * 3600}:{sim.account_index}:{sim.api_key_index}:{'0' * 160}"
            await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{sim.account_index}",
                                "auth": too_long})
            err = await ws.receive_json()
            assert err == {"error": {"code": 20013, "message": "invalid auth: invalid deadline"}}
