# cython: language_level=3
"""Compiled token bucket with exact integer accounting.

Tokens are counted in nano-tokens (1 token = 10**9), the clock is CLOCK_MONOTONIC in nanoseconds read in
C, and refill carries its remainder, so no rounding drifts however often it is called. Every method has a
``*_at(now_ns)`` twin taking the clock as an argument, which makes tests deterministic.
"""
from libc.stdint cimport int64_t

cdef extern from *:
    """
    #ifndef ENGINE_BUILD_MODE
    #define ENGINE_BUILD_MODE "unknown"
    #endif
    #include <time.h>
    static inline long long engine_rl_now_ns(void) {
        struct timespec ts; clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
    }
    /* a * b / c and the remainder, without overflow (a, b, c >= 0, c > 0) */
    static inline long long engine_muldiv(long long a, long long b, long long c, long long *rem) {
        __int128 p = (__int128)a * (__int128)b;
        *rem = (long long)(p % c);
        __int128 q = p / c;
        return q > (__int128)9223372036854775807LL ? 9223372036854775807LL : (long long)q;
    }
    """
    const char* ENGINE_BUILD_MODE
    long long now_ns "engine_rl_now_ns"() noexcept nogil
    long long muldiv "engine_muldiv"(long long a, long long b, long long c, long long* rem) noexcept nogil

BUILD_MODE = ENGINE_BUILD_MODE.decode()

cdef enum:
    NANO = 1000000000


def monotonic_ns():
    """The clock the buckets use (CLOCK_MONOTONIC, ns)."""
    return now_ns()


cdef class TokenBucketLimiter:
    """``rate`` tokens per second refill a bucket holding at most ``capacity`` tokens; starts full.

    ``try_acquire(w)`` takes ``w`` tokens if they are there (True) or leaves the bucket untouched (False).
    ``wait_time(w)`` is the exact time until ``try_acquire(w)`` would succeed. A weight above the capacity
    can never succeed and raises ValueError instead of waiting forever.
    """

    def __init__(self, rate, capacity, *, now=None):
        if rate is None or not (rate > 0):
            raise ValueError("rate must be > 0 tokens per second")
        if int(capacity) != capacity or capacity < 1:
            raise ValueError("capacity must be a whole number >= 1")
        self._rate_nt = <long long>round(float(rate) * NANO)  # nano-tokens per second == tokens per ns * 1e9
        if self._rate_nt <= 0:
            raise ValueError("rate too small")
        self._cap_nt = <long long>capacity * NANO
        self._tokens_nt = self._cap_nt
        self._rem = 0
        self._last = now_ns() if now is None else now
        self.rate = float(rate)
        self.capacity = int(capacity)

    def __repr__(self):
        return (f"TokenBucketLimiter(rate={self.rate:g}/s, capacity={self.capacity}, "
                f"available={self._tokens_nt / NANO:.3f})")

    cdef void _refill(self, long long now) noexcept:
        cdef long long dt
        cdef long long add
        cdef long long rem
        if now <= self._last:
            return
        if self._tokens_nt >= self._cap_nt:
            self._last = now
            self._rem = 0
            return
        dt = now - self._last
        # nano-tokens gained = dt[ns] * rate_nt[nt/s] / 1e9, remainder carried to the next refill
        add = muldiv(dt, self._rate_nt, NANO, &rem)
        rem += self._rem
        if rem >= NANO:
            add += 1
            rem -= NANO
        self._rem = rem
        self._last = now
        if add >= self._cap_nt - self._tokens_nt:
            self._tokens_nt = self._cap_nt
            self._rem = 0
        else:
            self._tokens_nt += add

    cdef bint acquire_at(self, long long weight, long long now) noexcept:
        cdef long long need = weight * NANO
        self._refill(now)
        if self._tokens_nt >= need:
            self._tokens_nt -= need
            return True
        return False

    def try_acquire(self, long long weight=1):
        """Take ``weight`` tokens now if available."""
        if weight < 0:
            raise ValueError("weight must be >= 0")
        return self.acquire_at(weight, now_ns())

    def try_acquire_at(self, long long weight, long long now):
        if weight < 0:
            raise ValueError("weight must be >= 0")
        return self.acquire_at(weight, now)

    cdef double _wait_at(self, long long weight, long long now) except -1.0:
        cdef long long need
        cdef long long deficit
        cdef long long rem
        cdef long long ns
        if weight > self.capacity:
            raise ValueError(f"weight {weight} exceeds the bucket capacity {self.capacity}: it can never pass")
        need = weight * NANO
        self._refill(now)
        if self._tokens_nt >= need:
            return 0.0
        deficit = need - self._tokens_nt
        ns = muldiv(deficit, NANO, self._rate_nt, &rem)
        if rem:
            ns += 1
        return ns / 1e9

    def wait_time(self, long long weight=1):
        """Seconds until ``try_acquire(weight)`` would succeed (0.0 if it would now)."""
        return self._wait_at(weight, now_ns())

    def wait_time_at(self, long long weight, long long now):
        return self._wait_at(weight, now)

    def reconcile_used(self, used, now=None):
        """The server says ``used`` tokens of the capacity are spent: never believe we have more left."""
        cdef long long t = now_ns() if now is None else now
        cdef long long left
        self._refill(t)
        left = (self.capacity - min(max(<long long>used, 0), self.capacity)) * <long long>NANO
        if left < self._tokens_nt:
            self._tokens_nt = left
            self._rem = 0

    def drain(self, now=None):
        """Empty the bucket (e.g. after a 429)."""
        self._refill(now_ns() if now is None else now)
        self._tokens_nt = 0
        self._rem = 0

    def refund(self, long long weight):
        """Give back tokens taken for a request that was never sent."""
        self._tokens_nt = min(self._cap_nt, self._tokens_nt + weight * NANO)

    @property
    def available(self):
        """Tokens available now (float, for status displays)."""
        self._refill(now_ns())
        return self._tokens_nt / <double>NANO

    def available_at(self, long long now):
        self._refill(now)
        return self._tokens_nt / <double>NANO
