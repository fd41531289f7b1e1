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
            f[i:i] = os.urandom(rng.randrange(1, 32))
    return bytes(f)


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
        which = k % 7
        try:
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
            elif which == 5:
                feed_mod.decode_agg_trade(raw)
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
    el = time.time() - t0
    print(f"fuzz: {n} frames, {ok} accepted, {errs} FrameError, {n / el:,.0f} frames/s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
