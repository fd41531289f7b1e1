"""Limits of the compiled book: any level order costs O(n log n), a side holds at most ``max_levels`` levels
(the farthest are dropped, counted, and never tracked again until the next snapshot), a frame larger than
``max_frame_bytes`` is refused unparsed, and a price listed twice in one frame keeps its last quantity."""
import json
import math
import pathlib
import subprocess
import sys

import pytest

import engine.book as eb
from engine.book import BookSync, DepthOutcome, OrderBook
from engine.errors import FrameError

S = 10**8
HERE = pathlib.Path(__file__).parent


def px(v: int) -> str:
    return f"{v // S}.{v % S:08d}"


def snap(bids, asks, lid=100) -> bytes:
    """bids/asks: (scaled price, scaled qty) in the order the frame lists them."""
    return json.dumps({"lastUpdateId": lid, "bids": [[px(p), px(q)] for p, q in bids],
                       "asks": [[px(p), px(q)] for p, q in asks]}).encode()


def diff(U, u, b=(), a=(), symbol="BTCUSDT") -> bytes:
    return json.dumps({"e": "depthUpdate", "E": 1, "s": symbol, "U": U, "u": u,
                       "b": [[px(p), px(q)] for p, q in b], "a": [[px(p), px(q)] for p, q in a]}).encode()


# ---------------------------------------------------------------- level order costs O(n log n)

LINEAR_BUDGET = 16384  # ext/engine/_book.pyx: the most moves a side's diff may cost level by level


def test_no_level_order_costs_more_than_n_log_n_per_frame(debug_lib):
    """Counted, not timed: the debug build counts every level written into a book's or a frame's arrays.

    Each frame of tests/ext/book_work.py (60,000-level snapshots and diffs worst first, best first and
    shuffled, with and without the cap, through a full book, and 3,000 small diffs anywhere in a full
    book) writes at most 4 x (L log2 L + S + LINEAR_BUDGET) levels, L the frame's levels and S the book's
    before plus after. Inserting level by level in the worst order costs L^2/2 (1.8e9 here): bids listed
    worst first (ascending) used to insert each level at the bottom, and a diff of new levels listed best
    first shifted every level inserted before it.
    """
    proc = subprocess.run([sys.executable, str(HERE / "book_work.py"), str(debug_lib)], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    cases = json.loads(proc.stdout)
    assert len(cases) == 16, sorted(cases)
    for name, (moves, levels, size) in cases.items():
        bound = 4 * (levels * max(1, math.log2(max(levels, 1))) + size + LINEAR_BUDGET)
        assert 0 < moves <= bound, (name, moves, levels, size, bound)


@pytest.mark.parametrize("order", ["best first", "worst first", "shuffled"])
def test_every_order_gives_the_same_book(order):
    import random

    bids = [((5000 - i) * S, (i + 1) * S) for i in range(3000)]
    asks = [((5001 + i) * S, (i + 1) * S) for i in range(3000)]
    if order == "worst first":
        bids, asks = bids[::-1], asks[::-1]
    elif order == "shuffled":
        rng = random.Random(5)
        rng.shuffle(bids)
        rng.shuffle(asks)
    book = OrderBook("BTCUSDT")
    book.apply_snapshot(snap(bids, asks))
    assert book.bids_scaled() == sorted(bids, reverse=True)
    assert book.asks_scaled() == sorted(asks)
    # and the same levels as one diff into an empty synced book, in that order
    other = OrderBook("BTCUSDT")
    other.apply_snapshot(snap([], []))
    assert other.apply_depth(diff(101, 101, bids, asks)) == DepthOutcome.APPLIED
    assert (other.bids_scaled(), other.asks_scaled()) == (book.bids_scaled(), book.asks_scaled())


# ---------------------------------------------------------------- duplicate prices: the last one wins

P = 50 * S


@pytest.mark.parametrize("levels,want", [
    ([(P, 5 * S), (P, 0)], []),                     # a delete after the level: gone
    ([(P, 0), (P, 5 * S)], [(P, 5 * S)]),
    ([(P, 1 * S), (P, 2 * S), (P, 3 * S)], [(P, 3 * S)]),
    ([(P, 1 * S), (P - S, 7), (P, 2 * S)], [(P, 2 * S), (P - S, 7)]),
    ([(P - S, 7), (P, 1 * S), (P - S, 0), (P, 2 * S)], [(P, 2 * S)]),
])
def test_a_price_listed_twice_keeps_its_last_quantity_in_snapshots_and_diffs(levels, want):
    book = OrderBook("BTCUSDT")
    book.apply_snapshot(snap(levels, []))
    assert book.bids_scaled() == want
    book.apply_snapshot(snap([], []))
    book.apply_depth(diff(101, 101, b=levels))
    assert book.bids_scaled() == want
    # a long frame takes the sorted path; the rule is the same
    filler = [(P - S - 1 - i, S) for i in range(200)]  # below every price above
    book.apply_snapshot(snap(filler + levels, []))
    assert book.bids_scaled()[:len(want)] == want and book.bid_count == len(want) + 200
    book.apply_snapshot(snap([], []))
    book.apply_depth(diff(101, 101, b=filler + levels))
    assert book.bids_scaled()[:len(want)] == want and book.bid_count == len(want) + 200


# ---------------------------------------------------------------- the level cap

def levels(lo, hi, qty=S):
    return [(p * S, qty) for p in range(lo, hi)]


def test_default_cap_holds_a_full_binance_snapshot_with_room():
    assert eb.DEFAULT_MAX_LEVELS >= 2 * 5000
    book = OrderBook("BTCUSDT")
    assert book.max_levels == eb.DEFAULT_MAX_LEVELS and book.max_frame_bytes == eb.DEFAULT_MAX_FRAME_BYTES
    book.apply_snapshot(snap(levels(1, 5001)[::-1], levels(6000, 11000)))
    assert book.bid_count == book.ask_count == 5000 and book.levels_dropped == 0


def test_ten_huge_diffs_cannot_grow_a_book_past_its_cap():
    book = OrderBook("BTCUSDT", max_levels=1000)
    book.apply_snapshot(snap([], []))
    for k in range(10):
        base = 10**6 - k * 20_000
        frame = diff(101 + k, 101 + k, b=[((base - i) * S, S) for i in range(20_000)])
        assert book.apply_depth(frame) == DepthOutcome.APPLIED
        assert book.bid_count <= 1000
    assert book.bid_count == 1000
    assert book.bids_scaled()[0][0] == 10**6 * S           # the best levels are the ones kept
    assert book.levels_dropped == 200_000 - 1000
    assert book.counters()["levels_dropped"] == book.levels_dropped


def test_a_snapshot_over_the_cap_keeps_the_best_levels_in_any_order():
    book = OrderBook("BTCUSDT", max_levels=3)
    bids = levels(1, 11)           # ascending: worst first
    asks = levels(20, 30)[::-1]    # descending: worst first
    book.apply_snapshot(snap(bids, asks))
    assert book.bids_scaled() == [(10 * S, S), (9 * S, S), (8 * S, S)]
    assert book.asks_scaled() == [(20 * S, S), (21 * S, S), (22 * S, S)]
    assert book.levels_dropped == 14
    assert book.trimmed_at_scaled() == (7 * S, 23 * S)


def test_levels_at_or_beyond_the_best_dropped_price_are_not_tracked_until_the_next_snapshot():
    book = OrderBook("BTCUSDT", max_levels=3)
    book.apply_snapshot(snap(levels(1, 11)[::-1], []))      # keeps 10, 9, 8; dropped 7..1
    assert book.trimmed_at_scaled() == (7 * S, None)
    dropped = book.levels_dropped
    # deletes near the top shrink the side below the cap ...
    assert book.apply_depth(diff(101, 101, b=[(10 * S, 0), (9 * S, 0)])) == DepthOutcome.APPLIED
    assert book.bids_scaled() == [(8 * S, S)]
    # ... and an update at or beyond the boundary is ignored (the book does not know those levels)
    book.apply_depth(diff(102, 102, b=[(7 * S, 4 * S), (5 * S, 4 * S)]))
    assert book.bids_scaled() == [(8 * S, S)] and book.levels_dropped == dropped + 2
    # a price between the boundary and the book's worst level is tracked
    book.apply_depth(diff(103, 103, b=[(7 * S + 1, 4 * S)]))
    assert book.bids_scaled() == [(8 * S, S), (7 * S + 1, 4 * S)]
    # a new best pushes the worst out and the boundary moves up to it
    book.apply_depth(diff(104, 104, b=[(12 * S, S), (11 * S, S)]))
    assert book.bids_scaled() == [(12 * S, S), (11 * S, S), (8 * S, S)]
    assert book.trimmed_at_scaled() == (7 * S + 1, None)
    # the next snapshot starts over
    book.apply_snapshot(snap(levels(1, 3)[::-1], []))
    assert book.trimmed_at_scaled() == (None, None) and book.bid_count == 2


def test_the_cap_applies_to_lighter_books_too():
    book = OrderBook("CRV", price_decimals=5, qty_decimals=1, max_levels=2)
    frame = {"channel": "order_book:36", "type": "subscribed/order_book",
             "order_book": {"code": 0, "nonce": 5, "begin_nonce": 0,
                            "bids": [{"price": f"0.{20000 + i}", "size": "1.0"} for i in range(5)],
                            "asks": [{"price": f"0.{30000 - i}", "size": "1.0"} for i in range(5)]}}
    assert book.apply_lighter(json.dumps(frame).encode()) == DepthOutcome.APPLIED
    assert book.bids_scaled() == [(20004, 10), (20003, 10)]
    assert book.asks_scaled() == [(29996, 10), (29997, 10)]
    assert book.levels_dropped == 6


def test_cap_and_size_arguments_are_validated():
    for bad in ({"max_levels": 0}, {"max_levels": -5}, {"max_frame_bytes": 0}):
        with pytest.raises(ValueError):
            OrderBook("X", **bad)


# ---------------------------------------------------------------- the frame size limit

def test_a_frame_over_max_frame_bytes_is_refused_unparsed_and_counted():
    book = OrderBook("BTCUSDT", max_frame_bytes=200)
    book.apply_snapshot(snap([(10 * S, S)], [(11 * S, S)]))
    before = (book.bids_scaled(), book.asks_scaled(), book.last_update_id, book.applied)
    big = diff(101, 101, b=levels(1, 9))
    assert len(big) > 200
    for call in (book.apply_depth, book.apply_snapshot, book.apply_partial, book.apply_lighter):
        with pytest.raises(FrameError, match=r"BTCUSDT: frame of \d+ bytes exceeds max_frame_bytes=200"):
            call(big)
    assert book.oversized == 4 and book.counters()["oversized"] == 4
    assert (book.bids_scaled(), book.asks_scaled(), book.last_update_id, book.applied) == before
    # not parsed at all: 10 MB of garbage costs no scan
    with pytest.raises(FrameError, match="exceeds max_frame_bytes"):
        book.apply_depth(b"[" * 10_000_000)
    small = diff(101, 101, b=[(10 * S, 2 * S)])
    assert len(small) <= 200 and book.apply_depth(small) == DepthOutcome.APPLIED


def test_booksync_refuses_an_oversized_frame_and_snapshot_before_buffering():
    book = OrderBook("BTCUSDT", max_frame_bytes=300)
    sync = BookSync(book)
    with pytest.raises(FrameError, match="exceeds max_frame_bytes"):
        sync.feed(diff(101, 101, b=levels(1, 12)))
    assert sync.buffered == 0 and sync.frame_errors == 1
    with pytest.raises(FrameError, match="exceeds max_frame_bytes"):
        sync.apply_snapshot(snap(levels(1, 12), []))
    assert sync.needs_snapshot and book.oversized == 2


def test_booksync_caps_the_bytes_it_buffers():
    sync = BookSync(OrderBook("BTCUSDT"), max_buffer_bytes=1000)
    frame = diff(101, 101, b=[(10 * S, S)])
    n = 1000 // len(frame)
    assert all(sync.feed(diff(101 + k, 101 + k, b=[(10 * S, S)])) == DepthOutcome.BUFFERED for k in range(n))
    assert sync.feed(diff(101 + n, 101 + n, b=[(10 * S, S)])) == DepthOutcome.GAP
    assert sync.buffer_overflows == 1 and sync.buffered == 0
