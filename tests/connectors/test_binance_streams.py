"""Live books and trades from the simulator's streams: equal to the true book, through every injected fault."""
import asyncio
import logging
from decimal import Decimal

from engine.models import Trade
from engine.sim.binance.market import SymbolSpec

from binance_books import assert_equal_books, first_changes, settle
from binance_env import binance
from helpers import wait_for


async def test_streamed_book_equals_the_true_book():
    async with binance() as (sim, c):
        book = await first_changes(c, "BTC-USDT", 10)
        assert book.best_bid < book.best_ask and book.symbol == "BTCUSDT"
        feed = await settle(sim, c)
        assert_equal_books(sim, feed)
        h = feed.health.as_dict()
        assert h["state"] == "live" and h["gaps"] == 0 and h["messages"] >= 5


async def test_a_dropped_diff_is_a_gap_resynced_for_that_symbol_only(caplog):
    async with binance() as (sim, c):
        await first_changes(c, "BTC-USDT", 3)
        await first_changes(c, "ETH-USDT", 3)
        sim.faults.drop_diffs = 1
        with caplog.at_level(logging.WARNING, "engine.binance.ws"):
            for _ in range(100):
                await asyncio.sleep(0.05)
                if sum(f.health.gaps for f in c.market.books.values()):
                    break
        gapped = [s for s, f in c.market.books.items() if f.health.gaps]
        assert len(gapped) == 1 and "gap after update id" in caplog.text
        for s in ("BTCUSDT", "ETHUSDT"):
            feed = await settle(sim, c, s)
            assert_equal_books(sim, feed, s)
        other = "ETHUSDT" if gapped == ["BTCUSDT"] else "BTCUSDT"
        assert c.market.books[other].health.resyncs == 0  # the other symbol never resynced
        assert c.market.books[gapped[0]].health.resyncs == 1


async def test_stream_disconnect_reconnects_and_resyncs():
    async with binance() as (sim, c):
        await first_changes(c, "BTC-USDT", 3)
        assert sim.streams.close_all(1011, "simulated failure") == 1
        for _ in range(100):
            await asyncio.sleep(0.05)
            if c.market.disconnects:
                break
        err = c.market.last_disconnect
        assert err is not None and err.close_code == 1011 and err.reason == "simulated failure"
        feed = await settle(sim, c)
        assert_equal_books(sim, feed)
        assert len(sim.streams.conns) == 1


async def test_forced_24h_cut_is_survived():
    # the venue's own cut (a close at 24 h), not our rotation before it: a disconnect, then a resync
    async with binance() as (sim, c):
        await first_changes(c, "BTC-USDT", 3)
        old = c.market.connections[0]
        sim.streams.rotate_now()
        await wait_for(lambda: c.market.disconnects == 1)
        err = c.market.last_disconnect
        assert (err.close_code, err.reason) == (1001, "24h connection limit")
        assert old.reconnects == 1 and c.market.books["BTCUSDT"].health.resyncs == 1
        feed = await settle(sim, c)
        assert_equal_books(sim, feed)
        assert len(sim.streams.conns) == 1 and c.market.rotations == 0


async def test_garbage_frames_are_counted_and_change_nothing():
    async with binance() as (sim, c):
        await first_changes(c, "BTC-USDT", 3)
        sim.streams.send_garbage(5)
        for _ in range(50):
            await asyncio.sleep(0.05)
            if c.market.garbage_frames >= 5:
                break
        assert c.market.garbage_frames >= 5
        feed = await settle(sim, c)
        assert_equal_books(sim, feed)


async def test_trades_stream():
    async with binance() as (sim, c):
        it = c.stream_trades("BTC-USDT").__aiter__()
        t = await asyncio.wait_for(it.__anext__(), 15)
        assert isinstance(t, Trade) and t.exchange == "binance" and t.symbol == "BTC-USDT"
        assert t.side in ("buy", "sell") and t.price > 0 and t.size > 0 and float(t.price_str) == t.price


async def test_user_stream_reports_order_updates():
    async with binance() as (sim, c):
        us = c.get_user_data_stream()
        await us.start()
        updates = us.stream_order_updates().__aiter__()
        o = await c.create_order("BTC-USDT", "sell", "limit", "0.001", "70000")
        first = await asyncio.wait_for(updates.__anext__(), 5)
        assert first.client_order_id == o.client_order_id and first.status.value == "open"
        await c.cancel_order("BTC-USDT", order_id=o.order_id)
        second = await asyncio.wait_for(updates.__anext__(), 5)
        assert second.status.value == "canceled" and second.client_order_id == o.client_order_id
        assert us.balances  # outboundAccountPosition updates the cached balances


async def test_reconnect_storm_of_50_symbols_never_earns_a_418():
    specs = tuple(SymbolSpec(f"C{i:02d}USDT", f"C{i:02d}", "USDT", Decimal("0.01"), Decimal("0.01"),
                             Decimal("0.01"), Decimal("5"), Decimal("100")) for i in range(50))
    async with binance(sim_kw={"symbols": specs, "weight_limit": 1000}, snapshot_limit=100) as (sim, c):
        for s in specs:
            await c.market.add_book(s.symbol)
        books = list(c.market.books.values())
        assert len(books) == 50 and len(c.market.connections) == 1

        def all_live():
            return all(f.health.state.value == "live" and not f.sync.needs_snapshot for f in books)

        await wait_for(all_live, 60)
        # our own recent requests spent the budget's burst (taken from the weight row's bucket without a request,
        # so not from the venue's fixed minute, which would hold it until the UTC minute ends): 150 weight are
        # left, fewer than the 50 snapshots of weight 5 the storm's resync needs, so the connector must queue
        weight = next(lim for lim in c.limits._limits if lim.kind == "REQUEST_WEIGHT")
        assert weight.bucket.try_acquire(int(weight.bucket.available) - 150)
        queued = c.limits.status()["queued"]
        assert sim.streams.close_all(1001, "storm") == 1
        await wait_for(lambda: c.market.disconnects == 1, 30)
        await wait_for(lambda: all_live() and all(f.health.resyncs >= 1 for f in books), 120)
        w = sim.rest.weights
        assert w.answered_418 == 0 and w.answered_429 == 0 and c.limits.bans == 0
        assert c.limits.status()["queued"] > queued  # the resync's snapshots waited for budget


async def test_slow_snapshots_keep_buffering_and_still_converge():
    async with binance() as (sim, c):
        sim.faults.slow_snapshot_s = 1.0
        book = await first_changes(c, "BTC-USDT", 2)
        assert book.synced
        feed = await settle(sim, c)
        assert_equal_books(sim, feed)


async def test_server_pings_are_answered_so_the_connection_survives():
    async with binance(sim_kw={"ping_interval_s": 0.2, "pong_timeout_s": 0.6}) as (sim, c):
        await first_changes(c, "BTC-USDT", 2)
        await asyncio.sleep(2.0)  # ten ping rounds
        assert c.market.disconnects == 0 and len(sim.streams.conns) == 1
