# cython: language_level=3
from libc.stdint cimport uint64_t, int64_t

cdef enum:
    SUB_BITS = 7                  # 128 sub-buckets per power of two: <= 0.8% relative error
    SUB = 128
    HALF = 64
    MAX_EXP = 31                  # values up to 2**37 ns (~137 s); larger ones are clamped
    # SUB + MAX_EXP * HALF, written out: Cython (3.1.0 and 3.3.1 alike) cannot generate an enum value that
    # is an arithmetic expression when overflowcheck is on (the debug build); _metrics.pyx checks it at import
    NBUCKETS = 2112

cdef class LatencyHistogram:
    cdef uint64_t _counts[NBUCKETS]
    cdef readonly uint64_t count
    cdef readonly uint64_t clamped
    cdef double _sum              # a double: a uint64 sum of clamped values wraps after ~1.3e8 of them
    cdef int64_t _min
    cdef int64_t _max
    cdef void record(self, int64_t ns) noexcept
