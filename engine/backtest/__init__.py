"""Backtesting a strategy on recorded frames through the live code path (docs/backtest.md).

    from engine.backtest import run, Latency, QueueModel, Fees
    result = run(["tests/data/binance/spot/session_2021-10-12_cryptofeed"],
                 lambda engine: InventoryMarketMaker(engine, "binance", "NKNUSDT", ...),
                 seed=1, latency=Latency(entry_ns=2_000_000, response_ns=2_000_000),
                 queue_model=QueueModel.trades_only(), fees=Fees(maker=Decimal("0.001"), taker=Decimal("0.001")))
    result.fills, result.pnl_net, result.to_json()
"""
from .models import Fees, Latency, QueueModel
from .recording import Recording, RecordingError, load
from .runner import BacktestResult, feed_times, run
from .venue import BacktestConnector, Filters

__all__ = ["run", "BacktestResult", "Latency", "QueueModel", "Fees", "Recording", "RecordingError", "load",
           "feed_times", "BacktestConnector", "Filters"]
