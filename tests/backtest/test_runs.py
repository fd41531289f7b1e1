"""Whole backtests: the built-in market maker on a real captured session, determinism, the books, inputs."""
import json
import pathlib
from decimal import Decimal as D

import pytest

from engine.backtest import Fees, Latency, QueueModel, RecordingError, feed_times, load, run
from engine.book import BookSync, DepthOutcome, OrderBook
from engine.config import RiskLimits
from engine.strategy.market_maker import InventoryMarketMaker

from backtest.synth import Scripted, Tape, order

DATA = pathlib.Path(__file__).parent.parent / "data" / "binance"
FUTURES = str(DATA / "futures_usdm" / "session_2021-07-22_cryptofeed")
LIMITS = RiskLimits(max_order_qty=D(1000), max_position=D(1000))


def mm_run(seed=1, keep=None, **kw):
    def factory(engine):
        s = InventoryMarketMaker(engine, "binance", "SUSHIUSDT", size=D("2"), tick=D("0.001"),
                                 max_inventory=D("20"), half_spread_bps=D("2"), skew_bps_per_unit=D("1"),
                                 requote_bps=D("3"))
        if keep is not None:
            keep.append(s)
        return s
    kw.setdefault("latency", Latency(entry_ns=1_000_000, response_ns=1_000_000, jitter="exponential",
                                     jitter_ns=500_000))
    return run([FUTURES], factory, seed=seed, fees=Fees(maker=D("0.0002"), taker=D("0.0004")),
               risk_limits=LIMITS, **kw)


def test_market_maker_runs_a_recording_end_to_end():
    keep = []
    res = mm_run(keep=keep)
    mm = keep[0]
    assert res.frames == 1539 and res.end_ns - res.start_ns > 30 * 10**9
    assert len(res.orders) > 10 and res.fills, "the market maker quoted and was filled"
    assert all(f["liquidity"] == "maker" for f in res.fills)  # post-only quotes only ever make
    assert all(o["status"] in ("filled", "canceled") for o in res.orders), "every order ended final"
    assert res.rejections == {} and res.risk_refusals == {}
    # the venue's ledger and the live classes agree: positions, fees and PnL
    pos = mm.engine.position("binance", "SUSHIUSDT")
    assert pos.qty == D(res.final_positions["SUSHI-USDT"])
    assert pos.fees == D(res.fees) and D(res.fees) > 0
    assert D(res.pnl_net) == D(res.pnl_gross) - D(res.fees)
    assert res.positions[-1][2] == res.final_positions["SUSHI-USDT"]
    assert res.maker_fills == len(res.fills) and res.maker_share == "1"


def test_same_inputs_and_seed_give_the_same_result_byte_for_byte():
    a, b = mm_run(seed=3).to_json(), mm_run(seed=3).to_json()
    assert a == b
    # the seed matters: other latency draws give other send and arrival times
    assert mm_run(seed=4).to_json() != a


def test_final_books_equal_a_plain_replay_of_the_same_frames():
    keep = []
    mm_run(keep=keep)
    local = keep[0].books[("binance", "SUSHIUSDT")]
    book = OrderBook("SUSHIUSDT", futures=True)
    sync = BookSync(book)
    for e in load([FUTURES]).events:
        if e.symbol == "SUSHIUSDT" and e.kind == 0:
            sync.feed(e.raw)
        elif e.symbol == "SUSHIUSDT" and e.kind == 2 and sync.needs_snapshot:
            assert sync.apply_snapshot(e.raw) == DepthOutcome.APPLIED
    assert book.synced and book.applied > 100
    assert local.bids_scaled() == book.bids_scaled() and local.asks_scaled() == book.asks_scaled()
    assert local.last_update_id == book.last_update_id


def test_the_risk_manager_checks_every_order(tmp_path):
    tape = Tape().snapshot(0, [["99.00", "5"]], [["100.00", "5"]]).depth(5000, bids=[["99.00", "5"]])
    holder = []

    def factory(engine):
        holder.append(Scripted(engine, [(1000, order("buy", "market", "2"))]))
        return holder[0]
    res = run([tape.write(tmp_path / "r.jsonl")], factory, feed_latency=0,
              risk_limits=RiskLimits(max_order_qty=D(1), max_book_age_s=60.0))
    assert holder[0].sent[0].status.value == "rejected"
    assert holder[0].sent[0].reason.startswith("risk: quantity 2 > max 1")
    assert res.risk_refusals == {"max_order_qty": 1} and res.fills == []


def test_a_bad_recording_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"recv_ns": 1, "raw": "{}"}\nnot json\n')
    with pytest.raises(RecordingError, match=r"bad.jsonl:2: not a JSON line"):
        run([str(bad)], lambda e: None)
    with pytest.raises(RecordingError, match="without ws_session.jsonl"):
        run([str(tmp_path)], lambda e: None)
    with pytest.raises(RecordingError, match="cannot read"):
        run([str(tmp_path / "missing.jsonl")], lambda e: None)
    (tmp_path / "gz.jsonl").write_bytes(b"\x1f\x8b\x08\x00\xff\xfe")
    with pytest.raises(RecordingError, match="gz.jsonl: not UTF-8 text"):
        run([str(tmp_path / "gz.jsonl")], lambda e: None)
    info = tmp_path / "info.jsonl"
    for body, why in (([1], "exchangeInfo is not an object"), ({"symbols": [5]}, "exchangeInfo is not an object"),
                      ({"symbols": [{"symbol": "X", "filters": [{"filterType": "PRICE_FILTER",
                                                                  "tickSize": "1e-10"}]}]}, "unusable filters")):
        info.write_text(json.dumps({"recv_ns": 1, "exchange_info": True, "raw": json.dumps(body)}) + "\n" +
                        json.dumps({"recv_ns": 2, "snapshot": "X", "raw": "{}"}) + "\n")
        with pytest.raises(RecordingError, match=why):
            run([str(info)], lambda e: None)
    with pytest.raises(ValueError, match=r"'DOGEUSDT' has no book in the recording \(it has AKROUSDT, CTKUSDT"):
        run([FUTURES], lambda e: InventoryMarketMaker(e, "binance", "DOGEUSDT"))
    with pytest.raises(ValueError, match="not an engine.strategy.Strategy"):
        run([FUTURES], lambda e: None)
    with pytest.raises(ValueError, match="queue_model"):
        run([FUTURES], lambda e: None, queue_model="fifo")
    with pytest.raises(ValueError, match="Latency.jitter"):
        Latency(jitter="gauss")
    with pytest.raises(ValueError, match="QueueModel.kind"):
        QueueModel("fifo")


def test_a_gzip_recording_plays_like_the_plain_one(tmp_path):
    import gzip
    import shutil
    tape = Tape().snapshot(0, [["99.00", "5"]], [["100.00", "5"]]).depth(5000, bids=[["99.00", "5"]])
    plain = tape.write(tmp_path / "r.jsonl")
    with open(plain, "rb") as src, gzip.open(tmp_path / "r.jsonl.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)

    def factory(engine):
        return Scripted(engine, [(1000, order("buy", "market", "1"))])
    kw = dict(feed_latency=0, risk_limits=RiskLimits(max_book_age_s=60.0))
    a = run([plain], factory, **kw)
    assert a.fills and a.to_json() == run([str(tmp_path / "r.jsonl.gz")], factory, **kw).to_json()


def test_feed_latency_from_the_recorded_timestamps():
    from engine.backtest.recording import DEPTH, SNAPSHOT, Event
    ms = 1_000_000
    # receive minus event time: 7, 5 (the fastest: latency 0), -, 9, 10 ms; the snapshot keeps the previous
    # latency; the last frame (latency 5 ms) would go back before the one before it: held at that one's time
    events = [Event(1007 * ms, DEPTH, "X", b"", 1000), Event(1105 * ms, DEPTH, "X", b"", 1100),
              Event(1109 * ms, SNAPSHOT, "X", b""), Event(1209 * ms, DEPTH, "X", b"", 1200),
              Event(1209 * ms, DEPTH, "X", b"", 1199)]
    assert feed_times(events, "recorded") == [1005 * ms, 1105 * ms, 1109 * ms, 1205 * ms, 1205 * ms]
    assert feed_times(events, 3 * ms) == [1004 * ms, 1102 * ms, 1106 * ms, 1206 * ms, 1206 * ms]
    with pytest.raises(ValueError, match="feed_latency"):
        feed_times(events, -1)


def test_the_venue_is_reached_through_the_factory(tmp_path):
    from engine.connectors.factory import ConnectorFactory
    path = Tape().snapshot(0, [["99.00", "5"]], [["100.00", "5"]]).write(tmp_path / "r.jsonl")
    assert ConnectorFactory.backtestable() == ["binance"]
    assert load([path]).venue is ConnectorFactory.backtest("binance")
    with pytest.raises(ValueError, match=r"lighter recordings cannot be backtested \(backtestable: binance\)"):
        run([path], lambda e: None, venue="lighter")
    with pytest.raises(ValueError, match="unknown exchange 'nowhere'"):
        load([path], venue="nowhere")
