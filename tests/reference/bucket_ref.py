"""Pure-Python token bucket with exact rational arithmetic: the oracle for the compiled one."""
from fractions import Fraction


class RefBucket:
    def __init__(self, rate, capacity, now_ns=0):
        self.rate = Fraction(rate)  # tokens per second
        self.capacity = Fraction(capacity)
        self.tokens = Fraction(capacity)
        self.last = now_ns

    def _refill(self, now):
        if now > self.last:
            self.tokens = min(self.capacity, self.tokens + self.rate * Fraction(now - self.last, 10**9))
            self.last = now

    def try_acquire(self, w, now):
        self._refill(now)
        if self.tokens >= w:
            self.tokens -= w
            return True
        return False

    def wait_time(self, w, now):
        self._refill(now)
        return 0 if self.tokens >= w else (w - self.tokens) / self.rate
