# cython: language_level=3
"""Compiled token bucket with exact integer accounting.

Tokens are counted in nano-tokens (1 token = 10**9), the clock is CLOCK_MONOTONIC in nanoseconds read in
C, and refill carries its remainder, so no rounding drifts however often it is called. Every method has a
``*_at(now_ns)`` twin taking the clock as an argument, which makes tests deterministic.

Nothing wraps: a capacity holds at most MAX_CAPACITY tokens (what 64-bit nano-tokens hold) and a rate at
most MAX_RATE tokens per second, both refused with ValueError beyond; times are nanoseconds >= 0 that fit
in 64 bits (ValueError when negative, OverflowError beyond); weights are ints >= 0 of any size (an int too
large for 64 bits is simply beyond the capacity). A bucket made with ``__new__`` raises RuntimeError on
use, and so does ``__init__`` called again on a bucket (it would refill a drained one).
"""
cimport cython
from libc.limits cimport LLONG_MAX

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

cdef extern from "Python.h":
    # -1 with *overflow = +1/-1 for an int beyond 64 bits instead of an exception; TypeError for a non-int
    long long PyLong_AsLongLongAndOverflow(object o, int* overflow) except? -1

BUILD_MODE = ENGINE_BUILD_MODE.decode()

cdef enum:
    NANO = 1000000000

cdef long long _MAX_CAPACITY = LLONG_MAX // NANO


cdef inline double _tokens(long long nt) noexcept:
    """Nano-tokens as tokens: whole tokens and the fraction converted apart, so a full bucket of up to
    MAX_CAPACITY reads exactly its capacity (one division of the 64-bit count as a double rounds past it:
    5173786603 full read 5173786603.000001)."""
    return <double>(nt // NANO) + <double>(nt % NANO) / NANO
MAX_CAPACITY = _MAX_CAPACITY      # tokens: capacity * 10**9 nano-tokens must fit in a signed 64-bit int
MAX_RATE = float(_MAX_CAPACITY)   # tokens per second: rate * 10**9 nano-tokens per second likewise


def monotonic_ns():
    """The clock the buckets use (CLOCK_MONOTONIC, ns)."""
    return now_ns()


cdef inline long long _weight(object weight) except -1:
    """``weight`` as a C long long >= 0; an int beyond 64 bits is LLONG_MAX, beyond any capacity."""
    cdef int overflow = 0
    cdef long long w = PyLong_AsLongLongAndOverflow(weight, &overflow)
    if overflow > 0:
        return LLONG_MAX
    if overflow < 0 or w < 0:
        raise ValueError("weight must be >= 0")
    return w


cdef inline int _check_ready(TokenBucketLimiter b) except -1:
    if b._rate_nt <= 0:
        raise RuntimeError("TokenBucketLimiter was not initialised (made with __new__?)")
    return 0


cdef inline long long _time(object now) except -1:
    """``now`` as a C long long (OverflowError beyond 64 bits), or the clock for None."""
    cdef long long t
    if now is None:
        return now_ns()
    t = now
    if t < 0:  # refill subtracts times: with both >= 0 the difference cannot overflow
        raise ValueError("now must be a CLOCK_MONOTONIC time in ns, >= 0")
    return t


cdef inline long long _ready_at(TokenBucketLimiter b, object now) except -1:
    """The time a method of ``b`` acts at (``_time``), once ``b`` is known to be initialised."""
    _check_ready(b)
    return _time(now)


@cython.auto_pickle(False)  # a copy would be a second budget for one venue limit, and unpickling skips __init__
cdef class TokenBucketLimiter:
    """``rate`` tokens per second refill a bucket holding at most ``capacity`` tokens; starts full.

    ``try_acquire(w)`` takes ``w`` tokens if they are there (True) or leaves the bucket untouched (False);
    a weight above the capacity is always False. ``wait_time(w)`` is the exact time until
    ``try_acquire(w)`` would succeed; for a weight above the capacity it raises ValueError instead of
    waiting forever. ``refund(w)`` gives tokens back, never beyond the capacity. Negative weights and
    refunds raise ValueError. The module docstring has the limits on rate, capacity and times.
    """

    def __init__(self, rate, capacity, *, now=None):
        cdef long long t
        cdef long long rate_nt
        if self._rate_nt:
            raise RuntimeError("TokenBucketLimiter is already initialised: make a new one")
        if rate is None or not (rate > 0):
            raise ValueError("rate must be > 0 tokens per second")
        try:
            rate_f = float(rate)
        except OverflowError:  # an int beyond any float
            rate_f = float("inf")
        if not rate_f <= MAX_RATE:
            raise ValueError(f"rate must be at most {MAX_RATE:.0f} tokens per second")
        try:
            cap = int(capacity)
        except (OverflowError, ValueError):
            raise ValueError("capacity must be a whole number >= 1") from None
        if cap != capacity or not 1 <= cap <= _MAX_CAPACITY:
            raise ValueError(f"capacity must be a whole number in [1, {_MAX_CAPACITY}]")
        rate_nt = <long long>round(rate_f * NANO)  # nano-tokens per second == tokens per ns * 1e9
        if rate_nt <= 0:
            raise ValueError("rate too small")
        t = _time(now)
        self._cap_nt = <long long>cap * NANO
        self._tokens_nt = self._cap_nt
        self._rem = 0
        self._last = t
        self.rate = rate_f
        self.capacity = cap
        self._rate_nt = rate_nt  # last: a non-zero rate is what marks the bucket initialised

    def __repr__(self):
        if self._rate_nt <= 0:
            return "TokenBucketLimiter(uninitialised)"
        return (f"TokenBucketLimiter(rate={self.rate:g}/s, capacity={self.capacity}, "
                f"available={self._tokens_nt / NANO:.3f})")

    cdef void _refill(self, long long now) noexcept:
        cdef long long dt
        cdef long long add
        cdef long long rem
        cdef long long gap
        cdef long long carry = 0
        if now <= self._last:
            return
        if self._tokens_nt >= self._cap_nt:
            self._last = now
            self._rem = 0
            return
        dt = now - self._last  # both >= 0 (_time), so this fits
        # nano-tokens gained = dt[ns] * rate_nt[nt/s] / 1e9 (at most LLONG_MAX), remainder carried on
        add = muldiv(dt, self._rate_nt, NANO, &rem)
        rem += self._rem
        if rem >= NANO:
            carry = 1
            rem -= NANO
        self._rem = rem
        self._last = now
        gap = self._cap_nt - self._tokens_nt  # > 0 here; add + carry could overflow, gap - carry cannot
        if add >= gap - carry:
            self._tokens_nt = self._cap_nt
            self._rem = 0
        else:
            self._tokens_nt += add + carry

    cdef bint acquire_at(self, long long weight, long long now) noexcept:
        cdef long long need
        if weight < 0 or weight > self.capacity:  # also keeps weight * NANO inside 64 bits
            return False
        need = weight * NANO
        self._refill(now)
        if self._tokens_nt >= need:
            self._tokens_nt -= need
            return True
        return False

    def try_acquire(self, weight=1):
        """Take ``weight`` tokens now if available (False, nothing taken, for a weight above the capacity)."""
        _check_ready(self)
        return self.acquire_at(_weight(weight), now_ns())

    def try_acquire_at(self, weight, now):
        cdef long long t = _ready_at(self, now)
        return self.acquire_at(_weight(weight), t)

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
        if rem and ns < LLONG_MAX:
            ns += 1
        return ns / 1e9

    def wait_time(self, weight=1):
        """Seconds until ``try_acquire(weight)`` would succeed (0.0 if it would now)."""
        _check_ready(self)
        return self._wait_at(_weight(weight), now_ns())

    def wait_time_at(self, weight, now):
        cdef long long t = _ready_at(self, now)
        return self._wait_at(_weight(weight), t)

    def reconcile_used(self, used, now=None):
        """The server says ``used`` tokens of the capacity are spent: never believe we have more left.

        ``used`` is an int, clamped to [0, capacity] whatever its size."""
        cdef long long t = _ready_at(self, now)
        cdef long long u
        cdef int overflow = 0
        u = PyLong_AsLongLongAndOverflow(used, &overflow)
        if overflow > 0 or u > self.capacity:
            u = self.capacity
        elif overflow < 0 or u < 0:
            u = 0
        self._refill(t)
        # <=: at exactly the server's count, a carried fraction of a nano-token would still be more than it says
        if (self.capacity - u) * <long long>NANO <= self._tokens_nt:
            self._tokens_nt = (self.capacity - u) * <long long>NANO
            self._rem = 0

    def drain(self, now=None):
        """Empty the bucket (e.g. after a 429)."""
        self._refill(_ready_at(self, now))
        self._tokens_nt = 0
        self._rem = 0

    def refund(self, weight):
        """Give back tokens taken for a request that was never sent (never beyond the capacity)."""
        cdef long long w
        _check_ready(self)
        w = _weight(weight)
        if w >= self.capacity or w * NANO >= self._cap_nt - self._tokens_nt:
            self._tokens_nt = self._cap_nt
            self._rem = 0  # full, as _refill leaves it: no sub-nano-token carry beyond the capacity
        else:
            self._tokens_nt += w * NANO

    @property
    def available(self):
        """Tokens available now (float, for status displays)."""
        _check_ready(self)
        self._refill(now_ns())
        return _tokens(self._tokens_nt)

    def available_at(self, now):
        self._refill(_ready_at(self, now))
        return _tokens(self._tokens_nt)
