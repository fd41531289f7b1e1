"""Binance's request budget as data: the documented limits before exchangeInfo is read, and the headers in
which every answer reports what this IP (and account) has used.

``binance_rate_limits()`` is the connector's budget; ``exchangeInfo.rateLimits`` rows are already the shape
``engine.ratelimit.RateLimits`` reads, so ``reconfigure(info["rateLimits"])`` replaces the defaults as is.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from engine.ratelimit import RateLimits

# the documented defaults before exchangeInfo is read (it replaces them at connect)
DEFAULT_RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]

# X-MBX-USED-WEIGHT-1M, X-MBX-ORDER-COUNT-10S, ...: one header per weight and order-count interval; raw
# requests are reported by none
USAGE_HEADERS: Mapping[str, str] = {
    "REQUEST_WEIGHT": "x-mbx-used-weight-{num}{unit}",
    "ORDERS": "x-mbx-order-count-{num}{unit}",
}


def binance_rate_limits(rows: Iterable[Mapping] = DEFAULT_RATE_LIMITS, **kw) -> RateLimits:
    """The composite budget for ``rows`` (default: the documented limits), reconciled from Binance's headers."""
    return RateLimits(rows, usage_headers=USAGE_HEADERS, **kw)
