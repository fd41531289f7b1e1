"""Fill-model tests with hand-computed answers, on hand-made recordings (tests/backtest/synth.py)."""
from decimal import Decimal as D

import pytest

from engine.backtest import Fees, Latency, QueueModel, run
from engine.config import RiskLimits

from backtest.synth import Scripted, Tape, order

LIMITS = RiskLimits(max_order_qty=D(10), max_position=D(10), max_book_age_s=60.0)


def backtest(tmp_path, tape, script, **kw):
    path = tape.write(tmp_path / "rec.jsonl")
    holder = {}

    def factory(engine):
        holder["s"] = Scripted(engine, script)
        return holder["s"]
    kw.setdefault("feed_latency", 0)
    kw.setdefault("risk_limits", LIMITS)
    res = run([path], factory, seed=7, **kw)
    return res, holder["s"]


def fills(res):
    return [(f["client_order_id"], f["side"], f["price"], f["qty"], f["liquidity"]) for f in res.fills]


def book():
    return Tape().snapshot(0, [["99.00", "5"], ["98.00", "5"]], [["100.00", "1"], ["101.00", "5"]])


def test_two_takers_in_one_frame_do_not_share_liquidity(tmp_path):
    # 1 BTC at 100 and 5 at 101: the first market buy takes the 100, the second must pay 101
    tape = book().depth(5000, bids=[["99.00", "5"]])
    res, s = backtest(tmp_path, tape, [(1000, order("buy", "market", "1")), (1000, order("buy", "market", "1"))])
    assert fills(res) == [("bt-1", "buy", "100", "1", "taker"), ("bt-2", "buy", "101", "1", "taker")]
    assert [o.status.value for o in s.sent] == ["filled", "filled"]


def test_consumed_liquidity_returns_with_the_next_frame(tmp_path):
    # the next depth frame states the level again (the recording never saw our order): 100 is there again
    tape = book().depth(2000, asks=[["100.00", "1"]]).depth(5000, bids=[["99.00", "5"]])
    res, _ = backtest(tmp_path, tape, [(1000, order("buy", "market", "1")), (3000, order("buy", "market", "1"))])
    assert fills(res) == [("bt-1", "buy", "100", "1", "taker"), ("bt-2", "buy", "100", "1", "taker")]


def test_partial_fill_then_expired_ioc(tmp_path):
    tape = book().depth(5000, bids=[["99.00", "5"]])
    res, s = backtest(tmp_path, tape, [(1000, order("buy", "limit", "2", "100.00", "IOC"))])
    assert fills(res) == [("bt-1", "buy", "100", "1", "taker")]
    assert s.sent[0].status.value == "expired" and s.sent[0].filled == D(1)


def test_gtc_limit_takes_then_rests_the_rest(tmp_path):
    tape = book().depth(5000, bids=[["99.00", "5"]])
    res, s = backtest(tmp_path, tape, [(1000, order("buy", "limit", "3", "100.00"))])
    assert fills(res) == [("bt-1", "buy", "100", "1", "taker")]
    assert s.sent[0].status.value == "canceled"  # cancelled at shutdown while resting with 2 left
    assert s.sent[0].filled == D(1)


def queue_tape():
    # a bid joins 99.00 behind 5; trades at 99 of 3 (no fill), the level grows to 10 behind it and shrinks
    # to 4 without trades (trades only: the queue ahead stays 2), then trades of 1 and 2 at 99
    return (book()
            .trade(2000, "99.00", "3", True).depth(2100, bids=[["99.00", "2"]])
            .depth(2200, bids=[["99.00", "10"]]).depth(2300, bids=[["99.00", "4"]])
            .trade(3000, "99.00", "1", True)
            .trade(4000, "99.00", "2", True)
            .depth(9000, asks=[["101.00", "5"]]))


def test_resting_bid_fills_only_after_the_queue_ahead_trades_away(tmp_path):
    res, s = backtest(tmp_path, queue_tape(), [(1000, order("buy", "limit", "1", "99.00"))])
    # ahead 5 -> 2 (trade 3) -> 2 (growth, then a fall of 6 without trades) -> 1 (trade 1) -> the trade of 2
    # takes the last 1 ahead and gives the order 1
    assert fills(res) == [("bt-1", "buy", "99", "1", "maker")]
    assert res.fills[0]["t_ns"] == (1_700_000_000_000 + 4000) * 1_000_000
    assert s.sent[0].status.value == "filled"


def test_trade_through_fills_a_resting_bid_at_once(tmp_path):
    tape = book().trade(2000, "98.99", "0.5", True).depth(9000, asks=[["101.00", "5"]])
    res, _ = backtest(tmp_path, tape, [(1000, order("buy", "limit", "1", "99.00"))])
    # 5 ahead at 99, but the market traded below 99: the bid is filled in full, at its own price
    assert fills(res) == [("bt-1", "buy", "99", "1", "maker")]
    assert res.fills[0]["t_ns"] == (1_700_000_000_000 + 2000) * 1_000_000


def prob_tape():
    # join behind 10; the level grows to 20 (10 behind) and falls to 14 without trades; then a trade of 8
    return (Tape().snapshot(0, [["99.00", "10"]], [["100.00", "1"]])
            .depth(2000, bids=[["99.00", "20"]]).depth(2100, bids=[["99.00", "14"]])
            .trade(3000, "99.00", "8", True).depth(9000, asks=[["101.00", "5"]]))


def test_probabilistic_queue_model_takes_a_share_of_level_decreases(tmp_path):
    script = [(1000, order("buy", "limit", "2", "99.00"))]
    # power 2: the fall of 6 is split ahead:behind = 10^2:10^2, 3 ahead -> ahead 7; the trade of 8 leaves 1
    res, _ = backtest(tmp_path, prob_tape(), script, queue_model=QueueModel.probabilistic(2))
    assert fills(res) == [("bt-1", "buy", "99", "1", "maker")]
    # trades only: still 10 ahead, a trade of 8 fills nothing
    res, _ = backtest(tmp_path, prob_tape(), script, queue_model=QueueModel.trades_only())
    assert fills(res) == []


def test_post_only_that_would_cross_is_rejected(tmp_path):
    tape = book().depth(5000, bids=[["99.00", "5"]])
    res, s = backtest(tmp_path, tape, [(1000, order("buy", "limit_maker", "0.5", "100.00")),
                                       (1000, order("buy", "limit_maker", "0.5", "99.99"))])
    crossing, passive = s.sent
    assert crossing.status.value == "rejected"
    assert "Order would immediately match and take." in crossing.reason and "code=-2010" in crossing.reason
    assert passive.status.value == "canceled"  # rested, cancelled at shutdown
    assert fills(res) == []


@pytest.mark.parametrize("req, why", [
    (order("buy", "limit", "0.5", "99.000000001"), "Precision is over the maximum"),  # 9 decimals
    (order("buy", "limit", "0.5", "99.015"), "Filter failure: PRICE_FILTER"),
    (order("buy", "limit", "0.0015", "99.00"), "Filter failure: LOT_SIZE"),
    (order("buy", "limit", "0.1", "99.00"), "Filter failure: MIN_NOTIONAL"),
])
def test_filters_reject_with_the_venue_code(tmp_path, req, why):
    tape = book().depth(5000, bids=[["99.00", "5"]])
    res, s = backtest(tmp_path, tape, [(1000, req)])
    o = s.sent[0]
    assert o.status.value == "rejected"
    assert why in o.reason
    code = "-1111" if "Precision" in why else "-1013"
    assert f"code={code}" in o.reason
    assert res.rejections["binance"]["count"] == 1


def test_fees_enter_the_pnl(tmp_path):
    # a taker buy of 1 at 100, then a resting sell at 101 filled by a buy-aggressor trade through 101
    tape = book().trade(3000, "101.50", "1", False).depth(9000, bids=[["99.00", "5"]])
    res, s = backtest(tmp_path, tape, [(1000, order("buy", "market", "1")),
                                       (2000, order("sell", "limit", "1", "101.00"))],
                      fees=Fees(maker=D("0.0002"), taker=D("0.001")))
    assert fills(res) == [("bt-1", "buy", "100", "1", "taker"), ("bt-2", "sell", "101", "1", "maker")]
    # taker fee 100 * 0.001 = 0.1; maker fee 101 * 0.0002 = 0.0202
    assert [f["fee"] for f in res.fills] == ["0.1", "0.0202"]
    assert (res.pnl_gross, res.fees, res.pnl_net) == ("1", "0.1202", "0.8798")
    assert res.maker_fills == 1 and res.taker_fills == 1
    assert sum(o.fees for o in s.sent) == D("0.1202")  # the ExecutionEngine counted the same fees
    pos = s.engine.position("binance", "BTCUSDT")
    assert pos.qty == 0 and pos.realized - pos.fees == D("0.8798")  # and the RiskManager the same PnL


def test_entry_latency_fills_against_the_book_at_arrival(tmp_path):
    # the ask moves from 100 to 102 at 1020 ms; an order sent at 1000 ms arrives at 1050 ms with 50 ms entry
    tape = (book().depth(1020, asks=[["100.00", "0"], ["101.00", "0"], ["102.00", "3"]])
            .depth(9000, bids=[["99.00", "5"]]))
    script = [(1000, order("buy", "market", "1"))]
    res, _ = backtest(tmp_path, tape, script, latency=Latency(entry_ns=50_000_000))
    assert fills(res) == [("bt-1", "buy", "102", "1", "taker")]
    assert res.orders[0]["arrival_ns"] - res.orders[0]["sent_ns"] == 50_000_000
    res, _ = backtest(tmp_path, tape, script, latency=Latency(entry_ns=10_000_000))
    assert fills(res) == [("bt-1", "buy", "100", "1", "taker")]


def test_response_latency_delays_what_the_strategy_sees(tmp_path):
    tape = book().depth(9000, bids=[["99.00", "5"]])
    seen = []

    def factory(engine):
        s = Scripted(engine, [(1000, order("buy", "market", "1"))])
        engine.listeners.append(lambda o: seen.append((o.status.value, round(engine.risk.clock(), 6))))
        return s
    run([tape.write(tmp_path / "r.jsonl")], factory, feed_latency=0, risk_limits=LIMITS,
        latency=Latency(entry_ns=5_000_000, response_ns=20_000_000))
    # sent at 1.000 s, filled at the venue at 1.005 s, seen at 1.025 s
    assert seen[0] == ("submitted", 1.0)
    assert ("filled", 1.025) in seen and all(t >= 1.025 for st, t in seen[1:])


def test_two_resting_orders_at_one_price_share_a_trade_in_arrival_order(tmp_path):
    # both bids join 99.00 behind 5; a trade of 6 passes the queue by 1: the first order gets it, the
    # second (also 5 behind, and behind the first) nothing; a later trade of 2 fills the second
    tape = (book().trade(2000, "99.00", "6", True).depth(2100, bids=[["99.00", "0"]])
            .trade(3000, "99.00", "2", True).depth(9000, asks=[["101.00", "5"]]))
    res, _ = backtest(tmp_path, tape, [(1000, order("buy", "limit", "1", "99.00")),
                                       (1000, order("buy", "limit", "1", "99.00"))])
    assert [(f["client_order_id"], f["price"], f["qty"], f["t_ns"] // 1_000_000 - 1_700_000_000_000)
            for f in res.fills] == [("bt-1", "99", "1", 2000), ("bt-2", "99", "1", 3000)]


def test_an_answer_for_a_caller_cancelled_at_shutdown_is_dropped_cleanly(tmp_path, caplog):
    # the order reaches the venue at 8 s; its answer would come back at 13 s, after the recording ends at
    # 9 s, when the strategy's task is already cancelled: the answer must land nowhere, quietly, and the
    # shutdown's cancel-all still cancels the order
    tape = book().depth(9000, bids=[["99.00", "5"]])
    res, s = backtest(tmp_path, tape, [(8000, order("buy", "limit", "1", "98.00"))],
                      latency=Latency(response_ns=5_000_000_000))
    assert not [r for r in caplog.records if r.levelname == "ERROR"], [r.getMessage() for r in caplog.records]
    assert [o["status"] for o in res.orders] == ["canceled"]
