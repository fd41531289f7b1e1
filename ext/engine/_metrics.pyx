# cython: language_level=3
"""Preallocated log-linear latency histogram, recorded from compiled code in a few nanoseconds.

Buckets: exact below 128 ns, then 64 sub-buckets per power of two (relative error <= 0.8%), up to
~137 s; larger values are clamped and counted. Recording allocates nothing; percentiles are computed on
demand (status line, once a second).
"""
from libc.stdint cimport UINT64_MAX
from libc.string cimport memset

cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    static inline int engine_log2_u64(unsigned long long v) { return 63 - __builtin_clzll(v); }
    """
    const char* ENGINE_BUILD_MODE
    int log2u "engine_log2_u64"(unsigned long long v) noexcept nogil

BUILD_MODE = ENGINE_BUILD_MODE.decode()


cdef inline Py_ssize_t bucket_of(int64_t v) noexcept nogil:
    cdef int e
    if v < SUB:
        return v
    e = log2u(<unsigned long long>v) - 6           # v >> e lands in [64, 128)
    return SUB + (e - 1) * HALF + ((v >> e) - HALF)


cdef inline int64_t bucket_low(Py_ssize_t i) noexcept nogil:
    cdef Py_ssize_t e
    if i < SUB:
        return i
    e = (i - SUB) // HALF + 1
    return ((i - SUB) % HALF + HALF) << e


cdef inline int64_t bucket_width(Py_ssize_t i) noexcept nogil:
    if i < SUB:
        return 1
    return (<int64_t>1) << ((i - SUB) // HALF + 1)


# the largest value record() keeps (larger ones are clamped to it) must land inside _counts; NBUCKETS is a
# literal in _metrics.pxd (see there), so check it against the constants it stands for
if NBUCKETS != SUB + MAX_EXP * HALF or bucket_of(((<int64_t>1) << (MAX_EXP + 6)) - 1) >= NBUCKETS:
    raise ImportError("engine._metrics: NBUCKETS in _metrics.pxd does not match SUB, HALF and MAX_EXP")


cdef class LatencyHistogram:
    """Counts of nanosecond latencies; ``percentile(p)`` is accurate to ~0.8%."""

    def __cinit__(self):
        memset(self._counts, 0, sizeof(self._counts))
        self._min = -1
        self._max = 0

    cdef void record(self, int64_t ns) noexcept:
        cdef int64_t limit = ((<int64_t>1) << (MAX_EXP + 6)) - 1
        if ns < 0:
            ns = 0
        if ns > limit:
            ns = limit
            self.clamped += 1
        self._counts[bucket_of(ns)] += 1
        self.count += 1
        self._sum += <double>ns
        if self._min < 0 or ns < self._min:
            self._min = ns
        if ns > self._max:
            self._max = ns

    def add(self, long long ns):
        """Record one latency in nanoseconds (Python entry point; compiled code calls ``record``)."""
        self.record(ns)

    def reset(self):
        memset(self._counts, 0, sizeof(self._counts))
        self.count = 0
        self.clamped = 0
        self._sum = 0
        self._min = -1
        self._max = 0

    def merge(self, LatencyHistogram other not None):
        """Add ``other``'s counts to this one (``other`` may be ``self``); OverflowError, nothing changed,
        when the total count would not fit in 64 bits (every bucket's count is at most the total)."""
        cdef Py_ssize_t i
        if other.count > UINT64_MAX - self.count:
            raise OverflowError("merged histogram would count more than 2**64 - 1 values")
        for i in range(NBUCKETS):
            self._counts[i] += other._counts[i]
        self.count += other.count
        self.clamped += other.clamped
        self._sum += other._sum
        if other._min >= 0 and (self._min < 0 or other._min < self._min):
            self._min = other._min
        if other._max > self._max:
            self._max = other._max

    @property
    def min(self):
        return 0 if self._min < 0 else self._min

    @property
    def max(self):
        return self._max

    @property
    def mean(self):
        return self._sum / self.count if self.count else 0.0

    def percentile(self, double p):
        """The value (ns) at percentile ``p`` in [0, 100]; 0 when empty."""
        cdef double r
        cdef uint64_t rank
        cdef uint64_t seen = 0
        cdef Py_ssize_t i
        cdef int64_t v
        if not 0.0 <= p <= 100.0:
            raise ValueError("p must be within [0, 100]")
        if self.count == 0:
            return 0
        r = p / 100.0 * self.count + 0.5
        # compare as doubles before the cast: a double at or above 2**64 (a count near 2**64 rounds up
        # to it) has no uint64 value, and casting it is undefined
        rank = self.count if r >= <double>self.count else <uint64_t>r
        if rank < 1:
            rank = 1
        for i in range(NBUCKETS):
            seen += self._counts[i]
            if seen >= rank:
                v = bucket_low(i) + bucket_width(i) // 2
                return min(max(v, self.min), self._max)
        return self._max

    def snapshot(self):
        """{count, min, mean, p50, p90, p99, p99.9, max} in ns."""
        return {"count": self.count, "min": self.min, "mean": round(self.mean, 1),
                "p50": self.percentile(50), "p90": self.percentile(90), "p99": self.percentile(99),
                "p99.9": self.percentile(99.9), "max": self._max}
