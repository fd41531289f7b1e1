"""Real captured Binance sessions replay to exactly the oracle's book, with zero gaps; dropped diffs are gaps."""
import json

import pytest

from engine.book import BookSync, DepthOutcome, OrderBook
from reference.book_ref import RefBook, unwrap

from sessions import FUT_SYMBOLS, SPOT_SYMBOLS, session, session_frames, timed_session

CASES = [(False, s) for s in SPOT_SYMBOLS] + [(True, s) for s in FUT_SYMBOLS]


def replay(futures, symbol):
    snap, before, after = timed_session(futures, symbol)
    book = OrderBook(symbol, futures=futures)
    sync = BookSync(book)
    outcomes = [sync.feed(f) for f in before]
    assert set(outcomes) <= {DepthOutcome.BUFFERED}
    assert sync.apply_snapshot(snap) == DepthOutcome.APPLIED
    outcomes = [sync.feed(f) for f in after]
    return book, sync, before + after, outcomes


def oracle(futures, symbol, frames):
    snap, _ = session(futures, symbol)
    ref = RefBook(futures)
    ref.snapshot(snap)
    for f in frames:
        assert ref.diff(f) in (1, 2)
    return ref


@pytest.mark.parametrize("futures,symbol", CASES, ids=[s for _, s in CASES])
def test_captured_session_replays_with_zero_gaps_to_the_oracle_book(futures, symbol):
    book, sync, frames, outcomes = replay(futures, symbol)
    assert DepthOutcome.GAP not in outcomes
    assert book.gaps == 0 and sync.resyncs == 0 and book.synced
    assert not book.crossed and book.crossed_count == 0
    ref = oracle(futures, symbol, frames)
    bids, asks = ref.levels()
    assert book.bids_scaled() == bids
    assert book.asks_scaled() == asks
    assert book.last_update_id == ref.last
    # the float and exact views agree with the exact levels
    top_b, top_a = book.top(5)
    assert top_b == [(p / 1e8, q / 1e8) for p, q in bids[:5]]
    assert book.top_exact(1)[0][0][0] == f"{bids[0][0] // 10**8}.{bids[0][0] % 10**8:08d}"


def test_nknusdt_top_of_book_equals_the_last_bookticker_of_the_capture():
    book, _, _, _ = replay(False, "NKNUSDT")
    tickers = [unwrap(f) for f in session_frames(False) if f.startswith(b'{"stream":"nknusdt@bookTicker"')]
    last = tickers[-1]
    assert book.last_update_id >= last["u"]
    (bp, bq), (ap, aq) = book.top_exact(1)[0][0], book.top_exact(1)[1][0]
    assert (bp, bq, ap, aq) == (last["b"], last["B"], last["a"], last["A"])


def test_spot_first_frames_before_the_snapshot_are_dropped_as_documented():
    # NKNUSDT: snapshot 499869752; the frame [499869750, 499869752] is stale, [499869753, ...] applies
    snap, frames = session(False, "NKNUSDT")
    book = OrderBook("NKNUSDT")
    book.apply_snapshot(snap)
    assert book.apply_depth(frames[0]) == DepthOutcome.STALE
    assert book.apply_depth(frames[1]) == DepthOutcome.APPLIED
    # LRCBTC: two frames dropped, the second ends exactly at lastUpdateId
    snap, frames = session(False, "LRCBTC")
    book = OrderBook("LRCBTC")
    book.apply_snapshot(snap)
    lid = json.loads(snap)["lastUpdateId"]
    stale = [f for f in frames if unwrap(f)["u"] <= lid]
    assert len(stale) == 2 and unwrap(stale[-1])["u"] == lid
    for f in stale:
        assert book.apply_depth(f) == DepthOutcome.STALE


def test_futures_keeps_the_event_whose_u_equals_last_update_id():
    for symbol in ("AKROUSDT", "KEEPUSDT"):
        snap, frames = session(True, symbol)
        lid = json.loads(snap)["lastUpdateId"]
        book = OrderBook(symbol, futures=True)
        book.apply_snapshot(snap)
        first = next(f for f in frames if unwrap(f)["u"] >= lid)
        assert unwrap(first)["u"] == lid
        assert book.apply_depth(first) == DepthOutcome.APPLIED


@pytest.mark.parametrize("futures,symbol", [(False, "NKNUSDT"), (False, "LRCBTC"), (True, "SUSHIUSDT"),
                                            (True, "CTKUSDT")])
def test_dropping_any_one_diff_is_a_gap_and_the_gapped_frame_leaves_the_book_untouched(futures, symbol):
    snap, frames = session(futures, symbol)
    lid = json.loads(snap)["lastUpdateId"]
    live = [f for f in frames if unwrap(f)["u"] >= lid + (0 if futures else 1)]
    assert len(live) > 5
    # dropping the very first live frame is a gap too (the straddle fails)
    for drop in range(len(live) - 1):
        book = OrderBook(symbol, futures=futures)
        book.apply_snapshot(snap)
        for f in live[:drop]:
            assert book.apply_depth(f) == DepthOutcome.APPLIED
        before = (book.bids_scaled(), book.asks_scaled(), book.last_update_id)
        assert book.apply_depth(live[drop + 1]) == DepthOutcome.GAP, f"dropped #{drop} not detected"
        assert (book.bids_scaled(), book.asks_scaled(), book.last_update_id) == before
        assert book.gaps == 1 and not book.synced
        # until a new snapshot, later frames are refused too, and still change nothing
        if drop + 2 < len(live):
            assert book.apply_depth(live[drop + 2]) == DepthOutcome.GAP
            assert (book.bids_scaled(), book.asks_scaled()) == before[:2]


def test_booksync_restarts_after_a_gap_and_recovers_with_a_new_snapshot():
    snap, frames = session(False, "NKNUSDT")
    book = OrderBook("NKNUSDT")
    sync = BookSync(book)
    assert sync.feed(frames[0]) == DepthOutcome.BUFFERED
    assert sync.apply_snapshot(snap) == DepthOutcome.APPLIED
    for f in frames[1:50]:
        sync.feed(f)
    assert sync.feed(frames[51]) == DepthOutcome.GAP  # frames[50] lost
    assert sync.needs_snapshot and sync.resyncs == 1
    assert sync.feed(frames[52]) == DepthOutcome.BUFFERED
    assert sync.first_buffered_update_id == unwrap(frames[52])["U"]
    # the old snapshot predates the buffer: refused, nothing changes
    assert sync.apply_snapshot(snap) == DepthOutcome.SNAPSHOT_TOO_OLD
    # a snapshot built from the oracle at frame 51 continues the buffer exactly
    ref = RefBook()
    ref.snapshot(snap)
    for f in frames[1:52]:
        ref.diff(f)
    bids, asks = ref.levels()
    body = json.dumps({"lastUpdateId": ref.last,
                       "bids": [[f"{p / 1e8:.8f}", f"{q / 1e8:.8f}"] for p, q in bids],
                       "asks": [[f"{p / 1e8:.8f}", f"{q / 1e8:.8f}"] for p, q in asks]}).encode()
    assert sync.apply_snapshot(body) == DepthOutcome.APPLIED
    for f in frames[53:]:
        assert sync.feed(f) == DepthOutcome.APPLIED
    ref2 = RefBook()
    ref2.snapshot(snap)
    for f in frames[1:]:
        ref2.diff(f)
    assert (book.bids_scaled(), book.asks_scaled()) == ref2.levels()


def test_booksync_buffer_overflow_is_counted_and_treated_as_a_gap():
    _, frames = session(False, "NKNUSDT")
    sync = BookSync(OrderBook("NKNUSDT"), max_buffer=3)
    assert [sync.feed(f) for f in frames[:3]] == [DepthOutcome.BUFFERED] * 3
    assert sync.feed(frames[3]) == DepthOutcome.GAP
    assert sync.buffer_overflows == 1 and sync.buffered == 0 and sync.needs_snapshot


def test_partial_depth_frames_replace_the_book():
    book = OrderBook("BNBBTC")
    book.apply_snapshot(b'{"lastUpdateId":1,"bids":[["1.0","1"],["0.9","1"]],"asks":[["1.1","1"]]}')
    book.apply_partial(b'{"stream":"bnbbtc@depth5","data":{"lastUpdateId":160,"bids":[["0.0024","10"]],'
                       b'"asks":[["0.0026","100"]]}}')
    assert book.top_exact(5) == ([("0.00240000", "10.00000000")], [("0.00260000", "100.00000000")])
    assert book.last_update_id == 160
    fut = OrderBook("BTCUSDT", futures=True)
    fut.apply_partial(b'{"e":"depthUpdate","E":1,"T":1,"s":"BTCUSDT","U":5,"u":9,"pu":4,'
                      b'"b":[["100.5","2"]],"a":[["101","3"]]}')
    assert fut.bbo() == (100.5, 2.0, 101.0, 3.0) and fut.last_update_id == 9
