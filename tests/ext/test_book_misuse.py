"""Misuse of the compiled classes raises a clear error instead of crashing or corrupting, and update ids
near 2^63 are compared without overflow.

The misuse cases run in a subprocess each: before the fix some of them crashed the interpreter, which
would have taken pytest down with them.
"""
import subprocess
import sys
import textwrap

import pytest

from engine.book import BookSync, DepthOutcome, OrderBook
from engine.errors import FrameError

SNAP = b'{"lastUpdateId":100,"bids":[["10.00000000","1.00000000"]],"asks":[["10.50000000","3.00000000"]]}'
DIFF = b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":101,"u":102,"b":[["10.00000000","5.00000000"]],"a":[]}'
LIGHTER = (b'{"channel":"order_book:1","type":"subscribed/order_book","order_book":{"nonce":5,"begin_nonce":0,'
           b'"bids":[],"asks":[]}}')

BOOK_CALLS = {
    "apply_snapshot": f"b.apply_snapshot({SNAP!r})",
    "apply_depth": f"b.apply_depth({DIFF!r})",
    "apply_partial": f"b.apply_partial({SNAP!r})",
    "apply_lighter": f"b.apply_lighter({LIGHTER!r})",
    "clear": "b.clear()",
    "bbo": "b.bbo()",
    "best_bid": "b.best_bid",
    "best_ask": "b.best_ask",
    "mid": "b.mid",
    "bid_count": "b.bid_count",
    "ask_count": "b.ask_count",
    "crossed": "b.crossed",
    "top": "b.top(5)",
    "top_exact": "b.top_exact(5)",
    "bids_scaled": "b.bids_scaled()",
    "asks_scaled": "b.asks_scaled()",
    "counters": "b.counters()",
    "trimmed_at_scaled": "b.trimmed_at_scaled()",
    "BookSync(uninitialised book)": "BookSync(b)",
}
SYNC_CALLS = {
    "feed": "s.feed(b'{}')",
    "feed a good frame": f"s.feed({DIFF!r})",
    "apply_snapshot": f"s.apply_snapshot({SNAP!r})",
    "reset": "s.reset()",
    "buffered": "s.buffered",
    "first_buffered_update_id": "s.first_buffered_update_id",
}


def run_isolated(setup: str, call: str) -> subprocess.CompletedProcess:
    code = textwrap.dedent(f"""
        from engine.book import BookSync, OrderBook
        {setup}
        try:
            {call}
        except RuntimeError as e:
            print("RuntimeError:", e)
        else:
            print("NO ERROR")
    """)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("name", list(BOOK_CALLS))
def test_an_orderbook_built_with_new_refuses_every_use(name):
    proc = run_isolated("b = OrderBook.__new__(OrderBook)", BOOK_CALLS[name])
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.startswith("RuntimeError:") and "not initialised" in proc.stdout, proc.stdout


@pytest.mark.parametrize("name", list(SYNC_CALLS))
def test_a_booksync_built_with_new_refuses_every_use(name):
    proc = run_isolated("s = BookSync.__new__(BookSync)", SYNC_CALLS[name])
    assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-2000:]}"
    assert proc.stdout.startswith("RuntimeError:") and "not initialised" in proc.stdout, proc.stdout


def test_an_uninitialised_object_still_has_a_repr():
    assert "uninitialised" in repr(OrderBook.__new__(OrderBook))
    assert "uninitialised" in repr(BookSync.__new__(BookSync))


def test_orderbook_init_cannot_run_twice():
    """Re-running __init__ with other decimals used to rescale nothing: 60000.5 read back as 60000500000.00."""
    book = OrderBook("BTCUSDT", price_decimals=8)
    book.apply_snapshot(b'{"lastUpdateId":1,"bids":[["60000.5","1"]],"asks":[]}')
    with pytest.raises(RuntimeError, match="already initialised"):
        book.__init__("BTCUSDT", price_decimals=2)
    with pytest.raises(RuntimeError, match="already initialised"):
        book.__init__("ETHUSDT")
    assert (book.symbol, book.price_decimals) == ("BTCUSDT", 8)
    assert book.top_exact(1)[0] == [("60000.50000000", "1.00000000")]


def test_booksync_init_cannot_run_twice():
    book = OrderBook("BTCUSDT")
    sync = BookSync(book)
    assert sync.feed(DIFF) == DepthOutcome.BUFFERED
    with pytest.raises(RuntimeError, match="already initialised"):
        sync.__init__(OrderBook("ETHUSDT"))
    assert sync.book is book and sync.buffered == 1


def test_a_subclass_that_skips_init_is_refused():
    class Lazy(OrderBook):
        def __init__(self):
            pass

    with pytest.raises(RuntimeError, match="not initialised"):
        Lazy().apply_depth(DIFF)


# ---------------------------------------------------------------- ids near 2^63

MAX = 2**63 - 1


def depth(U, u, pu=None):
    pu_part = b'' if pu is None else b'"pu":%d,' % pu
    return (b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":%d,"u":%d,%s"b":[["10.00000000","5.00000000"]],"a":[]}'
            % (U, u, pu_part))


def snapshot(lid):
    return SNAP.replace(b'"lastUpdateId":100', b'"lastUpdateId":%d' % lid)


def test_a_snapshot_at_the_largest_id_with_a_buffered_diff_syncs():
    """lid + 1 overflowed: release builds never synced (SNAPSHOT_TOO_OLD forever), debug raised OverflowError."""
    sync = BookSync(OrderBook("BTCUSDT"))
    assert sync.feed(depth(MAX, MAX)) == DepthOutcome.BUFFERED
    assert sync.apply_snapshot(snapshot(MAX)) == DepthOutcome.APPLIED
    assert sync.book.synced and sync.book.last_update_id == MAX
    assert sync.book.stale == 1  # the buffered diff is covered by the snapshot
    # nothing can follow the largest id: every later diff is STALE, the book stays as it is
    assert sync.feed(depth(MAX, MAX)) == DepthOutcome.STALE and sync.book.synced


@pytest.mark.parametrize("futures", [False, True])
def test_ids_next_to_the_largest_apply_in_order(futures):
    book = OrderBook("BTCUSDT", futures=futures)
    book.apply_snapshot(snapshot(MAX - 2))
    pu = MAX - 3 if futures else None
    assert book.apply_depth(depth(MAX - 2, MAX - 1, pu)) == DepthOutcome.APPLIED
    assert book.apply_depth(depth(MAX, MAX, MAX - 1 if futures else None)) == DepthOutcome.APPLIED
    assert book.last_update_id == MAX
    assert book.apply_depth(depth(MAX, MAX, MAX if futures else None)) == DepthOutcome.STALE


@pytest.mark.parametrize("futures", [False, True])
def test_a_snapshot_one_below_a_buffered_diff_at_the_largest_id(futures):
    sync = BookSync(OrderBook("BTCUSDT", futures=futures))
    sync.feed(depth(MAX, MAX, MAX - 1 if futures else None))
    got = sync.apply_snapshot(snapshot(MAX - 1))
    # spot: U <= lid + 1 holds exactly; futures: the snapshot predates the first buffered event
    assert got == (DepthOutcome.SNAPSHOT_TOO_OLD if futures else DepthOutcome.APPLIED)
    if not futures:
        assert sync.book.last_update_id == MAX


@pytest.mark.parametrize("frame", [depth(2**63, 2**63), snapshot(2**63), depth(1, 2**64 + 5)])
def test_an_id_above_2_63_is_a_frame_error(frame):
    book = OrderBook("BTCUSDT")
    call = book.apply_snapshot if frame.startswith(b'{"lastUpdateId"') else book.apply_depth
    with pytest.raises(FrameError, match=r"integer above 2\^63-1"):
        call(frame)


def test_a_lighter_nonce_at_the_largest_id_chains():
    book = OrderBook("CRV", price_decimals=5, qty_decimals=1)
    assert book.apply_lighter(LIGHTER.replace(b'"nonce":5', b'"nonce":%d' % (MAX - 1))) == DepthOutcome.APPLIED
    upd = LIGHTER.replace(b"subscribed/", b"update/").replace(b'"nonce":5,"begin_nonce":0',
                                                              b'"nonce":%d,"begin_nonce":%d' % (MAX, MAX - 1))
    assert book.apply_lighter(upd) == DepthOutcome.APPLIED and book.last_update_id == MAX


# ---------------------------------------------------------------- what a snapshot may be

@pytest.mark.parametrize("bad", ["None", "10**12", "5", "'{}'", "object()", "[1, 2]"])
def test_a_snapshot_that_is_not_bytes_or_a_buffer_is_a_type_error(bad):
    """``bytes(10**12)`` used to make a terabyte of zeros before the size limit could see it (and
    ``apply_snapshot(5)`` parsed five NUL bytes): an int or str is refused, not converted."""
    for setup, call in (("b = OrderBook('BTCUSDT')", f"b.apply_snapshot({bad})"),
                        ("s = BookSync(OrderBook('BTCUSDT'))", f"s.apply_snapshot({bad})")):
        code = textwrap.dedent(f"""
            import resource
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))  # a huge allocation fails fast
            from engine.book import BookSync, OrderBook
            {setup}
            try:
                {call}
            except TypeError as e:
                print("TypeError:", e)
            except BaseException as e:
                print("WRONG:", type(e).__name__, e)
            else:
                print("NO ERROR")
        """)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"crashed ({proc.returncode}): {proc.stderr[-2000:]}"
        assert proc.stdout.startswith("TypeError:"), (call, proc.stdout)


def test_a_snapshot_buffer_is_accepted_and_an_oversized_one_refused_and_counted():
    book = OrderBook("BTCUSDT", max_frame_bytes=len(SNAP))
    book.apply_snapshot(bytearray(SNAP))
    assert book.last_update_id == 100
    sync = BookSync(OrderBook("BTCUSDT"))
    assert sync.apply_snapshot(memoryview(SNAP)) == DepthOutcome.APPLIED
    with pytest.raises(FrameError, match="exceeds max_frame_bytes"):
        book.apply_snapshot(bytearray(SNAP + b" "))
    assert book.oversized == 1 and book.rejected == 1 and book.last_update_id == 100
