"""Lighter through the fault proxy: every fault on the stream socket ends with the book equal to the simulator's
true book, a silent socket is declared dead (``stalls``) and replaced, and the process never crashes."""
import os
import signal
from decimal import Decimal as D

import pytest

from engine.connectors.lighter.client import LighterConnector
from engine.connectors.lighter.urls import LighterEndpoints
from engine.models import OrderStatus as S
from faults.venues import (FAULTS, LoopErrors, inject, lighter_creates, lighter_open, lighter_via_proxy, limit,
                           refused_then_allowed, simulator_process, stream_link)
from helpers import wait_for

SYMBOL = "ETH-USDC"


async def caught_up(sim, conn, market_id=0, timeout=15.0):
    """Freeze the market and wait until our book is live at the simulator's nonce; then compare every level."""
    sim.paused = True
    lb, m = conn.market.books[market_id], sim.markets[market_id]
    await wait_for(lambda: lb.book.synced and conn.book_status(SYMBOL).live and lb.book.last_update_id == m.nonce,
                   timeout=timeout)
    assert lb.book.bids_scaled() == m.levels("b") and lb.book.asks_scaled() == m.levels("a")
    return lb


def replaced(proxy, old):
    """A stream connection other than ``old`` is open."""
    return any(k is not old for k in proxy.open_links("/stream"))


async def test_a_stalled_stream_is_declared_dead_and_replaced_and_the_book_resyncs():
    async with lighter_via_proxy(trading=False) as (sim, proxy, conn, _, _, feed):
        link = stream_link(proxy)
        link.stall()  # no close, no reset: the socket just goes silent both ways
        await wait_for(lambda: conn.market.stalls == 1, timeout=conn.market.read_deadline.bound_s + 10)
        assert feed.health.stalls == 1 and conn.health()["books"][0]["stalls"] == 1
        await wait_for(lambda: replaced(proxy, link))
        await caught_up(sim, conn)
        assert conn.market.disconnects == 1 and link.stalled  # the old socket is still stalled, not closed


async def test_a_frozen_server_is_declared_dead_and_the_book_comes_back_when_it_thaws():
    async with simulator_process("lighter") as (info, proc):
        conn = LighterConnector(endpoints=LighterEndpoints(info["rest_url"], info["ws_url"]))
        await conn.connect()
        try:
            await conn.add_book(SYMBOL)
            await wait_for(lambda: conn.book_status(SYMBOL).live)
            os.kill(proc.pid, signal.SIGSTOP)
            await wait_for(lambda: conn.market.stalls == 1, timeout=conn.market.read_deadline.bound_s + 10)
            assert not conn.book_status(SYMBOL).live  # a stale book is never passed off as live
            os.kill(proc.pid, signal.SIGCONT)
            await wait_for(lambda: conn.book_status(SYMBOL).live, timeout=30)
        finally:
            await conn.disconnect()


@pytest.mark.parametrize("fault", FAULTS)
async def test_every_fault_on_the_stream_socket_ends_with_the_true_book_and_every_order_once(fault):
    """Through each fault: the book converges to the true book; a silent socket (stall, blackhole) is counted in
    stalls and replaced; orders placed before and after are each sequenced once, and the engine's open orders
    equal the simulator's."""
    async with lighter_via_proxy() as (sim, proxy, conn, ex, risk, feed):
        with LoopErrors() as loop_errors:
            sim.paused = True
            bid = D(sim.markets[0].spec.px(max(sim.markets[0].bids)))
            before = await ex.submit("lighter", limit("buy", "0.01", bid - 5))
            await wait_for(lambda: before.status is S.OPEN)
            sim.paused = False
            link = stream_link(proxy)
            if fault == "blackhole":
                proxy.accept_mode = "blackhole"  # the first reconnection is swallowed too: its handshake times out
            await inject(proxy, link, fault)
            if fault == "refuse":
                await refused_then_allowed(proxy, conn.market)
            if fault in ("stall", "blackhole"):
                await wait_for(lambda: conn.market.stalls == 1, timeout=conn.market.read_deadline.bound_s + 10)
            if fault == "blackhole":
                await wait_for(lambda: conn.market.connect_failures >= 1, timeout=20)
                proxy.accept_mode = "forward"
            if fault != "delay":
                await wait_for(lambda: replaced(proxy, link) and conn.get_user_data_stream().up, timeout=30)
            await wait_for(lambda: conn.book_status(SYMBOL).live, timeout=30)
            after = await ex.submit("lighter", limit("buy", "0.01", bid - 6))
            await wait_for(lambda: after.status is S.OPEN, timeout=15)
            await caught_up(sim, conn)
            for o in (before, after):
                assert lighter_creates(sim, o.client_order_id) == 1
            assert {o.client_order_id for o in ex.open_orders()} == lighter_open(sim)
            assert risk.open_orders[("lighter", "ETH-USDC")] == len(lighter_open(sim)) == 2
            assert conn.market.stalls == (1 if fault in ("stall", "blackhole") else 0) == feed.health.stalls
            assert conn.market.disconnects == (0 if fault == "delay" else 1)
        assert loop_errors.errors == []
