"""Request weights of the simulator's REST and WS APIs: one table, so both APIs count a request alike.

REST weights are keyed by (HTTP method, path); WS API methods name the REST endpoint they mirror, so a
WS API request costs what its REST twin costs (docs/binance.md, "WebSocket API", weights).
"""
from __future__ import annotations


def depth_weight(limit: int) -> int:
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def my_trades_weight(params: dict) -> int:
    """myTrades: 20, or 5 with ``orderId`` (since 2025-04-07)."""
    return 5 if params.get("orderId") not in (None, "") else 20


def rolling_ticker_weight(n_symbols: int) -> int:
    """GET /api/v3/ticker: 4 a symbol, at most 200 (more than 50 symbols)."""
    return min(4 * n_symbols, 200)


WEIGHTS = {  # (method, path) -> weight (depth and openOrders depend on parameters)
    ("GET", "/api/v3/ping"): 1, ("GET", "/api/v3/time"): 1, ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/klines"): 2, ("GET", "/api/v3/ticker/price"): 2, ("GET", "/api/v3/ticker/24hr"): 2,
    ("GET", "/api/v3/ticker/bookTicker"): 2, ("GET", "/api/v3/avgPrice"): 2, ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/order"): 4, ("POST", "/api/v3/order"): 1, ("DELETE", "/api/v3/order"): 1,
    ("DELETE", "/api/v3/openOrders"): 1, ("GET", "/api/v3/myTrades"): 20, ("GET", "/api/v3/trades"): 25,
    ("GET", "/api/v3/aggTrades"): 4, ("GET", "/api/v3/allOrders"): 20, ("POST", "/api/v3/order/test"): 1,
    ("GET", "/api/v3/rateLimit/order"): 40, ("GET", "/api/v3/historicalTrades"): 25,
    ("GET", "/api/v3/account/commission"): 20, ("POST", "/api/v3/order/cancelReplace"): 1,
    ("PUT", "/api/v3/order/amend/keepPriority"): 4,
}

# WS API method -> the REST endpoint whose weight it costs (docs/binance.md, "WebSocket API")
WSAPI_AS_REST = {
    "ping": ("GET", "/api/v3/ping"), "time": ("GET", "/api/v3/time"),
    "exchangeInfo": ("GET", "/api/v3/exchangeInfo"), "klines": ("GET", "/api/v3/klines"),
    "avgPrice": ("GET", "/api/v3/avgPrice"), "account.status": ("GET", "/api/v3/account"),
    "account.rateLimits.orders": ("GET", "/api/v3/rateLimit/order"),
    "order.place": ("POST", "/api/v3/order"), "order.status": ("GET", "/api/v3/order"),
    "order.cancel": ("DELETE", "/api/v3/order"), "openOrders.cancelAll": ("DELETE", "/api/v3/openOrders"),
    "myTrades": ("GET", "/api/v3/myTrades"), "order.cancelReplace": ("POST", "/api/v3/order/cancelReplace"),
    "order.amend.keepPriority": ("PUT", "/api/v3/order/amend/keepPriority"),
}
# WS API methods whose REST twin the simulator's REST table does not price, at their documented weights
WSAPI_WEIGHTS = {
    "order.test": 1, "allOrders": 20, "trades.recent": 25, "trades.aggregate": 4,
    "session.logon": 2, "session.status": 2, "session.logout": 2,
    "userDataStream.subscribe": 2, "userDataStream.subscribe.signature": 2, "userDataStream.unsubscribe": 2,
    "session.subscriptions": 2,
}


def wsapi_weight(method: str, params: dict) -> int:
    """The request weight of one WS API request (``params`` as sent, JSON values)."""
    if method == "depth":
        return depth_weight(int(params.get("limit", 100) or 100))
    if method == "openOrders.status":
        return 6 if params.get("symbol") else 80
    if method in ("ticker.price", "ticker.book"):
        return WEIGHTS[("GET", "/api/v3/ticker/price")] * (1 if params.get("symbol") else 2)
    if method == "ticker.24hr":
        n = 1 if params.get("symbol") else len(params.get("symbols") or ()) or 101
        return WEIGHTS[("GET", "/api/v3/ticker/24hr")] if n <= 20 else 40 if n <= 100 else 80
    if method == "order.test" and params.get("computeCommissionRates") in (True, "true"):
        return 20
    if method == "myTrades":
        return my_trades_weight(params)
    if method in WSAPI_AS_REST:
        return WEIGHTS[WSAPI_AS_REST[method]]
    return WSAPI_WEIGHTS.get(method, 1)
