"""USD-M futures JSON -> engine models (docs/binance_futures.md, "Orders" and "User data events")."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping

from engine.connectors.binance.parse import SIDE_FROM_VENUE, STATUS, _dec
from engine.models import OrderStatus, OrderType, OrderUpdate

TYPE_TO_VENUE = {OrderType.LIMIT: "LIMIT", OrderType.MARKET: "MARKET", OrderType.LIMIT_MAKER: "LIMIT",
                 OrderType.STOP_LIMIT: "STOP", OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT",
                 OrderType.STOP_MARKET: "STOP_MARKET", OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT_MARKET"}
TYPE_FROM_VENUE = {"LIMIT": OrderType.LIMIT, "MARKET": OrderType.MARKET, "STOP": OrderType.STOP_LIMIT,
                   "TAKE_PROFIT": OrderType.TAKE_PROFIT_LIMIT, "STOP_MARKET": OrderType.STOP_MARKET,
                   "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET, "LIQUIDATION": OrderType.MARKET}
EXCHANGE = "binance_futures"


def order_from_rest(body: Mapping[str, Any], symbol: str) -> OrderUpdate:
    """An order answer of POST/GET/DELETE /fapi/v1/order and openOrders rows."""
    executed = _dec(body.get("executedQty")) or Decimal(0)
    avg = _dec(body.get("avgPrice"))
    return OrderUpdate(
        exchange=EXCHANGE, symbol=symbol, order_id=str(body["orderId"]) if "orderId" in body else None,
        client_order_id=body.get("clientOrderId"), status=STATUS.get(body.get("status", ""), OrderStatus.SUBMITTED),
        side=SIDE_FROM_VENUE.get(body.get("side", "")),
        type=TYPE_FROM_VENUE.get(body.get("origType") or body.get("type", "")), price=_dec(body.get("price")),
        quantity=_dec(body.get("origQty")), filled_quantity=executed,
        average_price=avg if avg and executed > 0 else None,
        timestamp_ms=int(body.get("updateTime") or body.get("time") or 0), raw=body)


def order_from_event(o: Mapping[str, Any], symbol: str) -> OrderUpdate:
    """The ``o`` object of an ``ORDER_TRADE_UPDATE`` event."""
    cum = Decimal(o.get("z", "0"))
    last_qty = Decimal(o.get("l", "0"))
    avg = _dec(o.get("ap"))
    return OrderUpdate(
        exchange=EXCHANGE, symbol=symbol, order_id=str(o.get("i")), client_order_id=o.get("c"),
        status=STATUS.get(o.get("X", ""), OrderStatus.UNKNOWN), side=SIDE_FROM_VENUE.get(o.get("S", "")),
        type=TYPE_FROM_VENUE.get(o.get("ot") or o.get("o", "")), price=_dec(o.get("p")), quantity=_dec(o.get("q")),
        filled_quantity=cum, average_price=avg if avg and cum > 0 else None, last_fill_quantity=last_qty,
        last_fill_price=_dec(o.get("L")) if last_qty > 0 else None, fee=Decimal(o.get("n") or "0"),
        fee_asset=o.get("N"), timestamp_ms=int(o.get("T") or 0), raw=o)
