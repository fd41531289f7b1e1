# cython: language_level=3
# Public C-level API of the compiled order book (cimport-able: the stream listener in engine._ws feeds
# frames straight from the socket buffer through ``BookSync.feed_ptr``).

from libc.stdint cimport int64_t, uint64_t
from engine._scan cimport ScanError

cdef struct Side:
    int64_t* key      # the live levels key[0..n), ascending; bids store +price, asks -price: best LAST
    int64_t* qty
    Py_ssize_t n
    Py_ssize_t cap    # slots in the allocation, which starts ``off`` slots before key[0]
    Py_ssize_t off    # the level cap drops the farthest levels by advancing key/qty (O(1)); side_grow
                      # moves the live levels back to the allocation's start when room runs out.
                      # Always 0 for the per-frame scratch sides.
    int64_t floor     # keys <= floor are not tracked: the best level the cap dropped since the last
                      # snapshot (NO_FLOOR: nothing dropped)

cdef struct Parsed:
    int64_t U
    int64_t u
    int64_t pu
    int64_t lid
    int64_t E
    bint has_e
    bint has_s
    bint has_U
    bint has_u
    bint has_pu
    bint has_lid
    bint has_b
    bint has_a
    int ltype       # Lighter frames: 1 = subscribed/order_book (a full book), 2 = update/order_book

cdef enum:
    TOP_CACHE = 64          # top(n) reuses the tuples of unchanged levels for n <= 64

cdef struct TopCache:
    int64_t key[TOP_CACHE]
    int64_t qty[TOP_CACHE]
    Py_ssize_t n
    uint64_t version

cdef enum Outcome:
    APPLIED = 1
    STALE = 2
    GAP = 3
    BUFFERED = 4
    SNAPSHOT_TOO_OLD = 5


cdef class OrderBook:
    cdef readonly str symbol
    cdef bytes _sym
    cdef readonly bint futures
    cdef readonly int price_decimals
    cdef readonly int qty_decimals
    cdef double _pscale
    cdef double _qscale
    cdef Side _bids
    cdef Side _asks
    cdef Side _sb          # scratch: one frame's bid levels (key = price), parsed before any mutation
    cdef Side _sa          # scratch: one frame's ask levels
    cdef Side _tmp         # scratch: the sort's second buffer and the large-diff merge's output
    cdef readonly Py_ssize_t max_levels       # per side; the farthest levels beyond it are dropped
    cdef readonly Py_ssize_t max_frame_bytes  # a larger frame is refused before it is parsed
    cdef bint _ready       # __init__ completed (a book made with __new__ refuses every use)
    cdef readonly int64_t last_update_id
    cdef readonly bint synced
    cdef bint _first       # next diff is the first after a snapshot (futures straddle rule)
    cdef readonly uint64_t applied
    cdef readonly uint64_t stale
    cdef readonly uint64_t gaps
    cdef readonly uint64_t unsynced_drops
    cdef readonly uint64_t crossed_count
    cdef readonly uint64_t rejected
    cdef readonly uint64_t levels_dropped  # levels the cap trimmed off, and non-zero updates beyond it
    cdef readonly uint64_t oversized       # frames refused for exceeding max_frame_bytes (also in rejected)
    cdef readonly bint bbo_changed        # did the last applied frame change the best bid/ask (price or size)?
    cdef readonly long long last_apply_ns  # CLOCK_MONOTONIC ns of the last applied frame or snapshot
    cdef uint64_t _ver_b     # bumped on every change of a side (top() cache validity)
    cdef uint64_t _ver_a
    cdef TopCache _cache_b
    cdef TopCache _cache_a
    cdef list _tuples_b
    cdef list _tuples_a

    cdef Py_ssize_t _parse_levels(self, const char* p, Py_ssize_t i, Py_ssize_t n, Side* out, bint negate,
                                  ScanError* e) except -2
    cdef Py_ssize_t _parse_object(self, const char* p, Py_ssize_t i, Py_ssize_t n, int depth, Parsed* r,
                                  ScanError* e) except -2
    cdef Py_ssize_t _parse(self, const char* p, Py_ssize_t n, int kind, Parsed* r, ScanError* e) except -2
    cdef Py_ssize_t _parse_obj_levels(self, const char* p, Py_ssize_t i, Py_ssize_t n, Side* out, bint negate,
                                      ScanError* e) except -2
    cdef Py_ssize_t _parse_lighter(self, const char* p, Py_ssize_t i, Py_ssize_t n, int depth, Parsed* r,
                                   ScanError* e) except -2
    cdef int apply_lighter_ptr(self, const char* p, Py_ssize_t n) except -1
    cdef int _raise(self, ScanError* e, Py_ssize_t n) except -1
    cdef int _check(self, Parsed* r, int kind, ScanError* e) noexcept
    cdef int apply_depth_ptr(self, const char* p, Py_ssize_t n) except -1
    cdef int _apply_parsed_diff(self, Parsed* r) except -1
    cdef Py_ssize_t _prepare_changes(self, Side* c, Side* s, uint64_t* ignored) except -2
    cdef void _apply_side(self, Side* s, Side* c, Py_ssize_t c0) noexcept
    cdef int _gap(self)
    cdef list _top_side(self, Side* s, int sign, Py_ssize_t n, TopCache* c, uint64_t ver, bint is_ask)
    cdef int _replace_from_scratch(self, int64_t update_id) except -1
    cdef int validate_depth_ptr(self, const char* p, Py_ssize_t n, int64_t* U, int64_t* u) except -1


cdef class BookSync:
    cdef readonly OrderBook book
    cdef list _buffer
    cdef readonly Py_ssize_t max_buffer
    cdef readonly Py_ssize_t max_buffer_bytes
    cdef Py_ssize_t _buffered_bytes
    cdef bint _ready
    cdef readonly bint needs_snapshot
    cdef int64_t _first_U
    cdef readonly uint64_t resyncs
    cdef readonly uint64_t buffer_overflows
    cdef readonly uint64_t frame_errors

    cdef int feed_ptr(self, const char* p, Py_ssize_t n) except -1
    cdef int _feed(self, const char* p, Py_ssize_t n, object raw) except -1
    cdef void _clear_buffer(self)
    cdef void _restart(self)
