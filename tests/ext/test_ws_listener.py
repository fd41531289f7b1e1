"""The compiled stream listener: frames go to the book without Python; Python hears only what it must."""
from picows import WSMsgType
from picows.picows import _make_test_ws_frame

from engine._ws import LIGHTER_PREFIX, StreamListener
from engine.book import BookSync, DepthOutcome, OrderBook
from fuzz_all import Owner

SNAP = b'{"lastUpdateId":100,"bids":[["10.00","1"],["9.00","1"]],"asks":[["11.00","1"],["12.00","1"]]}'


def frame(U, u, b, a=b"[]", stream=b"btcusdt@depth@100ms"):
    return (b'{"stream":"' + stream + b'","data":{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":%d,"u":%d,"b":%s,"a":%s}}'
            % (U, u, b, a))


def feed(lst, raw):
    lst.on_ws_frame(None, _make_test_ws_frame(WSMsgType.TEXT, raw, True, False))


def test_python_is_called_only_when_the_top_moves_or_continuity_breaks():
    owner, book = Owner(), OrderBook("BTCUSDT")
    sync = BookSync(book)
    sync.apply_snapshot(SNAP)
    lst = StreamListener(owner)
    lst.register_book(b"btcusdt@depth@100ms", sync, "btc")
    feed(lst, frame(101, 101, b'[["9.00","5"]]'))  # a deeper level: the top did not move
    assert owner.outcomes == [] and book.applied == 1 and book.last_apply_ns > 0
    feed(lst, frame(102, 102, b'[["10.00","7"]]'))  # best bid size changed
    assert owner.outcomes == [DepthOutcome.APPLIED]
    feed(lst, frame(110, 111, b'[["10.00","8"]]'))  # a gap: always reported, book untouched
    assert owner.outcomes[-1] == DepthOutcome.GAP and book.bids_scaled(1) == [(10 * 10**8, 7 * 10**8)]
    feed(lst, b"not a stream frame")
    feed(lst, b'{"stream":"btcusdt@aggTrade","data":{}}')  # not registered: Python decides
    assert len(owner.control) == 2
    lst.register_raw(b"btcusdt@aggTrade", "trades")
    feed(lst, b'{"stream":"btcusdt@aggTrade","data":{}}')
    assert owner.streams == [("trades", b'{"stream":"btcusdt@aggTrade","data":{}}')]
    assert lst.frames == 6 and lst.book_frames == 3 and lst.latency.count == 3


def test_recorder_sees_every_frame_and_lighter_routing():
    owner, book = Owner(), OrderBook("CRV", price_decimals=5, qty_decimals=1)
    lst = StreamListener(owner, prefix=LIGHTER_PREFIX)
    lst.register_lighter_book(b"order_book:36", book, "crv")
    seen = []
    lst.recorder = seen.append
    snap = (b'{"channel":"order_book:36","order_book":{"code":0,"asks":[{"price":"0.20382","size":"7.0"}],'
            b'"bids":[{"price":"0.20351","size":"3.0"}],"nonce":5,"begin_nonce":0},"type":"subscribed/order_book"}')
    feed(lst, snap)
    feed(lst, b'{"type":"ping"}')
    assert owner.outcomes == [DepthOutcome.APPLIED] and book.last_update_id == 5
    assert owner.control == [b'{"type":"ping"}'] and seen == [snap, b'{"type":"ping"}']
