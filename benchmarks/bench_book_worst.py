"""Worst case per frame: the costliest single frame the book's limits admit, i.e. the longest the event
loop can stall on one frame. Ours vs the peers on the same bytes, same run.

Limits (engine.book defaults): a frame is at most DEFAULT_MAX_FRAME_BYTES (4 MiB) and 200,000 levels a side;
a side keeps at most DEFAULT_MAX_LEVELS (10,000) levels. The frames are filled to the byte limit with the
shortest level spelling (``["1000001","1"]``, 16 bytes), so they carry the most levels the limits allow:
- snapshot, worst-first: bids ascending and asks descending, ~130k levels a side (before the sort this
  order cost O(n^2): every level was inserted at the far end);
- diff, new levels best-first into a full 10,000-level book, ~260k new bid levels interleaved with the
  book's own (before: every level shifted all the levels inserted before it);
- diff of 64 levels a side, each new and below a full book's worst level: level by level each would shift
  the whole side, so the book merges them in one pass over the whole side (the costliest small frame),
  then the cap drops them again.
The goal is no frame within the limits stalling the loop for more than 50 ms; the table reports it, no
test asserts a timing. ccxt-style bisect lists are left out: for the worst-first snapshot they insert
every level at the front of a Python list (O(n^2), minutes per frame).
"""
import pytest

from engine.book import DEFAULT_MAX_FRAME_BYTES, DEFAULT_MAX_LEVELS, DepthOutcome, OrderBook
from peers import BOOK_PEERS

PEERS = {k: v for k, v in BOOK_PEERS.items() if not k.startswith("ccxt")}
BASE = 1_000_000  # prices are integers around here: the shortest spelling a real venue could send


def _levels(prices, qty="1"):
    return ",".join(f'["{p}","{qty}"]' for p in prices)


def _fill(prefix_len, per_level, sides=2):
    """How many levels a side fit in DEFAULT_MAX_FRAME_BYTES after a header of prefix_len bytes."""
    return min(200_000, (DEFAULT_MAX_FRAME_BYTES - prefix_len - 64) // (per_level * sides))


@pytest.fixture(scope="module")
def worst():
    n = _fill(40, len('["1000001","1"],'))
    bids = list(range(BASE - n, BASE))             # ascending: worst first
    asks = list(range(BASE + 2 * n, BASE + n, -1))  # descending: worst first
    snap_worst = ('{"lastUpdateId":10,"bids":[%s],"asks":[%s]}' % (_levels(bids), _levels(asks))).encode()
    snap_best = ('{"lastUpdateId":10,"bids":[%s],"asks":[%s]}'
                 % (_levels(bids[::-1]), _levels(asks[::-1]))).encode()
    assert len(snap_worst) <= DEFAULT_MAX_FRAME_BYTES
    # a full book on even prices, then one diff of new odd-priced bids, best first, filling the frame
    full = DEFAULT_MAX_LEVELS
    book_bids = [BASE - 2 * i for i in range(1, full + 1)]
    book_asks = [BASE + 2 * i for i in range(1, full + 1)]
    seed = ('{"lastUpdateId":10,"bids":[%s],"asks":[%s]}' % (_levels(book_bids, "2"), _levels(book_asks, "2"))).encode()
    k = _fill(80, len('["1000001","1"],'), sides=1)
    new = [BASE - 1 - 2 * i for i in range(k)]       # descending: best first, through the book and below
    diff_big = ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":11,"u":11,"b":[%s],"a":[]}' % _levels(new)).encode()
    assert len(diff_big) <= DEFAULT_MAX_FRAME_BYTES
    # 64 levels a side, each new and below the book's worst level, best first (the deepest small diff)
    low_b = [BASE - 2 * full - 1 - 2 * i for i in range(64)]
    low_a = [BASE + 2 * full + 1 + 2 * i for i in range(64)]
    diff_small = ('{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":11,"u":11,"b":[%s],"a":[%s]}'
                  % (_levels(low_b), _levels(low_a))).encode()
    return {"n": n, "k": k, "snap_worst": snap_worst, "snap_best": snap_best, "seed": seed,
            "diff_big": diff_big, "diff_small": diff_small}


def _rounds(name):
    return 7 if name.startswith("engine") else 3 if "cryptofeed" not in name else 1


SNAP_ROWS = ["engine OrderBook (compiled), worst-first", "engine OrderBook (compiled), same levels best-first",
             *PEERS]


@pytest.mark.benchmark(group="worst case: largest snapshot, worst-first (per frame)")
@pytest.mark.parametrize("name", SNAP_ROWS)
def test_largest_snapshot_worst_first(benchmark, worst, name):
    frame = worst["snap_best"] if "best-first" in name else worst["snap_worst"]
    if name.startswith("engine"):
        book = OrderBook("BTCUSDT")
        benchmark.pedantic(book.apply_snapshot, args=(frame,), rounds=_rounds(name), iterations=1)
        assert book.bid_count == book.ask_count == DEFAULT_MAX_LEVELS
        assert book.bids_scaled(1)[0][0] == (BASE - 1) * 10**8
        per_frame = 2 * (worst["n"] - DEFAULT_MAX_LEVELS)  # the farthest levels, dropped by the cap
        assert book.levels_dropped and book.levels_dropped % per_frame == 0
    else:
        impl = benchmark.pedantic(PEERS[name], args=(frame,), rounds=_rounds(name), iterations=1)
        assert impl.bbo()[0] == BASE - 1
    benchmark.extra_info["ops"] = 1
    benchmark.extra_info["levels"] = 2 * worst["n"]


DIFF_ROWS = ["engine OrderBook (compiled)", *PEERS]


def _bench_diff(benchmark, worst, name, frame, rounds):
    """One diff frame into a fresh copy of the full seed book, per round; returns the book or the peer."""
    if name.startswith("engine"):
        def setup():
            book = OrderBook("BTCUSDT")
            book.apply_snapshot(worst["seed"])
            return (book,), {}

        def run(book):
            assert book.apply_depth(frame) == DepthOutcome.APPLIED
            return book

        out = benchmark.pedantic(run, setup=setup, rounds=rounds, iterations=1)
    else:
        cls = PEERS[name]
        out = benchmark.pedantic(lambda impl: (impl.apply(frame), impl)[1],
                                 setup=lambda: ((cls(worst["seed"]),), {}), rounds=_rounds(name), iterations=1)
    benchmark.extra_info["ops"] = 1
    return out


@pytest.mark.benchmark(group="worst case: largest diff, new levels best-first, full book (per frame)")
@pytest.mark.parametrize("name", DIFF_ROWS)
def test_largest_diff_best_first(benchmark, worst, name):
    out = _bench_diff(benchmark, worst, name, worst["diff_big"], _rounds(name))
    if name.startswith("engine"):
        assert out.bid_count == DEFAULT_MAX_LEVELS
        assert out.bids_scaled(2) == [((BASE - 1) * 10**8, 10**8), ((BASE - 2) * 10**8, 2 * 10**8)]
    else:
        assert out.bbo()[0] == BASE - 1
    benchmark.extra_info["levels"] = worst["k"]


@pytest.mark.benchmark(group="worst case: 64-level diff at the bottom of a full book (per frame)")
@pytest.mark.parametrize("name", DIFF_ROWS)
def test_small_diff_at_the_bottom(benchmark, worst, name):
    out = _bench_diff(benchmark, worst, name, worst["diff_small"], 31)
    if name.startswith("engine"):
        # one merge over the whole side, then the cap dropped them again (they are the farthest)
        assert out.bid_count == out.ask_count == DEFAULT_MAX_LEVELS and out.levels_dropped == 128
    else:
        assert out.bbo()[0] == BASE - 2
