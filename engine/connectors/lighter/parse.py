"""Lighter rows -> engine models: one place for the order row (REST accountActiveOrders/accountInactiveOrders
and the account_all_orders stream carry the same object) and the trade row (public and account trades).

Traps handled here (docs/lighter.md, "Trade and order rows"): ``side`` is always "" (``is_ask`` says the side); the
order's ``nonce`` is not the tx nonce; ``updated_at`` is block-granular, ``transaction_time`` (us) orders
events; ``is_maker_ask`` true means the maker sold, so the taker (the trade's side) bought; ids pass 2^53.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Mapping, Optional

from engine.models import OrderStatus, OrderType, OrderUpdate, Side, Trade

STATUS = {"open": OrderStatus.OPEN, "filled": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED,
          "canceled-expired": OrderStatus.EXPIRED, "in-progress": OrderStatus.SUBMITTED,
          "pending": OrderStatus.SUBMITTED}
# cancellations that are really rejections (hummingbot maps these to FAILED as well)
REJECTED = {"canceled-post-only", "canceled-margin-not-allowed", "canceled-too-much-slippage",
            "canceled-not-enough-liquidity", "canceled-invalid-balance", "canceled-position-not-allowed",
            "canceled-reduce-only"}
TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET, "stop-loss": OrderType.STOP_MARKET,
         "stop-loss-limit": OrderType.STOP_LIMIT, "take-profit": OrderType.TAKE_PROFIT_MARKET,
         "take-profit-limit": OrderType.TAKE_PROFIT_LIMIT}


def _dec(v) -> Decimal:
    if v in (None, ""):
        return Decimal(0)
    d = Decimal(str(v))  # InvalidOperation (an ArithmeticError) for text that is no number
    if not d.is_finite():
        raise ValueError(f"not a finite amount: {v!r}")
    return d


ORDER_DECIMALS = ("initial_base_amount", "filled_base_amount", "filled_quote_amount", "price")


def check_row(row) -> None:
    """Raise ValueError unless ``row`` is an order row (market_index) or a position row (market_id) whose
    numbers read; so one bad row of a frame is dropped, not the frame, and nothing half-parsed is reported."""
    if not isinstance(row, Mapping):
        raise ValueError("not an object")
    if "market_index" in row:
        int(row["market_index"])
        for k in ORDER_DECIMALS:
            _dec(row.get(k))
    elif "market_id" in row:
        int(row["market_id"])
        _dec(row.get("position"))
        int(row.get("sign", 1))
    else:
        raise ValueError("neither an order nor a position row")


def order_status(raw: str, filled: Decimal) -> OrderStatus:
    if raw in REJECTED:
        return OrderStatus.REJECTED
    status = STATUS.get(raw)
    if status is None:
        status = OrderStatus.CANCELED if raw.startswith("canceled") else OrderStatus.UNKNOWN
    if status is OrderStatus.OPEN and filled > 0:
        status = OrderStatus.PARTIALLY_FILLED
    return status


def order_update(row: Mapping, symbol: str) -> OrderUpdate:
    """One Lighter order row as an OrderUpdate (``symbol`` in the unified form)."""
    filled = _dec(row.get("filled_base_amount"))
    quote = _dec(row.get("filled_quote_amount"))
    raw = str(row.get("status", ""))
    status = order_status(raw, filled)
    kind = TYPES.get(str(row.get("type", "")))
    if kind is OrderType.LIMIT and row.get("time_in_force") == "post-only":
        kind = OrderType.LIMIT_MAKER
    return OrderUpdate(exchange="lighter", symbol=symbol, order_id=str(row.get("order_id") or row.get("order_index")),
                       client_order_id=str(row.get("client_order_id") or row.get("client_order_index")),
                       status=status, side=Side.SELL if row.get("is_ask") else Side.BUY, type=kind,
                       price=_dec(row.get("price")), quantity=_dec(row.get("initial_base_amount")),
                       filled_quantity=filled, average_price=(quote / filled) if filled > 0 else None,
                       reason=raw if status is OrderStatus.REJECTED else "",
                       timestamp_ms=int(row.get("transaction_time") or 0) // 1000, raw=row)


def trade(row: Mapping, symbol: str) -> Trade:
    """A public trade print (the taker's side)."""
    return Trade(exchange="lighter", symbol=symbol, price=float(row["price"]), size=float(row["size"]),
                 side=Side.BUY if row.get("is_maker_ask") else Side.SELL, trade_id=int(row["trade_id"]),
                 timestamp_ms=int(row.get("timestamp") or 0), price_str=str(row["price"]), size_str=str(row["size"]))


def position(row: Mapping) -> Decimal:
    """Signed position size from an account position row (``sign`` is 1 or -1, ``position`` is unsigned)."""
    return _dec(row.get("position")) * (-1 if int(row.get("sign", 1)) < 0 else 1)


def matches(row: Mapping, order_id: Optional[str], client_order_id: Optional[str]) -> bool:
    if order_id is not None and str(row.get("order_index")) == str(order_id):
        return True
    return client_order_id is not None and str(row.get("client_order_index")) == str(client_order_id)
