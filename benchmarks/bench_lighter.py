"""Lighter order-book updates: our compiled path vs what users of the official SDK's WsClient get.

The SDK's WsClient keeps each side as a list of {"price", "size"} dicts and merges an update by scanning
that list for each changed price (our rendition below, written from its documented behaviour); the other
peer is the usual orjson + SortedDict. Stream: a 1000-levels-per-side ``subscribed/order_book`` frame and
2000 chained ``update/order_book`` frames with 3-8 changes each near the touch, byte-shaped like the
captured CRV frames (tests/data/lighter/captured).
"""
import json
import random

import orjson
import pytest

from engine.book import DepthOutcome, OrderBook

try:
    from sortedcontainers import SortedDict
except ImportError:  # pragma: no cover
    SortedDict = None

N = 2000
PD, SD = 2, 4  # ETH-like decimals


def _frame(kind, begin, nonce, bids, asks):
    ob = {"code": 0, "asks": [{"price": f"{p / 100:.2f}", "size": f"{q / 1e4:.4f}"} for p, q in asks],
          "bids": [{"price": f"{p / 100:.2f}", "size": f"{q / 1e4:.4f}"} for p, q in bids],
          "offset": 1, "nonce": nonce, "last_updated_at": 1, "begin_nonce": begin}
    return json.dumps({"channel": "order_book:0", "last_updated_at": 1, "offset": 1, "order_book": ob,
                       "timestamp": 1, "type": kind}, separators=(",", ":")).encode()


@pytest.fixture(scope="module")
def lighter_stream():
    rng = random.Random(7)
    mid = 300000
    bids = {mid - 1 - i: rng.randint(1, 10**6) for i in range(1000)}
    asks = {mid + 1 + i: rng.randint(1, 10**6) for i in range(1000)}
    nonce = 18_000_000_000
    snap = _frame("subscribed/order_book", 0, nonce, sorted(bids.items(), reverse=True), sorted(asks.items()))
    frames = []
    for _ in range(N):
        b, a = [], []
        for _ in range(rng.randint(3, 8)):
            side, book, sign = (b, bids, -1) if rng.random() < 0.5 else (a, asks, 1)
            p = mid + sign * (1 + int(rng.expovariate(1 / 10)))
            q = 0 if rng.random() < 0.25 else rng.randint(1, 10**6)
            side.append((p, q))
            if q:
                book[p] = q
            else:
                book.pop(p, None)
        begin, nonce = nonce, nonce + rng.randint(20, 400)
        frames.append(_frame("update/order_book", begin, nonce, b, a))
    return snap, frames, sorted(bids.items(), reverse=True)[:5], sorted(asks.items())[:5]


class Ours:
    def __init__(self, snap):
        self.book = OrderBook("ETH", price_decimals=PD, qty_decimals=SD)
        assert self.book.apply_lighter(snap) == DepthOutcome.APPLIED
        self.apply = self.book.apply_lighter

    def top(self):
        return self.book.bids_scaled(5), self.book.asks_scaled(5)


class SdkStyle:
    """Lists of {"price","size"} dicts merged by linear scan (the SDK WsClient's approach)."""

    def __init__(self, snap):
        ob = json.loads(snap)["order_book"]
        self.bids, self.asks = ob["bids"], ob["asks"]
        self.nonce = ob["nonce"]

    @staticmethod
    def _merge(side, updates):
        for u in updates:
            for i, lvl in enumerate(side):
                if lvl["price"] == u["price"]:
                    if float(u["size"]) == 0:
                        del side[i]
                    else:
                        lvl["size"] = u["size"]
                    break
            else:
                if float(u["size"]) != 0:
                    side.append(u)

    def apply(self, raw):
        ob = json.loads(raw)["order_book"]
        if ob["begin_nonce"] != self.nonce:
            raise AssertionError("chain")
        self._merge(self.bids, ob["bids"])
        self._merge(self.asks, ob["asks"])
        self.nonce = ob["nonce"]

    def top(self):
        f = lambda side, rev: [(round(float(x["price"]) * 100), round(float(x["size"]) * 1e4))  # noqa: E731
                               for x in sorted(side, key=lambda x: float(x["price"]), reverse=rev)[:5]]
        return f(self.bids, True), f(self.asks, False)


class OrjsonSortedDict:
    def __init__(self, snap):
        ob = orjson.loads(snap)["order_book"]
        self.bids = SortedDict({float(x["price"]): float(x["size"]) for x in ob["bids"]})
        self.asks = SortedDict({float(x["price"]): float(x["size"]) for x in ob["asks"]})
        self.nonce = ob["nonce"]

    def apply(self, raw):
        ob = orjson.loads(raw)["order_book"]
        if ob["begin_nonce"] != self.nonce:
            raise AssertionError("chain")
        for side, key in ((self.bids, "bids"), (self.asks, "asks")):
            for x in ob[key]:
                p, q = float(x["price"]), float(x["size"])
                if q == 0.0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.nonce = ob["nonce"]

    def top(self):
        b = [(round(p * 100), round(q * 1e4)) for p, q in reversed(self.bids.items()[-5:])]
        return b, [(round(p * 100), round(q * 1e4)) for p, q in self.asks.items()[:5]]


IMPLS = {"engine OrderBook.apply_lighter (compiled)": Ours,
         "SDK WsClient-style lists + linear scan (json)": SdkStyle,
         "orjson + SortedDict[float]": OrjsonSortedDict}


@pytest.mark.benchmark(group="lighter update -> book (per update)")
@pytest.mark.parametrize("name", list(IMPLS))
def test_lighter_updates(benchmark, lighter_stream, name):
    snap, frames, want_b, want_a = lighter_stream
    cls = IMPLS[name]

    def run(impl):
        apply = impl.apply
        for f in frames:
            apply(f)
        return impl

    impl = benchmark.pedantic(run, setup=lambda: ((cls(snap),), {}), rounds=9 if "engine" in name else 5,
                              iterations=1)
    benchmark.extra_info["ops"] = N
    bids, asks = impl.top()
    assert list(bids) == want_b and list(asks) == want_a
