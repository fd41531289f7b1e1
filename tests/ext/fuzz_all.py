"""Fuzzer for every compiled entry point; run in a subprocess by test_fuzz_sanitized.py and .ci/sanitize.

Usage: python fuzz_all.py BUILD_LIB N SEED DATA_DIR [MODE]
Loads every compiled module from BUILD_LIB (``use_build``; MODE, default "debug", is the BUILD_MODE each
must report) and spends N inputs, one entry-point call each, on:
- books: OrderBook.apply_depth/apply_snapshot/apply_partial/apply_lighter, BookSync.feed/apply_snapshot,
  and their readers, with frames mutated by tests/ext/fuzz_frames.py's mutator;
- the aggTrade decoder, with random decimals too;
- StreamListener: the captured Binance combined-stream session, in order and mutated, and Lighter frames,
  fed through feed_copy (an exact-size heap copy) and on_ws_frame, with routes changing and an owner that
  resyncs books from inside its callbacks;
- Signer.sign / signed_query / encode_query / sha256_hex with random keys, payloads and parameters of
  every type, against hmac, hashlib and urllib.parse.quote, on both SHA-256 paths;
- TokenBucketLimiter with random rates, capacities, weights (to 2**70, negative too) and clock times (to
  2**63 and back), against the rational oracle tests/reference/bucket_ref.py where that is exact;
- LatencyHistogram with random values, merges and percentiles.
ENGINE_FUZZ_ONLY=books,signer,... spends the inputs on those targets alone.
Exits 0 when every call returned or raised what its contract says (FrameError for a bad frame, the
documented ValueError/TypeError/OverflowError for bad arguments) and every invariant held; anything else
exits 1 naming the target and the input. A crash kills the process, which the caller sees.

``use_build`` and ``Owner`` are also imported by test_misuse.py and test_ws_listener.py.
"""
import hashlib
import hmac
import importlib
import json
import os
import random
import sys
import time
from decimal import Decimal
from fractions import Fraction
from urllib.parse import quote

MODULES = ("engine._metrics", "engine._book", "engine._feed", "engine._sign", "engine._ratelimit", "engine._ws")
LLONG_MAX = 2**63 - 1


def use_build(lib, mode=None):
    """Import every compiled module from ``lib`` instead of the installed ones; returns them by name.

    ``lib/engine`` goes first on ``engine.__path__``, so ``import engine._book`` (and every face:
    engine.book, engine.sign, ...) finds the build in ``lib`` (setup.py ``build_ext --build-lib lib``), and
    engine._ws's cimports of engine._book and engine._metrics resolve to the same build. Call it before
    anything imports a compiled module. With ``mode``, each module must report that BUILD_MODE.
    """
    import engine

    loaded = [m for m in MODULES if m in sys.modules]
    assert not loaded, f"already imported from elsewhere: {loaded}"
    engine.__path__.insert(0, os.path.join(str(lib), "engine"))
    mods = {name: importlib.import_module(name) for name in MODULES}
    for name, mod in mods.items():
        assert os.path.realpath(mod.__file__).startswith(os.path.realpath(str(lib))), (name, mod.__file__)
        assert mode is None or mod.BUILD_MODE == mode, f"{name} is a {mod.BUILD_MODE} build, not {mode}"
    return mods


class Owner:
    """A StreamListener owner that keeps what each callback was given (books: (key, outcome))."""

    def __init__(self):
        self.books, self.control, self.streams, self.garbage = [], [], [], []

    @property
    def outcomes(self):
        return [outcome for _, outcome in self.books]

    def on_book(self, key, outcome):
        self.books.append((key, outcome))

    def on_control(self, raw):
        self.control.append(raw)

    def on_stream(self, key, raw):
        self.streams.append((key, raw))

    def on_garbage(self, raw):
        self.garbage.append(raw)


class Bug(Exception):
    """A broken contract or invariant: the fuzzer reports it and exits 1."""


def expect(cond, what):
    if not cond:
        raise Bug(what)


# ------------------------------------------------------------------------------------------ books, feed
class Books:
    def __init__(self, rng, frames):
        from engine.book import BookSync, OrderBook

        self.rng, self.frames = rng, frames
        self.symbols = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR", "SUSHIUSDT", "AKROUSDT", "CTKUSDT", "KEEPUSDT",
                        "BTCUSDT"]
        self.books = {}
        for s in self.symbols:
            for fut in (False, True):
                b = OrderBook(s, futures=fut)
                b.apply_snapshot(b'{"lastUpdateId":1,"bids":[["1.00000000","1.00000000"]],"asks":[["2.00000000","1"]]}')
                self.books[(s, fut)] = (b, BookSync(OrderBook(s, futures=fut), max_buffer=50))
        self.lighter = OrderBook("CRV", price_decimals=5, qty_decimals=1)
        self.sym_of = {}
        for f in frames:
            i = f.find(b'"s":"')
            self.sym_of[f] = f[i + 5:f.index(b'"', i + 5)].decode() if i >= 0 and b'"' in f[i + 5:] else "BTCUSDT"

    def step(self, k, mutate):
        from engine.errors import FrameError
        from engine.feed import decode_agg_trade
        from fuzz_frames import PLAIN_CALLS, apply_plain

        rng = self.rng
        src = rng.choice(self.frames)
        raw = mutate(rng, [src])
        sym = self.sym_of[src] if self.sym_of[src] in self.symbols else rng.choice(self.symbols)
        book, sync = self.books[(sym, rng.random() < 0.5)]
        which = k % 8
        try:
            if which < PLAIN_CALLS:
                apply_plain(which, book, sync, decode_agg_trade, raw)
            elif which == 6:
                pd, qd = rng.randrange(-2, 21), rng.randrange(-2, 21)
                try:
                    decode_agg_trade(raw, pd, qd)
                except FrameError:
                    raise
                except ValueError as e:  # the decimals are checked before the frame is read
                    expect(not (0 <= pd <= 18 and 0 <= qd <= 18), f"decimals {pd}, {qd} refused: {e}")
            else:
                self.lighter.apply_lighter(raw)
        except FrameError:
            pass
        if k % 2000 == 0:
            check_book(book)
            check_book(sync.book)
            check_book(self.lighter)


def check_book(book):
    book.bbo()
    book.top(25)
    book.top_exact(5)
    bids, asks = book.bids_scaled(), book.asks_scaled()
    bp, ap = [p for p, _ in bids], [p for p, _ in asks]
    expect(bp == sorted(set(bp), reverse=True) and ap == sorted(set(ap)), f"{book.symbol}: book out of order")
    expect(all(q > 0 for _, q in bids + asks), f"{book.symbol}: a zero-quantity level survived")


# ------------------------------------------------------------------------------------------ listener
FUTURES = {"SUSHIUSDT", "AKROUSDT", "CTKUSDT", "KEEPUSDT"}
GAP, BUFFERED = 3, 4


class FuzzOwner:
    """Counts callbacks and checks their arguments; a failed check raises inside the callback, which the
    listener counts in callback_errors, which the fuzzer checks after every frame."""

    def __init__(self, rng):
        self.rng = rng
        self.calls = 0
        self.resyncs = 0

    def on_book(self, sync, outcome):
        from engine.book import BookSync

        self.calls += 1
        assert outcome in (1, 2, 3, 4, 5), outcome
        if isinstance(sync, BookSync) and outcome == BUFFERED and self.rng.random() < 0.3:
            # resync from inside the frame path, with a snapshot the buffered frames continue
            first = sync.first_buffered_update_id
            lid = first if sync.book.futures else first - 1
            sync.apply_snapshot(b'{"lastUpdateId":%d,"bids":[["0.00000001","1"]],"asks":[["999999","1"]]}' % lid)
            self.resyncs += 1

    def on_stream(self, key, raw):
        from engine.errors import FrameError
        from engine.feed import decode_agg_trade

        self.calls += 1
        assert type(raw) is bytes
        if key == "aggTrade":
            try:
                decode_agg_trade(raw)
            except FrameError:
                pass

    def on_control(self, raw):
        self.calls += 1
        assert type(raw) is bytes

    def on_garbage(self, raw):
        self.calls += 1
        assert type(raw) is bytes


class Listener:
    def __init__(self, rng, session, lighter_frames):
        from engine._ws import LIGHTER_PREFIX, StreamListener

        self.rng, self.session, self.lighter_frames = rng, session, lighter_frames
        self.owner = FuzzOwner(rng)
        self.binance = StreamListener(self.owner)
        self.lighter = StreamListener(self.owner, prefix=LIGHTER_PREFIX)
        self.names = sorted({f.split(b'"')[3] for f in session})
        self.syncs = {}
        for name in self.names:
            self.route(name)
        self.lighter_book = self.route_lighter()
        self.pos = 0
        self.fed = 0
        self.recorded = 0

    def route(self, name):
        from engine.book import BookSync, OrderBook

        kind = name.split(b"@")[1]
        if kind == b"depth":
            sym = name.split(b"@")[0].decode().upper()
            sync = BookSync(OrderBook(sym, futures=sym in FUTURES), max_buffer=self.rng.choice((5, 50, 1000)))
            self.syncs[name] = sync
            self.binance.register_book(name, sync, sync, notify_applied=self.rng.random() < 0.5)
        elif kind != b"kline_1m":  # klines stay unrouted: on_control
            self.binance.register_raw(name, kind.decode())

    def route_lighter(self):
        from engine.book import OrderBook

        book = OrderBook("CRV", price_decimals=5, qty_decimals=1)
        self.lighter.register_lighter_book(b"order_book:36", book, "crv", notify_applied=self.rng.random() < 0.5)
        return book

    def step(self, k, mutate):
        from picows import WSMsgType
        from picows.picows import _make_test_ws_frame

        rng = self.rng
        if rng.random() < 0.1:
            lst, raw = self.lighter, mutate(rng, self.lighter_frames)
        else:
            lst = self.binance
            if rng.random() < 0.5:  # the session in order: diffs continue, books apply
                raw = self.session[self.pos % len(self.session)]
                self.pos += 1
                if rng.random() < 0.05:
                    raw = mutate(rng, [raw])
            else:
                raw = mutate(rng, self.session)
        want = lst.frames + 1
        if rng.random() < 0.8:
            lst.feed_copy(raw)
        else:
            t = rng.choice((WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.PING, WSMsgType.PONG, WSMsgType.CONTINUATION))
            lst.on_ws_frame(None, _make_test_ws_frame(t, raw, True, False))
            if t not in (WSMsgType.TEXT, WSMsgType.BINARY):
                want -= 1  # not a data frame: ignored, not counted
        self.fed += 1
        expect(lst.frames == want, f"frame count {lst.frames} != {want}")
        expect(lst.callback_errors == 0, f"a callback failed (bad arguments from the listener?) on {raw[:300]!r}")
        if k % 1000 == 0:
            self.churn()
        if k % 2000 == 0:
            for sync in self.syncs.values():
                check_book(sync.book)
            check_book(self.lighter_book)

    def churn(self):
        rng = self.rng
        name = rng.choice(self.names)
        self.binance.unregister(name)
        if rng.random() < 0.8:
            self.route(name)
        if rng.random() < 0.2:
            self.lighter.unregister(b"order_book:36")
            self.lighter_book = self.route_lighter()
        if rng.random() < 0.2:
            rng.choice(list(self.syncs.values())).reset()
        self.binance.recorder = self.record if rng.random() < 0.5 else None

    def record(self, raw):
        assert type(raw) is bytes
        self.recorded += 1


# ------------------------------------------------------------------------------------------ signer
CHARS = "aZ09-_.~ &=?/+%#\x00\x7fé€𝄞\n\"'"


def rand_text(rng, n):
    s = "".join(rng.choice(CHARS) for _ in range(rng.randrange(n)))
    return s + "\ud800" if rng.random() < 0.01 else s


def rand_value(rng):
    k = rng.randrange(9)
    if k == 0:
        return rand_text(rng, 30)
    if k == 1:
        return rng.choice((0, 1, -1, LLONG_MAX, -LLONG_MAX, -2**63, 2**63, 2**70, -2**70, rng.getrandbits(64)))
    if k == 2:
        return rng.random() < 0.5
    if k == 3:
        return Decimal(rng.randrange(-10**12, 10**12)).scaleb(rng.randrange(-20, 10))
    if k == 4:
        return rng.randbytes(rng.randrange(20))
    if k == 5:
        return rng.choice((Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity"), Decimal("-0")))
    if k == 6:
        return rng.choice((0.1, None, object(), [1]))
    return str(rng.randrange(10**9))


def expected_value(v):
    """Our reading of the encoding contract (engine/sign.py): the encoded text, or the exception type."""
    if isinstance(v, str):
        return quote(v, safe="-_.~")  # raises UnicodeEncodeError for a lone surrogate, as the signer does
    if v is True or v is False:
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, Decimal):
        if not v.is_finite():
            raise ValueError
        return quote(format(v, "f"), safe="-_.~")
    if isinstance(v, bytes):
        return quote(v, safe="-_.~")
    raise TypeError


class Signing:
    def __init__(self, rng):
        from engine.sign import Signer

        self.rng = rng
        self.keys = []
        for _ in range(8):
            key = rng.randbytes(rng.choice((1, 16, 64, 65, 200)))
            self.keys.append((key, Signer(key)))

    def step(self, k, mutate):
        from engine import sign

        rng = self.rng
        if k % 500 == 0:
            sign.force_portable(rng.random() < 0.5)
        key, signer = rng.choice(self.keys)
        which = k % 4
        if which == 0:
            msg = rng.randbytes(rng.choice((0, 1, 55, 56, 63, 64, 65, rng.randrange(300), rng.randrange(5000))))
            expect(signer.sign(msg) == hmac.new(key, msg, hashlib.sha256).hexdigest(), f"sign {msg!r}")
        elif which == 1:
            msg = rng.randbytes(rng.randrange(300))
            expect(sign.sha256_hex(msg) == hashlib.sha256(msg).hexdigest(), f"sha256 {msg!r}")
        else:
            params = [(rand_text(rng, 12), rand_value(rng)) for _ in range(rng.randrange(8))]
            ts = rng.choice((0, 1700000000000, LLONG_MAX, -1, 2**63, rng.getrandbits(40)))
            rw = rng.choice((None, 5000, 0, LLONG_MAX))
            try:
                parts = [f"{quote(k_, safe='-_.~')}={expected_value(v)}" for k_, v in params]
                query = "&".join(parts)
                want_exc = None
            except (TypeError, ValueError, UnicodeEncodeError) as e:
                want_exc = type(e)
            try:
                got = sign.encode_query(params) if which == 2 else signer.signed_query(
                    params, timestamp=ts, recv_window=rw)
            except (TypeError, ValueError, OverflowError, UnicodeEncodeError) as e:
                if want_exc is None and which == 3 and (ts < 0 or ts > LLONG_MAX):
                    expect(isinstance(e, ValueError if ts < 0 else OverflowError), f"timestamp {ts}: {e!r}")
                    return
                expect(want_exc is not None and isinstance(e, want_exc), f"{params!r}: {e!r}, expected {want_exc}")
                return
            expect(want_exc is None, f"{params!r}: no {want_exc} raised")
            if which == 2:
                expect(got == query, f"encode_query {params!r}: {got!r} != {query!r}")
                return
            expect(0 <= ts <= LLONG_MAX, f"timestamp {ts} accepted")
            payload = "&".join(p for p in (query, f"recvWindow={rw}" if rw is not None else "", f"timestamp={ts}") if p)
            sig = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
            expect(got == f"{payload}&signature={sig}", f"signed_query {params!r}: {got!r}")


# ------------------------------------------------------------------------------------------ buckets
def rand_weight(rng, cap):
    k = rng.randrange(10)
    if k < 5:
        return rng.randrange(0, min(cap, 50) + 1)
    if k < 7:
        return rng.randrange(0, cap + 2)
    if k == 7:
        return rng.choice((cap, cap + 1, 2**62, LLONG_MAX, 2**63, 2**70))
    if k == 8:
        return rng.choice((-1, -2**63, -2**70))
    return 1 << rng.randrange(72)


class Buckets:
    def __init__(self, rng):
        self.rng = rng
        self.pool = []
        for _ in range(12):
            self.new()

    def new(self):
        from engine.ratelimit import MAX_CAPACITY, TokenBucketLimiter
        from reference.bucket_ref import RefBucket

        rng = self.rng
        exact = rng.random() < 0.5  # small integer-ish parameters: compared with the rational oracle
        if exact:
            rate = rng.choice((rng.randrange(1, 10_000), rng.randrange(1, 10**6) / 1000))
            cap = rng.randrange(1, 10_000)
        else:
            rate = rng.choice((10 ** rng.uniform(-9, 10), rng.uniform(0, 2), 9e9, 1e-9, float("nan"), -1.0))
            cap = rng.choice((1, MAX_CAPACITY, MAX_CAPACITY + 1, int(10 ** rng.uniform(0, 10)), 0))
        now = rng.choice((0, rng.getrandbits(40), LLONG_MAX - 10**12))
        try:
            b = TokenBucketLimiter(rate, cap, now=now)
        except ValueError:
            expect(not (0 < rate <= 9223372036 and 1 <= cap <= MAX_CAPACITY and round(rate * 1e9) > 0),
                   f"TokenBucketLimiter({rate}, {cap}) refused")
            return
        ref = RefBucket(Fraction(round(rate * 10**9), 10**9), cap, now) if exact else None
        self.pool.append([b, ref, now, cap])
        if len(self.pool) > 16:
            self.pool.pop(0)

    def step(self, k, mutate):
        rng = self.rng
        if k % 300 == 0 or not self.pool:
            self.new()
            if not self.pool:
                return
        entry = rng.choice(self.pool)
        b, ref, last, cap = entry
        step = rng.choice((0, 1, rng.randrange(10**6), rng.randrange(10**10)))
        r = rng.random()
        if ref is not None:  # the oracle's clock only moves forward, within 64 bits
            now = min(last + step, LLONG_MAX)
        elif r < 0.8:
            now = last + step  # may pass 2**63 - 1 near the end of the clock
        elif r < 0.9:
            now = last - rng.randrange(10**9)  # the clock going back: nothing refills
        else:
            now = rng.choice((LLONG_MAX, 2**63, -1, 2**64))
        if 0 <= now <= LLONG_MAX:
            entry[2] = now
        w = rand_weight(rng, cap)
        op = rng.randrange(6)
        bad_time = op != 2 and not 0 <= now <= LLONG_MAX  # refund takes no time
        try:
            if op == 0:
                got = b.try_acquire_at(w, now)
                expect(w >= 0, f"negative weight {w} accepted")
                expect(not got or w <= cap, f"weight {w} > capacity {cap} acquired")
                if ref is not None:
                    expect(got == ref.try_acquire(w, now), f"try_acquire_at({w}, {now}) differs from the oracle")
            elif op == 1:
                got = b.wait_time_at(w, now)
                expect(0 <= w <= cap and got >= 0, f"wait_time_at({w}) = {got}")
                if ref is not None:
                    # The bucket holds whole nano-tokens and carries the refill's fraction of one apart, so it
                    # may lag the exact count by under one nano-token, and it rounds the wait up to a whole
                    # ns: never shorter than the exact wait, longer by less than one nano-token's refill + 1 ns.
                    want = float(ref.wait_time(w, now))
                    slack = 1 / float(ref.rate * 10**9) + 1e-9
                    expect(want - want * 1e-15 <= got <= want + slack + want * 1e-15,
                           f"wait_time_at({w}, {now}) {got} != {want} (slack {slack})")
            elif op == 2:
                b.refund(w)
                expect(w >= 0, f"negative refund {w} accepted")
                if ref is not None:
                    ref.tokens = min(ref.capacity, ref.tokens + w)
            elif op == 3:
                if rng.random() < 0.1:
                    b.drain(now=now)
                    if ref is not None:
                        ref._refill(now)
                        ref.tokens = 0
                else:
                    used = rand_weight(rng, cap)
                    b.reconcile_used(used, now=now)
                    if ref is not None:
                        ref._refill(now)
                        ref.tokens = min(ref.tokens, cap - min(max(used, 0), cap))
            else:
                got = b.available_at(now)
                expect(0 <= got <= cap, f"available {got} outside [0, {cap}]")
                if ref is not None:
                    ref._refill(now)
                    expect(abs(got - float(ref.tokens)) <= 1e-9 * max(1, cap), f"available {got} != {ref.tokens}")
            expect(not bad_time, f"time {now} accepted")
        except ValueError as e:
            allowed = (bad_time and now < 0) or w < 0 or (op == 1 and w > cap)
            expect(allowed, f"op {op} weight {w} time {now}: {e!r}")
        except OverflowError as e:
            expect(now > LLONG_MAX, f"op {op} weight {w} time {now}: {e!r}")
        expect(0 <= b.available_at(entry[2]) <= cap, "bucket outside [0, capacity]")


# ------------------------------------------------------------------------------------------ histograms
class Histograms:
    def __init__(self, rng):
        from engine.metrics import LatencyHistogram

        self.rng = rng
        self.h = [LatencyHistogram() for _ in range(4)]
        self.count = [0] * 4

    def step(self, k, mutate):
        rng = self.rng
        i = rng.randrange(4)
        h = self.h[i]
        r = rng.random()
        if r < 0.85:
            v = rng.choice((int(10 ** rng.uniform(0, 12)), rng.randrange(200), -rng.randrange(10**6), LLONG_MAX,
                            -2**63, 2**37 - 1, 2**37, 2**63, -2**63 - 1))
            try:
                h.add(v)
                self.count[i] += 1
                expect(-2**63 <= v <= LLONG_MAX, f"add({v}) accepted")
            except OverflowError:
                expect(not -2**63 <= v <= LLONG_MAX, f"add({v}) refused")
        elif r < 0.9:
            j = rng.randrange(4)
            try:
                h.merge(self.h[j])
                self.count[i] += self.count[j]
                expect(self.count[i] < 2**64, "a merge past 2**64 values was accepted")
            except OverflowError:
                expect(self.count[i] + self.count[j] >= 2**64, "a merge refused")
        elif r < 0.99:
            p = rng.choice((rng.uniform(0, 100), 0.0, 100.0, rng.uniform(-5, 105), float("nan")))
            try:
                got = h.percentile(p)
                expect(0 <= p <= 100, f"percentile({p}) accepted")
                expect(h.count == 0 or h.min <= got <= h.max, f"percentile({p}) = {got} outside [min, max]")
            except ValueError:
                expect(not 0 <= p <= 100, f"percentile({p}) refused")
        else:
            h.reset()
            self.count[i] = 0
        expect(h.count == self.count[i], f"count {h.count} != {self.count[i]}")
        if k % 1000 == 0:
            ps = [h.percentile(p) for p in (0, 10, 50, 90, 99, 99.9, 100)]
            expect(ps == sorted(ps), f"percentiles not monotone: {ps}")
            h.snapshot()


# ------------------------------------------------------------------------------------------ main
def session_frames(data):
    out = []
    for sub in ("spot/session_2021-10-12_cryptofeed", "futures_usdm/session_2021-07-22_cryptofeed"):
        for line in open(os.path.join(data, sub, "ws_session.jsonl")):
            if line.strip():
                out.append(json.loads(line)["raw"].encode())
    return out


def main(argv):
    build_lib, n, seed, data = argv[1], int(argv[2]), int(argv[3]), argv[4]
    mode = argv[5] if len(argv) > 5 else "debug"
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:0] = [here, os.path.dirname(here)]  # fuzz_frames (its mutator and corpus); reference/ (oracles)
    use_build(build_lib, mode)
    from fuzz_frames import corpus, mutate

    rng = random.Random(seed)
    frames = corpus(data)
    lighter = [f for f in frames if f.startswith(b'{"channel"')]
    targets = [("books", Books(rng, frames), 40), ("listener", Listener(rng, session_frames(data), lighter), 25),
               ("signer", Signing(rng), 10), ("buckets", Buckets(rng), 15), ("histograms", Histograms(rng), 10)]
    only = [t for t in os.environ.get("ENGINE_FUZZ_ONLY", "").split(",") if t]  # e.g. "buckets,signer"
    targets = [t for t in targets if not only or t[0] in only]
    plan = [t for t in targets for _ in range(t[2])]
    done = {name: 0 for name, _, _ in targets}
    t0 = time.time()
    for k in range(n):
        name, target, _ = plan[k % len(plan)]
        try:
            target.step(done[name], mutate)
        except Bug as e:
            print(f"BUG in {name} at input {k} (seed {seed}): {e}", flush=True)
            return 1
        except Exception as e:  # no contract allows it
            import traceback

            print(f"UNEXPECTED in {name} at input {k} (seed {seed}): {type(e).__name__}: {e}", flush=True)
            traceback.print_exc()
            return 1
        done[name] += 1
    el = time.time() - t0
    lst = [t for name, t, _ in targets if name == "listener"]
    print(f"fuzz_all: {n} inputs in {el:.1f}s ({n / el:,.0f}/s): "
          + ", ".join(f"{name} {c}" for name, c in done.items())
          + (f"; listener resyncs {lst[0].owner.resyncs}, callbacks {lst[0].owner.calls}" if lst else ""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
