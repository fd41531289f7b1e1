"""Backtesting a strategy on recorded frames through the live code path (docs/backtest.md).

    from decimal import Decimal
    from engine.backtest import Fees, Latency, QueueModel, run
    from engine.config import RiskLimits
    from engine.strategy.market_maker import InventoryMarketMaker

    result = run(["tests/data/binance/futures_usdm/session_2021-07-22_cryptofeed"],
                 lambda engine: InventoryMarketMaker(engine, "binance", "SUSHIUSDT", size=Decimal("2"),
                                                     tick=Decimal("0.001"), max_inventory=Decimal("20")),
                 seed=1, latency=Latency(entry_ns=1_000_000, response_ns=1_000_000),
                 queue_model=QueueModel.trades_only(), fees=Fees(maker=Decimal("0.0002"), taker=Decimal("0.0004")),
                 risk_limits=RiskLimits(max_order_qty=Decimal(1000), max_position=Decimal(1000)))
    result.fills, result.pnl_net, result.to_json()
"""
from .models import Fees, Latency, QueueModel
from .recording import Recording, RecordingError, load
from .runner import BacktestResult, feed_times, run
from .venue import BacktestConnector, Filters

__all__ = ["run", "BacktestResult", "Latency", "QueueModel", "Fees", "Recording", "RecordingError", "load",
           "feed_times", "BacktestConnector", "Filters"]
