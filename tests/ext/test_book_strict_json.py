"""Strict JSON everywhere in a frame, including the values the decoders skip without reading.

A skipped value must still be RFC 8259 JSON: the literals true/false/null exactly, numbers
-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, strings with valid escapes, no raw control characters and
valid UTF-8, balanced containers without trailing commas and at most 64 deep. The reference is Python's
own json module (NaN/Infinity, which it accepts by default, refused), differentially under hypothesis.
"""
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.book import OrderBook
from engine.errors import FrameError
from engine.feed import decode_agg_trade

SNAP = b'{"lastUpdateId":100,"bids":[["10.00000000","1.00000000"]],"asks":[["10.50000000","3.00000000"]]}'
DIFF = b'{"e":"depthUpdate","E":1,"s":"BTCUSDT","U":101,"u":102,"b":[["10.00000000","5.00000000"]],"a":[]}'
TRADE = (b'{"e":"aggTrade","E":1,"s":"NKNUSDT","a":2,"p":"0.35280000","q":"58.00000000","f":3,"l":4,'
         b'"T":5,"m":true,"M":true}')
LIGHTER = (b'{"channel":"order_book:1","offset":1,"type":"subscribed/order_book","order_book":{"code":0,'
           b'"nonce":5,"begin_nonce":0,"bids":[{"price":"0.20000","size":"1.0","x":1}],"asks":[]}}')

BAD = {
    "trug": b"trug", "tru": b"tru", "nul": b"nul", "True": b"True", "nulll": b"nulll", "falsey": b"falsey",
    "leading zero": b"01", "plus": b"+1", "trailing dot": b"41580.", "leading dot": b".5", "dot exponent": b"1.e3",
    "bare exponent": b"1e", "exponent sign only": b"1e+", "minus only": b"-", "double minus": b"--1",
    "hex": b"0x10", "NaN": b"NaN", "Infinity": b"Infinity", "-Infinity": b"-Infinity", "minus leading zero": b"-01",
    "unquoted key": b'{a:1}', "missing colon": b'{"a" 1}', "trailing comma in object": b'{"a":1,}',
    "trailing comma in array": b"[1,]", "leading comma": b"[,1]", "missing comma": b"[1 2]",
    "missing comma in object": b'{"a":1 "b":2}', "mismatched close": b"[1}", "mismatched open": b"{]",
    "bad escape": b'"\\x"', "short unicode escape": b'"\\u12"', "non-hex unicode escape": b'"\\u12G4"',
    "backslash NUL": b'"\\\x00"', "raw tab": b'"a\tb"', "raw NUL": b'"a\x00b"', "invalid utf-8": b'"\xff"',
    "overlong utf-8": b'"\xc0\xaf"', "utf-8 surrogate": b'"\xed\xa0\x80"', "truncated utf-8": b'"\xe2\x82"',
    "single quotes": b"'x'", "undefined": b"undefined", "65 deep": b"[" * 65 + b"]" * 65,
    "unclosed array": b"[1,2", "colon in array": b"[1:2]", "object as key": b'{{}:1}', "empty": b"",
    "vertical tab as space": b"[1,\x0b2]",
}
GOOD = {
    "true": b"true", "false": b"false", "null": b"null", "zero": b"0", "minus zero": b"-0",
    "fraction and exponent": b"-1.5e-3", "big E": b"1E+10", "huge": b"123456789012345678901234567890",
    "escapes": b'"\\u00e9\\n\\"\\\\\\/\\b\\f\\r\\t"', "utf-8": '"é€𝄞"'.encode(), "lone surrogate escape": b'"\\ud800"',
    "empty object": b"{}", "empty array": b"[]", "64 deep": b"[" * 64 + b"]" * 64,
    "mixed": b'[1,{"a":[true,null,{"b":{}}]},"x",-0.0e0]', "whitespace": b' \t\r\n[ 1 , { "a" : 2 } ] ',
}


def with_value(frame: bytes, value: bytes, where: str) -> bytes:
    if where == "top level":
        return frame[:-1] + b',"x":' + value + b"}"
    if where == "first key":
        return b'{"x":' + value + b"," + frame[1:]
    if where == "wrapper":
        return b'{"stream":' + value + b',"data":' + frame + b"}"
    raise AssertionError(where)


WHERE = ["top level", "first key", "wrapper"]


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("name", list(BAD))
def test_malformed_skipped_values_are_refused_by_the_book_and_the_trade_decoder(name, where):
    book = OrderBook("BTCUSDT")
    book.apply_snapshot(SNAP)
    before = (book.bids_scaled(), book.last_update_id)
    with pytest.raises(FrameError):
        book.apply_depth(with_value(DIFF, BAD[name], where))
    with pytest.raises(FrameError):
        book.apply_snapshot(with_value(SNAP, BAD[name], where))
    assert (book.bids_scaled(), book.last_update_id) == before
    with pytest.raises(FrameError, match="aggTrade"):
        decode_agg_trade(with_value(TRADE, BAD[name], where))


@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("name", list(GOOD))
def test_valid_skipped_values_are_accepted(name, where):
    book = OrderBook("BTCUSDT")
    book.apply_snapshot(with_value(SNAP, GOOD[name], where))
    assert book.apply_depth(with_value(DIFF, GOOD[name], where)) == 1
    assert decode_agg_trade(with_value(TRADE, GOOD[name], where)).agg_id == 2


@pytest.mark.parametrize("name", ["trug", "leading zero", "trailing dot", "bad escape", "invalid utf-8",
                                  "trailing comma in object"])
def test_malformed_values_inside_lighter_frames_and_levels_are_refused(name):
    book = OrderBook("CRV", price_decimals=5, qty_decimals=1)
    assert book.apply_lighter(LIGHTER) == 1
    for bad in (LIGHTER.replace(b'"offset":1', b'"offset":' + BAD[name]),
                LIGHTER.replace(b'"code":0', b'"code":' + BAD[name]),
                LIGHTER.replace(b'"x":1', b'"x":' + BAD[name])):
        with pytest.raises(FrameError):
            book.apply_lighter(bad)


@pytest.mark.parametrize("key", [b'"\\q"', b'"\\\x00"', b'"a\x01"', b'"\xff"'])
def test_malformed_keys_are_refused(key):
    with pytest.raises(FrameError):
        OrderBook("BTCUSDT").apply_snapshot(SNAP[:-1] + b"," + key + b":1}")
    with pytest.raises(FrameError):
        decode_agg_trade(TRADE[:-1] + b"," + key + b":1}")


def test_a_symbol_with_an_escape_never_reaches_an_aggtrade():
    """A backslash-NUL in "s" used to land in AggTrade.symbol."""
    for sym in (b'"NKN\\\x00USDT"', b'"NKN\\qUSDT"', b'"NKN\\u0055SDT"'):
        with pytest.raises(FrameError, match="aggTrade"):
            decode_agg_trade(TRADE.replace(b'"NKNUSDT"', sym))


# ---------------------------------------------------------------- differential against Python's json

def python_accepts(raw: bytes) -> bool:
    def no_constants(name):
        raise ValueError(name)

    try:
        json.loads(raw.decode("utf-8"), parse_constant=no_constants)
    except (ValueError, RecursionError):
        return False
    return True


ATOMS = st.sampled_from([b"true", b"false", b"null", b"0", b"-0", b"1", b"-12.5e+3", b"1E5", b'""', b'"a"',
                         b'"\\n"', b'"\\u00e9"', b"{}", b"[]", '"é"'.encode()])
JUNK = st.sampled_from([b"trug", b"01", b"+1", b"41580.", b".5", b"1e", b"-", b"NaN", b"tru", b"'", b'"\\x"',
                        b'"\\u12"', b'"\\\x00"', b'"\x01"', b"\xff", b",", b":", b"]", b"}", b"[", b"{", b'"', b"\\",
                        b" ", b"\n", b"\x0b", b"a", b"e", b"."])


def _array(children):
    return st.lists(children, max_size=4).map(lambda xs: b"[" + b",".join(xs) + b"]")


def _object(children):
    pair = st.tuples(st.sampled_from([b'"k"', b'"x\\"y"', b'""']), children).map(lambda kv: kv[0] + b":" + kv[1])
    return st.lists(pair, max_size=4).map(lambda xs: b"{" + b",".join(xs) + b"}")


VALUES = st.recursive(ATOMS, lambda c: _array(c) | _object(c), max_leaves=20)


@st.composite
def maybe_broken(draw):
    v = bytearray(draw(VALUES))
    for _ in range(draw(st.integers(0, 2))):
        i = draw(st.integers(0, len(v)))
        if draw(st.booleans()) and len(v) > 0:
            del v[min(i, len(v) - 1)]
        else:
            v[i:i] = draw(JUNK)
    return bytes(v)


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(maybe_broken(), st.sampled_from(WHERE))
def test_the_book_accepts_a_frame_exactly_when_python_json_does(value, where):
    frame = with_value(DIFF, value, where)
    book = OrderBook("BTCUSDT")
    book.apply_snapshot(SNAP)
    try:
        book.apply_depth(frame)
        ours = True
    except FrameError:
        ours = False
    assert ours == python_accepts(frame), frame
    trade = with_value(TRADE, value, where)
    try:
        decode_agg_trade(trade)
        ours = True
    except FrameError:
        ours = False
    assert ours == python_accepts(trade), trade
