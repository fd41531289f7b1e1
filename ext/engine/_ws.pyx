# cython: language_level=3
"""Compiled picows listener for Binance combined streams: frame bytes -> book, with no Python object per frame.

A combined-stream frame starts ``{"stream":"<name>","data":{...}}``. The listener reads the name in place,
finds its route by comparing bytes against the registered names (a short C-level scan; a connection
carries at most a few hundred streams), and:
- for a depth stream, calls the compiled ``BookSync.feed_ptr`` on the frame's own buffer (no copy, no
  Python object), then calls the owner's ``on_book(key, outcome)`` only when something happened that
  Python must see (the book changed and someone listens, a gap, a sync step);
- for any other registered stream (aggTrade, ...), hands ``bytes`` of the frame to ``on_stream(key, raw)``;
- for frames without a ``stream`` key (SUBSCRIBE acks, errors, serverShutdown), calls ``on_control(raw)``.
It also answers CLOSE frames (picows leaves that to the listener), keeps message counters and a latency
histogram of the compiled path (frame in -> book applied), and never raises into picows: a Python
exception in a callback is counted and logged by the owner, not allowed to kill the socket.
"""
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from libc.stdlib cimport free, malloc
from libc.string cimport memchr, memcmp, memcpy
from libc.stdint cimport int64_t, uint64_t

from picows.picows cimport WSListener, WSTransport, WSFrame, WSMsgType, WSCloseCode
from engine._book cimport BookSync, OrderBook
from engine._metrics cimport LatencyHistogram

cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    #include <time.h>
    static inline long long engine_mono_ns(void) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    /* b - a for two pointers into one frame, as plain C: with overflowcheck on (the debug build) Cython
       turns a pointer difference into a call taking integers, which gcc 14 refuses (-Wint-conversion) */
    static inline Py_ssize_t engine_span(const char* a, const char* b) { return (Py_ssize_t)(b - a); }
    """
    const char* ENGINE_BUILD_MODE
    long long engine_mono_ns() nogil
    Py_ssize_t engine_span(const char* a, const char* b) noexcept nogil

BUILD_MODE = ENGINE_BUILD_MODE.decode()

BINANCE_PREFIX = b'{"stream":"'   # Binance combined streams: {"stream":"<name>","data":{...}}
LIGHTER_PREFIX = b'{"channel":"'  # Lighter: {"channel":"order_book:36",...}

cdef enum RouteKind:
    ROUTE_BOOK = 1       # Binance depth diffs -> BookSync.feed_ptr
    ROUTE_RAW = 2        # any other stream -> owner.on_stream(key, bytes)
    ROUTE_LIGHTER = 3    # Lighter order_book frames -> OrderBook.apply_lighter_ptr


cdef class _Route:
    cdef bytes name
    cdef int kind
    cdef BookSync sync
    cdef OrderBook book
    cdef object key
    cdef bint notify_applied


cdef class StreamListener(WSListener):
    """One per picows connection; see the module docstring."""

    cdef object owner
    cdef list routes
    cdef readonly uint64_t frames
    cdef readonly uint64_t book_frames
    cdef readonly uint64_t unrouted
    cdef readonly uint64_t callback_errors
    cdef readonly LatencyHistogram latency
    cdef WSTransport transport
    cdef bytes _prefix
    cdef public object recorder  # None, or a callable taking every data frame's bytes (engine record)
    cdef bint _ready

    def __cinit__(self, *args, **kwargs):
        # every field the frame path reads is set here, so even a listener made with __new__ (no
        # __init__) holds no None where the compiled code expects an object; _ready makes it refuse use
        self.routes = []
        self.latency = LatencyHistogram()
        self._prefix = BINANCE_PREFIX

    def __init__(self, owner, LatencyHistogram latency=None, bytes prefix not None=BINANCE_PREFIX):
        """``prefix``: how a routed frame starts, up to the opening quote of its stream/channel name.

        A listener belongs to one connection: ``__init__`` again (which would drop its routes) raises
        RuntimeError, as does any use of a listener made with ``__new__``."""
        if self._ready:
            raise RuntimeError("StreamListener is already initialised: make a new one")
        if not prefix:
            raise ValueError("prefix must not be empty")
        self.owner = owner
        if latency is not None:
            self.latency = latency
        self._prefix = prefix
        self._ready = True

    cdef inline int _check_ready(self) except -1:
        if not self._ready:
            raise RuntimeError("StreamListener was not initialised (made with __new__?)")
        return 0

    cdef _Route _route(self, bytes name, int kind, key):
        self._check_ready()
        if not name:
            raise ValueError("a stream name must not be empty")
        self.unregister(name)
        cdef _Route r = _Route()
        r.name = name
        r.kind = kind
        r.key = key
        self.routes.append(r)
        return r

    def register_book(self, bytes name not None, BookSync sync not None, key, bint notify_applied=True):
        """Frames of stream ``name`` go to ``sync.feed_ptr``; ``owner.on_book(key, outcome)`` as documented."""
        if sync.book is None:  # a BookSync made with __new__: feed_ptr would follow its None book
            raise RuntimeError("BookSync was not initialised (made with __new__?)")
        r = self._route(name, ROUTE_BOOK, key)
        r.sync = sync
        r.notify_applied = notify_applied

    def register_lighter_book(self, bytes name not None, OrderBook book not None, key, bint notify_applied=True):
        """Frames of channel ``name`` go to ``book.apply_lighter_ptr``; ``owner.on_book`` as for register_book."""
        r = self._route(name, ROUTE_LIGHTER, key)
        r.book = book
        r.notify_applied = notify_applied

    def register_raw(self, bytes name not None, key):
        """Frames of stream ``name`` go to ``owner.on_stream(key, bytes)``."""
        self._route(name, ROUTE_RAW, key)

    def unregister(self, bytes name not None):
        self._check_ready()
        self.routes = [r for r in self.routes if (<_Route>r).name != name]

    def feed_copy(self, bytes data not None):
        """Handle ``data`` as one data frame, read from an exact-size heap copy (tests and fuzzers).

        picows hands the listener a slice of its read buffer, with whatever came next right after it; a
        bytes object always has a NUL after its last byte, which would hide a one-byte over-read from
        AddressSanitizer. A malloc'd copy of exactly len(data) bytes does not (see .ci/sanitize)."""
        cdef Py_ssize_t n = PyBytes_GET_SIZE(data)
        cdef char* p
        self._check_ready()
        p = <char*>malloc(n if n > 0 else 1)
        if p == NULL:
            raise MemoryError()
        memcpy(p, PyBytes_AS_STRING(data), n)
        try:
            self._on_data(p, n)
        finally:
            free(p)

    cpdef on_ws_connected(self, WSTransport transport):
        self._check_ready()
        if transport is None:
            raise TypeError("on_ws_connected needs the connection's WSTransport, not None")
        self.transport = transport
        try:
            self.owner.on_ws_connected(transport)
        except Exception:
            self.callback_errors += 1

    cpdef on_ws_disconnected(self, WSTransport transport):
        cdef int code = 1006
        cdef str reason = ""
        self._check_ready()
        if transport is None:
            raise TypeError("on_ws_disconnected needs the connection's WSTransport, not None")
        hs = transport.close_handshake
        if hs is not None and hs.recv is not None:
            code = <int>hs.recv.code
            reason = hs.recv.reason
        try:
            self.owner.on_ws_disconnected(code, reason)
        except Exception:
            self.callback_errors += 1

    cpdef on_ws_frame(self, WSTransport transport, WSFrame frame):
        """picows calls this per frame. ``transport`` may be None for data frames (tests feed frames
        without a socket); a CLOSE frame is answered on it, so there it must be the connection's."""
        if frame is None:  # Cython reads a typed argument's fields without a None check
            raise TypeError("on_ws_frame needs a WSFrame, not None")
        self._check_ready()
        cdef WSMsgType t = frame.msg_type
        if t == WSMsgType.TEXT or t == WSMsgType.BINARY:
            self._on_data(frame.payload_ptr, frame.payload_size)
        elif t == WSMsgType.CLOSE:
            if transport is None:
                raise TypeError("a CLOSE frame is answered on its WSTransport: it cannot be None")
            transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()

    cdef int _on_data(self, const char* p, Py_ssize_t n) except -1:
        cdef long long t0 = engine_mono_ns()
        cdef const char* name
        cdef const char* end
        cdef Py_ssize_t name_len
        cdef _Route r
        cdef int outcome
        cdef Py_ssize_t plen = len(self._prefix)
        self.frames += 1
        if self.recorder is not None:  # recording costs one bytes copy per frame; off by default
            try:
                self.recorder(PyBytes_FromStringAndSize(p, n))
            except Exception:
                self.callback_errors += 1
        if n <= plen or memcmp(p, <const char*>self._prefix, plen) != 0:
            self._call_control(p, n)
            return 0
        name = p + plen
        end = <const char*>memchr(name, b'"', n - plen)
        if end == NULL:
            self._call_garbage(p, n)
            return 0
        name_len = engine_span(name, end)
        for obj in self.routes:
            r = <_Route>obj
            if len(r.name) == name_len and memcmp(<const char*>r.name, name, name_len) == 0:
                if r.kind == ROUTE_BOOK or r.kind == ROUTE_LIGHTER:
                    self.book_frames += 1
                    try:
                        if r.kind == ROUTE_BOOK:
                            outcome = r.sync.feed_ptr(p, n)
                        else:
                            outcome = r.book.apply_lighter_ptr(p, n)
                    except ValueError:  # FrameError: counted, book untouched
                        self._call_garbage(p, n)
                        return 0
                    self.latency.record(engine_mono_ns() - t0)
                    # Python hears about an applied frame only when the top of book moved and someone
                    # listens; gaps and sync steps always (health counters live in the book itself)
                    if outcome != 1 or (r.notify_applied and
                                        (r.sync.book.bbo_changed if r.kind == ROUTE_BOOK else r.book.bbo_changed)):
                        try:
                            self.owner.on_book(r.key, outcome)
                        except Exception:
                            self.callback_errors += 1
                else:
                    try:
                        self.owner.on_stream(r.key, PyBytes_FromStringAndSize(p, n))
                    except Exception:
                        self.callback_errors += 1
                return 0
        # a stream nobody registered (e.g. "!serverShutdown"): Python decides what it means
        self.unrouted += 1
        self._call_control(p, n)
        return 0

    cdef void _call_control(self, const char* p, Py_ssize_t n):
        try:
            self.owner.on_control(PyBytes_FromStringAndSize(p, n))
        except Exception:
            self.callback_errors += 1

    cdef void _call_garbage(self, const char* p, Py_ssize_t n):
        try:
            self.owner.on_garbage(PyBytes_FromStringAndSize(p, n))
        except Exception:
            self.callback_errors += 1
