# cython: language_level=3
from libc.stdint cimport uint64_t, int64_t

cdef enum:
    SUB_BITS = 7                  # 128 sub-buckets per power of two: <= 0.8% relative error
    SUB = 128
    HALF = 64
    MAX_EXP = 31                  # values up to 2**37 ns (~137 s); larger ones are clamped
    NBUCKETS = 128 + 31 * 64

cdef class LatencyHistogram:
    cdef uint64_t _counts[NBUCKETS]
    cdef readonly uint64_t count
    cdef readonly uint64_t clamped
    cdef uint64_t _sum
    cdef int64_t _min
    cdef int64_t _max
    cdef void record(self, int64_t ns) noexcept
