"""The example strategies run against the simulator: the market maker quotes post-only and gets filled."""
import asyncio
import sys
from decimal import Decimal as D
from pathlib import Path

from engine.config import RiskLimits
from engine.execution import ExecutionEngine
from engine.risk import RiskManager
from engine.strategy import StrategyRunner
from engine.strategy.cross_venue import CrossVenueMonitor
from engine.strategy.market_maker import InventoryMarketMaker

sys.path.insert(0, str(Path(__file__).parent / "connectors"))
from binance_env import binance  # noqa: E402

LIMITS = RiskLimits(max_order_qty=D("1"), max_order_notional=D("10000"), max_position=D("1"),
                    max_total_notional=D("50000"), max_open_orders=10, max_orders_per_second=50,
                    price_band_pct=D("5"), max_daily_loss=D("1000"), max_book_age_s=30)


async def test_market_maker_quotes_post_only_and_gets_filled():
    async with binance(seed=11) as (sim, conn):
        risk = RiskManager(limits=LIMITS)
        ex = ExecutionEngine({"binance": conn}, risk)
        await ex.start()
        mm = InventoryMarketMaker(ex, "binance", "ETH-USDT", size=D("0.01"), half_spread_bps=D("0.05"),
                                  max_inventory=D("0.05"))
        runner = StrategyRunner(mm, {"binance": conn})
        await runner.start()
        loop = asyncio.get_running_loop()
        end = loop.time() + 20
        while loop.time() < end and not [t for t in sim.exchange.my_trades if t["symbol"] == "ETHUSDT"]:
            await asyncio.sleep(0.2)
        await runner.stop()
        await ex.stop()
        trades = [t for t in sim.exchange.my_trades if t["symbol"] == "ETHUSDT"]
        assert trades, "the market maker never got a fill"
        assert all(t["isMaker"] for t in trades)  # post-only quotes never take
        assert abs(risk.position("binance", "ETH-USDT").qty) <= D("0.05") + D("0.01")
        assert sim.exchange.open_orders("ETHUSDT") == []  # stop cancelled its quotes


async def test_cross_venue_monitor_reports_each_venue():
    from helpers import wait_for

    async with binance(seed=12) as (sim, conn):
        ex = ExecutionEngine({"binance": conn}, RiskManager(limits=LIMITS))
        mon = CrossVenueMonitor(ex, {"binance": ["BTC-USDT"]})
        runner = StrategyRunner(mon, {"binance": conn})
        await runner.start()
        await wait_for(lambda: "binance" in mon.snapshot()["venues"].get("BTC-USDT", {}))  # its book is live
        snap = mon.snapshot()
        await runner.stop()
        mid, spread = snap["venues"]["BTC-USDT"]["binance"]
        assert 50000 < mid < 70000 and spread > 0
