"""The WS API's request methods (``/ws-api/v3``), served by the same exchange and REST handlers as REST.

Every method takes the request's parameters as REST would see them (strings; ``symbols`` stays a list) and
returns the ``result`` or raises SimError. Methods with a REST twin call REST's own handler or the exchange
method that handler calls (order.cancelReplace, order.amend.keepPriority), so shapes, validation and error
codes are the same by construction; the rest (order.test, allOrders, trades.recent, trades.aggregate,
account.rateLimits.orders) are built from the exchange here.
Which methods need a signature is ``SIGNED``; the WS layer (wsapi.py) checks it before calling one.
"""
from __future__ import annotations

from .errors import SimError
from .exchange import DataError  # noqa: F401  (the WS layer answers its ``data`` as ``error.data``)
from .rest import RestApi


class RestBackend(RestApi):
    """REST's handlers as the WS API's backend. The WS layer checks the request's key and signature (HMAC,
    Ed25519, or the session's logon) before it calls a signed handler, so REST's header check is skipped."""

    def _signed(self, request, params, raw_query, body) -> None:
        return None


def _market(api, p):
    return api.rest._market(p)


def _symbols(api, p) -> list:
    """The markets a ticker/exchangeInfo request names: ``symbol``, ``symbols`` (a list) or all."""
    if p.get("symbol"):
        return [_market(api, p)]
    if p.get("symbols"):
        return [_market(api, {"symbol": s}) for s in p["symbols"]]
    return list(api.ex.markets.values())


async def _each(api, p, handler):
    """A REST ticker handler for one symbol, or a list of its answers for ``symbols`` / every symbol."""
    if p.get("symbol"):
        return await handler(None, p, "", "")
    return [await handler(None, {"symbol": m.spec.symbol}, "", "") for m in _symbols(api, p)]


def _limit(p, default: int = 500, most: int = 1000) -> int:
    return min(int(p.get("limit", default) or default), most)


# ---------------------------------------------------------------- market data
async def exchange_info(api, p, sess):
    info = await api.rest.exchange_info(None, p, "", "")
    if p.get("symbol") or p.get("symbols"):
        wanted = {m.spec.symbol for m in _symbols(api, p)}
        info = dict(info, symbols=[s for s in info["symbols"] if s["symbol"] in wanted])
    return info


async def depth(api, p, sess):
    return await api.rest.depth(None, p, "", "")


async def klines(api, p, sess):
    return await api.rest.klines(None, p, "", "")


async def avg_price(api, p, sess):
    return await api.rest.avg_price(None, p, "", "")


async def ticker_price(api, p, sess):
    return await _each(api, p, api.rest.ticker_price)


async def ticker_book(api, p, sess):
    return await _each(api, p, api.rest.book_ticker)


async def ticker_24hr(api, p, sess):
    return await _each(api, p, api.rest.ticker_24hr)


def _since(rows, p, id_of, time_of):
    if p.get("fromId"):
        rows = [r for r in rows if id_of(r) >= int(p["fromId"])]
    if p.get("startTime"):
        rows = [r for r in rows if time_of(r) >= int(p["startTime"])]
    if p.get("endTime"):
        rows = [r for r in rows if time_of(r) <= int(p["endTime"])]
    return rows


async def trades_recent(api, p, sess):
    m = _market(api, p)
    s = m.spec
    return [{"id": t.first_id, "price": s.px(t.price), "qty": s.qty(t.qty),
             "quoteQty": f"{s.tick * t.price * s.step * t.qty:.8f}", "time": t.time_ms,
             "isBuyerMaker": t.buyer_maker, "isBestMatch": True} for t in m.trades[-_limit(p):]]


async def trades_aggregate(api, p, sess):
    m = _market(api, p)
    s = m.spec
    rows = _since(list(m.trades), p, lambda t: t.agg_id, lambda t: t.time_ms)
    rows = rows[:_limit(p)] if p.get("fromId") or p.get("startTime") else rows[-_limit(p):]
    return [{"a": t.agg_id, "p": s.px(t.price), "q": s.qty(t.qty), "f": t.first_id, "l": t.last_id,
             "T": t.time_ms, "m": t.buyer_maker, "M": True} for t in rows]


# ---------------------------------------------------------------- account and orders (signed)
async def account_status(api, p, sess):
    return await api.rest.account(None, p, "", "")


async def account_rate_limits_orders(api, p, sess):
    return api.order_limits()


async def order_place(api, p, sess):
    return await api.rest.new_order(None, p, "", "")


async def order_test(api, p, sess):
    api.ex.check(p)
    if p.get("computeCommissionRates") != "true":
        return {}
    rate = "0.00100000"
    return {"standardCommissionForOrder": {"maker": rate, "taker": rate},
            "specialCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
            "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
            "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                         "discount": "0.00000000"}}


async def order_status(api, p, sess):
    return await api.rest.query_order(None, p, "", "")


async def order_cancel(api, p, sess):
    return await api.rest.cancel_order(None, p, "", "")


async def order_cancel_replace(api, p, sess):
    return api.ex.cancel_replace(p)


async def order_amend_keep_priority(api, p, sess):
    return api.ex.amend_keep_priority(p)


async def open_orders_status(api, p, sess):
    return await api.rest.open_orders(None, p, "", "")


async def open_orders_cancel_all(api, p, sess):
    return await api.rest.cancel_all(None, p, "", "")


async def all_orders(api, p, sess):
    m = _market(api, p)
    rows = sorted((o for o in api.ex.orders.values() if o.symbol == m.spec.symbol), key=lambda o: o.order_id)
    if p.get("orderId"):
        rows = [o for o in rows if o.order_id >= int(p["orderId"])]
    rows = _since(rows, p, lambda o: o.order_id, lambda o: o.time_ms)
    rows = rows[:_limit(p)] if p.get("orderId") or p.get("startTime") else rows[-_limit(p):]
    return [api.ex.query_json(o) for o in rows]


async def my_trades(api, p, sess):
    return await api.rest.my_trades(None, p, "", "")


METHODS = {
    "exchangeInfo": exchange_info, "depth": depth, "klines": klines, "avgPrice": avg_price,
    "ticker.price": ticker_price, "ticker.book": ticker_book, "ticker.24hr": ticker_24hr,
    "trades.recent": trades_recent, "trades.aggregate": trades_aggregate,
    "account.status": account_status, "account.rateLimits.orders": account_rate_limits_orders,
    "order.place": order_place, "order.test": order_test, "order.status": order_status,
    "order.cancel": order_cancel, "order.cancelReplace": order_cancel_replace,
    "order.amend.keepPriority": order_amend_keep_priority,
    "openOrders.status": open_orders_status, "openOrders.cancelAll": open_orders_cancel_all,
    "allOrders": all_orders, "myTrades": my_trades,
}
SIGNED = {"account.status", "account.rateLimits.orders", "order.place", "order.test", "order.status",
          "order.cancel", "order.cancelReplace", "order.amend.keepPriority", "openOrders.status",
          "openOrders.cancelAll", "allOrders", "myTrades"}
ORDER_METHODS = {"order.place", "order.cancelReplace"}  # their answers also carry the ORDERS counts
