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

Per timed call ``extra_info["ops"]`` is the number of recorded frames, so every row reads per frame (the
snapshots-alone group: per snapshot). The measured tables are in benchmarks/README.md.
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
from peers import SortedDictBook

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


class PeerBook(SortedDictBook):
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
        self.last = u - 1  # in sync: apply_dict (benchmarks/peers.py) applies the levels and moves last to u
        SortedDictBook.apply_dict(self, m)


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



@pytest.mark.benchmark(group="replay: the sessions' REST snapshots alone (per snapshot)")
@pytest.mark.parametrize("name", list(REPLAYS))
def test_replay_snapshots_alone(benchmark, recordings, name):
    """The snapshot part of the replay above (fresh books, each symbol's snapshot, nothing else), so the diff
    part's rate is the replay's time minus this one's, over the diffs."""
    fn = REPLAYS[name]
    work = [([f for f in book_frames(rec) if f[0] == SNAPSHOT], rec.futures) for rec in recordings.values()]
    out = benchmark.pedantic(lambda: [fn(f, futures) for f, futures in work], rounds=31, iterations=1,
                             warmup_rounds=1)
    benchmark.extra_info["ops"] = sum(len(f) for f, _ in work)
    for books, (frames, futures) in zip(out, work):
        want = replay_ours(frames, futures)
        for sym, ref in want.items():
            assert [(round(p, 8), round(q, 8)) for p, q in books[sym].top(10)[0]] == \
                [(round(p, 8), round(q, 8)) for p, q in ref.top(10)[0]], sym

# ---------------------------------------------------------------- 2. full backtest: market maker + queue model

SYMBOL = "SUSHIUSDT"  # the USD-M session's busiest book; both sides play its frames only
MM = dict(size=D("2"), tick=D("0.001"), max_inventory=D("20"), half_spread_bps=D("2"), skew_bps_per_unit=D("1"),
          requote_bps=D("3"))
ENTRY_NS = RESPONSE_NS = 1_000_000
MAKER, TAKER = D("0.0002"), D("0.0004")


@pytest.fixture(scope="module")
def sushi():
    """The USD-M session cut to one symbol's frames (diffs, trades, snapshot), as a backtest Recording."""
    from engine.backtest.recording import Recording
    rec = load([FUTURES])
    events = [e for e in rec.events if e.symbol == SYMBOL and e.kind in (DEPTH, TRADE, SNAPSHOT)]
    return Recording(events=events, exchange_info=rec.exchange_info, futures=rec.futures, sources=rec.sources,
                     venue=rec.venue)


def ours_backtest(rec):
    return run(rec, lambda engine: InventoryMarketMaker(engine, "binance", SYMBOL, **MM), seed=1,
               latency=Latency(entry_ns=ENTRY_NS, response_ns=RESPONSE_NS), queue_model=QueueModel.probabilistic(2),
               fees=Fees(maker=MAKER, taker=TAKER),
               risk_limits=RiskLimits(max_order_qty=D(1000), max_position=D(1000)))


def to_hftbacktest(rec):
    """The same frames as hftbacktest's event rows: one per level change of each diff after the snapshot (in
    sync), one per trade; exchange time = the frame's E, local time = receive time minus the smallest recorded
    (receive - E), as the backtest's "recorded" feed latency (docs/backtest.md, Feed latency). Returns
    (snapshot rows, event rows, frames used)."""
    import numpy as np
    from hftbacktest import (BUY_EVENT, DEPTH_EVENT, DEPTH_SNAPSHOT_EVENT, EXCH_EVENT, LOCAL_EVENT, SELL_EVENT,
                             TRADE_EVENT, event_dtype)
    offset = min(e.recv_ns - e.event_ms * 1_000_000 for e in rec.events if e.event_ms is not None)
    snap = next(orjson.loads(e.raw) for e in rec.events if e.kind == SNAPSHOT)
    lid, ts = snap["lastUpdateId"], snap["E"] * 1_000_000
    both = EXCH_EVENT | LOCAL_EVENT
    snap_rows = [(DEPTH_SNAPSHOT_EVENT | both | BUY_EVENT, ts, ts, float(p), float(q), 0, 0, 0.0)
                 for p, q in snap["bids"]]
    snap_rows += [(DEPTH_SNAPSHOT_EVENT | both | SELL_EVENT, ts, ts, float(p), float(q), 0, 0, 0.0)
                  for p, q in snap["asks"]]
    rows, frames = [], 0
    for e in rec.events:
        if e.kind == SNAPSHOT:
            continue
        m = orjson.loads(e.raw)
        m = m.get("data", m)
        exch, local = m["E"] * 1_000_000, e.recv_ns - offset
        if e.kind == DEPTH:
            if m["u"] < lid:
                continue  # covered by the snapshot
            for key, side in (("b", BUY_EVENT), ("a", SELL_EVENT)):
                rows += [(DEPTH_EVENT | both | side, exch, local, float(p), float(q), 0, 0, 0.0) for p, q in m[key]]
        else:  # aggTrade: m=true is a sell aggressor
            rows.append((TRADE_EVENT | both | (SELL_EVENT if m["m"] else BUY_EVENT), exch, local, float(m["p"]),
                         float(m["q"]), 0, 0, 0.0))
        frames += 1
    return np.array(snap_rows, dtype=event_dtype), np.array(rows, dtype=event_dtype), frames


try:
    import hftbacktest  # noqa: F401
    from numba import njit
    HFT = None
except ImportError as exc:  # the bench extra is not installed
    HFT = f"hftbacktest not installed ({exc}): pip install -e '.[bench]'"


if HFT is None:
    from hftbacktest import GTX, LIMIT, NEW
    from hftbacktest.order import PARTIALLY_FILLED

    @njit
    def hft_market_maker(hbt, size, half_spread_bps, skew_bps, max_inventory, requote_bps):
        """InventoryMarketMaker's rule (engine/strategy/market_maker.py) in hftbacktest's API: every 0.5 s, a
        post-only bid and ask half_spread_bps from the mid shifted by -skew_bps per unit held, rounded down to
        the tick; no quote on the side that would grow the position past max_inventory; a live quote further
        than requote_bps from where it should be is cancelled and replaced."""
        next_id = 1
        quote_ids = [0, 0]  # bid, ask
        while hbt.elapse(500_000_000) == 0:
            hbt.clear_inactive_orders(0)
            depth = hbt.depth(0)
            bid, ask, tick = depth.best_bid, depth.best_ask, depth.tick_size
            if not (bid > 0 and ask > 0):
                continue
            mid = (bid + ask) / 2.0
            inv = hbt.position(0)
            shift = -skew_bps * inv / 10_000.0 * mid
            orders = hbt.orders(0)
            for s in range(2):
                sign = -1.0 if s == 0 else 1.0
                want = np.floor((mid + shift + sign * half_spread_bps / 10_000.0 * mid) / tick + 1e-9) * tick
                grows = (s == 0 and inv >= 0) or (s == 1 and inv <= 0)
                qty = size if (not grows or abs(inv) + size <= max_inventory) else 0.0
                oid = quote_ids[s]
                o = orders.get(oid) if oid else None
                if o is not None and (o.status == NEW or o.status == PARTIALLY_FILLED):
                    if abs(o.price - want) / mid * 10_000.0 <= requote_bps and qty > 0:
                        continue
                    hbt.cancel(0, oid, False)
                quote_ids[s] = 0
                if qty > 0:
                    if s == 0:
                        hbt.submit_buy_order(0, next_id, want, qty, GTX, LIMIT, False)
                    else:
                        hbt.submit_sell_order(0, next_id, want, qty, GTX, LIMIT, False)
                    quote_ids[s] = next_id
                    next_id += 1
        return hbt.state_values(0).num_trades

    import numpy as np  # the njit function reads np.floor from the module globals


def hft_backtest(snap, rows):
    from hftbacktest import BacktestAsset, HashMapMarketDepthBacktest
    asset = (BacktestAsset().data(rows).initial_snapshot(snap).linear_asset(1.0)
             .constant_order_latency(ENTRY_NS, RESPONSE_NS).power_prob_queue_model(2.0).partial_fill_exchange()
             .trading_value_fee_model(float(MAKER), float(TAKER)).tick_size(float(MM["tick"])).lot_size(1.0))
    hbt = HashMapMarketDepthBacktest([asset])
    trades = hft_market_maker(hbt, float(MM["size"]), float(MM["half_spread_bps"]), float(MM["skew_bps_per_unit"]),
                              float(MM["max_inventory"]), float(MM["requote_bps"]))
    hbt.close()
    return trades


FULL = ["engine.backtest.run + InventoryMarketMaker (probabilistic queue, power 2)",
        "hftbacktest 2.4 HashMapMarketDepthBacktest + njit market maker (power_prob_queue_model 2)"]


@pytest.mark.benchmark(group="full backtest: market maker + queue model, USD-M SUSHIUSDT (per recorded frame)")
@pytest.mark.parametrize("name", FULL)
def test_full_backtest(benchmark, sushi, name):
    frames = len(sushi.events)
    if name.startswith("engine"):
        res = benchmark.pedantic(ours_backtest, args=(sushi,), rounds=5, iterations=1)
        assert res.frames == frames and res.fills and len(res.orders) > 10
        benchmark.extra_info.update(ops=frames, fills=len(res.fills), orders=len(res.orders))
    else:
        if HFT is not None:
            pytest.skip(HFT)
        snap, rows, used = to_hftbacktest(sushi)
        hft_backtest(snap, rows)  # compile the njit strategy outside the timing
        trades = benchmark.pedantic(hft_backtest, args=(snap, rows), rounds=5, iterations=1)
        assert trades > 0
        # per recorded frame like ours (its own rows are level changes: rows / frames of them per frame)
        benchmark.extra_info.update(ops=frames, rows=len(rows), frames_used=used, fills=int(trades))
