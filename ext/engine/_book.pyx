# cython: language_level=3
"""Compiled L2 order book for Binance depth streams (and, with per-market decimals, Lighter).

Storage: per side, two contiguous int64 arrays (price key, quantity), kept ascending with the best level
at the END (bids store +price, asks store -price), so the changes that cluster near the touch move few
bytes. Prices and quantities are exact scaled integers (value * 10**decimals); floats appear only in the
read API.

Every apply is all-or-nothing: a frame is parsed and validated completely into scratch arrays first, and
capacity is reserved, before a single level changes. A malformed frame raises FrameError and a gap returns
GAP; in both cases the book is exactly as before the call.

The rules a caller can rely on:

- Duplicate prices: a price listed more than once in one frame (snapshot, diff, partial or Lighter) takes
  its LAST quantity, as if the levels were applied in the order listed: ``[p,"5"],[p,"0"]`` leaves no
  level at p in a snapshot and in a diff alike.
- Level order: a side's levels may come in any order at the same cost class. A snapshot is sorted first
  (one pass when it is already best-first or worst-first, else a stable merge sort, O(n log n)); a diff
  with more than SMALL_DIFF levels on a side, or whose changes reach deep enough that level by level would
  move more than LINEAR_BUDGET levels, is sorted and merged into the side in one pass
  (O(k log k + levels above the lowest change)); the usual diff (a few dozen changes near the touch)
  applies level by level, each a short scan from the top.
- Level cap: after every frame a side holds at most ``max_levels`` levels; beyond that the levels
  farthest from the top (lowest bids, highest asks) are dropped. The best dropped price becomes that
  side's boundary: until the next snapshot (or ``clear``) updates at or beyond it are ignored, so the book
  stays the venue's exact book for every price better than the boundary rather than holding levels it
  can no longer know are complete. Trimmed levels and ignored non-zero updates both count in
  ``levels_dropped``; ``trimmed_at_scaled()`` gives the boundaries.
- Frame size: a frame longer than ``max_frame_bytes`` is refused before a byte of it is read
  (FrameError, counted in ``oversized`` and ``rejected``, book untouched).
- Strict JSON: the whole frame must be RFC 8259 JSON, the values the parser skips included (literals
  exactly, numbers, strings with valid escapes and UTF-8, balanced containers at most 64 deep; see
  ext/engine/_scan.pxd).
- Update ids are integers 0..2^63-1 (a larger one is a FrameError). The continuity checks compare them
  without arithmetic that could overflow; a book whose last id is 2^63-1 answers every later diff STALE.
- Misuse: a book or sync made with ``__new__`` (``__init__`` never ran) refuses every method with
  RuntimeError, and ``__init__`` runs once (a second run would change the decimals without rescaling the
  stored integers).

Defaults: DEFAULT_MAX_LEVELS (10000) is twice the deepest snapshot any venue we connect to serves
(Binance spot ``/api/v3/depth`` limit=5000; USD-M futures stop at 1000; the captured Lighter book in
tests/data/lighter/captured has 40 a side), so a full snapshot plus the deeper levels the diff stream
adds later fit before anything is dropped. DEFAULT_MAX_FRAME_BYTES (4 MiB) is ten times the largest real
frame, that same 5000-level snapshot (30-40 bytes a level, ~0.4 MB), and small enough that the costliest
frame it admits stays a bounded stall of the event loop (benchmarks/bench_book_worst.py).
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
from libc.string cimport memcpy, memmove

from engine._scan cimport (ScanError, ERR_NONE, ERR_TRUNCATED, ERR_EXPECTED_OBJECT, ERR_EXPECTED_ARRAY,
                           ERR_EXPECTED_STRING, ERR_EXPECTED_INT, ERR_EXPECTED_COLON, ERR_EXPECTED_COMMA,
                           ERR_BAD_NUMBER, ERR_NEGATIVE, ERR_OVERFLOW, ERR_TOO_PRECISE, ERR_BAD_LEVEL,
                           ERR_MISSING_FIELD, ERR_WRONG_EVENT, ERR_WRONG_SYMBOL, ERR_TOO_DEEP, ERR_BAD_VALUE,
                           ERR_TRAILING, ERR_TOO_MANY_LEVELS, ERR_INT_OVERFLOW, ERR_BAD_STRING, ERR_TOO_LARGE,
                           POW10, fail, skip_ws, expect, string_span, parse_uint, parse_decimal, skip_value,
                           key_is)

from engine.errors import FrameError

cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    #include <time.h>
    #include <stdint.h>
    static inline long long engine_book_mono_ns(void) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    /* Debug builds count every level written into a book's or a frame's arrays (shifts, sorts, merges,
     * copies), so a test can bound the work per frame without timing it (tests/ext/test_book_limits.py).
     * Release builds (-DNDEBUG) compile the count away. */
    static unsigned long long engine_book_moves = 0;
    #ifdef NDEBUG
    #define ENGINE_COUNT_MOVES(k) ((void)0)
    #define ENGINE_COUNTS_MOVES 0
    #else
    #define ENGINE_COUNT_MOVES(k) ((void)(engine_book_moves += (unsigned long long)(k)))
    #define ENGINE_COUNTS_MOVES 1
    #endif
    """
    const char* ENGINE_BUILD_MODE
    long long mono_ns "engine_book_mono_ns"() noexcept nogil
    unsigned long long engine_book_moves
    void count_moves "ENGINE_COUNT_MOVES"(Py_ssize_t k) noexcept nogil
    const bint COUNTS_MOVES "ENGINE_COUNTS_MOVES"
    const int64_t NO_FLOOR "INT64_MIN"   # below every key: keys are +price or -price, |price| <= INT64_MAX

BUILD_MODE = ENGINE_BUILD_MODE.decode()


def _debug_level_moves():
    """Levels written into book and frame arrays since the module loaded (debug builds); None in release."""
    return engine_book_moves if COUNTS_MOVES else None

# what _parse is asked to read
cdef enum Kind:
    K_DEPTH = 1      # depthUpdate diff
    K_SNAPSHOT = 2   # REST /depth body
    K_PARTIAL = 3    # @depth5/10/20: spot {lastUpdateId,bids,asks} or futures depthUpdate-shaped
    K_LIGHTER = 4    # Lighter order_book channel: subscribed (full book) or update chained by begin_nonce

cdef enum:
    MAX_LEVELS_PER_FRAME = 200000
    # a side's diff levels up to this many may apply one by one (a short scan from the top each, moving
    # only the levels between the change and the best: cheapest for the usual few dozen changes near the
    # touch); more are sorted and merged
    SMALL_DIFF = 64
    # ... and only while (changes) x (levels above the lowest change) stays within this many moves: past
    # it, one merge pass (about twice the levels above the lowest change) is cheaper
    LINEAR_BUDGET = 16384
    SORT_RUN = 32    # the merge sort insertion-sorts runs this long first

DEFAULT_MAX_LEVELS = 10000
DEFAULT_MAX_FRAME_BYTES = 4 << 20

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
    ERR_INT_OVERFLOW: "integer above 2^63-1 (update ids must fit a signed 64-bit integer)",
    ERR_BAD_STRING: "malformed JSON string (bad escape, control character or invalid UTF-8)",
}

DepthOutcome_APPLIED = APPLIED
DepthOutcome_STALE = STALE
DepthOutcome_GAP = GAP
DepthOutcome_BUFFERED = BUFFERED
DepthOutcome_SNAPSHOT_TOO_OLD = SNAPSHOT_TOO_OLD


cdef int _uninitialised(object obj) except -1:
    raise RuntimeError(f"{type(obj).__name__} is not initialised (made with __new__, or __init__ did not "
                       f"run): construct it as {type(obj).__name__}(...)")


cdef bytes _snapshot_bytes(OrderBook book, object raw):
    """A snapshot body as bytes: bytes as they are, any other buffer (bytearray, memoryview) copied once
    it is known to fit max_frame_bytes. Anything else is a TypeError: ``bytes(n)`` of an int would make n
    zero bytes (a terabyte for 10**12) before the size limit could refuse it."""
    cdef ScanError e
    if not book._ready:
        _uninitialised(book)
    if type(raw) is bytes:
        return raw
    if raw is None or isinstance(raw, (int, str)):
        raise TypeError(f"a snapshot must be bytes or a bytes-like buffer, not {type(raw).__name__}")
    view = memoryview(raw)  # TypeError for an object without the buffer protocol
    if <Py_ssize_t>view.nbytes > book.max_frame_bytes:
        book.oversized += 1
        e.code = ERR_TOO_LARGE
        e.pos = 0
        e.field = NULL
        book._raise(&e, view.nbytes)
    return view.tobytes()


cdef inline void side_set(Side* s, int64_t key, int64_t qty) noexcept nogil:
    """Set (qty > 0) or remove (qty == 0) one level. Capacity was reserved by the caller."""
    # the arrays in locals: extensions build with -fno-strict-aliasing, so every store through s.key
    # would otherwise make the compiler reload s.key and s.qty
    cdef int64_t* ks = s.key
    cdef int64_t* qs = s.qty
    cdef Py_ssize_t lo = 0
    cdef Py_ssize_t n = s.n
    cdef Py_ssize_t hi = n
    cdef Py_ssize_t mid
    cdef Py_ssize_t j = n - 1
    cdef Py_ssize_t lim = n - 48 if n > 48 else 0
    # most changes land within a few dozen levels of the best, which is at the end: a short backward
    # scan (predictable branches) beats a binary search (a mispredicted branch per step) there
    while j >= lim and ks[j] > key:
        j -= 1
    if j >= lim:
        lo = j if ks[j] == key else j + 1
    else:
        hi = lim
        while lo < hi:
            mid = (lo + hi) >> 1
            if ks[mid] < key:
                lo = mid + 1
            else:
                hi = mid
    if lo < n and ks[lo] == key:
        if qty == 0:
            # close the gap; the tail is the few levels between here and the best (plain loops: for
            # these short overlapping moves they beat a libc memmove call)
            count_moves(n - 1 - lo)
            for j in range(lo, n - 1):
                ks[j] = ks[j + 1]
                qs[j] = qs[j + 1]
            s.n = n - 1
        else:
            qs[lo] = qty
    elif qty != 0:
        count_moves(n - lo + 1)
        j = n
        while j > lo:
            ks[j] = ks[j - 1]
            qs[j] = qs[j - 1]
            j -= 1
        ks[lo] = key
        qs[lo] = qty
        s.n = n + 1
    # removing a level that is not in the book is normal and silent


cdef inline void side_compact(Side* s) noexcept nogil:
    """Move the live levels back to the start of the allocation (undoes the offset of dropped levels)."""
    if s.off:
        count_moves(s.n)
        memmove(s.key - s.off, s.key, <size_t>s.n * sizeof(int64_t))
        memmove(s.qty - s.off, s.qty, <size_t>s.n * sizeof(int64_t))
        s.key -= s.off
        s.qty -= s.off
        s.off = 0


cdef int side_grow(Side* s, Py_ssize_t need) except -1:
    """Room for ``need`` levels from key[0]. Never changes the levels themselves, so it may run (and
    fail with MemoryError) before any mutation."""
    cdef Py_ssize_t target = need
    cdef Py_ssize_t cap
    cdef int64_t* k
    cdef int64_t* q
    if need <= s.cap - s.off:
        return 0
    if s.off:
        side_compact(s)
        # moving back pays off only with room to spare: else every later drop-and-insert at the cap
        # would move the whole side again
        target = need + (need >> 1)
        if target <= s.cap:
            return 0
    cap = s.cap if s.cap > 0 else 64
    while cap < target:
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


cdef inline int side_reserve(Side* s, Py_ssize_t need) except -1:
    """side_grow with its no-op case inline (the hot path almost always has the room)."""
    if need <= s.cap - s.off:
        return 0
    return side_grow(s, need)


cdef inline void side_drop_bottom(Side* s, Py_ssize_t d) noexcept nogil:
    """Drop the d farthest levels (O(1): the live start moves up); the best of them becomes the floor."""
    s.floor = s.key[d - 1]
    s.key += d
    s.qty += d
    s.off += d
    s.n -= d


cdef inline bint level_by_level(Side* s, Side* c) noexcept nogil:
    """Is applying c one level at a time the cheaper way? Each change moves at most the levels above it,
    so k changes cost at most k x (levels above the lowest change): true when that bound is within
    LINEAR_BUDGET (one compare against the level LINEAR_BUDGET / k from the top, no search)."""
    cdef int k = <int>c.n
    cdef Py_ssize_t b
    cdef Py_ssize_t j
    cdef int64_t lo
    if k > SMALL_DIFF:
        return False
    if k == 0:
        return True
    b = <int>LINEAR_BUDGET // k
    if s.n <= b:
        return True
    lo = c.key[0]
    for j in range(1, k):
        if c.key[j] < lo:
            lo = c.key[j]
    return lo >= s.key[s.n - b]


cdef inline uint64_t side_apply_small(Side* s, Side* c, Py_ssize_t maxl) noexcept nogil:
    """Apply c's levels one by one in the order listed (room for s.n + c.n reserved), skipping those at
    or beyond the floor, then drop the farthest levels past maxl; returns the levels so dropped or
    skipped (non-zero updates only)."""
    cdef int64_t* ck = c.key
    cdef int64_t* cq = c.qty
    cdef int64_t floor = s.floor
    cdef uint64_t dropped = 0
    cdef Py_ssize_t j
    cdef Py_ssize_t d
    for j in range(c.n):
        if ck[j] <= floor:  # not tracked: beyond what the cap dropped
            if cq[j]:
                dropped += 1
            continue
        side_set(s, ck[j], cq[j])
    if s.n > maxl:
        d = s.n - maxl
        side_drop_bottom(s, d)
        dropped += d
    return dropped


cdef inline void side_free(Side* s) noexcept:
    if s.key != NULL:
        PyMem_Free(s.key - s.off)
        PyMem_Free(s.qty - s.off)
    s.key = NULL
    s.qty = NULL
    s.n = 0
    s.cap = 0
    s.off = 0


cdef void sort_levels(Side* s, Side* t) noexcept nogil:
    """Sort s ascending by key, stably (equal keys keep the order the frame listed them in).

    One pass when s is already ascending or strictly descending (what venues send: best first is
    descending here); else insertion-sorted runs of SORT_RUN and bottom-up merges through t (capacity
    >= s.n): O(n log n), no allocation.
    """
    cdef Py_ssize_t n = s.n
    cdef Py_ssize_t j
    cdef Py_ssize_t m
    cdef Py_ssize_t lo
    cdef Py_ssize_t mid
    cdef Py_ssize_t hi
    cdef Py_ssize_t a
    cdef Py_ssize_t b
    cdef Py_ssize_t w
    cdef Py_ssize_t width
    cdef bint asc = True
    cdef bint desc = True
    cdef int64_t k
    cdef int64_t q
    cdef int64_t* sk = s.key
    cdef int64_t* sq = s.qty
    cdef int64_t* dk = t.key
    cdef int64_t* dq = t.qty
    cdef int64_t* xk
    cdef int64_t* xq
    j = 1
    while j < n and (asc or desc):
        if s.key[j] <= s.key[j - 1]:
            asc = False
        if s.key[j] >= s.key[j - 1]:
            desc = False
        j += 1
    if asc:
        return
    if desc:  # strictly descending: no equal keys, so reversing keeps the sort stable
        count_moves(n)
        a = 0
        b = n - 1
        while a < b:
            k = s.key[a]
            s.key[a] = s.key[b]
            s.key[b] = k
            q = s.qty[a]
            s.qty[a] = s.qty[b]
            s.qty[b] = q
            a += 1
            b -= 1
        return
    lo = 0
    while lo < n:
        hi = lo + SORT_RUN if lo + SORT_RUN < n else n
        for j in range(lo + 1, hi):
            k = sk[j]
            q = sq[j]
            m = j
            while m > lo and sk[m - 1] > k:
                sk[m] = sk[m - 1]
                sq[m] = sq[m - 1]
                m -= 1
            sk[m] = k
            sq[m] = q
            count_moves(j - m + 1)
        lo = hi
    width = SORT_RUN
    while width < n:
        count_moves(n)  # each pass writes every level once
        lo = 0
        while lo < n:
            mid = lo + width if lo + width < n else n
            hi = lo + 2 * width if lo + 2 * width < n else n
            a = lo
            b = mid
            w = lo
            while a < mid and b < hi:
                if sk[b] < sk[a]:  # strict: on equal keys the earlier (left) one goes first
                    dk[w] = sk[b]
                    dq[w] = sq[b]
                    b += 1
                else:
                    dk[w] = sk[a]
                    dq[w] = sq[a]
                    a += 1
                w += 1
            if a < mid:
                memcpy(dk + w, sk + a, <size_t>(mid - a) * sizeof(int64_t))
                memcpy(dq + w, sq + a, <size_t>(mid - a) * sizeof(int64_t))
            if b < hi:
                memcpy(dk + w, sk + b, <size_t>(hi - b) * sizeof(int64_t))
                memcpy(dq + w, sq + b, <size_t>(hi - b) * sizeof(int64_t))
            lo = hi
        xk = sk
        sk = dk
        dk = xk
        xq = sq
        sq = dq
        dq = xq
        width *= 2
    if sk != s.key:
        count_moves(n)
        memcpy(s.key, sk, <size_t>n * sizeof(int64_t))
        memcpy(s.qty, sq, <size_t>n * sizeof(int64_t))


cdef void dedupe_sorted(Side* s, bint drop_zero) noexcept nogil:
    """On sorted levels: keep the last of each run of equal keys (the frame's last word on that price),
    and with ``drop_zero`` leave out zero quantities (a snapshot lists no deletes)."""
    cdef Py_ssize_t r
    cdef Py_ssize_t w = 0
    cdef Py_ssize_t n = s.n
    count_moves(n)
    for r in range(n):
        if r + 1 < n and s.key[r + 1] == s.key[r]:
            continue
        if drop_zero and s.qty[r] == 0:
            continue
        s.key[w] = s.key[r]
        s.qty[w] = s.qty[r]
        w += 1
    s.n = w


cdef Py_ssize_t side_replace(Side* s, Side* c, Py_ssize_t keep) noexcept nogil:
    """s := the best ``keep`` levels of sorted, deduplicated c (room reserved); returns how many of c's
    levels were left out, the best of which becomes the floor."""
    cdef Py_ssize_t d = c.n - keep
    count_moves(keep)
    s.key -= s.off
    s.qty -= s.off
    s.off = 0
    memcpy(s.key, c.key + d, <size_t>keep * sizeof(int64_t))
    memcpy(s.qty, c.qty + d, <size_t>keep * sizeof(int64_t))
    s.n = keep
    s.floor = c.key[d - 1] if d else NO_FLOOR
    return d

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
        # everything a method could touch is valid from here on (the allocation is zeroed); __init__
        # sets _ready last, and every method refuses a book without it
        self._bids.floor = NO_FLOOR
        self._asks.floor = NO_FLOOR

    def __init__(self, str symbol, *, bint futures=False, int price_decimals=8, int qty_decimals=8,
                 Py_ssize_t max_levels=DEFAULT_MAX_LEVELS, Py_ssize_t max_frame_bytes=DEFAULT_MAX_FRAME_BYTES):
        if self._ready:
            raise RuntimeError(f"OrderBook {self.symbol!r} is already initialised: __init__ runs once (its "
                               f"levels are stored at the decimals it was built with); build a new OrderBook")
        if not symbol:
            raise ValueError("symbol must be a non-empty string")
        if not (0 <= price_decimals <= 18 and 0 <= qty_decimals <= 18):
            raise ValueError("price_decimals and qty_decimals must be within 0..18")
        if max_levels < 1:
            raise ValueError("max_levels must be >= 1")
        if max_frame_bytes < 1:
            raise ValueError("max_frame_bytes must be >= 1")
        sym = symbol.upper()
        raw = sym.encode("ascii")
        side_grow(&self._bids, 256)
        side_grow(&self._asks, 256)
        side_grow(&self._sb, 64)
        side_grow(&self._sa, 64)
        side_grow(&self._tmp, 64)
        self.symbol = sym
        self._sym = raw
        self.futures = futures
        self.price_decimals = price_decimals
        self.qty_decimals = qty_decimals
        self._pscale = <double>POW10[price_decimals]
        self._qscale = <double>POW10[qty_decimals]
        self.max_levels = max_levels
        self.max_frame_bytes = max_frame_bytes
        self._ready = True

    def __dealloc__(self):
        side_free(&self._bids)
        side_free(&self._asks)
        side_free(&self._sb)
        side_free(&self._sa)
        side_free(&self._tmp)

    def __repr__(self):
        if not self._ready:
            return "<OrderBook: uninitialised>"
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
        if not self._ready:
            _uninitialised(self)
        if n > self.max_frame_bytes:  # refused before a byte is read
            self.oversized += 1
            return fail(e, ERR_TOO_LARGE, 0)
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
        if e.code == ERR_TOO_LARGE:
            raise FrameError(f"{self.symbol}: frame of {n} bytes exceeds max_frame_bytes={self.max_frame_bytes} "
                             f"(refused unparsed)")
        msg = _MESSAGES.get(e.code, "malformed frame")
        if e.field != NULL:
            msg = f"{msg} {e.field.decode()!r}"
        raise FrameError(f"{self.symbol}: {msg} at byte {e.pos} of {n}")

    # ---------------------------------------------------------------- mutation
    cdef Py_ssize_t _prepare_changes(self, Side* c, Side* s, uint64_t* ignored) except -2:
        """Ready one side's diff levels ``c`` for side ``s``, touching scratch only.

        Returns -1 when c is cheaper to apply level by level (see level_by_level), in the order listed.
        Else c is sorted stably and deduplicated (the last listed quantity of a price wins, as it would
        level by level) and the return is the index of its first level above the side's floor; the
        non-zero updates below that are added to ``ignored``.
        """
        cdef Py_ssize_t j
        cdef Py_ssize_t c0 = 0
        if level_by_level(s, c):
            return -1
        side_grow(&self._tmp, c.n)
        sort_levels(c, &self._tmp)
        j = 0
        while j < c.n and c.key[j] <= s.floor:
            if c.qty[j]:
                ignored[0] += 1
            j += 1
        dedupe_sorted(c, False)
        while c0 < c.n and c.key[c0] <= s.floor:
            c0 += 1
        return c0

    cdef void _apply_side(self, Side* s, Side* c, Py_ssize_t c0) noexcept:
        """Apply prepared changes (see _prepare_changes) to one side, then hold it to max_levels.

        Capacity was reserved by the caller: s has room for s.n + c.n levels (level by level) or
        s.n + min(c.n, max_levels) (merge), and _tmp for min(s.n + c.n, max_levels).

        The merge walks down from the best level, writing the merged side into _tmp from its end, and
        stops writing once max_levels levels are out: the rest is dropped (and counted), the first of it
        becoming the floor. The levels below the lowest change never move unless they are dropped.
        """
        cdef Py_ssize_t j
        cdef Py_ssize_t d
        cdef Py_ssize_t i = s.n - 1
        cdef Py_ssize_t maxl = self.max_levels
        cdef Py_ssize_t m
        cdef Py_ssize_t w
        cdef Py_ssize_t out
        cdef Py_ssize_t keep
        cdef int64_t k
        cdef int64_t q
        cdef int64_t floor = s.floor
        cdef bint cut = False
        cdef uint64_t dropped = 0
        cdef int64_t* tk = self._tmp.key
        cdef int64_t* tq = self._tmp.qty
        if c0 < 0:
            self.levels_dropped += side_apply_small(s, c, maxl)
            return
        m = s.n + (c.n - c0)
        if m > maxl:
            m = maxl
        w = m
        j = c.n - 1
        while j >= c0:
            if i >= 0 and s.key[i] > c.key[j]:
                k = s.key[i]
                q = s.qty[i]
                i -= 1
            else:
                if i >= 0 and s.key[i] == c.key[j]:
                    i -= 1
                k = c.key[j]
                q = c.qty[j]
                j -= 1
                if q == 0:
                    continue
            if w > 0:
                w -= 1
                tk[w] = k
                tq[w] = q
            else:
                if not cut:
                    floor = k
                    cut = True
                dropped += 1
        # every change is in; s.key[0..i] are the untouched levels below all of them
        out = m - w
        count_moves((c.n - c0) + (s.n - 1 - i))  # one step of the walk each
        if w == 0:
            if i >= 0:
                if not cut:
                    floor = s.key[i]
                    cut = True
                dropped += i + 1
            s.key -= s.off
            s.qty -= s.off
            s.off = 0
            count_moves(m)
            memcpy(s.key, tk, <size_t>m * sizeof(int64_t))
            memcpy(s.qty, tq, <size_t>m * sizeof(int64_t))
            s.n = m
            if cut:
                s.floor = floor
        else:
            keep = maxl - out
            count_moves(out)
            memcpy(s.key + i + 1, tk + w, <size_t>out * sizeof(int64_t))
            memcpy(s.qty + i + 1, tq + w, <size_t>out * sizeof(int64_t))
            s.n = i + 1 + out
            if i + 1 > keep:
                d = i + 1 - keep
                side_drop_bottom(s, d)
                dropped += d
        self.levels_dropped += dropped

    cdef int _apply_parsed_diff(self, Parsed* r) except -1:
        cdef int64_t bk = self._bids.key[self._bids.n - 1] if self._bids.n else 0
        cdef int64_t bq = self._bids.qty[self._bids.n - 1] if self._bids.n else 0
        cdef int64_t ak = self._asks.key[self._asks.n - 1] if self._asks.n else 0
        cdef int64_t aq = self._asks.qty[self._asks.n - 1] if self._asks.n else 0
        cdef uint64_t ignored = 0
        cdef Py_ssize_t maxl = self.max_levels
        cdef Py_ssize_t cb
        cdef Py_ssize_t ca
        cdef Py_ssize_t mb
        cdef Py_ssize_t ma
        if level_by_level(&self._bids, &self._sb) and level_by_level(&self._asks, &self._sa):
            # the usual frame, level by level, inlined: room first so a failed allocation changes nothing
            side_reserve(&self._bids, self._bids.n + self._sb.n)
            side_reserve(&self._asks, self._asks.n + self._sa.n)
            ignored = side_apply_small(&self._bids, &self._sb, maxl) + side_apply_small(&self._asks, &self._sa, maxl)
        else:
            cb = self._prepare_changes(&self._sb, &self._bids, &ignored)
            ca = self._prepare_changes(&self._sa, &self._asks, &ignored)
            mb = self._bids.n + self._sb.n
            ma = self._asks.n + self._sa.n
            # reserve everything first so a failed allocation leaves the book as it was
            side_grow(&self._bids, mb if cb < 0 else self._bids.n + min(self._sb.n, maxl))
            side_grow(&self._asks, ma if ca < 0 else self._asks.n + min(self._sa.n, maxl))
            if cb >= 0 or ca >= 0:
                side_grow(&self._tmp, min(max(mb if cb >= 0 else 0, ma if ca >= 0 else 0), maxl))
            self._apply_side(&self._bids, &self._sb, cb)
            self._apply_side(&self._asks, &self._sa, ca)
        self.levels_dropped += ignored
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
        cdef Py_ssize_t kb
        cdef Py_ssize_t ka
        # sort the scratch levels (any order costs O(n log n); best-first, the usual, one pass), keep the
        # last quantity of each price, leave out zeros; the book is not touched until all is reserved
        side_grow(&self._tmp, max(self._sb.n, self._sa.n))
        sort_levels(&self._sb, &self._tmp)
        dedupe_sorted(&self._sb, True)
        sort_levels(&self._sa, &self._tmp)
        dedupe_sorted(&self._sa, True)
        kb = min(self._sb.n, self.max_levels)
        ka = min(self._sa.n, self.max_levels)
        side_grow(&self._bids, kb)
        side_grow(&self._asks, ka)
        self.levels_dropped += side_replace(&self._bids, &self._sb, kb) + side_replace(&self._asks, &self._sa, ka)
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
            # afterwards U == previous u + 1. Both reduce to: U must not skip past last+1, written
            # U - 1 > last so that nothing overflows (U >= 0, last <= 2^63-1)
            if r.U - 1 > self.last_update_id:
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
        raw = _snapshot_bytes(self, raw)
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
        if not self._ready:
            _uninitialised(self)
        self._bids.n = 0
        self._asks.n = 0
        self._bids.floor = NO_FLOOR
        self._asks.floor = NO_FLOOR
        self._ver_b += 1
        self._ver_a += 1
        self.synced = False
        self.last_update_id = 0

    def bbo(self):
        """(best bid price, its qty, best ask price, its qty) as floats; NaN for an empty side."""
        if not self._ready:
            _uninitialised(self)
        cdef double nan = float("nan")
        cdef Py_ssize_t nb = self._bids.n
        cdef Py_ssize_t na = self._asks.n
        return (self._bids.key[nb - 1] / self._pscale if nb else nan,
                self._bids.qty[nb - 1] / self._qscale if nb else nan,
                -self._asks.key[na - 1] / self._pscale if na else nan,
                self._asks.qty[na - 1] / self._qscale if na else nan)

    @property
    def best_bid(self):
        if not self._ready:
            _uninitialised(self)
        return self._bids.key[self._bids.n - 1] / self._pscale if self._bids.n else float("nan")

    @property
    def best_ask(self):
        if not self._ready:
            _uninitialised(self)
        return -self._asks.key[self._asks.n - 1] / self._pscale if self._asks.n else float("nan")

    @property
    def mid(self):
        if not self._ready:
            _uninitialised(self)
        return (self.best_bid + self.best_ask) / 2

    @property
    def bid_count(self):
        if not self._ready:
            _uninitialised(self)
        return self._bids.n

    @property
    def ask_count(self):
        if not self._ready:
            _uninitialised(self)
        return self._asks.n

    @property
    def crossed(self):
        """True when best bid >= best ask: a desync signal, reported, never repaired."""
        if not self._ready:
            _uninitialised(self)
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
        if not self._ready:
            _uninitialised(self)
        if n <= 0:
            return [], []
        return (self._top_side(&self._bids, 1, n, &self._cache_b, self._ver_b, False),
                self._top_side(&self._asks, -1, n, &self._cache_a, self._ver_a, True))

    def top_exact(self, Py_ssize_t n=20):
        """(bids, asks): lists of (price, qty) exact decimal strings, best first."""
        if not self._ready:
            _uninitialised(self)
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
        if not self._ready:
            _uninitialised(self)
        cdef Py_ssize_t last = self._bids.n - 1
        cdef Py_ssize_t m = self._bids.n if n < 0 else min(n, self._bids.n)
        return [(self._bids.key[last - j], self._bids.qty[last - j]) for j in range(m)]

    def asks_scaled(self, Py_ssize_t n=-1):
        if not self._ready:
            _uninitialised(self)
        cdef Py_ssize_t last = self._asks.n - 1
        cdef Py_ssize_t m = self._asks.n if n < 0 else min(n, self._asks.n)
        return [(-self._asks.key[last - j], self._asks.qty[last - j]) for j in range(m)]

    def counters(self):
        if not self._ready:
            _uninitialised(self)
        return {"applied": self.applied, "stale": self.stale, "gaps": self.gaps,
                "unsynced_drops": self.unsynced_drops, "crossed": self.crossed_count, "rejected": self.rejected,
                "levels_dropped": self.levels_dropped, "oversized": self.oversized}

    def trimmed_at_scaled(self):
        """(bid, ask): per side, the best price the level cap dropped since the last snapshot, as a scaled
        integer, or None when nothing was dropped. The book tracks only prices better than it."""
        if not self._ready:
            _uninitialised(self)
        return (None if self._bids.floor == NO_FLOOR else self._bids.floor,
                None if self._asks.floor == NO_FLOOR else -self._asks.floor)


cdef class BookSync:
    """The documented pre-snapshot buffering around one OrderBook, so a connector only feeds frames.

    Lifecycle: frames are buffered (BUFFERED) until ``apply_snapshot`` seeds the book and replays the
    buffer; afterwards frames apply live (APPLIED/STALE). A GAP (from a frame or from the replay) marks the
    book unsynced and the sync goes back to buffering with ``needs_snapshot`` True: the caller fetches a
    new snapshot for this symbol only. A full buffer (``max_buffer`` frames or ``max_buffer_bytes`` bytes)
    is counted and treated as a gap, never silently cut.
    """

    def __cinit__(self):
        # valid before __init__ runs; the book stays None until then, and every method checks _ready
        self._buffer = []
        self._first_U = -1
        self.needs_snapshot = True

    def __init__(self, OrderBook book not None, *, Py_ssize_t max_buffer=10000,
                 Py_ssize_t max_buffer_bytes=64 << 20):
        if self._ready:
            raise RuntimeError("BookSync is already initialised: __init__ runs once; build a new BookSync")
        if not book._ready:
            _uninitialised(book)
        if max_buffer < 1:
            raise ValueError("max_buffer must be >= 1")
        if max_buffer_bytes < 1:
            raise ValueError("max_buffer_bytes must be >= 1")
        self.book = book
        self.max_buffer = max_buffer
        self.max_buffer_bytes = max_buffer_bytes
        self._ready = True

    def __repr__(self):
        if not self._ready:
            return "<BookSync: uninitialised>"
        return (f"BookSync({self.book.symbol!r}, needs_snapshot={bool(self.needs_snapshot)}, "
                f"buffered={len(self._buffer)}, resyncs={self.resyncs})")

    @property
    def buffered(self):
        if not self._ready:
            _uninitialised(self)
        return len(self._buffer)

    @property
    def buffered_bytes(self):
        if not self._ready:
            _uninitialised(self)
        return self._buffered_bytes

    @property
    def first_buffered_update_id(self):
        if not self._ready:
            _uninitialised(self)
        return None if self._first_U < 0 else self._first_U

    def reset(self):
        """A new connection: clear the book and the buffer, wait for a snapshot."""
        if not self._ready:
            _uninitialised(self)
        self.book.clear()
        self._clear_buffer()
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
        if not self._ready:
            _uninitialised(self)
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
        if len(self._buffer) >= self.max_buffer or self._buffered_bytes > self.max_buffer_bytes - n:
            self.buffer_overflows += 1
            self._restart()
            return GAP
        self._buffer.append(raw if raw is not None else PyBytes_FromStringAndSize(p, n))
        self._buffered_bytes += n
        if self._first_U < 0:
            self._first_U = U
        return BUFFERED

    cdef void _clear_buffer(self):
        self._buffer = []
        self._buffered_bytes = 0
        self._first_U = -1

    cdef void _restart(self):
        self.resyncs += 1
        self.needs_snapshot = True
        self._clear_buffer()

    def apply_snapshot(self, raw):
        """Seed the book from a REST snapshot and replay the buffer.

        Returns APPLIED (book live), SNAPSHOT_TOO_OLD (the snapshot predates the first buffered event:
        fetch again; nothing changed) or GAP (the buffered events do not continue the snapshot).
        """
        cdef OrderBook book
        cdef Parsed r
        cdef ScanError e
        cdef int outcome
        if not self._ready:
            _uninitialised(self)
        book = self.book
        raw = _snapshot_bytes(book, raw)
        # read lastUpdateId without touching the book
        if book._parse(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), K_SNAPSHOT, &r, &e) < 0:
            book._raise(&e, PyBytes_GET_SIZE(raw))
        # spot needs U <= lastUpdateId + 1 of the first buffered event, futures U <= lastUpdateId; written
        # without lid + 1, which overflows at lid = 2^63-1 (first_U >= 0, so first_U - 1 cannot)
        if self._first_U >= 0:
            if (book.futures and r.lid < self._first_U) or (not book.futures and r.lid < self._first_U - 1):
                return SNAPSHOT_TOO_OLD
        book._replace_from_scratch(r.lid)
        buffered = self._buffer
        self._clear_buffer()
        self.needs_snapshot = False
        for frame in buffered:
            outcome = book.apply_depth_ptr(PyBytes_AS_STRING(frame), PyBytes_GET_SIZE(frame))
            if outcome == GAP:
                self._restart()
                return GAP
        return APPLIED
