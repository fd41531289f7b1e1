"""Bad input raises one clear FrameError and leaves the book exactly as it was."""
import os

import pytest

from engine.book import BookSync, DepthOutcome, OrderBook
from engine.errors import FrameError

SNAP = b'{"lastUpdateId":100,"bids":[["10.00000000","1.00000000"],["9.50000000","2.00000000"]],' \
       b'"asks":[["10.50000000","3.00000000"]]}'
GOOD = b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":101,"u":102,"b":[["10.00000000","5.00000000"]],"a":[]}'


def state(book):
    return book.bids_scaled(), book.asks_scaled(), book.last_update_id, book.synced, book.applied


@pytest.fixture
def book():
    b = OrderBook("BTCUSDT")
    b.apply_snapshot(SNAP)
    return b


BAD_DIFFS = {
    "empty": b"",
    "truncated": GOOD[:-5],
    "not json": b"hello world",
    "array": b"[1,2,3]",
    "string price as number": GOOD.replace(b'"10.00000000","5.00000000"', b'10.0,"5.00000000"'),
    "U as string": GOOD.replace(b'"U":101', b'"U":"101"'),
    "missing u": GOOD.replace(b',"u":102', b""),
    "missing b": GOOD.replace(b'"b":[["10.00000000","5.00000000"]],', b""),
    "missing s": GOOD.replace(b'"s":"BTCUSDT",', b""),
    "negative qty": GOOD.replace(b'"5.00000000"', b'"-5.00000000"'),
    "negative U": GOOD.replace(b'"U":101', b'"U":-101'),
    "overlong number": GOOD.replace(b'"5.00000000"', b'"' + b"9" * 30 + b'"'),
    "overflowing the scale": GOOD.replace(b'"5.00000000"', b'"99999999999.00000000"'),
    "too many decimals": GOOD.replace(b'"5.00000000"', b'"5.000000001"'),
    "NaN": GOOD.replace(b'"5.00000000"', b'"NaN"'),
    "Infinity": GOOD.replace(b'"5.00000000"', b'"Infinity"'),
    "exponent": GOOD.replace(b'"5.00000000"', b'"5e3"'),
    "empty string": GOOD.replace(b'"5.00000000"', b'""'),
    "bare dot": GOOD.replace(b'"5.00000000"', b'"."'),
    "level not a pair": GOOD.replace(b'["10.00000000","5.00000000"]', b'["10.00000000"]'),
    "level triple": GOOD.replace(b'["10.00000000","5.00000000"]', b'["10.00000000","5.00000000","1"]'),
    "zero price": GOOD.replace(b'"10.00000000","5', b'"0.00000000","5'),
    "unknown event": GOOD.replace(b"depthUpdate", b"depthUpdatx"),
    "other symbol": GOOD.replace(b'"BTCUSDT"', b'"ETHUSDT"'),
    "trailing garbage": GOOD + b"xyz",
    "two objects": GOOD + GOOD,
    "unterminated string": b'{"e":"depthUpdate',
    "deep nesting": b'{"x":' + b"[" * 100 + b"]" * 100 + b"}",
    "control char in string": GOOD.replace(b"depthUpdate", b"depth\x01Update"),
    "1 MB garbage": os.urandom(1 << 20),
    "1 MB of digits": b"1" * (1 << 20),
    "1 MB of brackets": b"[" * (1 << 20),
}


@pytest.mark.parametrize("name", list(BAD_DIFFS))
def test_bad_diff_raises_frame_error_and_changes_nothing(book, name):
    before = state(book)
    with pytest.raises(FrameError) as exc:
        book.apply_depth(BAD_DIFFS[name])
    assert "BTCUSDT" in str(exc.value) and "byte" in str(exc.value)
    assert state(book) == before
    assert book.apply_depth(GOOD) == DepthOutcome.APPLIED  # still usable


@pytest.mark.parametrize("body", [SNAP[:-1], b'{"lastUpdateId":1,"bids":[]}', b'{"bids":[],"asks":[]}',
                                  SNAP.replace(b'"1.00000000"', b'"x"'), b"null", b"{}"])
def test_bad_snapshot_raises_and_keeps_the_old_book(book, body):
    before = state(book)
    with pytest.raises(FrameError):
        book.apply_snapshot(body)
    assert state(book) == before


def test_keys_in_any_order_wrapper_either_way_and_unknown_keys_skipped(book):
    frame = (b'{"data":{"b":[["10.00000000","7.00000000"]],"x":{"nested":["a\\"b",{"c":[1,2.5e3,null,true]}]},'
             b'"a":[],"u":102,"U":101,"s":"btcusdt","E":5,"e":"depthUpdate"},"stream":"btcusdt@depth@100ms"}')
    assert book.apply_depth(frame) == DepthOutcome.APPLIED
    assert book.bids_scaled()[0] == (10 * 10**8, 7 * 10**8)


def test_removing_an_unknown_level_is_silent(book):
    frame = GOOD.replace(b'"b":[["10.00000000","5.00000000"]]', b'"b":[["1.23000000","0.00000000"]]')
    before = book.bids_scaled()
    assert book.apply_depth(frame) == DepthOutcome.APPLIED
    assert book.bids_scaled() == before


def test_trailing_zeros_beyond_the_scale_are_exact_and_accepted(book):
    assert book.apply_depth(GOOD.replace(b'"5.00000000"', b'"5.0000000000"')) == DepthOutcome.APPLIED
    assert book.bids_scaled()[0][1] == 5 * 10**8


def test_crossed_book_is_reported_not_repaired(book):
    cross = b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":101,"u":101,"b":[["11.00000000","1.00000000"]],"a":[]}'
    assert book.apply_depth(cross) == DepthOutcome.APPLIED
    assert book.crossed and book.crossed_count == 1
    assert book.best_bid == 11.0 and book.best_ask == 10.5


def test_booksync_counts_frame_errors_and_keeps_buffering():
    sync = BookSync(OrderBook("BTCUSDT"))
    with pytest.raises(FrameError):
        sync.feed(b"garbage")
    assert sync.frame_errors == 1 and sync.buffered == 0
    assert sync.feed(GOOD) == DepthOutcome.BUFFERED


def test_constructor_validates_arguments():
    with pytest.raises(ValueError):
        OrderBook("")
    with pytest.raises(ValueError):
        OrderBook("X", price_decimals=19)
    with pytest.raises(ValueError):
        BookSync(OrderBook("X"), max_buffer=0)


def test_empty_book_reads():
    b = OrderBook("X")
    bbo = b.bbo()
    assert all(v != v for v in bbo)  # NaN
    assert b.top(20) == ([], []) and b.top_exact(5) == ([], []) and not b.crossed
