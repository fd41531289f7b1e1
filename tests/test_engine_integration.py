"""ExecutionEngine + RiskManager + the Binance connector against the simulator over real sockets.

The Lighter half runs where the ``lighter`` extra (the signer library) is installed, as in CI.
"""
import contextlib
import sys
import time
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.config import RiskLimits
from engine.execution import ExecutionEngine
from engine.models import OrderRequest, OrderStatus, OrderType, Side
from engine.risk import RiskManager

sys.path.insert(0, str(Path(__file__).parent / "connectors"))
from binance_env import binance  # noqa: E402
from helpers import wait_for  # noqa: E402

LIMITS = RiskLimits(max_order_qty=D("1"), max_order_notional=D("10000"), max_position=D("2"),
                    max_total_notional=D("50000"), max_open_orders=10, max_orders_per_second=20,
                    price_band_pct=D("10"), max_daily_loss=D("1000"), max_book_age_s=30)


async def engine_for(conn, **kw):
    """An engine on ``conn`` once its ETH-USDT book is live (the RiskManager refuses orders without one)."""
    risk = RiskManager(limits=kw.pop("limits", LIMITS))
    feed = await conn.add_book("ETH-USDT")
    await wait_for(lambda: conn.book_status("ETH-USDT").live)
    assert feed.book.synced
    return ExecutionEngine({"binance": conn}, risk, reconcile_every_s=0.2, **kw), risk


def req(side, qty, type_=OrderType.MARKET, price=None, symbol="ETH-USDT"):
    return OrderRequest(symbol, Side(side), type_, D(qty), D(price) if price else None)


async def test_orders_go_through_risk_to_fills_and_pnl_matches_the_venue():
    async with binance() as (sim, conn):
        ex, risk = await engine_for(conn)
        await ex.start()
        streamed = set()  # client order ids the user stream reported filled
        conn.get_user_data_stream().listeners.append(
            lambda u: u.status is OrderStatus.FILLED and streamed.add(u.client_order_id))
        try:
            a = await ex.submit("binance", req("buy", "0.4"))
            b = await ex.submit("binance", req("sell", "0.1"))
            assert a.status is OrderStatus.FILLED and b.status is OrderStatus.FILLED
            # the user stream repeats the fills (its listeners run after the engine's): they must not count twice
            await wait_for(lambda: {a.client_order_id, b.client_order_id} <= streamed)
            pos = risk.position("binance", "ETH-USDT")
            assert pos.qty == D("0.3")
            trades = [t for t in sim.exchange.my_trades if t["symbol"] == "ETHUSDT"]
            bought = [t for t in trades if t["isBuyer"]]
            sold = [t for t in trades if not t["isBuyer"]]
            avg_buy = sum(D(t["price"]) * D(t["qty"]) for t in bought) / sum(D(t["qty"]) for t in bought)
            realized = sum((D(t["price"]) - avg_buy) * D(t["qty"]) for t in sold)
            assert pos.realized == realized
            assert pos.fees == sum(D(t["commission"]) for t in trades)
            eth_fees = sum(D(t["commission"]) for t in bought)
            assert sim.exchange.balances["ETH"].free - D("10") == pos.qty - eth_fees
        finally:
            await ex.stop()


async def test_risk_refusal_never_reaches_the_venue():
    async with binance() as (sim, conn):
        ex, risk = await engine_for(conn)
        n = len(sim.exchange.orders)
        o = await ex.submit("binance", req("buy", "5"))
        assert o.status is OrderStatus.REJECTED and "max 1" in o.reason
        assert len(sim.exchange.orders) == n and risk.refusals["max_order_qty"] == 1


async def test_timeout_on_placement_ends_with_exactly_one_order():
    async with binance(timeout_s=0.5) as (sim, conn):
        ex, _ = await engine_for(conn)
        sim.faults.order_timeout = 1
        sim.faults.order_timeout_s = 2.0
        o = await ex.submit("binance", req("buy", "0.01", OrderType.LIMIT, "2800"))
        assert o.status in (OrderStatus.OPEN, OrderStatus.UNKNOWN)
        await wait_for(lambda: o.status is OrderStatus.OPEN)
        assert [x.client_id for x in sim.exchange.orders.values()].count(o.client_order_id) == 1
        await ex.stop()


async def test_a_rate_limit_ban_is_survived_without_a_418():
    async with binance() as (sim, conn):
        ex, _ = await engine_for(conn)
        sim.faults.rate_limit_429 = 1
        o = await ex.submit("binance", req("buy", "0.01", OrderType.LIMIT, "2800"))
        assert o.status is OrderStatus.REJECTED and "http=429" in o.reason
        assert conn.limits.banned
        conn.limits.banned_until_ns = 0  # Retry-After has passed
        o2 = await ex.submit("binance", req("buy", "0.01", OrderType.LIMIT, "2800"))
        assert o2.status is OrderStatus.OPEN
        assert sim.rest.weights.answered_418 == 0
        await ex.stop()


async def test_shutdown_cancels_open_orders_and_the_kill_switch_too():
    async with binance() as (sim, conn):
        ex, risk = await engine_for(conn)
        await ex.start()
        for px in ("2800", "2801", "2802"):
            assert (await ex.submit("binance", req("buy", "0.01", OrderType.LIMIT, px))).status is OrderStatus.OPEN
        await risk.kill("test")
        assert sim.exchange.open_orders("ETHUSDT") == []
        await wait_for(lambda: not ex.open_orders())
        risk.reset()
        o = await ex.submit("binance", req("buy", "0.01", OrderType.LIMIT, "2803"))
        assert o.status is OrderStatus.OPEN  # reset re-armed trading
        assert [x.client_id for x in sim.exchange.open_orders("ETHUSDT")] == [o.client_order_id]
        await ex.stop()
        assert sim.exchange.open_orders("ETHUSDT") == [] and o.status is OrderStatus.CANCELED


# ---- the Lighter half: orders signed by the official signer library, confirmed on the account stream


@contextlib.asynccontextmanager
async def lighter_engine(**kw):
    pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
    from engine.connectors.lighter.client import LighterConnector
    from engine.connectors.lighter.signer import new_api_key
    from engine.connectors.lighter.urls import LighterEndpoints
    from engine.sim.lighter import LighterSimulator

    async with LighterSimulator(seed=9) as sim:
        conn = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url),
                                account_index=sim.account_index, api_key_index=sim.api_key_index,
                                api_private_key=new_api_key()[0])
        await conn.connect()
        feed = await conn.add_book("ETH-USDC")
        risk = RiskManager(limits=LIMITS)
        ex = ExecutionEngine({"lighter": conn}, risk, reconcile_every_s=0.2, **kw)
        await ex.start()
        try:
            await wait_for(lambda: feed.book.synced)
            yield sim, conn, ex, risk, feed
        finally:
            await ex.stop()
            await conn.disconnect()


async def test_lighter_orders_through_risk_to_fills_and_a_nonce_conflict_survived():
    async with lighter_engine() as (sim, conn, ex, risk, feed):
        sim.paused = True
        ask = D(sim.markets[0].spec.px(min(sim.markets[0].asks)))
        o = await ex.submit("lighter", req("buy", "0.05", OrderType.MARKET, str(ask + 20), "ETH-USDC"))
        await wait_for(lambda: o.status is OrderStatus.FILLED)
        assert risk.position("lighter", "ETH-USDC").qty == D("0.05")
        assert (await conn.get_positions())["ETH"] == D("0.05")  # the venue's own account agrees
        sim.faults["nonce_conflict"] = 1
        bid = D(sim.markets[0].spec.px(max(sim.markets[0].bids)))
        r = await ex.submit("lighter", req("buy", "0.01", OrderType.LIMIT, str(bid - 5), "ETH-USDC"))
        await wait_for(lambda: r.status is OrderStatus.OPEN)
        creates = [i for t, i in sim.txs if t == 14 and str(i["ClientOrderIndex"]) == r.client_order_id]
        assert len(creates) == 1 and conn.lane.conflicts == 1


async def test_lighter_shutdown_cancels_open_orders():
    async with lighter_engine() as (sim, conn, ex, risk, feed):
        sim.paused = True
        bid = D(sim.markets[0].spec.px(max(sim.markets[0].bids)))
        orders = [await ex.submit("lighter", req("buy", "0.01", OrderType.LIMIT, str(bid - k), "ETH-USDC"))
                  for k in (5, 6)]
        await wait_for(lambda: all(o.status is OrderStatus.OPEN for o in orders))
        await ex.cancel_all()
        await wait_for(lambda: all(o.status is OrderStatus.CANCELED for o in orders))
        assert not sim.orders.open_by_market()


async def test_a_lighter_order_the_venue_sequenced_but_dropped_is_unknown_until_its_expiry_then_rejected():
    async with lighter_engine(confirm_after_s=0.3, reconcile_max_every_s=0.5) as (sim, conn, ex, risk, feed):
        sim.paused = True
        bid = D(sim.markets[0].spec.px(max(sim.markets[0].bids)))
        sim.faults["drop_order"] = 1  # sendTx answers 200 (sequenced), then the venue drops it without a report
        o = await ex.submit("lighter", req("buy", "0.01", OrderType.LIMIT, str(bid - 5), "ETH-USDC"))
        assert o.status is OrderStatus.SUBMITTED  # sequenced is not accepted
        await wait_for(lambda: o.status is OrderStatus.UNKNOWN)  # no report: unknown, not rejected ...
        left_s = conn.order_deadline_ms(o.client_order_id) / 1000 - time.time()
        assert 500 < left_s < 620  # ... until the transaction's ExpiredAt (the signer's now + 10 minutes)
        lookups = conn.http.requests
        await wait_for(lambda: conn.http.requests >= lookups + 4)  # still being looked up
        assert o.status is OrderStatus.UNKNOWN and risk.open_orders[("lighter", "ETH-USDC")] == 1
        conn.deadlines.set(o.client_order_id, int(time.time() * 1000))  # the expiry passes
        await wait_for(lambda: o.status is OrderStatus.REJECTED, timeout=10)
        assert "not found at the venue" in o.reason and sim.orders.dropped[-1][0] == int(o.client_order_id)
        assert risk.open_orders[("lighter", "ETH-USDC")] == 0  # the risk slot it held is free again
        ok = await ex.submit("lighter", req("buy", "0.01", OrderType.LIMIT, str(bid - 6), "ETH-USDC"))
        await wait_for(lambda: ok.status is OrderStatus.OPEN)  # the next order is unaffected


async def test_lighter_fills_missed_while_the_account_stream_was_away_are_reconciled_on_resubscription():
    async with lighter_engine() as (sim, conn, ex, risk, feed):
        sim.paused = True
        m = sim.markets[0]
        bid = D(m.spec.px(max(m.bids)))
        a = await ex.submit("lighter", req("buy", "0.01", OrderType.LIMIT, str(bid - 5), "ETH-USDC"))
        b = await ex.submit("lighter", req("buy", "0.01", OrderType.LIMIT, str(bid - 6), "ETH-USDC"))
        await wait_for(lambda: a.status is OrderStatus.OPEN and b.status is OrderStatus.OPEN)
        wire = f"account_all_orders:{sim.account_index}"
        for s in sim.stream.sessions:  # the venue stops telling us (a silently dead private subscription)
            s.channels.discard(wire)
        m.mid = int((bid - 5).scaleb(2)) - 1  # the market walks through a's price: a fills unseen
        sim.paused = False
        await wait_for(lambda: sim.orders._find(int(a.client_order_id)) is None, timeout=10)
        sim.paused = True
        assert a.status is OrderStatus.OPEN  # nobody told the engine yet
        before = conn.http.requests
        await sim.stream.close_all()  # reconnect -> resubscription -> epoch 2 -> reconcile
        await wait_for(lambda: a.status is OrderStatus.FILLED, timeout=10)
        assert risk.position("lighter", "ETH-USDC").qty == D("0.01") and a.filled == D("0.01")
        assert (b.status is OrderStatus.OPEN) == (sim.orders._find(int(b.client_order_id)) is not None)
        assert conn.http.requests - before <= 4  # one open-orders read, lookups only for what is not open
