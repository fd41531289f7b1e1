# cython: language_level=3
"""Compiled L2 order book for Binance depth streams (and, with per-market decimals, Lighter).

Storage: per side, two contiguous int64 arrays (price key, quantity), kept ascending with the best level
at the END (bids store +price, asks store -price), so the changes that cluster near the touch move few
bytes. Prices and quantities are exact scaled integers (value * 10**decimals); floats appear only in the
read API.

Every apply is all-or-nothing: a frame is parsed and validated completely into scratch arrays first, and
capacity is reserved, before a single level changes. A malformed frame raises FrameError and a gap returns
GAP; in both cases the book is exactly as before the call.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE, PyBytes_FromStringAndSize
from cpython.list cimport PyList_GET_ITEM, PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.float cimport PyFloat_FromDouble
from cpython.object cimport PyObject
from cpython.mem cimport PyMem_Free, PyMem_Realloc
from libc.stdint cimport int64_t, uint64_t
from libc.stdio cimport snprintf
from libc.string cimport memmove

from engine._scan cimport (ScanError, ERR_NONE, ERR_TRUNCATED, ERR_EXPECTED_OBJECT, ERR_EXPECTED_ARRAY,
                           ERR_EXPECTED_STRING, ERR_EXPECTED_INT, ERR_EXPECTED_COLON, ERR_EXPECTED_COMMA,
                           ERR_BAD_NUMBER, ERR_NEGATIVE, ERR_OVERFLOW, ERR_TOO_PRECISE, ERR_BAD_LEVEL,
                           ERR_MISSING_FIELD, ERR_WRONG_EVENT, ERR_WRONG_SYMBOL, ERR_TOO_DEEP, ERR_BAD_VALUE,
                           ERR_TRAILING, ERR_TOO_MANY_LEVELS, POW10, fail, skip_ws, expect, string_span,
                           parse_uint, parse_decimal, skip_value, key_is)

from engine.errors import FrameError

cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    #include <time.h>
    static inline long long engine_book_mono_ns(void) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    """
    const char* ENGINE_BUILD_MODE
    long long mono_ns "engine_book_mono_ns"() noexcept nogil

BUILD_MODE = ENGINE_BUILD_MODE.decode()

# what _parse is asked to read
cdef enum Kind:
    K_DEPTH = 1      # depthUpdate diff
    K_SNAPSHOT = 2   # REST /depth body
    K_PARTIAL = 3    # @depth5/10/20: spot {lastUpdateId,bids,asks} or futures depthUpdate-shaped
    K_LIGHTER = 4    # Lighter order_book channel: subscribed (full book) or update chained by begin_nonce

cdef enum:
    MAX_LEVELS_PER_FRAME = 200000

cdef dict _MESSAGES = {
    ERR_TRUNCATED: "truncated frame",
    ERR_EXPECTED_OBJECT: "expected a JSON object",
    ERR_EXPECTED_ARRAY: "expected a JSON array",
    ERR_EXPECTED_STRING: "expected a JSON string",
    ERR_EXPECTED_INT: "expected a non-negative integer",
    ERR_EXPECTED_COLON: "expected ':'",
    ERR_EXPECTED_COMMA: "expected ',' or a closing bracket",
    ERR_BAD_NUMBER: "malformed decimal string",
    ERR_NEGATIVE: "negative number",
    ERR_OVERFLOW: "number too large for the book's fixed-point scale",
    ERR_TOO_PRECISE: "more decimals than the book's scale",
    ERR_BAD_LEVEL: "a level must be a [price, qty] pair with price > 0",
    ERR_MISSING_FIELD: "missing required field",
    ERR_WRONG_EVENT: "unknown or wrong event type (expected depthUpdate)",
    ERR_WRONG_SYMBOL: "frame is for another symbol",
    ERR_TOO_DEEP: "JSON nested too deeply",
    ERR_BAD_VALUE: "malformed JSON value",
    ERR_TRAILING: "trailing bytes after the JSON object",
    ERR_TOO_MANY_LEVELS: "too many levels in one frame",
}

DepthOutcome_APPLIED = APPLIED
DepthOutcome_STALE = STALE
DepthOutcome_GAP = GAP
DepthOutcome_BUFFERED = BUFFERED
DepthOutcome_SNAPSHOT_TOO_OLD = SNAPSHOT_TOO_OLD


cdef inline void side_set(Side* s, int64_t key, int64_t qty) noexcept nogil:
    """Set (qty > 0) or remove (qty == 0) one level. Capacity was reserved by the caller."""
    cdef Py_ssize_t lo = 0
    cdef Py_ssize_t hi = s.n
    cdef Py_ssize_t mid
    cdef Py_ssize_t n = s.n
    cdef Py_ssize_t j = n - 1
    cdef Py_ssize_t lim = n - 48 if n > 48 else 0
    # most changes land within a few dozen levels of the best, which is at the end: a short backward
    # scan (predictable branches) beats a binary search (a mispredicted branch per step) there
    while j >= lim and s.key[j] > key:
        j -= 1
    if j >= lim:
        lo = j if s.key[j] == key else j + 1
    else:
        hi = lim
        while lo < hi:
            mid = (lo + hi) >> 1
            if s.key[mid] < key:
                lo = mid + 1
            else:
                hi = mid
    if lo < n and s.key[lo] == key:
        if qty == 0:
            # close the gap; the tail is the few levels between here and the best (plain loops: for
            # these short overlapping moves they beat a libc memmove call)
            for j in range(lo, n - 1):
                s.key[j] = s.key[j + 1]
                s.qty[j] = s.qty[j + 1]
            s.n = n - 1
        else:
            s.qty[lo] = qty
    elif qty != 0:
        j = n
        while j > lo:
            s.key[j] = s.key[j - 1]
            s.qty[j] = s.qty[j - 1]
            j -= 1
        s.key[lo] = key
        s.qty[lo] = qty
        s.n = n + 1
    # removing a level that is not in the book is normal and silent


cdef inline int side_grow(Side* s, Py_ssize_t need) except -1:
    cdef Py_ssize_t cap = s.cap if s.cap > 0 else 64
    cdef int64_t* k
    cdef int64_t* q
    if need <= s.cap:
        return 0
    while cap < need:
        cap *= 2
    k = <int64_t*>PyMem_Realloc(s.key, <size_t>cap * sizeof(int64_t))
    if k == NULL:
        raise MemoryError()
    s.key = k
    q = <int64_t*>PyMem_Realloc(s.qty, <size_t>cap * sizeof(int64_t))
    if q == NULL:
        raise MemoryError()
    s.qty = q
    s.cap = cap
    return 0


cdef inline void side_free(Side* s) noexcept:
    PyMem_Free(s.key)
    PyMem_Free(s.qty)
    s.key = NULL
    s.qty = NULL
    s.n = 0
    s.cap = 0


cdef str _fmt(int64_t v, int decimals):
    """Exact decimal string of a scaled integer (always ``decimals`` fraction digits)."""
    cdef char buf[48]
    cdef int64_t scale
    cdef int m
    if decimals == 0:
        m = snprintf(buf, sizeof(buf), "%lld", <long long>v)
    else:
        scale = POW10[decimals]
        m = snprintf(buf, sizeof(buf), "%lld.%0*lld", <long long>(v // scale), decimals, <long long>(v % scale))
    return buf[:m].decode("ascii")


cdef class OrderBook:
    """An exact L2 book for one symbol, fed with raw Binance frames (see the module docstring).

    What a user may rely on: ``apply_*`` either fully applies a frame or leaves the book untouched (GAP
    outcome or FrameError); prices/quantities are exact at ``price_decimals``/``qty_decimals``; reads
    never mutate; ``crossed`` reports (never repairs) a best bid >= best ask.
    """

    def __cinit__(self):
        self._bids.key = NULL
        self._asks.key = NULL
        self._sb.key = NULL
        self._sa.key = NULL

    def __init__(self, str symbol, *, bint futures=False, int price_decimals=8, int qty_decimals=8):
        if not symbol:
            raise ValueError("symbol must be a non-empty string")
        if not (0 <= price_decimals <= 18 and 0 <= qty_decimals <= 18):
            raise ValueError("price_decimals and qty_decimals must be within 0..18")
        self.symbol = symbol.upper()
        self._sym = self.symbol.encode("ascii")
        self.futures = futures
        self.price_decimals = price_decimals
        self.qty_decimals = qty_decimals
        self._pscale = <double>POW10[price_decimals]
        self._qscale = <double>POW10[qty_decimals]
        side_grow(&self._bids, 256)
        side_grow(&self._asks, 256)
        side_grow(&self._sb, 64)
        side_grow(&self._sa, 64)

    def __dealloc__(self):
        side_free(&self._bids)
        side_free(&self._asks)
        side_free(&self._sb)
        side_free(&self._sa)

    def __repr__(self):
        return (f"OrderBook({self.symbol!r}, futures={bool(self.futures)}, last_update_id={self.last_update_id}, "
                f"bids={self._bids.n}, asks={self._asks.n}, synced={bool(self.synced)})")

    # ---------------------------------------------------------------- parsing (no mutation of the book)
    cdef Py_ssize_t _parse_levels(self, const char* p, Py_ssize_t i, Py_ssize_t n, Side* out, bint negate,
                                  ScanError* e) except -2:
        cdef int64_t px
        cdef int64_t qty
        out.n = 0
        i = expect(p, i, n, b'[', ERR_EXPECTED_ARRAY, e)
        if i < 0:
            return -1
        i = skip_ws(p, i, n)
        if i < n and p[i] == b']':
            return i + 1
        while True:
            i = expect(p, i, n, b'[', ERR_BAD_LEVEL, e)
            if i < 0:
                return -1
            i = parse_decimal(p, i, n, self.price_decimals, &px, e)
            if i < 0:
                return -1
            if px <= 0:
                return fail(e, ERR_BAD_LEVEL, i)
            i = expect(p, i, n, b',', ERR_BAD_LEVEL, e)
            if i < 0:
                return -1
            i = parse_decimal(p, i, n, self.qty_decimals, &qty, e)
            if i < 0:
                return -1
            i = expect(p, i, n, b']', ERR_BAD_LEVEL, e)
            if i < 0:
                return -1
            if out.n >= MAX_LEVELS_PER_FRAME:
                return fail(e, ERR_TOO_MANY_LEVELS, i)
            if out.n >= out.cap:
                side_grow(out, out.n + 1)
            out.key[out.n] = -px if negate else px
            out.qty[out.n] = qty
            out.n += 1
            i = skip_ws(p, i, n)
            if i >= n:
                return fail(e, ERR_TRUNCATED, i)
            if p[i] == b',':
                i += 1
            elif p[i] == b']':
                return i + 1
            else:
                return fail(e, ERR_EXPECTED_COMMA, i)

    cdef Py_ssize_t _parse_object(self, const char* p, Py_ssize_t i, Py_ssize_t n, int depth, Parsed* r,
                                  ScanError* e) except -2:
        cdef Py_ssize_t ks
        cdef Py_ssize_t kl
        cdef Py_ssize_t vs
        cdef Py_ssize_t vl
        cdef Py_ssize_t k
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
                if c == b'U':
                    i = parse_uint(p, i, n, &r.U, e)
                    r.has_U = True
                elif c == b'u':
                    i = parse_uint(p, i, n, &r.u, e)
                    r.has_u = True
                elif c == b'b':
                    i = self._parse_levels(p, i, n, &self._sb, False, e)
                    r.has_b = True
                elif c == b'a':
                    i = self._parse_levels(p, i, n, &self._sa, True, e)
                    r.has_a = True
                elif c == b'E':
                    i = parse_uint(p, i, n, &r.E, e)
                elif c == b'e':
                    i = string_span(p, i, n, &vs, &vl, e)
                    if i >= 0 and not key_is(p, vs, vl, b"depthUpdate", 11):
                        return fail(e, ERR_WRONG_EVENT, vs)
                    r.has_e = True
                elif c == b's':
                    i = string_span(p, i, n, &vs, &vl, e)
                    if i >= 0:
                        if vl != len(self._sym):
                            return fail(e, ERR_WRONG_SYMBOL, vs)
                        for k in range(vl):
                            c = p[vs + k]
                            if c >= b'a' and c <= b'z':
                                c = c - 32
                            if c != (<const char*>self._sym)[k]:
                                return fail(e, ERR_WRONG_SYMBOL, vs)
                    r.has_s = True
                else:
                    i = skip_value(p, i, n, e)
            elif kl == 2 and p[ks] == b'p' and p[ks + 1] == b'u':
                i = parse_uint(p, i, n, &r.pu, e)
                r.has_pu = True
            elif key_is(p, ks, kl, b"bids", 4):
                i = self._parse_levels(p, i, n, &self._sb, False, e)
                r.has_b = True
            elif key_is(p, ks, kl, b"asks", 4):
                i = self._parse_levels(p, i, n, &self._sa, True, e)
                r.has_a = True
            elif key_is(p, ks, kl, b"lastUpdateId", 12):
                i = parse_uint(p, i, n, &r.lid, e)
                r.has_lid = True
            elif depth == 0 and key_is(p, ks, kl, b"data", 4):
                i = self._parse_object(p, i, n, 1, r, e)
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

    cdef Py_ssize_t _parse_obj_levels(self, const char* p, Py_ssize_t i, Py_ssize_t n, Side* out, bint negate,
                                      ScanError* e) except -2:
        """Lighter levels: [{"price": "0.20382", "size": "7816.7"}, ...] (keys in any order, extras skipped)."""
        cdef int64_t px
        cdef int64_t qty
        cdef bint has_px
        cdef bint has_qty
        cdef Py_ssize_t ks
        cdef Py_ssize_t kl
        out.n = 0
        i = expect(p, i, n, b'[', ERR_EXPECTED_ARRAY, e)
        if i < 0:
            return -1
        i = skip_ws(p, i, n)
        if i < n and p[i] == b']':
            return i + 1
        while True:
            i = expect(p, i, n, b'{', ERR_BAD_LEVEL, e)
            if i < 0:
                return -1
            has_px = has_qty = False
            while True:
                i = string_span(p, i, n, &ks, &kl, e)
                if i < 0:
                    return -1
                i = expect(p, i, n, b':', ERR_EXPECTED_COLON, e)
                if i < 0:
                    return -1
                if key_is(p, ks, kl, b"price", 5):
                    i = parse_decimal(p, i, n, self.price_decimals, &px, e)
                    has_px = True
                elif key_is(p, ks, kl, b"size", 4):
                    i = parse_decimal(p, i, n, self.qty_decimals, &qty, e)
                    has_qty = True
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
                    i += 1
                    break
                else:
                    return fail(e, ERR_EXPECTED_COMMA, i)
            if not (has_px and has_qty) or px <= 0:
                return fail(e, ERR_BAD_LEVEL, i)
            if out.n >= MAX_LEVELS_PER_FRAME:
                return fail(e, ERR_TOO_MANY_LEVELS, i)
            if out.n >= out.cap:
                side_grow(out, out.n + 1)
            out.key[out.n] = -px if negate else px
            out.qty[out.n] = qty
            out.n += 1
            i = skip_ws(p, i, n)
            if i >= n:
                return fail(e, ERR_TRUNCATED, i)
            if p[i] == b',':
                i += 1
            elif p[i] == b']':
                return i + 1
            else:
                return fail(e, ERR_EXPECTED_COMMA, i)

    cdef Py_ssize_t _parse_lighter(self, const char* p, Py_ssize_t i, Py_ssize_t n, int depth, Parsed* r,
                                   ScanError* e) except -2:
        """An order_book frame: {"channel", "type", "order_book": {"asks", "bids", "nonce", "begin_nonce"}}."""
        cdef Py_ssize_t ks
        cdef Py_ssize_t kl
        cdef Py_ssize_t vs
        cdef Py_ssize_t vl
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
            if depth == 0 and key_is(p, ks, kl, b"type", 4):
                i = string_span(p, i, n, &vs, &vl, e)
                if i >= 0:
                    if key_is(p, vs, vl, b"subscribed/order_book", 21):
                        r.ltype = 1
                    elif key_is(p, vs, vl, b"update/order_book", 17):
                        r.ltype = 2
                    else:
                        return fail(e, ERR_WRONG_EVENT, vs)
                    r.has_e = True
            elif depth == 0 and key_is(p, ks, kl, b"order_book", 10):
                i = self._parse_lighter(p, i, n, 1, r, e)
            elif depth == 1 and key_is(p, ks, kl, b"bids", 4):
                i = self._parse_obj_levels(p, i, n, &self._sb, False, e)
                r.has_b = True
            elif depth == 1 and key_is(p, ks, kl, b"asks", 4):
                i = self._parse_obj_levels(p, i, n, &self._sa, True, e)
                r.has_a = True
            elif depth == 1 and key_is(p, ks, kl, b"nonce", 5):
                i = parse_uint(p, i, n, &r.u, e)
                r.has_u = True
            elif depth == 1 and key_is(p, ks, kl, b"begin_nonce", 11):
                i = parse_uint(p, i, n, &r.U, e)
                r.has_U = True
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

    cdef Py_ssize_t _parse(self, const char* p, Py_ssize_t n, int kind, Parsed* r, ScanError* e) except -2:
        cdef Py_ssize_t i
        r.has_e = r.has_s = r.has_U = r.has_u = r.has_pu = r.has_lid = r.has_b = r.has_a = False
        r.U = r.u = r.pu = r.lid = r.E = 0
        e.code = ERR_NONE
        e.pos = 0
        e.field = NULL
        r.ltype = 0
        if p == NULL:
            return fail(e, ERR_TRUNCATED, 0)
        if kind == K_LIGHTER:
            i = self._parse_lighter(p, 0, n, 0, r, e)
        else:
            i = self._parse_object(p, 0, n, 0, r, e)
        if i < 0:
            return -1
        i = skip_ws(p, i, n)
        if i != n:
            return fail(e, ERR_TRAILING, i)
        if self._check(r, kind, e) < 0:
            return -1
        return i

    cdef int _check(self, Parsed* r, int kind, ScanError* e) noexcept:
        cdef const char* missing = NULL
        if kind == K_LIGHTER:
            if not r.has_e:
                missing = "type"
            elif not r.has_u:
                missing = "order_book.nonce"
            elif r.ltype == 2 and not r.has_U:
                missing = "order_book.begin_nonce"
            elif not r.has_b:
                missing = "order_book.bids"
            elif not r.has_a:
                missing = "order_book.asks"
        elif kind == K_DEPTH or (kind == K_PARTIAL and not r.has_lid):
            if not r.has_e:
                missing = "e"
            elif not r.has_s:
                missing = "s"
            elif not r.has_U:
                missing = "U"
            elif not r.has_u:
                missing = "u"
            elif self.futures and not r.has_pu:
                missing = "pu"
            elif not r.has_b:
                missing = "b"
            elif not r.has_a:
                missing = "a"
        else:
            if not r.has_lid:
                missing = "lastUpdateId"
            elif not r.has_b:
                missing = "bids"
            elif not r.has_a:
                missing = "asks"
        if missing != NULL:
            e.code = ERR_MISSING_FIELD
            e.pos = 0
            e.field = missing
            return -1
        return 0

    cdef int _raise(self, ScanError* e, Py_ssize_t n) except -1:
        self.rejected += 1
        msg = _MESSAGES.get(e.code, "malformed frame")
        if e.field != NULL:
            msg = f"{msg} {e.field.decode()!r}"
        raise FrameError(f"{self.symbol}: {msg} at byte {e.pos} of {n}")

    # ---------------------------------------------------------------- mutation
    cdef int _reserve(self, Side* s, Py_ssize_t extra) except -1:
        return side_grow(s, s.n + extra)

    cdef int _apply_parsed_diff(self, Parsed* r) except -1:
        cdef Py_ssize_t j
        cdef int64_t bk = self._bids.key[self._bids.n - 1] if self._bids.n else 0
        cdef int64_t bq = self._bids.qty[self._bids.n - 1] if self._bids.n else 0
        cdef int64_t ak = self._asks.key[self._asks.n - 1] if self._asks.n else 0
        cdef int64_t aq = self._asks.qty[self._asks.n - 1] if self._asks.n else 0
        self._reserve(&self._bids, self._sb.n)
        self._reserve(&self._asks, self._sa.n)
        for j in range(self._sb.n):
            side_set(&self._bids, self._sb.key[j], self._sb.qty[j])
        for j in range(self._sa.n):
            side_set(&self._asks, self._sa.key[j], self._sa.qty[j])
        if self._sb.n:
            self._ver_b += 1
        if self._sa.n:
            self._ver_a += 1
        self.last_update_id = r.u
        self._first = False
        self.applied += 1
        self.last_apply_ns = mono_ns()
        self.bbo_changed = not (
            (self._bids.key[self._bids.n - 1] if self._bids.n else 0) == bk and
            (self._bids.qty[self._bids.n - 1] if self._bids.n else 0) == bq and
            (self._asks.key[self._asks.n - 1] if self._asks.n else 0) == ak and
            (self._asks.qty[self._asks.n - 1] if self._asks.n else 0) == aq)
        if self._bids.n and self._asks.n and self._bids.key[self._bids.n - 1] >= -self._asks.key[self._asks.n - 1]:
            self.crossed_count += 1
        return APPLIED

    cdef int _replace_from_scratch(self, int64_t update_id) except -1:
        cdef Py_ssize_t j
        # reserve first so a failed allocation leaves the old book in place
        side_grow(&self._bids, self._sb.n)
        side_grow(&self._asks, self._sa.n)
        self._bids.n = 0
        self._asks.n = 0
        # snapshots list best first; walking backwards appends in ascending key order (O(1) per level)
        for j in range(self._sb.n - 1, -1, -1):
            side_set(&self._bids, self._sb.key[j], self._sb.qty[j])
        for j in range(self._sa.n - 1, -1, -1):
            side_set(&self._asks, self._sa.key[j], self._sa.qty[j])
        self.last_update_id = update_id
        self.synced = True
        self._first = True
        self.bbo_changed = True
        self.last_apply_ns = mono_ns()
        self._ver_b += 1
        self._ver_a += 1
        return 0

    cdef int apply_depth_ptr(self, const char* p, Py_ssize_t n) except -1:
        """Apply one depthUpdate frame (plain or combined-stream wrapped). Returns an Outcome."""
        cdef Parsed r
        cdef ScanError e
        if self._parse(p, n, K_DEPTH, &r, &e) < 0:
            self._raise(&e, n)
        if not self.synced:
            self.unsynced_drops += 1
            return GAP
        if self.futures:
            if self._first:
                if r.u < self.last_update_id:
                    self.stale += 1
                    return STALE
                if r.U > self.last_update_id:
                    return self._gap()
            else:
                if r.u <= self.last_update_id:
                    self.stale += 1
                    return STALE
                if r.pu != self.last_update_id:
                    return self._gap()
        else:
            if r.u <= self.last_update_id:
                self.stale += 1
                return STALE
            # first event after a snapshot must straddle: U <= lastUpdateId+1 <= u (u > last holds here);
            # afterwards U == previous u + 1. Both reduce to: U must not skip past last+1.
            if r.U > self.last_update_id + 1:
                return self._gap()
        return self._apply_parsed_diff(&r)

    cdef int _gap(self):
        self.gaps += 1
        self.synced = False
        return GAP

    cdef int apply_lighter_ptr(self, const char* p, Py_ssize_t n) except -1:
        """Lighter order_book frame: a snapshot re-seeds; an update applies only if its begin_nonce equals
        the previous frame's nonce (else GAP: untouched, unsynced until the next snapshot)."""
        cdef Parsed r
        cdef ScanError e
        if self._parse(p, n, K_LIGHTER, &r, &e) < 0:
            self._raise(&e, n)
        if r.ltype == 1:
            self._replace_from_scratch(r.u)
            self.applied += 1
            return APPLIED
        if not self.synced:
            self.unsynced_drops += 1
            return GAP
        if r.U != self.last_update_id:
            return self._gap()
        return self._apply_parsed_diff(&r)

    cdef int validate_depth_ptr(self, const char* p, Py_ssize_t n, int64_t* U, int64_t* u) except -1:
        """Parse and validate a diff without applying it (used while buffering before a snapshot)."""
        cdef Parsed r
        cdef ScanError e
        if self._parse(p, n, K_DEPTH, &r, &e) < 0:
            self._raise(&e, n)
        U[0] = r.U
        u[0] = r.u
        return 0

    # ---------------------------------------------------------------- Python API
    def apply_snapshot(self, raw):
        """Replace the book with a REST ``/depth`` body (spot, or futures with E/T)."""
        cdef Parsed r
        cdef ScanError e
        if not isinstance(raw, bytes):
            raw = bytes(raw)
        if self._parse(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), K_SNAPSHOT, &r, &e) < 0:
            self._raise(&e, PyBytes_GET_SIZE(raw))
        self._replace_from_scratch(r.lid)

    def apply_depth(self, bytes raw not None):
        """Apply one ``depthUpdate`` frame exactly as received. Returns a DepthOutcome int."""
        return self.apply_depth_ptr(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))

    def apply_lighter(self, bytes raw not None):
        """Apply one Lighter ``order_book`` channel frame (subscribed or update). Returns a DepthOutcome int.

        ``last_update_id`` holds the last applied ``nonce``. Prices/sizes use the book's decimals (the
        market's ``price_decimals`` / ``size_decimals``); a size of zero in any spelling deletes the level.
        """
        return self.apply_lighter_ptr(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw))

    def apply_partial(self, bytes raw not None):
        """Replace the book with a partial-depth frame (``@depth5/10/20``)."""
        cdef Parsed r
        cdef ScanError e
        if self._parse(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), K_PARTIAL, &r, &e) < 0:
            self._raise(&e, PyBytes_GET_SIZE(raw))
        self._replace_from_scratch(r.lid if r.has_lid else r.u)

    def clear(self):
        """Empty both sides and mark the book unsynced (the next snapshot re-seeds it)."""
        self._bids.n = 0
        self._asks.n = 0
        self._ver_b += 1
        self._ver_a += 1
        self.synced = False
        self.last_update_id = 0

    def bbo(self):
        """(best bid price, its qty, best ask price, its qty) as floats; NaN for an empty side."""
        cdef double nan = float("nan")
        cdef Py_ssize_t nb = self._bids.n
        cdef Py_ssize_t na = self._asks.n
        return (self._bids.key[nb - 1] / self._pscale if nb else nan,
                self._bids.qty[nb - 1] / self._qscale if nb else nan,
                -self._asks.key[na - 1] / self._pscale if na else nan,
                self._asks.qty[na - 1] / self._qscale if na else nan)

    @property
    def best_bid(self):
        return self._bids.key[self._bids.n - 1] / self._pscale if self._bids.n else float("nan")

    @property
    def best_ask(self):
        return -self._asks.key[self._asks.n - 1] / self._pscale if self._asks.n else float("nan")

    @property
    def mid(self):
        return (self.best_bid + self.best_ask) / 2

    @property
    def bid_count(self):
        return self._bids.n

    @property
    def ask_count(self):
        return self._asks.n

    @property
    def crossed(self):
        """True when best bid >= best ask: a desync signal, reported, never repaired."""
        return bool(self._bids.n and self._asks.n and
                    self._bids.key[self._bids.n - 1] >= -self._asks.key[self._asks.n - 1])

    cdef list _top_side(self, Side* s, int sign, Py_ssize_t n, TopCache* c, uint64_t ver, bint is_ask):
        """Best-first (price, qty) tuples; unchanged levels reuse the tuple built by the last read."""
        cdef Py_ssize_t m = n if n < s.n else s.n
        cdef Py_ssize_t j
        cdef Py_ssize_t oi = 0
        cdef Py_ssize_t last = s.n - 1
        cdef int64_t k
        cdef int64_t q
        cdef double ps = self._pscale
        cdef double qs = self._qscale
        cdef list old = self._tuples_a if is_ask else self._tuples_b
        cdef list out
        cdef object t
        cdef int64_t nk[TOP_CACHE]
        cdef int64_t nq[TOP_CACHE]
        if m <= 0:
            return []
        if m > TOP_CACHE:
            out = PyList_New(m)
            for j in range(m):
                t = (sign * s.key[last - j] / ps, s.qty[last - j] / qs)
                Py_INCREF(t)
                PyList_SET_ITEM(out, j, t)
            return out
        if old is not None and c.version == ver and m <= c.n:
            return old[:m]
        out = PyList_New(m)
        for j in range(m):
            k = s.key[last - j]
            q = s.qty[last - j]
            # both caches hold keys best first, i.e. descending: walk the old one alongside
            while oi < c.n and c.key[oi] > k:
                oi += 1
            if old is not None and oi < c.n and c.key[oi] == k:
                t = <object>PyList_GET_ITEM(old, oi)
                if c.qty[oi] != q:  # same price, new size: keep the price's float object
                    t = ((<tuple>t)[0], q / qs)
            else:
                t = (sign * k / ps, q / qs)
            Py_INCREF(t)
            PyList_SET_ITEM(out, j, t)
            nk[j] = k
            nq[j] = q
        for j in range(m):
            c.key[j] = nk[j]
            c.qty[j] = nq[j]
        c.n = m
        c.version = ver
        if is_ask:
            self._tuples_a = out
        else:
            self._tuples_b = out
        return out[:m]

    def top(self, Py_ssize_t n=20):
        """(bids, asks): lists of (price, qty) floats, best first, at most ``n`` each (fresh lists)."""
        if n <= 0:
            return [], []
        return (self._top_side(&self._bids, 1, n, &self._cache_b, self._ver_b, False),
                self._top_side(&self._asks, -1, n, &self._cache_a, self._ver_a, True))

    def top_exact(self, Py_ssize_t n=20):
        """(bids, asks): lists of (price, qty) exact decimal strings, best first."""
        cdef Py_ssize_t j
        cdef Py_ssize_t last = self._bids.n - 1
        bids = [(_fmt(self._bids.key[last - j], self.price_decimals), _fmt(self._bids.qty[last - j], self.qty_decimals))
                for j in range(min(n, self._bids.n))]
        last = self._asks.n - 1
        asks = [(_fmt(-self._asks.key[last - j], self.price_decimals), _fmt(self._asks.qty[last - j], self.qty_decimals))
                for j in range(min(n, self._asks.n))]
        return bids, asks

    def bids_scaled(self, Py_ssize_t n=-1):
        """Exact (price, qty) scaled integers, best first (all levels when n < 0)."""
        cdef Py_ssize_t last = self._bids.n - 1
        cdef Py_ssize_t m = self._bids.n if n < 0 else min(n, self._bids.n)
        return [(self._bids.key[last - j], self._bids.qty[last - j]) for j in range(m)]

    def asks_scaled(self, Py_ssize_t n=-1):
        cdef Py_ssize_t last = self._asks.n - 1
        cdef Py_ssize_t m = self._asks.n if n < 0 else min(n, self._asks.n)
        return [(-self._asks.key[last - j], self._asks.qty[last - j]) for j in range(m)]

    def counters(self):
        return {"applied": self.applied, "stale": self.stale, "gaps": self.gaps,
                "unsynced_drops": self.unsynced_drops, "crossed": self.crossed_count, "rejected": self.rejected}


cdef class BookSync:
    """The documented pre-snapshot buffering around one OrderBook, so a connector only feeds frames.

    Lifecycle: frames are buffered (BUFFERED) until ``apply_snapshot`` seeds the book and replays the
    buffer; afterwards frames apply live (APPLIED/STALE). A GAP (from a frame or from the replay) marks the
    book unsynced and the sync goes back to buffering with ``needs_snapshot`` True: the caller fetches a
    new snapshot for this symbol only. A full buffer is counted and treated as a gap, never silently cut.
    """

    def __init__(self, OrderBook book not None, *, Py_ssize_t max_buffer=10000):
        if max_buffer < 1:
            raise ValueError("max_buffer must be >= 1")
        self.book = book
        self.max_buffer = max_buffer
        self._buffer = []
        self.needs_snapshot = True
        self._first_U = -1

    def __repr__(self):
        return (f"BookSync({self.book.symbol!r}, needs_snapshot={bool(self.needs_snapshot)}, "
                f"buffered={len(self._buffer)}, resyncs={self.resyncs})")

    @property
    def buffered(self):
        return len(self._buffer)

    @property
    def first_buffered_update_id(self):
        return None if self._first_U < 0 else self._first_U

    def reset(self):
        """A new connection: clear the book and the buffer, wait for a snapshot."""
        self.book.clear()
        self._buffer = []
        self._first_U = -1
        self.needs_snapshot = True

    def feed(self, bytes raw not None):
        """Feed one depthUpdate frame; returns a DepthOutcome int."""
        return self._feed(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), raw)

    cdef int feed_ptr(self, const char* p, Py_ssize_t n) except -1:
        return self._feed(p, n, None)

    cdef int _feed(self, const char* p, Py_ssize_t n, object raw) except -1:
        cdef int outcome
        cdef int64_t U
        cdef int64_t u
        if not self.needs_snapshot:
            try:
                outcome = self.book.apply_depth_ptr(p, n)
            except FrameError:
                self.frame_errors += 1
                raise
            if outcome == GAP:
                self._restart()
            return outcome
        try:
            self.book.validate_depth_ptr(p, n, &U, &u)
        except FrameError:
            self.frame_errors += 1
            raise
        if len(self._buffer) >= self.max_buffer:
            self.buffer_overflows += 1
            self._restart()
            return GAP
        self._buffer.append(raw if raw is not None else PyBytes_FromStringAndSize(p, n))
        if self._first_U < 0:
            self._first_U = U
        return BUFFERED

    cdef void _restart(self):
        self.resyncs += 1
        self.needs_snapshot = True
        self._buffer = []
        self._first_U = -1

    def apply_snapshot(self, raw):
        """Seed the book from a REST snapshot and replay the buffer.

        Returns APPLIED (book live), SNAPSHOT_TOO_OLD (the snapshot predates the first buffered event:
        fetch again; nothing changed) or GAP (the buffered events do not continue the snapshot).
        """
        cdef OrderBook book = self.book
        cdef Parsed r
        cdef ScanError e
        cdef int outcome
        if not isinstance(raw, bytes):
            raw = bytes(raw)
        # read lastUpdateId without touching the book
        if book._parse(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), K_SNAPSHOT, &r, &e) < 0:
            book._raise(&e, PyBytes_GET_SIZE(raw))
        if self._first_U >= 0:
            if (book.futures and r.lid < self._first_U) or (not book.futures and r.lid + 1 < self._first_U):
                return SNAPSHOT_TOO_OLD
        book._replace_from_scratch(r.lid)
        buffered = self._buffer
        self._buffer = []
        self._first_U = -1
        self.needs_snapshot = False
        for frame in buffered:
            outcome = book.apply_depth_ptr(PyBytes_AS_STRING(frame), PyBytes_GET_SIZE(frame))
            if outcome == GAP:
                self._restart()
                return GAP
        return APPLIED
