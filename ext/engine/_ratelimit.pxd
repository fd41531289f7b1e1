# cython: language_level=3
cdef class TokenBucketLimiter:
    cdef long long _rate_nt     # nano-tokens per second
    cdef long long _cap_nt      # capacity in nano-tokens
    cdef long long _tokens_nt   # current tokens in nano-tokens
    cdef long long _rem         # refill remainder carried between calls (units: nano-token * 1e-9)
    cdef long long _last        # CLOCK_MONOTONIC ns of the last refill
    cdef readonly double rate
    cdef readonly long long capacity

    cdef void _refill(self, long long now) noexcept
    cdef bint acquire_at(self, long long weight, long long now) noexcept
    cdef double _wait_at(self, long long weight, long long now) except -1.0
