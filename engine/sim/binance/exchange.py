"""The simulated Binance spot exchange: markets, one trading account, orders, and user-data events.

Validation and answers follow Binance's documented rules and error codes (filters -1013, precision -1111,
balance -2010, unknown order -2011/-2013, duplicate client order id -2010). Every order event is published
to user-data subscribers as ``executionReport`` + ``outboundAccountPosition``. New orders are counted against
the account's ORDERS limits (``order_limits``, engine/sim/binance/order_limits.py): refused with -1015 while a
window is full, counted once accepted, and an order's first fill takes one off again.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Callable, Optional

from .errors import SimError
from .market import DEFAULT_SYMBOLS, Fill, Order, SymbolMarket, SymbolSpec, now_ms
from .order_limits import OrderLimits

COMMISSION = Decimal("0.001")
TYPES = ("LIMIT", "MARKET", "LIMIT_MAKER", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT")
TIFS = ("GTC", "IOC", "FOK")
CLIENT_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


@dataclass
class Balance:
    free: Decimal
    locked: Decimal = Decimal(0)


class DataError(SimError):
    """A SimError whose answer also carries ``data`` (cancelReplace outcomes, the WS API's retryAfter)."""

    def __init__(self, code: int, msg: str, data: dict, http: int = 400):
        super().__init__(code, msg, http=http)
        self.data = data

    def body(self) -> dict:
        return {"code": self.code, "msg": self.msg, "data": self.data}


# cancelReplace parameters naming the order to cancel -> their names in a cancel request
CANCEL_PARAMS = {"cancelOrderId": "orderId", "cancelOrigClientOrderId": "origClientOrderId",
                 "cancelNewClientOrderId": "newClientOrderId"}


class SimExchange:
    def __init__(self, seed: int = 1, symbols: tuple = DEFAULT_SYMBOLS, balances: Optional[dict] = None):
        self.rng = random.Random(seed)
        self.markets: dict[str, SymbolMarket] = {}
        for spec in symbols:
            m = SymbolMarket(spec, random.Random(self.rng.random()))
            m.on_fill = self._on_fill
            self.markets[spec.symbol] = m
        self.balances: dict[str, Balance] = {a: Balance(Decimal(v)) for a, v in (balances or {
            "USDT": "100000", "BTC": "1", "ETH": "10", "SOL": "100"}).items()}
        self.orders: dict[int, Order] = {}
        self.by_client: dict[tuple, int] = {}  # (symbol, client id) -> order id
        self.my_trades: list[dict] = []
        self.quote_order_qty: dict[int, Decimal] = {}  # order id -> quoteOrderQty of a MARKET order sent with it
        self._ids = itertools.count(1)
        self.listeners: list[Callable[[dict], None]] = []
        self.order_limits = OrderLimits()  # the account's unfilled order count, shared by REST and the WS API

    # -- user-data events
    def _publish(self, event: dict) -> None:
        for cb in list(self.listeners):
            cb(event)

    def _execution_report(self, o: Order, exec_type: str, last_px: int = 0, last_qty: int = 0,
                          commission: Decimal = Decimal(0), commission_asset: Optional[str] = None,
                          trade_id: int = -1, maker: bool = False, reject: str = "NONE") -> None:
        spec = self.markets[o.symbol].spec
        self._publish({
            "e": "executionReport", "E": now_ms(), "s": o.symbol, "c": o.client_id, "S": o.side, "o": o.type,
            "f": o.tif, "q": spec.qty(o.qty), "p": spec.px(o.price), "P": spec.px(o.stop), "F": "0.00000000",
            "g": -1, "C": "", "x": exec_type, "X": o.status, "r": reject, "i": o.order_id,
            "l": spec.qty(last_qty), "z": spec.qty(o.filled), "L": spec.px(last_px),
            "n": f"{commission:.8f}", "N": commission_asset, "T": o.update_ms, "t": trade_id, "I": next(self._ids),
            "w": o.status in ("NEW", "PARTIALLY_FILLED") and o.working, "m": maker, "M": False, "O": o.time_ms,
            "Z": f"{o.quote_filled:.8f}", "Y": f"{spec.tick * last_px * spec.step * last_qty:.8f}",
            "Q": "0.00000000", "W": o.time_ms, "V": "EXPIRE_MAKER"})

    def _account_position(self, assets) -> None:
        self._publish({"e": "outboundAccountPosition", "E": now_ms(), "u": now_ms(),
                       "B": [{"a": a, "f": f"{self.balances[a].free:.8f}", "l": f"{self.balances[a].locked:.8f}"}
                             for a in assets if a in self.balances]})

    # -- balances
    def _bal(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance(Decimal(0)))

    def _on_fill(self, f: Fill) -> None:
        o, spec = f.order, self.markets[f.order.symbol].spec
        qty = spec.step * f.qty
        quote = spec.tick * f.price * qty
        base_b, quote_b = self._bal(spec.base), self._bal(spec.quote)
        if not o.fills:  # its first fill: the order no longer counts against the ORDERS limits
            self.order_limits.filled()
        if o.side == "BUY":
            # the lock was taken at the order's limit price (or the ask for market orders)
            lock = spec.tick * (o.price or f.price) * qty
            quote_b.locked -= lock
            quote_b.free += lock - quote
            fee = qty * COMMISSION
            base_b.free += qty - fee
            fee_asset = spec.base
        else:
            base_b.locked -= qty
            fee = quote * COMMISSION
            quote_b.free += quote - fee
            fee_asset = spec.quote
        self.my_trades.append({"symbol": o.symbol, "id": f.trade_id, "orderId": o.order_id, "orderListId": -1,
                               "price": spec.px(f.price), "qty": spec.qty(f.qty), "quoteQty": f"{quote:.8f}",
                               "commission": f"{fee:.8f}", "commissionAsset": fee_asset, "time": now_ms(),
                               "isBuyer": o.side == "BUY", "isMaker": f.maker, "isBestMatch": True})
        o.fills.append({"price": spec.px(f.price), "qty": spec.qty(f.qty), "commission": f"{fee:.8f}",
                        "commissionAsset": fee_asset, "tradeId": f.trade_id})
        if o.status == "FILLED":
            self._release(o)
        self._execution_report(o, "TRADE", f.price, f.qty, fee, fee_asset, f.trade_id, f.maker)
        self._account_position((spec.base, spec.quote))

    def _release(self, o: Order) -> None:
        """Unlock what an order still holds (it filled, was canceled or expired)."""
        spec = self.markets[o.symbol].spec
        rem = spec.step * o.remaining
        if o.side == "BUY":
            b = self._bal(spec.quote)
            amount = spec.tick * o.price * rem if o.price else o.market_lock - o.quote_filled
            amount = max(Decimal(0), min(amount, b.locked))
            b.locked -= amount
            b.free += amount
        else:
            b = self._bal(spec.base)
            amount = min(rem, b.locked)
            b.locked -= amount
            b.free += amount

    # -- orders
    def check(self, p: dict) -> tuple:
        """Validate a new order exactly as place() does, without locking funds or matching it (the WS API's
        order.test, and order.cancelReplace, which checks its new order before it cancels)."""
        sym = p.get("symbol", "")
        m = self.markets.get(sym)
        if m is None:
            raise SimError(-1121, "Invalid symbol.")
        spec = m.spec
        side, typ = p.get("side"), p.get("type")
        if side not in ("BUY", "SELL"):
            raise SimError(-1117 if side else -1102, "Invalid side." if side else
                           "Mandatory parameter 'side' was not sent, was empty/null, or malformed.")
        if typ not in TYPES:
            raise SimError(-1116 if typ else -1102, "Invalid orderType." if typ else
                           "Mandatory parameter 'type' was not sent, was empty/null, or malformed.")
        needs_price = typ != "MARKET"
        tif = p.get("timeInForce", "GTC" if typ in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") else "")
        if typ in ("LIMIT", "STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") and "timeInForce" not in p:
            raise SimError(-1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed.")
        if typ == "MARKET" and "timeInForce" in p:
            raise SimError(-1106, "Parameter 'timeInForce' sent when not required.")
        if tif and tif not in TIFS:
            raise SimError(-1115, "Invalid timeInForce.")
        if "quoteOrderQty" in p and typ != "MARKET":
            raise SimError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        if typ == "MARKET" and p.get("quoteOrderQty") not in (None, ""):
            if p.get("quantity") not in (None, ""):
                raise SimError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
            qty = self._quote_qty(m, side, self._num(p, "quoteOrderQty"))
        elif typ == "MARKET" and p.get("quantity") in (None, ""):
            raise SimError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
        else:
            qty = self._num(p, "quantity")
        price = self._num(p, "price") if needs_price else None
        stop = self._num(p, "stopPrice") if typ in ("STOP_LOSS_LIMIT", "TAKE_PROFIT_LIMIT") else None
        for name, v, unit in (("price", price, spec.tick), ("quantity", qty, spec.step), ("stopPrice", stop, spec.tick)):
            if v is not None and (v / unit) != (v / unit).to_integral_value():
                # more precision than the asset allows -1111; off-grid but representable -1013
                if -v.as_tuple().exponent > 8:
                    raise SimError(-1111, "Precision is over the maximum defined for this asset.")
                raise SimError(-1013, "Filter failure: PRICE_FILTER" if name != "quantity" else "Filter failure: LOT_SIZE")
        if qty < spec.min_qty:
            raise SimError(-1013, "Filter failure: LOT_SIZE")
        ref = price if price is not None else spec.tick * (m.best_ask() if side == "BUY" else m.best_bid() or 0)
        if ref * qty < spec.min_notional:
            raise SimError(-1013, "Filter failure: NOTIONAL")
        cid = p.get("newClientOrderId") or f"sim-{next(self._ids)}"
        if len(cid) > 36 or not set(cid) <= CLIENT_ID_CHARS:
            raise SimError(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                                  "'^[a-zA-Z0-9-_]{1,36}$'.")
        prev = self.by_client.get((sym, cid))
        if prev is not None and self.orders[prev].status in ("NEW", "PARTIALLY_FILLED"):
            raise SimError(-2010, "Duplicate order sent.")
        return m, spec, side, typ, price, qty, stop, ref, tif, cid

    @staticmethod
    def _quote_qty(m: SymbolMarket, side: str, quote: Decimal) -> Decimal:
        """The quantity a MARKET order sent with ``quoteOrderQty`` executes: as many lot steps as ``quote``
        buys from the asks (BUY), or as are needed to receive at most ``quote`` from the bids (SELL), walking
        the book as it is now; never off the LOT_SIZE grid (docs/binance.md, "quoteOrderQty")."""
        spec = m.spec
        levels = sorted(m.asks.items()) if side == "BUY" else sorted(m.bids.items(), reverse=True)
        left, steps = quote, 0
        for price, avail in levels:
            per_step = spec.tick * price * spec.step
            take = min(avail, int(left / per_step))
            steps += take
            left -= take * per_step
            if take < avail:
                break
        if steps == 0:
            raise SimError(-2010, "Order book liquidity is less than `LOT_SIZE` filter minimum quantity.")
        return spec.step * steps

    def place(self, p: dict, order_limits: bool = True) -> Order:
        """Place a new order; ``order_limits=False`` when the caller counted it already (cancelReplace)."""
        if order_limits:
            self.order_limits.check()  # -1015 while a window of the ORDERS limits is full, before anything else
        m, spec, side, typ, price, qty, stop, ref, tif, cid = self.check(p)
        sym = spec.symbol
        # lock funds
        steps = int(qty / spec.step)
        if side == "BUY":
            lock = (price if price is not None else ref * Decimal("1.05")) * qty
            b = self._bal(spec.quote)
        else:
            lock = qty
            b = self._bal(spec.base)
        if b.free < lock:
            raise SimError(-2010, "Account has insufficient balance for requested action.")
        b.free -= lock
        b.locked += lock
        t = now_ms()
        o = Order(next(self._ids), cid, sym, side, typ, tif, int(price / spec.tick) if price is not None else 0,
                  steps, int(stop / spec.tick) if stop is not None else 0, time_ms=t, update_ms=t)
        if price is None:
            o.market_lock = lock
        self.orders[o.order_id] = o
        self.by_client[(sym, cid)] = o.order_id
        if typ == "MARKET" and p.get("quoteOrderQty"):
            self.quote_order_qty[o.order_id] = Decimal(p["quoteOrderQty"])
        self._execution_report(o, "NEW")
        if order_limits:
            self.order_limits.count()  # accepted (an IOC/FOK that expires unfilled counts too)
        m.submit(o)
        if o.status == "EXPIRED" and typ == "LIMIT_MAKER":
            if order_limits:
                self.order_limits.uncount()  # refused after all
            self._release(o)
            del self.orders[o.order_id]
            raise SimError(-2010, "Order would immediately match and take.")
        if o.status == "EXPIRED":
            self._release(o)
            self._execution_report(o, "EXPIRED")
        self._account_position((spec.base, spec.quote))
        return o

    @staticmethod
    def _num(p: dict, name: str) -> Decimal:
        raw = p.get(name)
        if raw is None or raw == "":
            raise SimError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
        if not all(c in "0123456789." for c in raw) or raw.count(".") > 1 or raw in (".",):
            raise SimError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                  "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.")
        try:
            v = Decimal(raw)
        except InvalidOperation:
            raise SimError(-1100, f"Illegal characters found in parameter '{name}'.") from None
        if v <= 0:
            raise SimError(-1013, f"Invalid {name}.")
        return v

    def find(self, p: dict) -> Order:
        sym = p.get("symbol", "")
        if sym not in self.markets:
            raise SimError(-1121, "Invalid symbol.")
        oid = p.get("orderId")
        if oid is not None:
            o = self.orders.get(int(oid)) if str(oid).isdigit() else None
        elif p.get("origClientOrderId"):
            o = self.orders.get(self.by_client.get((sym, p["origClientOrderId"]), -1))
        else:
            raise SimError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        if o is None or o.symbol != sym:
            raise SimError(-2013, "Order does not exist.")
        return o

    def find_open(self, p: dict, code: int) -> Order:
        """The open order ``p`` names; an unknown or closed one is ``code`` "Unknown order sent." (-2011 for a
        cancel, -2038 for an amend)."""
        try:
            o = self.find(p)
        except SimError as e:
            if e.code == -2013:
                raise SimError(code, "Unknown order sent.") from None
            raise
        if o.status not in ("NEW", "PARTIALLY_FILLED"):
            raise SimError(code, "Unknown order sent.")
        return o

    def cancel(self, p: dict) -> Order:
        o = self.find_open(p, -2011)
        self.markets[o.symbol].cancel(o)
        self._release(o)
        self._execution_report(o, "CANCELED")
        spec = self.markets[o.symbol].spec
        self._account_position((spec.base, spec.quote))
        return o

    def cancel_json(self, o: Order, p: dict) -> dict:
        """The answer to a cancel (``p`` the cancel request: its ``newClientOrderId`` names the cancel)."""
        return self.order_json(o, "RESULT", cancel_client_id=p.get("newClientOrderId") or f"cancel-{o.order_id}")

    def cancel_replace(self, p: dict) -> dict:
        """Cancel an order and place a new one on the same symbol (REST ``POST /api/v3/order/cancelReplace``, WS
        API ``order.cancelReplace``; docs/binance.md, "cancelReplace"). The new order's filters and the ORDERS
        limits are checked before anything is canceled; the request counts one order, attempted or not. One
        half failing is a DataError: -2021 (HTTP 409) when the other half succeeded, -2022 (400) when not."""
        mode = p.get("cancelReplaceMode")
        if mode not in ("STOP_ON_FAILURE", "ALLOW_FAILURE"):
            raise SimError(-1102 if not mode else -1100, "Mandatory parameter 'cancelReplaceMode' was not sent, was "
                           "empty/null, or malformed." if not mode else "Illegal characters found in parameter "
                           "'cancelReplaceMode'; legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.")
        cancel = {"symbol": p.get("symbol", "")}
        cancel.update({CANCEL_PARAMS[k]: v for k, v in p.items() if k in CANCEL_PARAMS})
        new = {k: v for k, v in p.items() if k not in CANCEL_PARAMS and k != "cancelReplaceMode"}
        if "orderId" not in cancel and "origClientOrderId" not in cancel:
            raise SimError(-1102, "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were "
                                  "empty/null!")
        self.check(new)  # filters are evaluated before anything is canceled
        self.order_limits.check()  # and the ORDERS limits: a plain -1015 cancels nothing (DO_NOTHING)
        self.order_limits.count()
        try:
            o = self.find(cancel) if "orderId" in cancel else None
            if o is not None and cancel.get("origClientOrderId") not in (None, o.client_id):
                raise SimError(-2011, "Unknown order sent.")  # both sent: the id's order must carry that client id
            cancel_result, cancel_body = "SUCCESS", self.cancel_json(self.cancel(cancel), cancel)
        except SimError as e:
            if e.code == -2013:
                e = SimError(-2011, "Unknown order sent.")
            cancel_result, cancel_body = "FAILURE", e.body()
        new_result, new_body = "NOT_ATTEMPTED", None
        if cancel_result == "SUCCESS" or mode == "ALLOW_FAILURE":
            try:
                n = self.place(new, order_limits=False)
                resp = new.get("newOrderRespType") or ("FULL" if n.type in ("LIMIT", "MARKET") else "ACK")
                new_result, new_body = "SUCCESS", self.order_json(n, resp)
            except SimError as e:
                new_result, new_body = "FAILURE", e.body()
        out = {"cancelResult": cancel_result, "newOrderResult": new_result, "cancelResponse": cancel_body,
               "newOrderResponse": new_body}
        if cancel_result == new_result == "SUCCESS":
            return out
        if "SUCCESS" in (cancel_result, new_result):
            raise DataError(-2021, "Order cancel-replace partially failed.", out, http=409)
        raise DataError(-2022, "Order cancel-replace failed.", out)

    def amend_keep_priority(self, p: dict) -> dict:
        """Reduce an open order's quantity in place, keeping its priority (REST ``PUT
        /api/v3/order/amend/keepPriority``, WS API ``order.amend.keepPriority``; docs/binance.md, "Order amend
        keep priority"). Counts no order; the order keeps its id and place in the queue, its client id becomes
        ``newClientOrderId`` (or a new one), and an ``executionReport`` with ``x`` REPLACED follows."""
        if p.get("orderId") is None and not p.get("origClientOrderId"):
            raise SimError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        new_qty = self._num(p, "newQty")
        o = self.find_open(p, -2038)
        m = self.markets[o.symbol]
        spec = m.spec
        if (new_qty / spec.step) != (new_qty / spec.step).to_integral_value() or new_qty < spec.min_qty:
            raise SimError(-1013, "Filter failure: LOT_SIZE")
        steps = int(new_qty / spec.step)
        if steps == o.qty:
            raise SimError(-2038, "The requested action would change no state; rejecting")
        if steps > o.qty:
            raise SimError(-2038, "Order amend (quantity increase) is not supported.")
        if steps <= o.filled:  # the simulator's choice: an amend may not fill the order by itself
            raise SimError(-1013, "Invalid newQty.")
        cid = p.get("newClientOrderId") or f"sim-{next(self._ids)}"
        if len(cid) > 36 or not set(cid) <= CLIENT_ID_CHARS:
            raise SimError(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                                  "'^[a-zA-Z0-9-_]{1,36}$'.")
        other = self.by_client.get((o.symbol, cid))
        if other is not None and other != o.order_id and self.orders[other].status in ("NEW", "PARTIALLY_FILLED"):
            raise SimError(-2010, "Duplicate order sent.")
        cut = o.qty - steps
        if o.working:  # the book level shrinks by what the order gives up; the order keeps its place
            side = "b" if o.side == "BUY" else "a"
            book = m.bids if side == "b" else m.asks
            m._set(side, o.price, book.get(o.price, 0) - cut)
        if o.side == "BUY":
            b, amount = self._bal(spec.quote), spec.tick * o.price * spec.step * cut
        else:
            b, amount = self._bal(spec.base), spec.step * cut
        amount = min(amount, b.locked)
        b.locked -= amount
        b.free += amount
        orig = o.client_id
        o.qty, o.client_id, o.update_ms = steps, cid, now_ms()
        self.by_client[(o.symbol, cid)] = o.order_id
        self._execution_report(o, "REPLACED")
        self._account_position((spec.base, spec.quote))
        return {"transactTime": o.update_ms, "executionId": next(self._ids),
                "amendedOrder": {"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1,
                                 "origClientOrderId": orig, "clientOrderId": cid, "price": spec.px(o.price),
                                 "qty": spec.qty(o.qty), "executedQty": spec.qty(o.filled),
                                 "preventedQty": "0.00000000", "quoteOrderQty": "0.00000000",
                                 "cumulativeQuoteQty": f"{o.quote_filled:.8f}", "status": o.status,
                                 "timeInForce": o.tif or "GTC", "type": o.type, "side": o.side,
                                 "workingTime": o.time_ms if o.working else -1,
                                 "selfTradePreventionMode": "EXPIRE_MAKER"}}

    def open_orders(self, symbol: Optional[str] = None) -> list:
        return [o for o in self.orders.values()
                if o.status in ("NEW", "PARTIALLY_FILLED") and (symbol is None or o.symbol == symbol)]

    def order_json(self, o: Order, resp_type: str = "RESULT", cancel_client_id: Optional[str] = None) -> dict:
        spec = self.markets[o.symbol].spec
        body = {"symbol": o.symbol, "orderId": o.order_id, "orderListId": -1, "clientOrderId": o.client_id,
                "transactTime": o.update_ms}
        if cancel_client_id is not None:
            body = {"symbol": o.symbol, "origClientOrderId": o.client_id, "orderId": o.order_id,
                    "orderListId": -1, "clientOrderId": cancel_client_id, "transactTime": o.update_ms}
        if resp_type == "ACK":
            return body
        body.update({"price": spec.px(o.price), "origQty": spec.qty(o.qty), "executedQty": spec.qty(o.filled),
                     "origQuoteOrderQty": f"{self.quote_order_qty.get(o.order_id, Decimal(0)):.8f}",
                     "cummulativeQuoteQty": f"{o.quote_filled:.8f}",
                     "status": o.status, "timeInForce": o.tif or "GTC", "type": o.type, "side": o.side,
                     "workingTime": o.time_ms if o.working else -1, "selfTradePreventionMode": "EXPIRE_MAKER"})
        if o.stop:
            body["stopPrice"] = spec.px(o.stop)
        if resp_type == "FULL":
            body["fills"] = list(o.fills)
        return body

    def query_json(self, o: Order) -> dict:
        body = self.order_json(o, "RESULT")
        body.pop("transactTime", None)
        body.update({"stopPrice": self.markets[o.symbol].spec.px(o.stop), "icebergQty": "0.00000000",
                     "time": o.time_ms, "updateTime": o.update_ms, "isWorking": o.working})
        return body

    def step(self) -> None:
        """One tick of every market (the random walk; fills of resting user orders happen here)."""
        for m in self.markets.values():
            m.step()
            m.check_stops()

    def spec(self, symbol: str) -> SymbolSpec:
        return self.markets[symbol].spec
