"""Mutation fuzzer for the compiled decoders; run in a subprocess by test_fuzz_frames.py.

Usage: python fuzz_frames.py BUILD_LIB N SEED
Loads engine._book and engine._feed from BUILD_LIB (a debug build: bounds checks on), feeds N mutated
frames to every entry point, and exits 0 when only FrameError (or a normal outcome) ever came back. Any
other exception exits 1 with the frame that caused it; a crash kills the process, which the test sees.
"""
import glob
import importlib.util
import json
import os
import random
import sys
import time


def load(build_lib, name):
    path = glob.glob(os.path.join(build_lib, "engine", name.split(".")[1] + ".*"))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def corpus(data):
    out = []
    for sub in ("spot/session_2021-10-12_cryptofeed", "futures_usdm/session_2021-07-22_cryptofeed"):
        for line in open(os.path.join(data, sub, "ws_session.jsonl")):
            if line.strip():
                out.append(json.loads(line)["raw"].encode())
    snap = open(os.path.join(data, "spot/nautilus_trader/rest_depth_BTCUSDT_limit10.json"), "rb").read()
    out.append(snap)
    out.append(b'{"lastUpdateId":160,"bids":[["0.0024","10"]],"asks":[["0.0026","100"]]}')
    lighter = os.path.join(data, "..", "lighter", "captured", "ws_order_book_CRV36_mainnet_20260729.jsonl")
    out.extend(line.strip().encode() for line in open(lighter) if line.strip())
    return out


JUNK = [b"-", b".", b"e", b"E", b"+", b"\\", b'"', b"[", b"]", b"{", b"}", b",", b":", b"0", b"9" * 25,
        b"NaN", b"Infinity", b"null", b"true", b"\x00", b"\xff", b" ", b"\\u0000", b"1e400"]


def mutate(rng, frames):
    f = bytearray(rng.choice(frames))
    if rng.random() < 0.2:  # some frames go through untouched, so the apply paths are exercised too
        return bytes(f)
    for _ in range(rng.choice((1, 1, 1, 2, 3, 8))):
        if not f:
            f = bytearray(rng.choice(frames))
        k = rng.randrange(9)
        i = rng.randrange(len(f))
        if k == 0:
            f[i] ^= 1 << rng.randrange(8)
        elif k == 1:
            f[i] = rng.randrange(256)
        elif k == 2:
            del f[rng.randrange(len(f)):]
        elif k == 3:
            f[i:i] = rng.choice(JUNK)
        elif k == 4:
            del f[i:i + rng.randrange(1, 16)]
        elif k == 5:
            j = rng.randrange(len(f))
            f[i:i] = f[j:j + rng.randrange(1, 64)]
        elif k == 6:
            other = rng.choice(frames)
            f = f[:i] + other[rng.randrange(len(other)):]
        elif k == 7:  # edit inside a numeric string
            digits = [m for m in range(len(f)) if 48 <= f[m] <= 57]
            if digits:
                m = rng.choice(digits)
                f[m:m + 1] = rng.choice(JUNK + [b"0" * rng.randrange(1, 30)])
        else:
            f[i:i] = rng.randbytes(rng.randrange(1, 32))  # from the seed: a failure replays from its seed
    return bytes(f)


# values no RFC 8259 parser accepts, spliced where the decoders skip a value (entry point "strict grammar")
BAD_VALUES = [b"trug", b"tru", b"nul", b"01", b"+1", b"41580.", b".5", b"1e", b"-", b"NaN", b"{a:1}", b'{"a":1,}',
              b"[1,]", b"[1 2]", b'"\\q"', b'"\\u12"', b'"\\\x00"', b'"\x01"', b'"\xff"', b'"\xc0\xaf"',
              b'"\xed\xa0\x80"', b"[" * 65 + b"]" * 65, b"[1}", b"'x'"]
GOOD_VALUES = [b"true", b"false", b"null", b"-0.5e+3", b'"\\u00e9\\n"', '"\u00e9"'.encode(), b'[1,{"a":[]}]', b"{}"]
BIG_IDS = [2**63 - 1, 2**63 - 2, 2**63, 2**64 + 1, 0, 1]


def with_ids(rng, frame):
    """The frame with its update ids (U, u, pu, lastUpdateId, nonces) set near and past 2^63."""
    for key in (b'"U":', b'"u":', b'"pu":', b'"lastUpdateId":', b'"nonce":', b'"begin_nonce":'):
        i = frame.find(key)
        if i >= 0 and rng.random() < 0.7:
            j = i + len(key)
            e = j
            while e < len(frame) and 48 <= frame[e] <= 57:
                e += 1
            frame = frame[:j] + str(rng.choice(BIG_IDS)).encode() + frame[e:]
    return frame


def misuse(book_mod, rng):
    """One call on an object built with __new__, or a second __init__: must raise RuntimeError, never crash."""
    b = book_mod.OrderBook.__new__(book_mod.OrderBook)
    s = book_mod.BookSync.__new__(book_mod.BookSync)
    live = book_mod.OrderBook("BTCUSDT")
    calls = [lambda: b.apply_depth(b"{}"), lambda: b.apply_snapshot(b"{}"), lambda: b.apply_partial(b"{}"),
             lambda: b.apply_lighter(b"{}"), b.bbo, b.top, b.top_exact, b.bids_scaled, b.asks_scaled, b.clear,
             b.counters, b.trimmed_at_scaled, lambda: b.best_bid, lambda: b.mid, lambda: b.crossed,
             lambda: book_mod.BookSync(b), lambda: s.feed(b"{}"), lambda: s.apply_snapshot(b"{}"), s.reset,
             lambda: s.buffered, lambda: live.__init__("ETHUSDT", price_decimals=2),
             lambda: book_mod.BookSync(live).__init__(live)]
    try:
        rng.choice(calls)()
    except RuntimeError:
        return
    raise AssertionError("misuse went through without an error")


PLAIN_CALLS = 6


def apply_plain(which, book, sync, decode_agg_trade, raw):
    """Entry point ``which`` (0 .. PLAIN_CALLS-1) of a book, its sync or the trade decoder, on one frame;
    shared with fuzz_all.py."""
    if which == 0:
        book.apply_depth(raw)
    elif which == 1:
        book.apply_snapshot(raw)
    elif which == 2:
        book.apply_partial(raw)
    elif which == 3:
        sync.feed(raw)
    elif which == 4:
        sync.apply_snapshot(raw)
    else:
        decode_agg_trade(raw)


def main():
    build_lib, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    data = sys.argv[4]
    book_mod = load(build_lib, "engine._book")
    feed_mod = load(build_lib, "engine._feed")
    assert book_mod.BUILD_MODE == "debug" and feed_mod.BUILD_MODE == "debug", "fuzz needs the debug build"
    from engine.errors import FrameError

    frames = corpus(data)
    rng = random.Random(seed)
    symbols = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR", "SUSHIUSDT", "AKROUSDT", "CTKUSDT", "KEEPUSDT", "BTCUSDT"]
    books = {}
    for s in symbols:
        for fut in (False, True):
            b = book_mod.OrderBook(s, futures=fut)
            b.apply_snapshot(b'{"lastUpdateId":1,"bids":[["1.00000000","1.00000000"]],"asks":[["2.00000000","1"]]}')
            books[(s, fut)] = (b, book_mod.BookSync(book_mod.OrderBook(s, futures=fut), max_buffer=50))
    crv = book_mod.OrderBook("CRV", price_decimals=5, qty_decimals=1)
    # a capped book (the cap and its boundary get exercised) and a small frame limit
    capped = {s: book_mod.OrderBook(s, max_levels=3) for s in symbols}
    tiny = {s: book_mod.OrderBook(s, max_frame_bytes=600) for s in symbols}
    ok = errs = 0
    t0 = time.time()
    sym_of = {}
    for f in frames:
        i = f.find(b'"s":"')
        sym_of[f] = f[i + 5:f.index(b'"', i + 5)].decode() if i >= 0 else "BTCUSDT"
    for k in range(n):
        src = rng.choice(frames)
        raw = mutate(rng, [src])
        sym = sym_of[src] if sym_of[src] in symbols else rng.choice(symbols)
        book, sync = books[(sym, rng.random() < 0.5)]
        which = k % 11
        try:
            if which == 7:  # misuse of uninitialised / re-initialised objects
                misuse(book_mod, rng)
            elif which == 8:  # update ids near and past 2^63, through the sync (buffer, snapshot, replay)
                raw = with_ids(rng, src if rng.random() < 0.5 else raw)
                (sync.apply_snapshot if raw.startswith(b'{"lastUpdateId"') else sync.feed)(raw)
            elif which == 9:  # the frame size limit: anything longer is refused unparsed, the book untouched
                tb = tiny[sym]
                before = (tb.bids_scaled(), tb.asks_scaled(), tb.last_update_id, tb.applied)
                try:
                    (tb.apply_snapshot if rng.random() < 0.5 else tb.apply_depth)(raw)
                except FrameError as e:
                    assert len(raw) <= 600 or "exceeds max_frame_bytes" in str(e), str(e)
                    assert (tb.bids_scaled(), tb.asks_scaled(), tb.last_update_id, tb.applied) == before
                    raise
                assert len(raw) <= 600, "an oversized frame was accepted"
            elif which == 10:  # strict grammar: a skipped value spliced into an intact frame, and the cap
                bad = rng.random() < 0.7
                value = rng.choice(BAD_VALUES if bad else GOOD_VALUES)
                spliced = src[:1] + b'"zz":' + value + b"," + src[1:]
                cb = capped[sym]
                call = rng.choice([cb.apply_snapshot, cb.apply_depth, feed_mod.decode_agg_trade, crv.apply_lighter])
                try:
                    call(spliced)
                except FrameError:
                    pass
                else:
                    assert not bad, f"malformed JSON accepted: {spliced!r}"
                try:
                    (cb.apply_snapshot if src.startswith(b'{"lastUpdateId"') else cb.apply_depth)(raw)
                finally:
                    assert cb.bid_count <= 3 and cb.ask_count <= 3, "the level cap was exceeded"
            elif which < PLAIN_CALLS:
                apply_plain(which, book, sync, feed_mod.decode_agg_trade, raw)
            else:
                crv.apply_lighter(raw)
            ok += 1
        except FrameError:
            errs += 1
        except Exception as e:  # anything else is a bug
            print(f"UNEXPECTED {type(e).__name__}: {e}\nframe: {raw!r}", flush=True)
            return 1
        if k % 5000 == 0:
            book.bbo(); book.top(25); book.top_exact(5); book.bids_scaled(); sync.buffered
            bids, asks = book.bids_scaled(), book.asks_scaled()
            bp, ap = [p for p, _ in bids], [p for p, _ in asks]
            assert bp == sorted(set(bp), reverse=True) and ap == sorted(set(ap)), "book out of order"
            assert all(q > 0 for _, q in bids + asks), "a zero-quantity level survived"
            cb = capped[sym]
            bids, asks = cb.bids_scaled(), cb.asks_scaled()
            fb, fa = cb.trimmed_at_scaled()
            assert len(bids) <= 3 and len(asks) <= 3, "the level cap was exceeded"
            assert (fb is None or all(p > fb for p, _ in bids)) and (fa is None or all(p < fa for p, _ in asks)), \
                "a level at or beyond the cap's boundary"
    el = time.time() - t0
    print(f"fuzz: {n} frames, {ok} accepted, {errs} FrameError, {n / el:,.0f} frames/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
