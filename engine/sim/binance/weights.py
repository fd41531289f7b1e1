"""Request weights of the simulator's REST and WS APIs: one table, so both APIs count a request alike.

REST weights are keyed by (HTTP method, path); WS API methods name the REST endpoint they mirror, so a
WS API request costs what its REST twin costs (docs/binance.md, "WebSocket API", weights).
"""
from __future__ import annotations


def depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


WEIGHTS = {  # (method, path) -> weight (depth and openOrders depend on parameters)
    ("GET", "/api/v3/ping"): 1, ("GET", "/api/v3/time"): 1, ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/klines"): 2, ("GET", "/api/v3/ticker/price"): 2, ("GET", "/api/v3/ticker/24hr"): 2,
    ("GET", "/api/v3/ticker/bookTicker"): 2, ("GET", "/api/v3/avgPrice"): 2, ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/order"): 4, ("POST", "/api/v3/order"): 1, ("DELETE", "/api/v3/order"): 1,
    ("DELETE", "/api/v3/openOrders"): 1, ("GET", "/api/v3/myTrades"): 20,
}
