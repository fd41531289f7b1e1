"""The compiled book and the pure-Python oracle agree on random streams (hypothesis)."""
import json
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.book import DepthOutcome, OrderBook
from reference.book_ref import RefBook

SCALE = 10**8


def fmt(v: int, style: int) -> str:
    """A scaled integer written the ways venues write decimals: '1', '1.5', '1.50000000'."""
    whole, frac = divmod(v, SCALE)
    if style == 0:
        return f"{whole}.{frac:08d}"
    if frac == 0 and style == 1:
        return str(whole)
    s = f"{whole}.{frac:08d}".rstrip("0")
    return s + "0" if s.endswith(".") else s


prices = st.integers(min_value=1, max_value=10**12)  # up to 10,000.00000000
qtys = st.integers(min_value=1, max_value=10**17)


def order_levels(draw, levels, best_first):
    """A side's levels in the order a frame lists them: best first (what venues send), worst first, or
    shuffled; sometimes with a price repeated (the last listing wins)."""
    how = draw(st.sampled_from(["best", "worst", "shuffled"]))
    out = sorted(levels, key=lambda pq: pq[0], reverse=best_first)
    if how == "worst":
        out.reverse()
    elif how == "shuffled":
        out = draw(st.permutations(out))
    out = list(out)
    for _ in range(draw(st.integers(0, 3)) if out else 0):
        i = draw(st.integers(0, len(out) - 1))
        out.insert(draw(st.integers(0, len(out))), [out[i][0], draw(st.sampled_from(["0", out[i][1], "1.5"]))])
    return out


@st.composite
def streams(draw):
    futures = draw(st.booleans())
    max_levels = draw(st.sampled_from([None, None, 1, 2, 5, 17, 40, 150]))
    n_levels = draw(st.integers(0, 300))
    mid = draw(st.integers(10**9, 10**11))
    bid_px = draw(st.lists(st.integers(1, mid - 1), min_size=0, max_size=n_levels, unique=True))
    ask_px = draw(st.lists(st.integers(mid + 1, 2 * mid), min_size=0, max_size=n_levels, unique=True))
    style = draw(st.integers(0, 2))
    snap = {"lastUpdateId": 1000,
            "bids": order_levels(draw, [[fmt(p, style), fmt(draw(qtys), style)] for p in bid_px], True),
            "asks": order_levels(draw, [[fmt(p, style), fmt(draw(qtys), style)] for p in ask_px], False)}
    diffs = []
    last = 1000
    known_b, known_a = list(bid_px), list(ask_px)
    for _ in range(draw(st.integers(1, 25))):
        def changes(known, lo, hi):
            out = []
            # mostly a few dozen changes (level by level); sometimes more than SMALL_DIFF (sorted and merged)
            for _ in range(draw(st.sampled_from([0, 1, 5, 12, 12, 70, 150]))):
                kind = draw(st.integers(0, 3))
                if kind == 0 and known:  # delete (maybe twice: removing an absent level is silent)
                    p = draw(st.sampled_from(known))
                    out.append([fmt(p, style), "0.00000000" if style == 0 else "0"])
                elif kind == 1 and known:  # modify
                    out.append([fmt(draw(st.sampled_from(known)), style), fmt(draw(qtys), style)])
                else:  # insert anywhere, including far from the top
                    p = draw(st.integers(lo, hi))
                    known.append(p)
                    out.append([fmt(p, style), fmt(draw(qtys), style)])
            return out
        b = changes(known_b, 1, mid - 1)
        a = changes(known_a, mid + 1, 2 * mid)
        U = last + 1 if not futures else last + draw(st.integers(1, 5))
        u = U + draw(st.integers(0, 4))
        frame = {"e": "depthUpdate", "E": 1, "s": "XYZUSDT", "U": U, "u": u, "b": b, "a": a}
        if futures:
            frame["pu"] = last
            if not diffs:  # first event must straddle the snapshot id
                frame["U"] = 1000 - draw(st.integers(0, 3))
                frame["u"] = 1000 + draw(st.integers(0, 3))
                frame["pu"] = frame["U"] - 1
        last = frame["u"]
        wrap = draw(st.booleans())
        diffs.append(json.dumps({"stream": "xyzusdt@depth@100ms", "data": frame} if wrap else frame).encode())
    return futures, max_levels, json.dumps(snap).encode(), diffs


def check_same(book, ref):
    bids, asks = ref.levels()
    assert (book.bids_scaled(), book.asks_scaled()) == (bids, asks)
    assert book.levels_dropped == ref.dropped
    assert book.trimmed_at_scaled() == ref.trimmed_at()
    return bids, asks


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(streams())
def test_extension_and_oracle_agree_on_random_streams(case):
    """Any level order, repeated prices, diffs on both the level-by-level and the merge path, with and
    without a level cap: the same book, the same dropped count and boundaries as the oracle."""
    futures, max_levels, snap, diffs = case
    kw = {} if max_levels is None else {"max_levels": max_levels}
    book = OrderBook("XYZUSDT", futures=futures, **kw)
    ref = RefBook(futures, max_levels)
    book.apply_snapshot(snap)
    ref.snapshot(snap)
    check_same(book, ref)
    for d in diffs:
        assert book.apply_depth(d) == ref.diff(d)
        bids, asks = check_same(book, ref)
        # the float view (which reuses tuples of unchanged levels between reads) matches exactly
        for n in (1, 20, 70):
            f = lambda side: [(float(p) / SCALE, float(q) / SCALE) for p, q in side[:n]]  # noqa: E731
            want = (f(bids), f(asks))
            assert book.top(n) == want
    assert book.last_update_id == ref.last


@settings(max_examples=5, deadline=None)
@given(st.integers(0, 2**32))
def test_5000_level_snapshots_and_deep_changes(seed):
    import random

    rng = random.Random(seed)
    bids = sorted(rng.sample(range(1, 10**7), 5000), reverse=True)
    asks = sorted(rng.sample(range(10**7 + 1, 2 * 10**7), 5000))
    q = lambda: fmt(rng.randrange(1, 10**12), 0)  # noqa: E731
    snap = json.dumps({"lastUpdateId": 1, "bids": [[fmt(p, 0), q()] for p in bids],
                       "asks": [[fmt(p, 0), q()] for p in asks]}).encode()
    book, ref = OrderBook("XYZUSDT"), RefBook()
    book.apply_snapshot(snap)
    ref.snapshot(snap)
    last = 1
    for _ in range(50):
        b = [[fmt(rng.choice(bids), 0), rng.choice(["0.00000000", q()])] for _ in range(20)]
        a = [[fmt(rng.choice(asks), 0), rng.choice(["0.00000000", q()])] for _ in range(20)]
        d = json.dumps({"e": "depthUpdate", "E": 0, "s": "XYZUSDT", "U": last + 1, "u": last + 3,
                        "b": b, "a": a}).encode()
        last += 3
        assert book.apply_depth(d) == ref.diff(d) == DepthOutcome.APPLIED
    assert (book.bids_scaled(), book.asks_scaled()) == ref.levels()
    assert book.bid_count == len(ref.bids) and book.ask_count == len(ref.asks)


@given(st.integers(0, 18), st.integers(0, 10**18 - 1))
def test_decimal_scales_round_trip_exactly(decimals, raw):
    value = Decimal(raw) / (10**decimals)
    text = format(value, "f")
    book = OrderBook("X", price_decimals=decimals, qty_decimals=decimals)
    if raw == 0:
        return
    book.apply_snapshot(json.dumps({"lastUpdateId": 1, "bids": [[text, text]], "asks": []}).encode())
    assert book.bids_scaled() == [(raw, raw)]
    assert Decimal(book.top_exact(1)[0][0][0]) == value
