# cython: language_level=3
"""Compiled decoder for Binance ``aggTrade`` frames (plain or combined-stream wrapped).

One call parses the frame bytes in place and returns one small ``AggTrade`` value; no JSON library, no
intermediate dict. Malformed input raises FrameError naming the problem.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from libc.stdint cimport int64_t
from libc.string cimport memchr

from engine._scan cimport (ScanError, ERR_NONE, ERR_TRUNCATED, ERR_EXPECTED_OBJECT, ERR_EXPECTED_STRING,
                           ERR_EXPECTED_INT, ERR_EXPECTED_COLON, ERR_EXPECTED_COMMA, ERR_BAD_NUMBER,
                           ERR_NEGATIVE, ERR_OVERFLOW, ERR_TOO_PRECISE, ERR_MISSING_FIELD, ERR_WRONG_EVENT,
                           ERR_TOO_DEEP, ERR_BAD_VALUE, ERR_TRAILING, ERR_EXPECTED_BOOL, ERR_INT_OVERFLOW,
                           ERR_BAD_STRING, ERR_ESCAPED, POW10, fail, skip_ws, expect, string_span, parse_uint,
                           parse_decimal, skip_value, key_is)

from engine.errors import FrameError

cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    """
    const char* ENGINE_BUILD_MODE

BUILD_MODE = ENGINE_BUILD_MODE.decode()

cdef dict _MESSAGES = {
    ERR_TRUNCATED: "truncated frame",
    ERR_EXPECTED_OBJECT: "expected a JSON object",
    ERR_EXPECTED_STRING: "expected a JSON string",
    ERR_EXPECTED_INT: "expected a non-negative integer",
    ERR_EXPECTED_COLON: "expected ':'",
    ERR_EXPECTED_COMMA: "expected ',' or '}'",
    ERR_BAD_NUMBER: "malformed decimal string",
    ERR_NEGATIVE: "negative number",
    ERR_OVERFLOW: "number too large for the fixed-point scale",
    ERR_TOO_PRECISE: "more decimals than the scale",
    ERR_MISSING_FIELD: "missing required field",
    ERR_WRONG_EVENT: "not an aggTrade event",
    ERR_TOO_DEEP: "JSON nested too deeply",
    ERR_BAD_VALUE: "malformed JSON value",
    ERR_TRAILING: "trailing bytes after the JSON object",
    ERR_EXPECTED_BOOL: "expected true or false",
    ERR_INT_OVERFLOW: "integer above 2^63-1",
    ERR_BAD_STRING: "malformed JSON string (bad escape, control character or invalid UTF-8)",
    ERR_ESCAPED: "the symbol must be a plain string (no escapes)",
}

cdef struct TradeFields:
    int64_t agg_id
    int64_t price
    int64_t qty
    int64_t first_id
    int64_t last_id
    int64_t trade_time
    int64_t event_time
    Py_ssize_t sym_s
    Py_ssize_t sym_n
    Py_ssize_t px_s
    Py_ssize_t px_n
    Py_ssize_t qty_s
    Py_ssize_t qty_n
    bint maker
    unsigned int seen     # bit per required field


cdef enum Seen:
    S_E = 1
    S_S = 2
    S_A = 4
    S_P = 8
    S_Q = 16
    S_F = 32
    S_L = 64
    S_T = 128
    S_M = 256
    S_EV = 512
    S_ALL = 1023


cdef class AggTrade:
    """One aggregated trade. ``side`` is the taker's side: "sell" when the buyer was the maker."""

    cdef readonly str symbol
    cdef readonly long long agg_id
    cdef readonly double price
    cdef readonly double qty
    cdef readonly str price_str
    cdef readonly str qty_str
    cdef readonly long long price_scaled
    cdef readonly long long qty_scaled
    cdef readonly long long first_id
    cdef readonly long long last_id
    cdef readonly long long trade_time
    cdef readonly long long event_time
    cdef readonly bint buyer_is_maker

    @property
    def size(self):
        return self.qty

    @property
    def side(self):
        return "sell" if self.buyer_is_maker else "buy"

    def __repr__(self):
        return (f"AggTrade({self.symbol} #{self.agg_id} {self.side} {self.qty_str} @ {self.price_str}, "
                f"T={self.trade_time})")


cdef inline Py_ssize_t parse_bool(const char* p, Py_ssize_t i, Py_ssize_t n, bint* out, ScanError* e) noexcept:
    i = skip_ws(p, i, n)
    if i + 4 <= n and p[i] == b't' and p[i + 1] == b'r' and p[i + 2] == b'u' and p[i + 3] == b'e':
        out[0] = True
        return i + 4
    if i + 5 <= n and p[i] == b'f' and p[i + 1] == b'a' and p[i + 2] == b'l' and p[i + 3] == b's' \
            and p[i + 4] == b'e':
        out[0] = False
        return i + 5
    if i >= n:
        return fail(e, ERR_TRUNCATED, i)
    return fail(e, ERR_EXPECTED_BOOL, i)


cdef Py_ssize_t _parse_object(const char* p, Py_ssize_t i, Py_ssize_t n, int depth, int pd, int qd,
                              TradeFields* t, ScanError* e) noexcept:
    cdef Py_ssize_t ks
    cdef Py_ssize_t kl
    cdef Py_ssize_t vs
    cdef Py_ssize_t vl
    cdef char c
    i = expect(p, i, n, b'{', ERR_EXPECTED_OBJECT, e)
    if i < 0:
        return -1
    i = skip_ws(p, i, n)
    if i < n and p[i] == b'}':
        return i + 1
    while True:
        i = string_span(p, i, n, &ks, &kl, e)
        if i < 0:
            return -1
        i = expect(p, i, n, b':', ERR_EXPECTED_COLON, e)
        if i < 0:
            return -1
        if kl == 1:
            c = p[ks]
            if c == b'e':
                i = string_span(p, i, n, &vs, &vl, e)
                if i >= 0 and not key_is(p, vs, vl, b"aggTrade", 8):
                    return fail(e, ERR_WRONG_EVENT, vs)
                t.seen |= S_EV
            elif c == b'E':
                i = parse_uint(p, i, n, &t.event_time, e)
                t.seen |= S_E
            elif c == b's':
                i = string_span(p, i, n, &t.sym_s, &t.sym_n, e)
                # the symbol is returned as the raw bytes between the quotes: an escape would land in
                # AggTrade.symbol undecoded, and no venue symbol needs one
                if i >= 0 and memchr(p + t.sym_s, b'\\', <size_t>t.sym_n) != NULL:
                    return fail(e, ERR_ESCAPED, t.sym_s)
                t.seen |= S_S
            elif c == b'a':
                i = parse_uint(p, i, n, &t.agg_id, e)
                t.seen |= S_A
            elif c == b'p':
                vs = skip_ws(p, i, n)
                i = parse_decimal(p, i, n, pd, &t.price, e)
                t.px_s = vs + 1
                t.px_n = i - vs - 2
                t.seen |= S_P
            elif c == b'q':
                vs = skip_ws(p, i, n)
                i = parse_decimal(p, i, n, qd, &t.qty, e)
                t.qty_s = vs + 1
                t.qty_n = i - vs - 2
                t.seen |= S_Q
            elif c == b'f':
                i = parse_uint(p, i, n, &t.first_id, e)
                t.seen |= S_F
            elif c == b'l':
                i = parse_uint(p, i, n, &t.last_id, e)
                t.seen |= S_L
            elif c == b'T':
                i = parse_uint(p, i, n, &t.trade_time, e)
                t.seen |= S_T
            elif c == b'm':
                i = parse_bool(p, i, n, &t.maker, e)
                t.seen |= S_M
            else:
                i = skip_value(p, i, n, e)
        elif depth == 0 and key_is(p, ks, kl, b"data", 4):
            i = _parse_object(p, i, n, 1, pd, qd, t, e)
        else:
            i = skip_value(p, i, n, e)
        if i < 0:
            return -1
        i = skip_ws(p, i, n)
        if i >= n:
            return fail(e, ERR_TRUNCATED, i)
        if p[i] == b',':
            i += 1
        elif p[i] == b'}':
            return i + 1
        else:
            return fail(e, ERR_EXPECTED_COMMA, i)


cdef const char* _missing(unsigned int seen):
    if not seen & S_EV:
        return "e"
    if not seen & S_S:
        return "s"
    if not seen & S_A:
        return "a"
    if not seen & S_P:
        return "p"
    if not seen & S_Q:
        return "q"
    if not seen & S_F:
        return "f"
    if not seen & S_L:
        return "l"
    if not seen & S_T:
        return "T"
    if not seen & S_M:
        return "m"
    return "E"


cdef AggTrade decode_ptr(const char* p, Py_ssize_t n, int price_decimals, int qty_decimals):
    cdef TradeFields t
    cdef ScanError e
    cdef Py_ssize_t i
    cdef AggTrade tr
    t.seen = 0
    e.code = ERR_NONE
    e.pos = 0
    e.field = NULL
    if not (0 <= price_decimals <= 18 and 0 <= qty_decimals <= 18):
        raise ValueError("decimals must be within 0..18")
    i = _parse_object(p, 0, n, 0, price_decimals, qty_decimals, &t, &e) if p != NULL else fail(&e, ERR_TRUNCATED, 0)
    if i >= 0:
        i = skip_ws(p, i, n)
        if i != n:
            fail(&e, ERR_TRAILING, i)
    if e.code == ERR_NONE and t.seen != S_ALL:
        e.code = ERR_MISSING_FIELD
        e.field = _missing(t.seen)
    if e.code != ERR_NONE:
        msg = _MESSAGES.get(e.code, "malformed frame")
        if e.field != NULL:
            msg = f"{msg} {e.field.decode()!r}"
        raise FrameError(f"aggTrade: {msg} at byte {e.pos} of {n}")
    tr = AggTrade.__new__(AggTrade)
    tr.symbol = p[t.sym_s:t.sym_s + t.sym_n].decode("utf-8", "replace")
    tr.agg_id = t.agg_id
    tr.price_scaled = t.price
    tr.qty_scaled = t.qty
    tr.price = t.price / <double>POW10[price_decimals]
    tr.qty = t.qty / <double>POW10[qty_decimals]
    tr.price_str = p[t.px_s:t.px_s + t.px_n].decode("ascii")
    tr.qty_str = p[t.qty_s:t.qty_s + t.qty_n].decode("ascii")
    tr.first_id = t.first_id
    tr.last_id = t.last_id
    tr.trade_time = t.trade_time
    tr.event_time = t.event_time
    tr.buyer_is_maker = t.maker
    return tr


def decode_agg_trade(bytes raw not None, int price_decimals=8, int qty_decimals=8):
    """Decode one raw ``aggTrade`` frame (plain or ``{"stream":..,"data":..}``) into an AggTrade."""
    return decode_ptr(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), price_decimals, qty_decimals)
