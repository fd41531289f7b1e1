"""Binance through the fault proxies: every fault on a market-stream, user-stream or REST socket ends with
the books equal to the simulator's true book and every order counted once at the simulator; a silent socket is
declared dead (``stalls``) and replaced; the process never crashes."""
import asyncio
import os
import signal
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.execution import ExecutionEngine
from engine.models import OrderRequest, OrderStatus as S, OrderType, Side
from engine.risk import RiskManager
from faults.proxy import DOWN, UP
from faults.venues import (DELAY_S, FAULTS, LIMITS, LoopErrors, binance_via_proxy, inject, only_link,
                           refused_then_allowed, simulator_process)
from helpers import wait_for

sys.path.insert(0, str(Path(__file__).parent.parent / "connectors"))
from binance_books import BookWatch, assert_equal_books, first_changes, settle  # noqa: E402


async def user_stream(conn):
    us = conn.get_user_data_stream()
    await us.start()
    return us, us.stream_order_updates().__aiter__()


async def test_a_stalled_user_stream_is_declared_dead_resubscribed_and_reports_again():
    async with binance_via_proxy() as (sim, px, conn):
        us, updates = await user_stream(conn)
        link = only_link(px["ws_api"])
        link.stall()
        bound = us.read_deadline.aiohttp_heartbeat_s * 1.5
        await wait_for(lambda: us.stalls == 1, timeout=bound + 10)
        assert not us.up or us.epoch == 2  # down until resubscribed on a new socket
        await wait_for(lambda: us.up and us.epoch == 2 and len(px["ws_api"].open_links()) == 2)
        assert us.status()["stalls"] == 1 and us.disconnects == 1
        o = await conn.create_order("BTC-USDT", "sell", "limit", "0.001", "70000")
        u = await asyncio.wait_for(updates.__anext__(), 10)
        assert (u.client_order_id, u.status.value) == (o.client_order_id, "open")


def bound(conn):
    return conn.market.read_deadline.bound_s + 10


async def books(conn, symbols=("BTC-USDT", "ETH-USDT")):
    for s in symbols:
        await first_changes(conn, s, 2)
    await wait_for(lambda: all(conn.book_status(s).live for s in symbols))
    return [conn.market.books[conn.native(s)] for s in symbols]


async def all_equal(sim, conn, feeds):
    for f in feeds:
        assert_equal_books(sim, await settle(sim, conn, f.symbol), f.symbol)


async def test_a_stalled_market_stream_is_declared_dead_its_books_resync_and_equal_the_true_books():
    async with binance_via_proxy() as (sim, px, conn):
        feeds = await books(conn)
        link = only_link(px["ws"])
        link.stall()
        await wait_for(lambda: conn.market.stalls == 1, timeout=bound(conn))
        assert all(f.health.stalls == 1 and f.health.resyncs == 1 for f in feeds)
        assert conn.market.last_disconnect.reason.startswith("silent for")
        await wait_for(lambda: any(k is not link for k in px["ws"].open_links()))
        await all_equal(sim, conn, feeds)


async def test_a_new_socket_stalling_mid_rotation_is_replaced_while_the_old_one_keeps_the_books_live():
    async with binance_via_proxy() as (sim, px, conn):
        feeds = await books(conn)
        old = conn.market.connections[0]
        sim.faults.slow_snapshot_s = 2.0  # the shadows cannot switch before the new socket is stalled
        rotation = asyncio.ensure_future(conn.market.rotate(old))
        await wait_for(lambda: len(conn.market.connections) == 2 and conn.market.connections[1].connected.is_set())
        new_link = next(k for k in px["ws"].open_links() if k.id != 1)
        new_link.stall()
        watches = [BookWatch(f) for f in feeds]
        for w in watches:
            w.__enter__()
        try:
            await wait_for(lambda: conn.market.stalls == 1, timeout=bound(conn))
            sim.faults.slow_snapshot_s = 0.0
            new = await asyncio.wait_for(rotation, 60)
        finally:
            for w in watches:
                w.__exit__()
        assert [w.problems for w in watches] == [[] for _ in watches]  # live on the old socket all along
        assert new is not None and conn.market.connections == [new] and all(f.conn is new for f in feeds)
        assert all(f.health.stalls == 0 and f.health.resyncs == 0 for f in feeds)
        assert conn.market.rotations == 1 and conn.market.rotation_fallbacks == 0
        await all_equal(sim, conn, feeds)


async def test_an_old_socket_stalling_mid_rotation_hands_its_stale_books_to_the_new_socket():
    async with binance_via_proxy() as (sim, px, conn):
        feeds = await books(conn)
        old = conn.market.connections[0]
        only_link(px["ws"]).stall()
        frozen = [f.book.last_update_id for f in feeds]
        # once the market has moved on, no shadow on the new socket can start where the frozen books stand
        await wait_for(lambda: all(sim.exchange.markets[f.symbol].update_id > u for f, u in zip(feeds, frozen)))
        new = await asyncio.wait_for(conn.market.rotate(old), bound(conn) + 10)
        assert conn.market.stalls == 1 and all(f.health.stalls == 1 and f.health.resyncs == 1 for f in feeds)
        assert conn.market.rotation_fallbacks == 2 and conn.market.connections == [new]
        assert all(f.conn is new for f in feeds)
        await all_equal(sim, conn, feeds)


async def test_a_frozen_server_is_declared_dead_on_every_socket_and_everything_comes_back():
    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.binance.urls import BinanceEndpoints

    async with simulator_process("binance") as (info, proc):
        conn = BinanceConnector(endpoints=BinanceEndpoints(info["rest_url"], info["ws_url"], info["ws_api_url"]),
                                api_key=info["api_key"], api_secret=info["api_secret"])
        await conn.connect()
        try:
            await books(conn, ("BTC-USDT",))
            us, _ = await user_stream(conn)
            os.kill(proc.pid, signal.SIGSTOP)
            await wait_for(lambda: conn.market.stalls == 1 and us.stalls == 1, timeout=bound(conn))
            assert not conn.book_status("BTC-USDT").live and not us.up
            os.kill(proc.pid, signal.SIGCONT)
            await wait_for(lambda: conn.book_status("BTC-USDT").live and us.up and us.epoch == 2, timeout=40)
        finally:
            await conn.disconnect()


@pytest.mark.parametrize("fault", FAULTS)
async def test_every_fault_on_a_market_stream_ends_with_the_true_books(fault):
    async with binance_via_proxy() as (sim, px, conn):
        with LoopErrors() as loop_errors:
            feeds = await books(conn)
            link = only_link(px["ws"])
            await inject(px["ws"], link, fault)
            if fault == "refuse":
                await refused_then_allowed(px["ws"], conn.market)
            if fault in ("stall", "blackhole"):
                await wait_for(lambda: conn.market.stalls == 1, timeout=bound(conn))
            if fault != "delay":
                await wait_for(lambda: any(k is not link for k in px["ws"].open_links()), timeout=30)
            await all_equal(sim, conn, feeds)
            silent = fault in ("stall", "blackhole")
            assert conn.market.stalls == int(silent) and all(f.health.stalls == int(silent) for f in feeds)
            assert conn.market.disconnects == (0 if fault == "delay" else 1)
            assert all(f.health.resyncs == (0 if fault == "delay" else 1) for f in feeds)
        assert loop_errors.errors == []


@pytest.mark.parametrize("fault", FAULTS)
async def test_every_fault_on_the_user_stream_ends_resubscribed_with_reports_flowing(fault):
    async with binance_via_proxy() as (sim, px, conn):
        with LoopErrors() as loop_errors:
            us, updates = await user_stream(conn)
            link = only_link(px["ws_api"])
            await inject(px["ws_api"], link, fault)
            if fault == "refuse":
                await wait_for(lambda: us.disconnects >= 2, timeout=20)  # reconnections refused
                await px["ws_api"].listen()
            if fault != "delay":
                await wait_for(lambda: us.up and us.epoch == 2, timeout=bound(conn) + 10)
            assert us.stalls == (1 if fault in ("stall", "blackhole") else 0)
            o = await conn.create_order("BTC-USDT", "sell", "limit", "0.001", "70000")
            u = await asyncio.wait_for(updates.__anext__(), 10)
            assert (u.client_order_id, u.status.value) == (o.client_order_id, "open")
        assert loop_errors.errors == []


def binance_orders(sim, cid) -> int:
    """How many orders the simulator holds for this client order id."""
    return sum(1 for o in sim.exchange.orders.values() if o.client_id == cid)


@pytest.mark.parametrize("fault", FAULTS)
async def test_every_fault_on_the_order_request_ends_with_the_order_once_or_never(fault):
    """The REST connection carrying an order breaks in each way; the order exists at the simulator once (or,
    when the request never got there, not at all) and the engine ends in the simulator's state."""
    async with binance_via_proxy() as (sim, px, conn):
        with LoopErrors() as loop_errors:
            conn.http.timeout_s = 1.0
            risk = RiskManager(limits=LIMITS)
            ex = ExecutionEngine({"binance": conn}, risk, reconcile_every_s=0.2, reconcile_max_every_s=0.5,
                                 cancel_on_shutdown=False)
            await ex.start()
            await books(conn, ("ETH-USDT",))
            price = D(conn.book_status("ETH-USDT").mid) * D("1.05")
            await conn.get_ticker_price("ETH-USDT")  # a pooled connection for the order to reuse
            rest = px["rest"]
            pooled = rest.open_links()
            for link in pooled:
                {"reset": lambda k: k.reset_after_next(UP), "truncate": lambda k: k.truncate(DOWN),
                 "stall": lambda k: k.stall(on_next=UP), "delay": lambda k: k.delay(DELAY_S),
                 "blackhole": lambda k: k.blackhole(), "refuse": lambda k: None}[fault](link)
            if fault == "refuse":
                await rest.refuse()
                for link in pooled:
                    link.reset()
            task = asyncio.ensure_future(ex.submit("binance", OrderRequest("ETH-USDT", Side.SELL, OrderType.LIMIT,
                                                                           D("0.01"), price.quantize(D("0.01")))))
            if fault == "stall":
                await wait_for(lambda: any(k.stalled for k in pooled))
                await wait_for(lambda: len(rest.links) > len(pooled))  # the answer timed out: a lookup
                for link in pooled:
                    link.release()  # the held request reaches the venue while the connector looks for it
            if fault == "refuse":
                await wait_for(lambda: task.done() or conn.http.errors >= 2)
                await rest.listen()
            o = await asyncio.wait_for(task, 30)
            placed = fault in ("reset", "truncate", "stall", "delay")
            await wait_for(lambda: o.status is (S.OPEN if placed else S.REJECTED), timeout=30)
            assert binance_orders(sim, o.client_order_id) == int(placed)
            venue_open = {x.client_id for x in sim.exchange.open_orders()}
            assert {x.client_order_id for x in ex.open_orders()} == venue_open
            assert risk.open_orders.get(("binance", "ETH-USDT"), 0) == len(venue_open) == int(placed)
            await ex.stop()
        assert loop_errors.errors == []
