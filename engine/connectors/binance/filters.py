"""Symbol trading rules from exchangeInfo, and quantizing orders to them (exact Decimal arithmetic).

An order that breaks a filter is refused here with a clear message instead of costing a round trip and a
-1013/-1111 from the venue. Prices round toward the passive side (a buy never pays more than asked, a sell
never receives less); quantities round down (never more than the caller asked for).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Optional

from engine.errors import OrderRejectedError

ZERO = Decimal(0)


def _d(value, name: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"{name} must be Decimal, str or int, not float (a float is not an exact price)")
    try:
        d = Decimal(value)
    except Exception:
        raise ValueError(f"{name}={value!r} is not a number") from None
    if not d.is_finite():
        raise ValueError(f"{name}={value!r} is not finite")
    return d


def plain(d: Decimal) -> str:
    """A decimal string Binance accepts: no exponent, no trailing zeros beyond what the value needs."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


@dataclass(frozen=True)
class SymbolRules:
    symbol: str
    base_asset: str
    quote_asset: str
    status: str = "TRADING"
    tick_size: Decimal = ZERO
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO
    step_size: Decimal = ZERO
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO
    market_step_size: Decimal = ZERO
    market_min_qty: Decimal = ZERO
    market_max_qty: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_notional: Decimal = ZERO
    apply_min_to_market: bool = True
    order_types: tuple = ()

    @classmethod
    def from_exchange_info(cls, s: dict) -> "SymbolRules":
        f = {flt.get("filterType"): flt for flt in s.get("filters", ())}
        pf, ls, ml = f.get("PRICE_FILTER", {}), f.get("LOT_SIZE", {}), f.get("MARKET_LOT_SIZE", {})
        notional = f.get("NOTIONAL") or {}
        legacy = f.get("MIN_NOTIONAL") or {}
        D = lambda x: Decimal(str(x)) if x not in (None, "") else ZERO  # noqa: E731 (strings or numbers)
        tick, step = D(pf.get("tickSize")), D(ls.get("stepSize"))
        return cls(
            symbol=s["symbol"], base_asset=s.get("baseAsset", ""), quote_asset=s.get("quoteAsset", ""),
            status=s.get("status", "TRADING"),
            tick_size=tick, min_price=D(pf.get("minPrice")), max_price=D(pf.get("maxPrice")),
            step_size=step, min_qty=D(ls.get("minQty")), max_qty=D(ls.get("maxQty")),
            market_step_size=D(ml.get("stepSize")), market_min_qty=D(ml.get("minQty")),
            market_max_qty=D(ml.get("maxQty")),
            min_notional=D(notional.get("minNotional", legacy.get("minNotional"))),
            max_notional=D(notional.get("maxNotional")),
            apply_min_to_market=bool(notional.get("applyMinToMarket", legacy.get("applyToMarket", True))),
            order_types=tuple(s.get("orderTypes", ())),
        )

    # -- quantizing
    def quantize_price(self, price, side_is_buy: bool) -> Decimal:
        p = _d(price, "price")
        if self.tick_size > 0:
            rounding = ROUND_FLOOR if side_is_buy else ROUND_CEILING
            p = (p / self.tick_size).to_integral_value(rounding=rounding) * self.tick_size
        return p

    def quantize_qty(self, qty, market: bool = False) -> Decimal:
        q = _d(qty, "quantity")
        step = self.market_step_size if market and self.market_step_size > 0 else self.step_size
        if step > 0:
            q = (q / step).to_integral_value(rounding=ROUND_FLOOR) * step
        return q

    def check(self, price: Optional[Decimal], qty: Decimal, market: bool = False,
              reference_price: Optional[Decimal] = None) -> None:
        """Raise OrderRejectedError naming the filter an order would break."""
        if self.status != "TRADING":
            raise self._reject(f"symbol status is {self.status}")
        if qty <= 0:
            raise self._reject(f"quantity {plain(qty)} rounds to zero at stepSize {plain(self.step_size)}")
        lo, hi = ((self.market_min_qty, self.market_max_qty) if market and self.market_max_qty > 0
                  else (self.min_qty, self.max_qty))
        if lo > 0 and qty < lo:
            raise self._reject(f"LOT_SIZE: quantity {plain(qty)} < minQty {plain(lo)}")
        if hi > 0 and qty > hi:
            raise self._reject(f"LOT_SIZE: quantity {plain(qty)} > maxQty {plain(hi)}")
        if price is not None:
            if price <= 0:
                raise self._reject(f"PRICE_FILTER: price {plain(price)} rounds to zero")
            if self.min_price > 0 and price < self.min_price:
                raise self._reject(f"PRICE_FILTER: price {plain(price)} < minPrice {plain(self.min_price)}")
            if self.max_price > 0 and price > self.max_price:
                raise self._reject(f"PRICE_FILTER: price {plain(price)} > maxPrice {plain(self.max_price)}")
        ref = price if price is not None else reference_price
        if ref is not None and (not market or self.apply_min_to_market):
            notional = ref * qty
            if self.min_notional > 0 and notional < self.min_notional:
                raise self._reject(f"NOTIONAL: {plain(notional)} < minNotional {plain(self.min_notional)}")
            if self.max_notional > 0 and notional > self.max_notional:
                raise self._reject(f"NOTIONAL: {plain(notional)} > maxNotional {plain(self.max_notional)}")

    def _reject(self, why: str) -> OrderRejectedError:
        return OrderRejectedError(f"binance {self.symbol}: {why}", exchange="binance")

