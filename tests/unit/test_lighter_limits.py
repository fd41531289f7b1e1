"""Lighter's budgets per account tier: Standard counts requests (60/min), paid tiers weigh them; transactions
have their own budget shared by REST and WebSocket sends."""
import pytest

from engine.connectors.lighter.limits import TierLimits
from engine.ratelimit import monotonic_ns


def test_standard_counts_every_request_and_transactions_separately():
    b = TierLimits()
    assert b.tier == "standard" and b.weight("/api/v1/recentTrades") == 0  # no weights: a request is a request
    now = monotonic_ns() + 10**9  # the buckets' own clock, a second on
    assert all(b.rest.try_acquire(b.weight("/api/v1/orderBookDetails"), now_ns=now) for _ in range(57))
    assert not b.rest.try_acquire(0, now_ns=now)  # 60/min less the 5 % margin, in a burst
    assert b.rest.try_acquire(0, now_ns=now + 1_100_000_000)  # ~one request per second comes back
    assert all(b.tx.try_acquire(0, orders=1, now_ns=now) for _ in range(57))
    assert not b.tx.try_acquire(0, orders=1, now_ns=now)


def test_paid_tiers_weigh_requests_and_unknown_tiers_are_refused():
    b = TierLimits("premium")
    assert (b.weight("/api/v1/nextNonce"), b.weight("/api/v1/recentTrades"), b.weight("/api/v1/account")) == (6, 600, 300)
    now = monotonic_ns() + 10**9  # the buckets' own clock, a second on
    assert sum(b.rest.try_acquire(300, now_ns=now) for _ in range(100)) == 76  # 24000 * 0.95 / 300
    assert b.status()["tier"] == "premium" and b.status()["tx"]["ORDERS/1M"]["limit"] == 4000
    with pytest.raises(ValueError, match="unknown Lighter account tier 'gold'"):
        b.set_tier("gold")
    assert b.tier == "premium"
