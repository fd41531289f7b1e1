"""Backtest throughput on the captured real sessions (tests/data/binance/), ours vs a peer, same run.

1. Replay without a strategy: every recorded depth frame and snapshot of the captured spot and USD-M sessions
   through one book per symbol, in recorded order. Ours is the backtest's own path: ``load`` (engine/backtest/
   recording.py) once, outside the timing, then ``BookSync.feed(raw)`` per diff and ``apply_snapshot`` when the
   book needs one (engine/book.py; what engine/backtest/venue.py does per frame, minus the venue model). The peer
   does the same work the usual Python way: orjson + SortedDict[float] books with Binance's documented
   snapshot/diff sync rules (docs/binance.md), diffs buffered until the snapshot. Both end on the same tops.
2. Full backtest with the market maker and the queue model on: ``engine.backtest.run`` with
   ``InventoryMarketMaker`` (engine/strategy/market_maker.py) on the USD-M session, beside hftbacktest (bench
   extra) running a market maker with the same rule (quote every 0.5 s around the mid, skewed by inventory,
   post-only) on the same session converted to its event array (one row per level change or trade).
   Skipped with the reason when hftbacktest is not installed.

Per timed call ``extra_info["ops"]`` is the number of recorded frames, so every row reads per frame.
"""
import pathlib
from decimal import Decimal as D

import orjson
import pytest

from engine.backtest import Fees, Latency, QueueModel, load, run
from engine.backtest.recording import DEPTH, SNAPSHOT, TRADE
from engine.book import BookSync, DepthOutcome, OrderBook
from engine.config import RiskLimits
from engine.strategy.market_maker import InventoryMarketMaker

try:
    from sortedcontainers import SortedDict
except ImportError:  # pragma: no cover
    SortedDict = None

DATA = pathlib.Path(__file__).parent.parent / "tests" / "data" / "binance"
SPOT = str(DATA / "spot" / "session_2021-10-12_cryptofeed")
FUTURES = str(DATA / "futures_usdm" / "session_2021-07-22_cryptofeed")
SESSIONS = {"spot": SPOT, "usdm": FUTURES}


@pytest.fixture(scope="module")
def recordings():
    return {name: load([path]) for name, path in SESSIONS.items()}


def book_frames(rec) -> list:
    """(kind, symbol, raw) of every frame a book consumes: the diffs and the snapshots, in recorded order."""
    return [(e.kind, e.symbol, e.raw) for e in rec.events if e.kind in (DEPTH, SNAPSHOT)]


# ---------------------------------------------------------------- 1. replay through the books, no strategy

def replay_ours(frames, futures):
    syncs = {}
    for kind, sym, raw in frames:
        s = syncs.get(sym)
        if s is None:
            s = syncs[sym] = BookSync(OrderBook(sym, futures=futures))
        if kind == DEPTH:
            s.feed(raw)
        elif s.needs_snapshot:
            s.apply_snapshot(raw)
    return {sym: s.book for sym, s in syncs.items()}


class PeerBook:
    """orjson + SortedDict[float], synced by Binance's rules: diffs buffered until a snapshot, then the first
    diff must straddle the snapshot's lastUpdateId (spot: U <= lid+1 <= u; USD-M: U <= lid <= u) and each
    next one must follow (spot: U == previous u + 1; USD-M: pu == previous u); a gap waits for a snapshot."""

    def __init__(self, futures):
        self.futures = futures
        self.bids, self.asks = SortedDict(), SortedDict()
        self.last = None  # None: waiting for a snapshot
        self.first = True
        self.buffer = []

    def snapshot(self, raw):
        m = orjson.loads(raw)
        self.bids = SortedDict({float(p): float(q) for p, q in m["bids"]})
        self.asks = SortedDict({float(p): float(q) for p, q in m["asks"]})
        self.last, self.first = m["lastUpdateId"], True
        buffered, self.buffer = self.buffer, []
        for d in buffered:
            self.diff(d)

    def feed(self, raw):
        m = orjson.loads(raw)
        self.diff(m.get("data", m))

    def diff(self, m):
        if self.last is None:
            self.buffer.append(m)
            return
        U, u = m["U"], m["u"]
        if self.first:
            lid = self.last
            if u < lid + (0 if self.futures else 1):
                return  # covered by the snapshot
            if not (U <= lid + (0 if self.futures else 1) <= u):
                self.last, self.buffer = None, []
                return
            self.first = False
        elif (m["pu"] != self.last) if self.futures else (U != self.last + 1):
            self.last, self.buffer = None, []
            return
        for side, key in ((self.bids, "b"), (self.asks, "a")):
            for p, q in m[key]:
                p, q = float(p), float(q)
                if q == 0.0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.last = u

    def top(self, n):
        b = self.bids.items()[-n:]
        b.reverse()
        return b, self.asks.items()[:n]


def replay_peer(frames, futures):
    books = {}
    for kind, sym, raw in frames:
        b = books.get(sym)
        if b is None:
            b = books[sym] = PeerBook(futures)
        if kind == DEPTH:
            b.feed(raw)
        elif b.last is None:
            b.snapshot(raw)
    return books


REPLAYS = {"engine BookSync + OrderBook (compiled)": replay_ours}
if SortedDict is not None:
    REPLAYS["orjson + SortedDict[float], Binance sync rules"] = replay_peer


@pytest.mark.benchmark(group="replay: recorded frames -> books, no strategy (per frame)")
@pytest.mark.parametrize("name", list(REPLAYS))
def test_replay_captured_sessions(benchmark, recordings, name):
    fn = REPLAYS[name]
    work = [(book_frames(rec), rec.futures) for rec in recordings.values()]
    frames = sum(len(f) for f, _ in work)

    def replay():
        return [fn(f, futures) for f, futures in work]

    out = benchmark.pedantic(replay, rounds=31 if name.startswith("engine") else 9, iterations=1, warmup_rounds=1)
    benchmark.extra_info["ops"] = frames
    # the books end where a plain replay of the same frames through the compiled book ends
    want = [replay_ours(f, futures) for f, futures in work]
    for got_s, want_s in zip(out, want):
        assert set(got_s) == set(want_s)
        for sym, ref in want_s.items():
            assert ref.synced, sym
            wb, wa = ref.top(10)
            gb, ga = got_s[sym].top(10)
            assert [(round(p, 8), round(q, 8)) for p, q in gb] == [(round(p, 8), round(q, 8)) for p, q in wb], sym
            assert [(round(p, 8), round(q, 8)) for p, q in ga] == [(round(p, 8), round(q, 8)) for p, q in wa], sym
