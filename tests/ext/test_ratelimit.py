"""The compiled bucket: exact, deterministic with an injected clock, and equal to a rational oracle."""
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.connectors.binance.limits import USAGE_HEADERS
from engine.ratelimit import RateLimits, TokenBucketLimiter
from reference.bucket_ref import RefBucket

S = 10**9


def test_binance_weight_bucket_sequence():
    b = TokenBucketLimiter(20, 1200, now=0)  # 1200 per minute
    assert b.try_acquire_at(1200, 0) and not b.try_acquire_at(1, 0)
    assert b.wait_time_at(1, 0) == pytest.approx(0.05)
    assert not b.try_acquire_at(1, 49_999_999) and b.try_acquire_at(1, 50_000_000)
    assert b.available_at(61 * S) == 1200  # refilled, and never above capacity


def test_weight_above_capacity_can_never_pass():
    b = TokenBucketLimiter(1, 10, now=0)
    with pytest.raises(ValueError, match="capacity"):
        b.wait_time_at(11, 0)
    assert not b.try_acquire_at(11, 10**15)


def test_no_drift_with_many_tiny_refills():
    b = TokenBucketLimiter(100 / 60, 6000, now=0)  # 1.666.. tokens/s
    once = TokenBucketLimiter(100 / 60, 6000, now=0)
    b.try_acquire_at(6000, 0)
    once.try_acquire_at(6000, 0)
    for t in range(1, 60 * 1000 + 1):  # a refill every millisecond for a minute
        b.available_at(t * 1_000_000)
    # many tiny refills give exactly what one refill over the same time gives
    assert b.available_at(60 * S) == once.available_at(60 * S)
    assert b.available_at(60 * S) == pytest.approx(100.0, abs=1e-6)


def test_reconcile_with_server_usage_and_drain():
    b = TokenBucketLimiter(100, 6000, now=0)
    b.reconcile_used(5000, now=0)
    assert b.available_at(0) == 1000
    b.reconcile_used(10, now=0)  # the server saying less never gives us more
    assert b.available_at(0) == 1000
    b.drain(now=0)
    assert b.available_at(0) == 0
    b.refund(7)
    assert b.available_at(0) == 7


@pytest.mark.parametrize("rate,cap", [(0, 1), (-1, 1), (1, 0), (1, 1.5)])
def test_bad_arguments(rate, cap):
    with pytest.raises(ValueError):
        TokenBucketLimiter(rate, cap)


@settings(max_examples=200, deadline=None)
@given(rate=st.integers(1, 10_000), cap=st.integers(1, 10_000),
       ops=st.lists(st.tuples(st.integers(0, 2 * 10**9), st.integers(0, 50)), max_size=60))
def test_differential_against_the_rational_oracle(rate, cap, ops):
    b, ref = TokenBucketLimiter(rate, cap, now=0), RefBucket(rate, cap)
    now = 0
    for dt, w in ops:
        now += dt
        if w <= cap:
            wt = b.wait_time_at(w, now)
            assert math.isclose(wt, float(ref.wait_time(w, now)), abs_tol=2e-9)
        assert b.try_acquire_at(w, now) == ref.try_acquire(w, now)


def test_composite_limits_from_exchange_info_and_headers():
    rl = RateLimits([
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
        {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        {"rateLimitType": "SOMETHING_NEW", "interval": "MINUTE", "intervalNum": 1, "limit": 5},
    ], usage_headers=USAGE_HEADERS, safety=1.0, clock_ns=lambda: 0)
    st_ = rl.status()
    assert set(st_) >= {"REQUEST_WEIGHT/1M", "ORDERS/10S", "ORDERS/1D", "RAW_REQUESTS/5M"}
    # an order debits weight + order counts + raw at once
    assert rl.try_acquire(1, orders=1)
    assert rl.status()["ORDERS/10S"]["used"] == 1 and rl.status()["RAW_REQUESTS/5M"]["used"] == 1
    # all-or-nothing: 100 orders in 10 s is the limit; the 101st takes nothing at all
    for _ in range(99):
        assert rl.try_acquire(1, orders=1)
    before = rl.status()["REQUEST_WEIGHT/1M"]["used"]
    assert not rl.try_acquire(1, orders=1)
    assert rl.status()["REQUEST_WEIGHT/1M"]["used"] == before
    # the server is authoritative
    rl.update_from_headers({"X-MBX-USED-WEIGHT-1M": "5990", "Content-Type": "application/json"})
    assert rl.status()["REQUEST_WEIGHT/1M"]["used"] == 5990
    assert not rl.try_acquire(11) and rl.wait_time(11) > 0


def test_ban_blocks_everything_until_it_ends():
    t = [0]
    rl = RateLimits([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000}],
                    clock_ns=lambda: t[0])
    rl.ban(120)
    assert rl.banned and not rl.try_acquire(1)
    assert rl.wait_time(1) == pytest.approx(120)
    t[0] = 120 * S
    assert not rl.banned and rl.try_acquire(1)


def test_a_refund_that_fills_the_bucket_drops_the_refill_remainder():
    b, ref = TokenBucketLimiter(1 / 3, 1, now=0), RefBucket(Fraction(333333333, 10**9), 1)
    b.drain(now=0)
    ref.tokens = 0
    assert b.available_at(1) == 0 and ref.try_acquire(0, 1)  # 1 ns of refill: a third of a nano-token carried
    b.refund(1)
    ref.tokens = min(ref.capacity, ref.tokens + 1)  # full: nothing may be carried past the capacity
    assert b.try_acquire_at(1, 1) and ref.try_acquire(1, 1)
    t = 1 + 3_000_000_003  # a stale remainder would complete the token one nanosecond early, here
    assert b.try_acquire_at(1, t) == ref.try_acquire(1, t) is False
    assert b.try_acquire_at(1, t + 1) == ref.try_acquire(1, t + 1) is True


def test_a_server_count_equal_to_ours_drops_the_refill_remainder():
    b, ref = TokenBucketLimiter(1 / 3, 1, now=0), RefBucket(Fraction(333333333, 10**9), 1)
    assert b.try_acquire_at(1, 0) and ref.try_acquire(1, 0)
    b.reconcile_used(1, now=1)  # the server: all used at 1 ns; we hold 0 tokens and a third of a nano-token
    ref._refill(1)
    ref.tokens = 0
    t = 1 + 3_000_000_003  # a kept remainder would complete the token one nanosecond early, here
    assert b.try_acquire_at(1, t) == ref.try_acquire(1, t) is False
    assert b.try_acquire_at(1, t + 1) == ref.try_acquire(1, t + 1) is True


@pytest.mark.parametrize("cap", [5173786603, 2**33 + 1, 9_223_372_036])
def test_a_full_bucket_of_a_large_capacity_reads_exactly_its_capacity(cap):
    """Nano-tokens past 2**53 lose bits as one double: a full 5173786603-token bucket read 5173786603.000001,
    above its capacity (found by tests/ext/fuzz_all.py)."""
    b = TokenBucketLimiter(1.0, cap, now=0)
    assert b.available_at(0) == cap
    assert b.try_acquire_at(1, 0) and b.available_at(0) <= cap - 1
