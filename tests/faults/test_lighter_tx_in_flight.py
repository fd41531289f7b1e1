"""A Lighter transaction in flight on a stream socket that stalls or resets: the order ends in its true venue state.

The finding this guards: the stream socket stalled with a jsonapi/sendtx frame written but not delivered, for
longer than the connector's answer timeout plus the engine's reconciliation; the engine looked the order up,
did not find it, and declared it REJECTED; when the stall cleared the venue placed it, a live order the engine
no longer saw. Here the proxy holds the sendtx frame (the next client->server chunk) and releases it after the
engine has looked the order up several times; the order must end OPEN (or FILLED) in the engine as at the
simulator, with the engine's open orders, risk slots and position equal to the simulator's, and exactly one
CreateOrder sequenced for its client order index.
"""
import time
from decimal import Decimal as D

import pytest

from engine.models import OrderStatus
from faults.proxy import UP
from faults.venues import (lighter_creates, lighter_open, lighter_position, lighter_via_proxy, limit,
                           stream_link)
from helpers import wait_for

S = OrderStatus
TX_TIMEOUT_S = 0.5


def top(sim, market_id=0):
    m = sim.markets[market_id]
    return D(m.spec.px(max(m.bids))), D(m.spec.px(min(m.asks)))


async def looked_up_past_the_timeout(conn, o, lookups=3):
    """The answer timed out (UNKNOWN) and the engine has looked the order up ``lookups`` more times."""
    await wait_for(lambda: o.status is S.UNKNOWN)
    before = conn.http.requests
    await wait_for(lambda: conn.http.requests >= before + 2 * lookups)  # get_order: active, then inactive


async def submit_held(sim, proxy, conn, ex, price_of):
    """Arm a stall on the stream socket's next client->server chunk, then submit: the sendtx frame is held.
    Returns (order, link) once the answer has timed out and the engine has looked the order up a few times."""
    sim.paused = True
    conn.market.tx.timeout_s = TX_TIMEOUT_S
    link = stream_link(proxy)
    link.stall(on_next=UP)
    o = await ex.submit("lighter", limit("buy", "0.01", price_of(*top(sim))))
    assert link.stalled and lighter_creates(sim, o.client_order_id) == 0  # held by the network
    await looked_up_past_the_timeout(conn, o)
    return o, link


def assert_engine_agrees_with_the_venue(sim, ex, risk, o, expect):
    assert o.status is expect and not o.inferred
    assert lighter_creates(sim, o.client_order_id) == 1  # sequenced once: never lost, never doubled
    venue_open = lighter_open(sim)
    assert {x.client_order_id for x in ex.open_orders()} == venue_open
    assert risk.open_orders.get(("lighter", "ETH-USDC"), 0) == len(venue_open)
    assert risk.position("lighter", "ETH-USDC").qty == lighter_position(sim)


async def test_a_sendtx_held_past_the_timeout_and_reconciliation_ends_open_when_the_stall_clears():
    async with lighter_via_proxy() as (sim, proxy, conn, ex, risk, feed):
        o, link = await submit_held(sim, proxy, conn, ex, lambda bid, ask: bid - 5)
        assert o.status is S.UNKNOWN and risk.open_orders[("lighter", "ETH-USDC")] == 1  # not REJECTED
        link.release()
        await wait_for(lambda: o.status is S.OPEN)
        assert_engine_agrees_with_the_venue(sim, ex, risk, o, S.OPEN)
        assert conn.market.disconnects == 0 and link.is_open  # the stall was shorter than the read deadline
        assert conn.market.tx.late_answers == 1  # the venue's answer came after the caller stopped waiting


async def test_a_sendtx_held_by_a_stall_that_outlasts_the_socket_ends_open_after_the_reconnect():
    async with lighter_via_proxy() as (sim, proxy, conn, ex, risk, feed):
        o, link = await submit_held(sim, proxy, conn, ex, lambda bid, ask: bid - 5)
        await wait_for(lambda: conn.market.stalls == 1, timeout=20)  # the silent socket is declared dead ...
        fresh = lambda: [k for k in proxy.open_links("/stream") if k is not link]  # noqa: E731
        await wait_for(lambda: len(fresh()) == 1 and conn.get_user_data_stream().up)  # ... and replaced
        await looked_up_past_the_timeout(conn, o)
        assert o.status is S.UNKNOWN and lighter_creates(sim, o.client_order_id) == 0
        link.release()  # the network recovers and delivers the frame the client gave up on
        await wait_for(lambda: o.status is S.OPEN)
        assert_engine_agrees_with_the_venue(sim, ex, risk, o, S.OPEN)
        assert feed.health.stalls == 1 and conn.book_status("ETH-USDC").live


async def test_a_marketable_sendtx_held_by_a_stall_ends_filled_with_the_venues_position():
    async with lighter_via_proxy() as (sim, proxy, conn, ex, risk, feed):
        o, link = await submit_held(sim, proxy, conn, ex, lambda bid, ask: ask + 20)
        assert o.status is S.UNKNOWN
        link.release()
        await wait_for(lambda: o.status is S.FILLED)
        assert_engine_agrees_with_the_venue(sim, ex, risk, o, S.FILLED)
        assert lighter_position(sim) == D("0.01")


async def test_a_reset_right_after_the_sendtx_frame_ends_open():
    async with lighter_via_proxy() as (sim, proxy, conn, ex, risk, feed):
        sim.paused = True
        bid, _ = top(sim)
        link = stream_link(proxy)
        link.reset_after_next(UP)  # the venue gets the frame, the connection dies before the answer
        o = await ex.submit("lighter", limit("buy", "0.01", bid - 5))
        await wait_for(lambda: conn.market.disconnects == 1)
        await wait_for(lambda: o.status is S.OPEN, timeout=15)
        assert_engine_agrees_with_the_venue(sim, ex, risk, o, S.OPEN)
        await wait_for(lambda: len(proxy.open_links("/stream")) == 1)  # a new stream socket


@pytest.mark.parametrize("how", ["reset while held", "cut mid-frame"])
async def test_a_sendtx_lost_on_the_way_stays_unknown_until_its_expiry_then_is_rejected(how):
    async with lighter_via_proxy() as (sim, proxy, conn, ex, risk, feed):
        sim.paused = True
        bid, _ = top(sim)
        link = stream_link(proxy)
        if how == "cut mid-frame":
            link.truncate(UP)  # half the frame reaches the venue, then the connection closes
            o = await ex.submit("lighter", limit("buy", "0.01", bid - 5))
        else:
            link.stall(on_next=UP)
            o = await ex.submit("lighter", limit("buy", "0.01", bid - 5))
            await wait_for(lambda: link.stalled)
            link.reset()  # the held frame dies with the connection: the venue never saw it
        await wait_for(lambda: o.status is S.UNKNOWN)
        await looked_up_past_the_timeout(conn, o)
        assert o.status is S.UNKNOWN and risk.open_orders[("lighter", "ETH-USDC")] == 1  # it might still exist
        conn.deadlines.set(o.client_order_id, int(time.time() * 1000))  # its ExpiredAt passes
        await wait_for(lambda: o.status is S.REJECTED)
        assert o.inferred and lighter_creates(sim, o.client_order_id) == 0 and not lighter_open(sim)
        assert risk.open_orders.get(("lighter", "ETH-USDC"), 0) == 0 and not ex.open_orders()
        ok = await ex.submit("lighter", limit("buy", "0.01", bid - 6))  # the next order is unaffected
        await wait_for(lambda: ok.status is S.OPEN)
        assert lighter_creates(sim, ok.client_order_id) == 1
