"""The contract between the trading layer and a venue, over real sockets against the simulators.

- the fat-finger band and the stale-book check cannot be switched off: while a book resyncs, the
  RiskManager (reading ``book_status`` from the connector itself) refuses, and the connector is DEGRADED;
- a user stream nobody reads retains nothing, and a slow reader is bounded (drop-oldest, counted);
- a venue without credentials fails one clear way before any network I/O, and the engine runs
  market-data-only instead of crashing;
- the daily-loss window rolls over at the configured UTC time.
"""
import asyncio
import contextlib
import logging
import sys
from decimal import Decimal as D
from pathlib import Path

import pytest

from engine.config import RiskLimits
from engine.connectors.base import BookState, ConnectorState
from engine.errors import AuthenticationError
from engine.execution import ExecutionEngine
from engine.models import OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from engine.risk import RiskManager

sys.path.insert(0, str(Path(__file__).parent / "connectors"))
from binance_env import binance  # noqa: E402
from helpers import wait_for  # noqa: E402

LIMITS = RiskLimits(max_order_qty=D("1"), max_order_notional=D("100000"), max_position=D("2"),
                    max_total_notional=D("500000"), max_open_orders=50, max_orders_per_second=1000,
                    price_band_pct=D("5"), max_daily_loss=D("1000"), max_book_age_s=30)


def limit(side, price, symbol="ETH-USDT", qty="0.01"):
    return OrderRequest(symbol, Side(side), OrderType.LIMIT, D(qty), D(price))


@contextlib.asynccontextmanager
async def lighter_venue(keys=True):
    pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
    from engine.connectors.lighter.client import LighterConnector
    from engine.connectors.lighter.signer import new_api_key
    from engine.connectors.lighter.urls import LighterEndpoints
    from engine.sim.lighter import LighterSimulator

    async with LighterSimulator(seed=5) as sim:
        kw = dict(account_index=sim.account_index, api_key_index=sim.api_key_index,
                  api_private_key=new_api_key()[0]) if keys else {}
        conn = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url), **kw)
        await conn.connect()
        try:
            yield sim, conn
        finally:
            await conn.disconnect()


# ---- 1. the price band and the book checks hold while a book resyncs


async def test_binance_fat_finger_is_refused_while_the_book_resyncs_and_the_venue_is_degraded():
    async with binance(timeout_s=3) as (sim, conn):
        await conn.add_book("ETH-USDT")
        await wait_for(lambda: conn.book_status("ETH-USDT").live)
        assert conn.state is ConnectorState.LIVE
        ex = ExecutionEngine({"binance": conn}, RiskManager(limits=LIMITS))
        mid = conn.book_status("ETH-USDT").mid
        fat = str((mid * D("1.5")).quantize(D("0.01")))
        live = await ex.submit("binance", limit("buy", fat))
        assert live.status is OrderStatus.REJECTED and "% from the mid" in live.reason

        sent = len(sim.exchange.orders)
        sim.faults.slow_snapshot_s = 2.0  # the resync's snapshot takes a while: the book stays unsynced
        sim.faults.drop_diffs = 10  # gaps (the simulator drops the next diffs of whichever market moves)
        await wait_for(lambda: not conn.book_status("ETH-USDT").live)
        status = conn.book_status("ETH-USDT")
        assert status.state in (BookState.RESYNCING, BookState.SYNCING) and status.mid is None
        assert conn.state is ConnectorState.DEGRADED
        during = await ex.submit("binance", limit("buy", fat))  # no await between the check above and this
        assert during.status is OrderStatus.REJECTED
        assert "connector is degraded" in during.reason
        assert len(sim.exchange.orders) == sent  # nothing reached the venue

        sim.faults.slow_snapshot_s = 0.0
        await wait_for(lambda: conn.book_status("ETH-USDT").live)
        assert conn.state is ConnectorState.LIVE
        again = await ex.submit("binance", limit("buy", fat))
        assert again.status is OrderStatus.REJECTED and "% from the mid" in again.reason
        near = str((conn.book_status("ETH-USDT").mid * D("0.99")).quantize(D("0.01")))
        ok = await ex.submit("binance", limit("buy", near))
        assert ok.status is OrderStatus.OPEN
        await ex.cancel_all()


async def test_an_order_on_a_symbol_without_a_book_is_refused():
    async with binance() as (sim, conn):
        ex = ExecutionEngine({"binance": conn}, RiskManager(limits=LIMITS))
        o = await ex.submit("binance", limit("buy", "3000"))
        assert o.status is OrderStatus.REJECTED and "ETH-USDT book is unsubscribed" in o.reason
        assert not sim.exchange.orders


async def test_lighter_fat_finger_is_refused_while_the_book_resyncs_and_the_venue_is_degraded():
    async with lighter_venue() as (sim, conn):
        await conn.add_book("ETH-USDC")
        ex = ExecutionEngine({"lighter": conn}, RiskManager(limits=LIMITS), reconcile_every_s=0.2)
        await ex.start()
        try:
            await wait_for(lambda: conn.book_status("ETH-USDC").live and conn.state is ConnectorState.LIVE)
            fat = str((conn.book_status("ETH-USDC").mid * D("1.5")).quantize(D("0.01")))
            live = await ex.submit("lighter", limit("buy", fat, "ETH-USDC"))
            assert live.status is OrderStatus.REJECTED and "% from the mid" in live.reason

            held = []  # the market's resubscription is held back, so the resync lasts until we let go
            send = conn.market._send

            def hold(msg):
                if msg.get("type") == "subscribe" and str(msg.get("channel", "")).startswith("order_book/"):
                    held.append(msg)
                else:
                    send(msg)

            conn.market._send = hold
            txs = len(sim.txs)
            sim.faults["gap"] = 1
            await wait_for(lambda: held)
            assert not conn.book_status("ETH-USDC").live and conn.state is ConnectorState.DEGRADED
            during = await ex.submit("lighter", limit("buy", fat, "ETH-USDC"))
            assert during.status is OrderStatus.REJECTED and "connector is degraded" in during.reason
            assert len(sim.txs) == txs  # nothing was signed or sent

            conn.market._send = send
            for msg in held:
                send(msg)
            await wait_for(lambda: conn.book_status("ETH-USDC").live and conn.state is ConnectorState.LIVE)
            again = await ex.submit("lighter", limit("buy", fat, "ETH-USDC"))
            assert again.status is OrderStatus.REJECTED and "% from the mid" in again.reason
        finally:
            await ex.stop()


# ---- 3. user streams hold no unbounded queue


def _queued(stream) -> int:
    return sum(v.qsize() for v in vars(stream).values() if isinstance(v, asyncio.Queue)) + sum(
        q.qsize() for q in getattr(stream, "_readers", ()))


async def test_a_user_stream_nobody_reads_retains_no_updates():
    async with binance() as (sim, conn):
        await conn.add_book("ETH-USDT")
        await wait_for(lambda: conn.book_status("ETH-USDT").live)
        ex = ExecutionEngine({"binance": conn}, RiskManager(limits=LIMITS))
        await ex.start()
        us = conn.get_user_data_stream()
        seen = []
        us.listeners.append(seen.append)
        near = str((conn.book_status("ETH-USDT").mid * D("0.98")).quantize(D("0.01")))
        for _ in range(20):
            o = await ex.submit("binance", limit("buy", near))
            assert o.status is OrderStatus.OPEN
            await ex.cancel(o.client_order_id)
        await wait_for(lambda: len(seen) >= 40)  # every new and canceled report arrived ...
        assert _queued(us) == 0  # ... and none is kept for a reader that does not exist
        await ex.stop()


async def test_a_slow_user_stream_reader_is_bounded_and_its_drops_counted():
    async with binance() as (sim, conn):
        us = conn.get_user_data_stream()
        us.queue_max = 5
        reader = us.stream_order_updates()  # its queue exists from here on
        upd = [OrderUpdate("binance", "ETH-USDT", str(i), f"c{i}", OrderStatus.OPEN) for i in range(20)]
        for u in upd:
            us.emit(u)
        got = [await reader.__anext__() for _ in range(5)]
        assert us.reader_drops == 15  # 20 sent while the reader slept, 5 kept: the oldest dropped
        assert [u.order_id for u in got] == [u.order_id for u in upd[-5:]]  # the newest survive
        await reader.aclose()
        assert _queued(us) == 0


# ---- 4. missing credentials: one clear error before any I/O, market-data-only engine


async def test_keyless_venues_refuse_before_any_network_io_and_the_engine_runs_market_data_only(caplog):
    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.binance.urls import BinanceEndpoints

    async with binance(connect=False) as (bsim, _):
        bconn = BinanceConnector(endpoints=BinanceEndpoints(bsim.rest_url, bsim.ws_url, bsim.ws_api_url))
        stats = bconn.http.stats()
        async with lighter_venue(keys=False) as (lsim, lconn):
            before = lconn.http.requests
            for conn, names in ((bconn, "BINANCE_API_KEY"), (lconn, "LIGHTER_API_PRIVATE_KEY")):
                with pytest.raises(AuthenticationError, match=names):
                    conn.get_user_data_stream()
            assert lconn.http.requests == before and bconn.http.stats() == stats
            await bconn.connect()
            ex = ExecutionEngine({"binance": bconn, "lighter": lconn}, RiskManager(limits=LIMITS))
            with caplog.at_level(logging.WARNING, logger="engine.execution"):
                await ex.start()  # no crash
            lines = [r.getMessage() for r in caplog.records if r.name == "engine.execution"]
            assert sorted(ex.market_data_only) == ["binance", "lighter"]
            assert len(lines) == 2 and all("market data only" in line for line in lines)
            await lconn.add_book("ETH-USDC")
            await wait_for(lambda: lconn.book_status("ETH-USDC").live)
            o = await ex.submit("lighter", limit("buy", "1", "ETH-USDC"))
            assert o.status is OrderStatus.REJECTED and "no credentials" in o.reason
            assert ex.rejections()["lighter"] == {"count": 1, "last_reason": o.reason}
            await ex.stop()
            await bconn.disconnect()


# ---- 5. the daily-loss window


class WallClock:
    def __init__(self, t):
        self.t = t

    def __call__(self):
        return self.t


class LiveVenue:
    state = ConnectorState.LIVE

    def book_status(self, symbol):
        from engine.connectors.base import BookStatus

        return BookStatus(symbol, BookState.LIVE, D("100"), 0.1)


@pytest.mark.parametrize("rollover,before,after", [
    ("00:00", "2026-12-01T23:59:00", "2026-12-02T00:00:01"),
    ("08:30", "2026-12-02T08:29:00", "2026-12-02T08:31:00"),
])
def test_the_daily_loss_window_rolls_over_at_the_configured_utc_time(rollover, before, after):
    from datetime import datetime, timezone

    ts = lambda text: datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()  # noqa: E731
    clock = WallClock(ts(before) - 3600)
    r = RiskManager(limits=RiskLimits(max_daily_loss=D("100"), day_rollover_utc=rollover,
                                      max_order_notional=D("1e9"), max_total_notional=D("1e9"),
                                      max_position=D("1e9"), max_order_qty=D("1e9")),
                    wall_clock=clock)
    venue = LiveVenue()
    r.on_fill("sim", "X-USD", Side.BUY, D("1"), D("100"))
    r.on_fill("sim", "X-USD", Side.SELL, D("1"), D("20"))  # -80 today
    assert not r.killed
    clock.t = ts(before)
    r.on_fill("sim", "X-USD", Side.BUY, D("1"), D("100"))
    r.on_fill("sim", "X-USD", Side.SELL, D("1"), D("70"))  # -110 today: the same window, over the limit
    assert r.killed and "daily loss 110.00" in r.kill_reason
    r.reset()
    clock.t = ts(after)
    assert r.check(limit("buy", "100", "X-USD"), venue="sim", connector=venue).ok  # a new window
    r.on_fill("sim", "X-USD", Side.BUY, D("1"), D("100"))
    r.on_fill("sim", "X-USD", Side.SELL, D("1"), D("20"))  # -80 in the new window: inside the limit
    assert not r.killed and r.daily_pnl == D("-80")


def test_a_malformed_rollover_time_is_a_config_error_that_names_the_variable():
    from engine.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="RISK_DAY_ROLLOVER_UTC") as e:
        Settings.from_env({"RISK_DAY_ROLLOVER_UTC": "25:00"})
    assert "25:00" not in str(e.value)
