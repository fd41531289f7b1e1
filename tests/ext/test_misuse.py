"""Hostile use of every public method of engine._metrics, _ratelimit, _ws and _sign: an exception, never a crash.

None, negative and huge ints, wrong types, empty and huge bytes, objects made with ``__new__`` (no
``__init__``), ``__init__`` called again, pickling. Each case is a function below; they all run in one
child process (this file run as a script) while none crashes: a case that kills the child (a segfault, a
SIGFPE) fails as CRASHED with the signal, and a new child carries on after it, so pytest survives and
every case still reports. ENGINE_MISUSE_BUILD=DIR runs the cases against the build in DIR (a debug or a
sanitizer build, see .ci/sanitize) instead of the installed modules.
"""
import copy
import hashlib
import hmac
import json
import os
import pathlib
import pickle
import subprocess
import sys
from decimal import Decimal

import pytest

from fuzz_all import Owner

CASES = {}
NS = 10**9
LLONG_MAX = 2**63 - 1


def case(fn):
    CASES[fn.__name__] = fn
    return fn


def text_frame(raw):
    from picows import WSMsgType
    from picows.picows import _make_test_ws_frame

    return _make_test_ws_frame(WSMsgType.TEXT, raw, True, False)


SNAP = b'{"lastUpdateId":100,"bids":[["10.00","1"]],"asks":[["11.00","1"]]}'
DIFF = (b'{"stream":"x@depth","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":101,"u":101,'
        b'"b":[["10.00","2"]],"a":[]}}')


def live_sync():
    from engine.book import BookSync, OrderBook

    sync = BookSync(OrderBook("BTCUSDT"))
    sync.apply_snapshot(SNAP)
    return sync


# ------------------------------------------------------------------------------------------ _metrics
@case
def histogram_made_with_new_is_complete():
    from engine.metrics import LatencyHistogram as H

    h = H.__new__(H)  # no __init__ to skip: __cinit__ sets every field
    h.add(5)
    assert h.snapshot()["count"] == 1 and h.percentile(50) == 5 and h.min == 5


@case
def histogram_add_refuses_wrong_types_and_non_64_bit_ints():
    from engine.metrics import LatencyHistogram as H

    h = H()
    for bad, exc in ((None, TypeError), ("5", TypeError), (b"5", TypeError), (2**63, OverflowError),
                     (-2**63 - 1, OverflowError), (10**30, OverflowError)):
        with pytest.raises(exc):
            h.add(bad)
    assert h.count == 0 and h.snapshot()["max"] == 0


@case
def histogram_extremes_clamp():
    from engine.metrics import LatencyHistogram as H

    h = H()
    h.add(-2**63)
    h.add(LLONG_MAX)
    top = 2**37 - 1
    assert (h.count, h.clamped, h.min, h.max) == (2, 1, 0, top)
    assert h.percentile(0) == 0 and h.percentile(100) == pytest.approx(top, rel=0.008)  # the top bucket's middle


@case
def histogram_sum_does_not_wrap():
    from engine.metrics import LatencyHistogram as H

    h = H()
    h.add(2**37 - 1)
    for _ in range(40):  # 2**40 values of ~2**37 ns: their sum is far beyond 64 bits
        h.merge(h)
    assert h.count == 2**40
    assert h.mean == pytest.approx(2**37 - 1, rel=1e-9)


@case
def histogram_merge_refuses_a_count_beyond_64_bits():
    from engine.metrics import LatencyHistogram as H

    h = H()
    h.add(7)
    for _ in range(63):
        h.merge(h)
    assert h.count == 2**63
    before = h.snapshot()
    with pytest.raises(OverflowError):
        h.merge(h)
    assert h.snapshot() == before  # refused as a whole


@case
def histogram_merge_and_percentile_refuse_bad_arguments():
    from engine.metrics import LatencyHistogram as H

    h = H()
    h.add(3)
    for bad in (None, 5, "h", object()):
        with pytest.raises(TypeError):
            h.merge(bad)
    for p in (float("nan"), float("inf"), -0.001, 100.001, -1e300):
        with pytest.raises(ValueError):
            h.percentile(p)
    for p in (None, "50"):
        with pytest.raises(TypeError):
            h.percentile(p)
    assert h.count == 1


@case
def histogram_fields_are_read_only_and_it_does_not_pickle():
    from engine.metrics import LatencyHistogram as H

    h = H()
    with pytest.raises(AttributeError):
        h.count = 5
    with pytest.raises(TypeError):
        pickle.dumps(h)
    with pytest.raises(TypeError):
        copy.copy(h)


# ------------------------------------------------------------------------------------------ _ratelimit
@case
def bucket_made_with_new_raises_on_use():
    from engine.ratelimit import TokenBucketLimiter as T

    b = T.__new__(T)
    for use in (lambda: b.try_acquire(1), lambda: b.try_acquire(0), lambda: b.try_acquire_at(0, 0),
                lambda: b.wait_time(1), lambda: b.wait_time_at(0, 0), lambda: b.available,
                lambda: b.available_at(0), lambda: b.refund(1), lambda: b.drain(now=0),
                lambda: b.reconcile_used(1, now=0)):
        with pytest.raises(RuntimeError, match="not initialised"):
            use()
    assert "uninitialised" in repr(b)


@case
def bucket_cannot_be_initialised_twice():
    from engine.ratelimit import TokenBucketLimiter as T

    b = T(1, 10, now=0)
    b.drain(now=0)
    with pytest.raises(RuntimeError, match="already initialised"):
        b.__init__(1, 10, now=0)  # would hand a drained bucket its full capacity back
    assert b.available_at(0) == 0


@case
def bucket_refuses_weights_beyond_its_capacity():
    from engine.ratelimit import TokenBucketLimiter as T

    b = T(1, 10, now=0)
    for w in (11, 10**10, 2**62, LLONG_MAX, 2**63, 10**30):
        assert b.try_acquire_at(w, 0) is False
        assert b.try_acquire(w) is False
        with pytest.raises(ValueError, match="capacity"):
            b.wait_time_at(w, 0)
        with pytest.raises(ValueError, match="capacity"):
            b.wait_time(w)
    assert b.available_at(0) == 10
    assert b.try_acquire_at(10, 0) and b.available_at(0) == 0


@case
def bucket_refuses_negative_and_non_int_weights():
    from engine.ratelimit import TokenBucketLimiter as T

    b = T(1, 10, now=0)
    for w in (-1, -2**63, -10**30):
        for use in (b.try_acquire, b.wait_time, b.refund, lambda w: b.try_acquire_at(w, 0),
                    lambda w: b.wait_time_at(w, 0)):
            with pytest.raises(ValueError, match=">= 0"):
                use(w)
    for w in (None, "1", 1.5, b"1"):
        for use in (b.try_acquire, b.wait_time, b.refund):
            with pytest.raises(TypeError):
                use(w)
    assert b.available_at(0) == 10


@case
def bucket_refund_is_capped_at_capacity():
    from engine.ratelimit import TokenBucketLimiter as T

    b = T(1, 10, now=0)
    b.drain(now=0)
    b.refund(3)
    assert b.available_at(0) == 3
    for w in (10**10, LLONG_MAX, 10**30):
        b.refund(w)
        assert b.available_at(0) == 10
    b.drain(now=0)
    with pytest.raises(ValueError):
        b.refund(-10**9)
    assert b.available_at(0) == 0


@case
def bucket_constructor_refuses_what_its_arithmetic_cannot_hold():
    from engine.ratelimit import MAX_CAPACITY, TokenBucketLimiter as T

    for rate, cap in ((0, 1), (-1, 1), (float("nan"), 1), (float("inf"), 1), (1e-12, 1), (10**30, 1),
                      (1e10, 1), (1, 0), (1, -1), (1, 1.5), (1, MAX_CAPACITY + 1), (1, 10**30), (None, 1)):
        with pytest.raises(ValueError):
            T(rate, cap, now=0)
    for rate, cap in (("1", 1), (1, None), (1, "5")):
        with pytest.raises((TypeError, ValueError)):
            T(rate, cap, now=0)
    b = T(9e9, MAX_CAPACITY, now=0)  # the largest bucket there is works exactly
    assert b.try_acquire_at(MAX_CAPACITY, 0) and b.available_at(0) == 0
    assert b.available_at(LLONG_MAX) == MAX_CAPACITY


@case
def bucket_times_must_be_non_negative_64_bit():
    from engine.ratelimit import TokenBucketLimiter as T

    with pytest.raises(ValueError):
        T(1, 10, now=-1)
    b = T(1, 10, now=0)
    for use in (lambda t: b.try_acquire_at(1, t), lambda t: b.wait_time_at(1, t), b.available_at,
                lambda t: b.drain(now=t), lambda t: b.reconcile_used(1, now=t)):
        with pytest.raises(ValueError, match="now"):
            use(-1)
        with pytest.raises(OverflowError):
            use(2**63)
        with pytest.raises(TypeError):
            use("0")
    assert b.available_at(0) == 10


@case
def bucket_refill_over_the_whole_clock_range_is_exact():
    from engine.ratelimit import TokenBucketLimiter as T

    for rate in (1, 1e-3, 100 / 60, 9e9):
        b = T(rate, 1000, now=0)
        b.drain(now=0)
        assert b.available_at(LLONG_MAX) == 1000  # a refill of 2**63 ns cannot overflow
        b.drain(now=LLONG_MAX)
        assert b.available_at(LLONG_MAX) == 0 and b.available_at(5) == 0  # time going back adds nothing
    b = T(1, 10, now=LLONG_MAX)
    assert b.try_acquire_at(10, LLONG_MAX) and b.wait_time_at(10, LLONG_MAX) == 10.0


@case
def bucket_reconcile_clamps_any_int_and_refuses_other_types():
    from engine.ratelimit import TokenBucketLimiter as T

    b = T(1, 10, now=0)
    b.reconcile_used(-10**30, now=0)
    assert b.available_at(0) == 10
    b.reconcile_used(10**30, now=0)
    assert b.available_at(0) == 0
    for bad in (None, "5", b"5"):
        with pytest.raises(TypeError):
            b.reconcile_used(bad, now=0)


@case
def bucket_does_not_pickle_or_copy():
    from engine.ratelimit import TokenBucketLimiter as T

    b = T(1, 10, now=0)
    for fn in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            fn(b)  # a copy would be a second budget for the same venue limit


# ------------------------------------------------------------------------------------------ _sign
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"


@case
def signer_made_with_new_raises_on_use():
    from engine.sign import Signer

    s = Signer.__new__(Signer)  # its pad states are zero: it must not sign anything
    with pytest.raises(RuntimeError, match="not initialised"):
        s.sign(b"x")
    with pytest.raises(RuntimeError, match="not initialised"):
        s.signed_query({"a": "1"}, timestamp=1)
    assert "****" in repr(s)


@case
def signer_cannot_be_initialised_twice():
    from engine.sign import Signer

    s = Signer(SECRET)
    with pytest.raises(RuntimeError, match="already initialised"):
        s.__init__("another secret")
    assert s.sign(b"x") == hmac.new(SECRET.encode(), b"x", hashlib.sha256).hexdigest()


@case
def signer_refuses_non_bytes_payloads():
    from engine.sign import Signer, sha256_hex

    s = Signer(SECRET)
    key = SECRET.encode()
    for bad in (None, 5, 10**12, -1, 1.5, object(), [1, 2]):
        with pytest.raises(TypeError):
            s.sign(bad)  # bytes(10**12) would allocate a terabyte of zeros and sign it
        with pytest.raises(TypeError):
            sha256_hex(bad)
    for ok in (b"", b"x", bytearray(b"xy"), memoryview(b"abcdef")[::2], "é", b"\x00" * 10**7):
        raw = ok.encode() if isinstance(ok, str) else bytes(ok)
        assert s.sign(ok) == hmac.new(key, raw, hashlib.sha256).hexdigest()
        assert sha256_hex(ok) == hashlib.sha256(raw).hexdigest()
    with pytest.raises(UnicodeEncodeError):
        s.sign("\ud800")


@case
def signer_secret_types():
    from engine.sign import Signer

    for bad, exc in ((None, TypeError), (5, TypeError), (memoryview(b"k"), TypeError), (b"", ValueError),
                     ("", ValueError), ("\ud800", UnicodeEncodeError)):
        with pytest.raises(exc):
            Signer(bad)
    for key in (bytearray(b"k"), b"k" * 10**6, b"\x00"):
        assert Signer(key).sign(b"m") == hmac.new(bytes(key), b"m", hashlib.sha256).hexdigest()


@case
def signed_query_refuses_hostile_params():
    from engine.sign import Signer, encode_query

    s = Signer(SECRET)
    for ts, exc in ((None, TypeError), (True, TypeError), (1.5, TypeError), ("1", TypeError),
                    (2**63, OverflowError), (-1, ValueError)):
        with pytest.raises(exc):
            s.signed_query({}, timestamp=ts)
    for params, exc in ((5, TypeError), ("ab", ValueError), ([("k",)], ValueError), ([("k", "v", "w")], ValueError),
                        ({5: "x"}, TypeError), ({"k": None}, TypeError), ({"k": 0.1}, TypeError),
                        ({"k": Decimal("Infinity")}, ValueError), ({"k": Decimal("NaN")}, ValueError),
                        ({"k": object()}, TypeError), ({"\ud800": "v"}, UnicodeEncodeError)):
        with pytest.raises(exc):
            s.signed_query(params, timestamp=1)
        with pytest.raises(exc):
            encode_query(params)
    with pytest.raises(TypeError):
        s.signed_query({}, timestamp=1, recv_window=1.5)


@case
def signed_query_handles_extreme_values_exactly():
    from engine.sign import Signer, encode_query

    s = Signer(SECRET)
    params = {"big": 2**70, "low": -2**63, "nul": "\x00", "long": "x" * 10**6, "raw": b"\xff"}
    q = encode_query(params)
    assert q == f"big={2**70}&low={-2**63}&nul=%00&long={'x' * 10**6}&raw=%FF"
    signed = s.signed_query(params, timestamp=LLONG_MAX, recv_window=0)
    payload = f"{q}&recvWindow=0&timestamp={LLONG_MAX}"
    assert signed == f"{payload}&signature={hmac.new(SECRET.encode(), payload.encode(), hashlib.sha256).hexdigest()}"
    assert encode_query(None) == encode_query({}) == encode_query([]) == ""


@case
def signer_does_not_pickle_or_copy():
    from engine.sign import Signer

    s = Signer(SECRET)
    for fn in (pickle.dumps, copy.copy, copy.deepcopy):
        with pytest.raises(TypeError):
            fn(s)


# ------------------------------------------------------------------------------------------ _ws
@case
def listener_refuses_none_where_a_book_or_name_is_required():
    from engine._ws import StreamListener
    from engine.book import BookSync, OrderBook

    owner, sync = Owner(), live_sync()
    lst = StreamListener(owner)
    for call, exc in ((lambda: lst.register_book(b"x@depth", None, "k"), TypeError),
                      (lambda: lst.register_lighter_book(b"x@depth", None, "k"), TypeError),
                      (lambda: lst.register_book(None, sync, "k"), TypeError),
                      (lambda: lst.register_lighter_book(None, OrderBook("X"), "k"), TypeError),
                      (lambda: lst.register_raw(None, "k"), TypeError),
                      (lambda: lst.unregister(None), TypeError),
                      (lambda: lst.register_book("x@depth", sync, "k"), TypeError),
                      (lambda: lst.register_book(b"", sync, "k"), ValueError),
                      (lambda: lst.register_raw(b"", "k"), ValueError),
                      (lambda: lst.register_book(b"x@depth", OrderBook("X"), "k"), TypeError),
                      (lambda: lst.register_lighter_book(b"x@depth", sync, "k"), TypeError),
                      (lambda: lst.register_book(b"x@depth", BookSync.__new__(BookSync), "k"), RuntimeError)):
        with pytest.raises(exc):
            call()
    lst.on_ws_frame(None, text_frame(DIFF))  # nothing was registered: Python hears of it, nothing crashes
    assert owner.control == [DIFF] and lst.unrouted == 1 and lst.book_frames == 0


@case
def listener_made_with_new_raises_on_use():
    from engine._ws import StreamListener

    lst = StreamListener.__new__(StreamListener)
    for use in (lambda: lst.on_ws_frame(None, text_frame(DIFF)), lambda: lst.feed_copy(DIFF),
                lambda: lst.register_book(b"x@depth", live_sync(), "k"), lambda: lst.register_raw(b"x", "k"),
                lambda: lst.unregister(b"x")):
        with pytest.raises(RuntimeError, match="not initialised"):
            use()


@case
def listener_cannot_be_initialised_twice():
    from engine._ws import StreamListener

    owner = Owner()
    lst = StreamListener(owner)
    lst.register_raw(b"t", "trades")
    with pytest.raises(RuntimeError, match="already initialised"):
        lst.__init__(Owner())  # would drop every route of a live connection
    lst.feed_copy(b'{"stream":"t","data":{}}')
    assert owner.streams == [("trades", b'{"stream":"t","data":{}}')]


@case
def listener_constructor_arguments():
    from engine._ws import StreamListener

    for kw, exc in (({"prefix": None}, TypeError), ({"prefix": b""}, ValueError), ({"prefix": "{"}, TypeError),
                    ({"latency": 5}, TypeError)):
        with pytest.raises(exc):
            StreamListener(Owner(), **kw)
    StreamListener(None)  # an owner without callbacks: every callback error is counted, see below


@case
def listener_with_a_none_book_never_reaches_it():
    from engine._ws import StreamListener

    owner = Owner()
    lst = StreamListener(owner)
    try:
        lst.register_book(b"x@depth", None, "k")
    except TypeError:
        pass
    lst.on_ws_frame(None, text_frame(DIFF))  # a route to None would call feed_ptr on None: a segfault
    assert owner.control == [DIFF]


@case
def listener_close_frame_without_a_transport_raises():
    from picows import WSMsgType
    from picows.picows import _make_test_ws_frame

    from engine._ws import StreamListener

    with pytest.raises(TypeError):
        StreamListener(Owner()).on_ws_frame(None, _make_test_ws_frame(WSMsgType.CLOSE, b"\x03\xe8", True, False))


@case
def listener_disconnect_without_a_transport_raises():
    from engine._ws import StreamListener

    with pytest.raises(TypeError):
        StreamListener(Owner()).on_ws_disconnected(None)


@case
def listener_refuses_none_frames_and_transports():
    from engine._ws import StreamListener

    lst = StreamListener(Owner())
    for call in (lambda: lst.on_ws_frame(None, None), lambda: lst.on_ws_connected(None),
                 lambda: lst.feed_copy(None), lambda: lst.feed_copy("text")):
        with pytest.raises(TypeError):
            call()


@case
def listener_survives_hostile_frames():
    from engine._ws import StreamListener

    owner = Owner()
    lst = StreamListener(owner)
    sync = live_sync()
    lst.register_book(b"x@depth", sync, "k")
    lst.register_raw(b"t", "trades")
    frames = [b"", b"{", b'{"stream":"', b'{"stream":"x@depth', b'{"stream":"x@depth"', b'{"stream":"x@depth",',
              b'{"stream":"' + b"n" * 10**6 + b'"', b'{"stream":"x@depth","data":' + b"[" * 10**5,
              b'{"stream":"x@depth","data":{"e":"depthUpdate"' + b" " * 10**7 + b"}}", bytes(range(256)) * 40,
              b'{"stream":"t"', b'{"stream":"t","data":' + b"\xff" * 1000]
    for f in frames:
        lst.on_ws_frame(None, text_frame(f))
        lst.feed_copy(f)
    assert lst.frames == 2 * len(frames) and lst.callback_errors == 0
    assert sync.book.bids_scaled() == [(10 * 10**8, 1 * 10**8)]  # garbage never touched the book
    lst.feed_copy(DIFF)
    assert sync.book.bids_scaled() == [(10 * 10**8, 2 * 10**8)] and owner.books == [("k", 1)]


@case
def listener_counts_every_failing_callback():
    from engine._ws import StreamListener

    class Raising:
        def __getattr__(self, name):
            raise RuntimeError(name)

    for owner in (None, Raising(), 5):
        lst = StreamListener(owner)
        lst.register_book(b"x@depth", live_sync(), "k")
        lst.register_raw(b"t", "k")
        lst.recorder = 7  # not callable
        for f in (DIFF, b'{"stream":"t","data":{}}', b"ctl", b'{"stream":"x@depth","data":{}}'):
            lst.feed_copy(f)
        assert lst.callback_errors == 8, owner  # 4 recorder calls + on_book, on_stream, on_control, on_garbage


@case
def listener_callbacks_may_change_routes_and_reenter():
    from engine._ws import StreamListener

    class Meddler(Owner):
        def on_book(self, key, outcome):
            super().on_book(key, outcome)
            lst.unregister(b"x@depth")
            lst.register_raw(b"x@depth", "raw")
            lst.feed_copy(b'{"stream":"x@depth","data":{}}')  # re-entered from inside the frame path

    owner = Meddler()
    lst = StreamListener(owner)
    lst.register_book(b"x@depth", live_sync(), "k")
    lst.feed_copy(DIFF)
    assert owner.books == [("k", 1)] and owner.streams == [("raw", b'{"stream":"x@depth","data":{}}')]


@case
def listener_does_not_pickle():
    from engine._ws import StreamListener

    for fn in (pickle.dumps, copy.copy):
        with pytest.raises(TypeError):
            fn(StreamListener(Owner()))


# ------------------------------------------------------------------------------------------ the harness
def child(names):
    import faulthandler

    faulthandler.enable()  # a crash prints the Python stack to stderr, which the report carries
    build = os.environ.get("ENGINE_MISUSE_BUILD")
    if build:
        from fuzz_all import use_build

        use_build(build)
    for name in names:
        print(json.dumps(["START", name, ""]), flush=True)
        try:
            CASES[name]()
        except BaseException as e:  # report every failure, pytest.fail's included
            import traceback

            print(json.dumps(["FAIL", name, "".join(traceback.format_exception(e))[-3000:]]), flush=True)
        else:
            print(json.dumps(["PASS", name, ""]), flush=True)
    return 0


@pytest.fixture(scope="module")
def outcomes():
    """name -> (status, detail), all cases run in as few child processes as crashes allow."""
    pending, out = sorted(CASES), {}
    while pending:
        proc = subprocess.run([sys.executable, str(pathlib.Path(__file__).resolve()), *pending],
                              capture_output=True, text=True, timeout=600)
        started = None
        for line in proc.stdout.splitlines():
            status, name, detail = json.loads(line)
            if status == "START":
                started = name
            else:
                out[name] = (status, detail)
        if started is not None and started not in out:
            out[started] = ("CRASHED", f"child exit code {proc.returncode} (negative: killed by that signal)\n"
                                       f"{proc.stderr[-3000:]}")
        left = [n for n in pending if n not in out]
        if len(left) == len(pending):  # no progress at all: the child failed before any case
            pytest.fail(f"misuse child failed to start (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        pending = left
    return out


@pytest.mark.parametrize("name", sorted(CASES))
def test_misuse(outcomes, name):
    status, detail = outcomes[name]
    assert status == "PASS", f"{status}:\n{detail}"


if __name__ == "__main__":
    sys.exit(child(sys.argv[1:]))
