"""engine/backtest/report.py on a hand-made result: the equity curve, maximum drawdown, PnL per hour, maximum
inventory and the plotted series, each worked out by hand."""
from decimal import Decimal as D

from engine.backtest import BacktestResult
from engine.backtest.report import series, summary

S = 1_000_000_000


def result() -> BacktestResult:
    r = BacktestResult("binance", 0, 10, 0, 7200 * S)
    r.fills = [{"t_ns": 1 * S, "symbol": "X-USDT", "client_order_id": "bt-1", "side": "buy", "price": "100",
                "qty": "1", "liquidity": "taker", "fee": "0.1"},
               {"t_ns": 3 * S, "symbol": "X-USDT", "client_order_id": "bt-2", "side": "sell", "price": "102",
                "qty": "1", "liquidity": "maker", "fee": "0.1"}]
    r.positions = [[1 * S, "X-USDT", "1"], [3 * S, "X-USDT", "0"]]
    r.marks = [[1 * S, "X-USDT", "100"], [2 * S, "X-USDT", "99"], [4 * S, "X-USDT", "101"]]
    r.orders = [{"client_order_id": "bt-1", "symbol": "X-USDT", "side": "buy", "price": "100", "status": "filled",
                 "arrival_ns": 1 * S, "done_ns": 1 * S},
                {"client_order_id": "bt-2", "symbol": "X-USDT", "side": "sell", "price": "102", "status": "filled",
                 "arrival_ns": 2 * S, "done_ns": 3 * S},
                {"client_order_id": "bt-3", "symbol": "X-USDT", "side": "buy", "price": "98", "status": "open",
                 "arrival_ns": 5 * S, "done_ns": None},
                {"client_order_id": "bt-4", "symbol": "X-USDT", "side": "buy", "price": "1", "status": "rejected",
                 "arrival_ns": 5 * S, "done_ns": 5 * S}]
    r.pnl_gross, r.fees, r.pnl_net = "2", "0.2", "1.8"
    return r


def test_summary_numbers():
    s = summary(result())
    # equity: -0.1 after the buy (marked at its price, then at mid 100), -1.1 at mid 99, 1.8 after the sell
    assert s["max_drawdown"] == "1.1"  # the fall from the starting 0 to -1.1
    assert s["pnl_per_hour"] == "0.9"  # 1.8 over 2 hours
    assert s["max_inventory"] == "1" and s["max_inventory_by_symbol"] == {"X-USDT": "1"}
    assert s["rejected"] == 1 and s["orders"] == 4 and s["fills"] == 2 and s["span_s"] == "7200"


def test_the_plotted_series():
    data = series(result())
    # fills sort before marks at the same time
    assert data["equity"] == [[1.0, -0.1], [1.0, -0.1], [2.0, -1.1], [3.0, 1.8], [4.0, 1.8]]
    assert data["inventory"] == {"X-USDT": [[1.0, 1.0], [3.0, 0.0]]}
    assert data["mid"] == {"X-USDT": [[1.0, 100.0], [2.0, 99.0], [4.0, 101.0]]}
    # a refused order is no quote; one still open at the end lasts to the end
    assert data["quotes"] == {"X-USDT": [[1.0, 1.0, "buy", 100.0], [2.0, 3.0, "sell", 102.0],
                                         [5.0, 7200.0, "buy", 98.0]]}
    assert data["fills"] == {"X-USDT": [[1.0, "buy", 100.0, 1.0, "taker"], [3.0, "sell", 102.0, 1.0, "maker"]]}
    assert D(str(data["equity"][-1][1])) == D(result().pnl_net)
