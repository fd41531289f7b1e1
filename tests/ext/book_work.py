"""Work per frame of the compiled book, counted instead of timed; run in a subprocess by
tests/ext/test_book_limits.py.

Usage: python book_work.py DEBUG_LIB
Loads the debug build from DEBUG_LIB (whose engine._book counts every level it writes into a book's or a
frame's arrays: shifts, sorts, merges, copies; ``_debug_level_moves()``) and prints one JSON object:
case name -> [levels written, levels in the frame, levels in the book before plus after].
"""
import json
import os
import random
import sys

S = 10**8
N = 60_000  # levels a side in the large frames: the quadratic insertion cost N^2/2 ~ 1.8e9 moves


def px(v: int) -> str:
    return f"{v // S}.{v % S:08d}"


def snap(bids, asks, lid=100) -> bytes:
    return json.dumps({"lastUpdateId": lid, "bids": [[px(p), px(q)] for p, q in bids],
                       "asks": [[px(p), px(q)] for p, q in asks]}).encode()


def diff(U, u, b=(), a=()) -> bytes:
    return json.dumps({"e": "depthUpdate", "E": 1, "s": "BTCUSDT", "U": U, "u": u,
                       "b": [[px(p), px(q)] for p, q in b], "a": [[px(p), px(q)] for p, q in a]}).encode()


def main(lib):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fuzz_all import use_build

    book_mod = use_build(lib, "debug")["engine._book"]
    from engine.book import OrderBook

    out = {}

    def measure(name, book, apply, frame_levels):
        before = book.bid_count + book.ask_count
        m0 = book_mod._debug_level_moves()
        apply()
        moves = book_mod._debug_level_moves() - m0
        prev = out.get(name, [0, 0, 0])
        size = before + book.bid_count + book.ask_count
        # keep the case's costliest frame relative to its size
        if moves >= prev[0]:
            out[name] = [moves, frame_levels, size]

    rng = random.Random(7)
    bids = [((1000 + i) * S, S) for i in range(N)]       # ascending prices: worst first
    asks = [((10**6 - i) * S, S) for i in range(N)]      # descending prices: worst first
    orders = {"worst first": (bids, asks), "best first": (bids[::-1], asks[::-1]),
              "shuffled": (rng.sample(bids, N), rng.sample(asks, N))}
    for order, (b, a) in orders.items():
        for cap in (10**6, 10_000):
            book = OrderBook("BTCUSDT", max_levels=cap)
            frame = snap(b, a)
            measure(f"snapshot {order}, cap {cap}", book, lambda: book.apply_snapshot(frame), 2 * N)
            book = OrderBook("BTCUSDT", max_levels=cap)
            book.apply_snapshot(snap([(2 * 10**6 * S, S)], [(3 * 10**6 * S, S)]))
            frame = diff(101, 101, b, a)
            measure(f"diff of new levels {order} into a one-level book, cap {cap}", book,
                    lambda: book.apply_depth(frame), 2 * N)
    # a full book at the default cap, then one large diff interleaving new levels with the book's own
    full = [((10**6 - 2 * i) * S, 2 * S) for i in range(10_000)]
    for order in ("best first", "worst first", "shuffled"):
        new = [((10**6 - 1 - 2 * i) * S, S) for i in range(N)]
        new = new if order == "best first" else new[::-1] if order == "worst first" else rng.sample(new, N)
        book = OrderBook("BTCUSDT")
        book.apply_snapshot(snap(full, []))
        frame = diff(101, 101, b=new)
        measure(f"diff of new levels {order} through a full book", book, lambda: book.apply_depth(frame), N)
    # many small diffs (up to 64 changes a side: the level-by-level path where it is cheaper) on a full
    # book, anywhere in it and below it, so that the cap keeps dropping and the side keeps compacting
    book = OrderBook("BTCUSDT")
    book.apply_snapshot(snap([(p * S, S) for p in range(30_000, 20_000, -1)],
                             [(p * S, S) for p in range(30_001, 40_001)]))
    for k in range(3000):
        nb, na = rng.randrange(0, 65), rng.randrange(0, 65)
        top = rng.random() < 0.5  # half near the touch, half anywhere
        b = [(rng.randrange(29_900 if top else 15_000, 30_001) * S, rng.choice([0, S])) for _ in range(nb)]
        a = [(rng.randrange(30_001, 30_100 if top else 45_000) * S, rng.choice([0, S])) for _ in range(na)]
        frame = diff(101 + k, 101 + k, b, a)
        measure("small diffs on a full book", book, lambda: book.apply_depth(frame), nb + na)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1])
