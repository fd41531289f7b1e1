"""Binance JSON (REST answers, WS-API and user-stream events) -> engine models. Venue facts as tables."""
from __future__ import annotations

from decimal import Decimal
from typing import Any, Mapping, Optional

from engine.models import Balance, Candle, OrderStatus, OrderType, OrderUpdate, Side, TimeInForce

STATUS = {
    "NEW": OrderStatus.OPEN,
    "PENDING_NEW": OrderStatus.SUBMITTED,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "PENDING_CANCEL": OrderStatus.OPEN,
    "REJECTED": OrderStatus.REJECTED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
}
SIDE_TO_VENUE = {Side.BUY: "BUY", Side.SELL: "SELL"}
SIDE_FROM_VENUE = {"BUY": Side.BUY, "SELL": Side.SELL}
TYPE_TO_VENUE = {
    OrderType.LIMIT: "LIMIT",
    OrderType.MARKET: "MARKET",
    OrderType.LIMIT_MAKER: "LIMIT_MAKER",
    OrderType.STOP_LIMIT: "STOP_LOSS_LIMIT",
    OrderType.TAKE_PROFIT_LIMIT: "TAKE_PROFIT_LIMIT",
    OrderType.STOP_MARKET: "STOP_LOSS",
    OrderType.TAKE_PROFIT_MARKET: "TAKE_PROFIT",
}
TYPE_FROM_VENUE = {v: k for k, v in TYPE_TO_VENUE.items()}
TIF_TO_VENUE = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK"}


def _dec(v: Any) -> Optional[Decimal]:
    if v is None or v == "":
        return None
    return Decimal(str(v))


def order_from_rest(body: Mapping[str, Any], symbol: str) -> OrderUpdate:
    """An order answer (POST/GET/DELETE /api/v3/order, openOrders rows), any newOrderRespType."""
    executed = _dec(body.get("executedQty")) or Decimal(0)
    quote = _dec(body.get("cummulativeQuoteQty"))
    avg = (quote / executed) if (quote is not None and executed > 0) else None
    fee = Decimal(0)
    fee_asset = None
    for fill in body.get("fills") or ():
        fee += Decimal(fill.get("commission", "0"))
        fee_asset = fill.get("commissionAsset", fee_asset)
    status = STATUS.get(body.get("status", ""), OrderStatus.SUBMITTED)  # ACK answers have no status
    client_id = body.get("origClientOrderId") or body.get("clientOrderId")
    return OrderUpdate(
        exchange="binance", symbol=symbol, order_id=str(body["orderId"]) if "orderId" in body else None,
        client_order_id=client_id, status=status, side=SIDE_FROM_VENUE.get(body.get("side", "")),
        type=TYPE_FROM_VENUE.get(body.get("type", "")), price=_dec(body.get("price")),
        quantity=_dec(body.get("origQty")), filled_quantity=executed, average_price=avg,
        fee=fee, fee_asset=fee_asset,
        timestamp_ms=int(body.get("transactTime") or body.get("updateTime") or body.get("time") or 0), raw=body,
    )


def order_from_execution_report(ev: Mapping[str, Any], symbol: str) -> OrderUpdate:
    """A user-data ``executionReport`` event. On a cancel, ``c`` is the cancel's id and ``C`` the order's."""
    cum = Decimal(ev.get("z", "0"))
    quote = _dec(ev.get("Z"))
    avg = (quote / cum) if (quote is not None and cum > 0) else None
    last_qty = Decimal(ev.get("l", "0"))
    client_id = ev.get("C") or ev.get("c")
    return OrderUpdate(
        exchange="binance", symbol=symbol, order_id=str(ev.get("i")), client_order_id=client_id,
        status=STATUS.get(ev.get("X", ""), OrderStatus.UNKNOWN), side=SIDE_FROM_VENUE.get(ev.get("S", "")),
        type=TYPE_FROM_VENUE.get(ev.get("o", "")), price=_dec(ev.get("p")), quantity=_dec(ev.get("q")),
        filled_quantity=cum, average_price=avg, last_fill_quantity=last_qty,
        last_fill_price=_dec(ev.get("L")) if last_qty > 0 else None,
        fee=Decimal(ev.get("n") or "0"), fee_asset=ev.get("N"),
        reason="" if ev.get("r") in (None, "NONE") else str(ev.get("r")),
        timestamp_ms=int(ev.get("T") or ev.get("E") or 0), raw=ev,
    )


def balances_from_account(body: Mapping[str, Any]) -> dict[str, Balance]:
    return {b["asset"]: Balance(b["asset"], Decimal(b["free"]), Decimal(b["locked"]))
            for b in body.get("balances", ())}


def candle_from_kline(row: list) -> Candle:
    return Candle(open_time_ms=int(row[0]), open=Decimal(row[1]), high=Decimal(row[2]), low=Decimal(row[3]),
                  close=Decimal(row[4]), volume=Decimal(row[5]), close_time_ms=int(row[6]),
                  trades=int(row[8]) if len(row) > 8 else 0)
