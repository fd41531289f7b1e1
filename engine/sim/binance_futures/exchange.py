"""The futures account and matching: orders, positions (one-way ``BOTH`` or hedge ``LONG``/``SHORT``), leverage,
cross/isolated margin (simplified), funding settlement, liquidation, countdownCancelAll, listenKey lifecycle.

Every state change that the venue reports on the user data stream goes through ``emit`` as the event dict
(``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``, ``MARGIN_CALL``, ``listenKeyExpired``); the stream server
subscribes with ``listeners``. Rules and simplifications: docs/binance_futures.md."""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from .errors import err
from .market import DEFAULT_SYMBOLS, Market, make_markets, now_ms

D = Decimal
ZERO = D(0)
MAKER_FEE = D("0.0002")
TAKER_FEE = D("0.0005")
PERCENT_UP, PERCENT_DOWN = D("1.0500"), D("0.9500")
MARGIN_CALL_RATIO = D("0.8")  # maintenance / margin balance at which MARGIN_CALL is sent (simulator's choice)
ORDER_TYPES = ("LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET")
CONDITIONAL = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET")
TIFS = ("GTC", "IOC", "FOK", "GTX")


def f8(x: Decimal) -> str:
    return f"{x.quantize(D('0.00000001'), rounding=ROUND_DOWN):f}"


@dataclass
class Order:
    order_id: int
    symbol: str
    client_id: str
    side: str
    type: str
    orig_type: str
    tif: str
    qty: Decimal
    price: Decimal
    stop_price: Decimal
    reduce_only: bool
    close_position: bool
    position_side: str
    working_type: str
    time: int
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    triggered: bool = False

    @property
    def open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    @property
    def left(self) -> Decimal:
        return self.qty - self.executed

    def avg(self) -> Decimal:
        return self.cum_quote / self.executed if self.executed else ZERO


@dataclass
class Position:
    symbol: str
    side: str  # BOTH, LONG, SHORT
    amt: Decimal = ZERO  # signed (SHORT positions are negative, as the venue shows them)
    entry: Decimal = ZERO
    isolated_wallet: Decimal = ZERO
    update_time: int = 0
    margin_called: bool = False


@dataclass
class Account:
    wallet: Decimal
    dual: bool = False
    leverage: dict = field(default_factory=dict)
    margin_type: dict = field(default_factory=dict)  # symbol -> "CROSSED" | "ISOLATED"
    positions: dict = field(default_factory=dict)  # (symbol, side) -> Position
    margin_called: bool = False


class FuturesExchange:
    def __init__(self, *, seed: int = 1, symbols=DEFAULT_SYMBOLS, wallet: Decimal = D("100000"),
                 funding_interval_s: float = 8 * 3600, listen_key_ttl_s: float = 3600):
        self.markets: dict[str, Market] = make_markets(seed, symbols)
        self.account = Account(D(wallet))
        for s in self.markets:
            self.account.leverage[s] = 20
            self.account.margin_type[s] = "CROSSED"
        self.orders: dict[int, Order] = {}
        self.next_order_id = 8_000_000_000
        self.user_trades: list[dict] = []
        self.income: list[dict] = []
        self.next_trade_id = 500_000_000
        self.listeners: list = []  # callables(event dict) of the private stream
        self.funding_interval_ms = int(funding_interval_s * 1000)
        self.next_funding_ms = self._next_boundary(now_ms())
        self.funding_history: dict[str, list] = {s: [] for s in self.markets}
        self.countdowns: dict[str, tuple[int, int]] = {}  # symbol -> (deadline ms, countdownTime ms)
        self.listen_key_ttl_ms = int(listen_key_ttl_s * 1000)
        self.listen_key: str | None = None
        self.listen_key_expires = 0
        self.liquidations = 0

    def _next_boundary(self, t: int) -> int:
        iv = self.funding_interval_ms
        return (t // iv + 1) * iv

    # ------------------------------------------------------------------ plumbing
    def emit(self, event: dict) -> None:
        for cb in list(self.listeners):
            cb(event)

    def market(self, symbol) -> Market:
        m = self.markets.get(symbol or "")
        if m is None:
            raise err(-1121)
        return m

    def pos(self, symbol: str, side: str) -> Position:
        key = (symbol, side)
        p = self.account.positions.get(key)
        if p is None:
            p = self.account.positions[key] = Position(symbol, side)
        return p

    def positions_of(self, symbol: str) -> list:
        sides = ("LONG", "SHORT") if self.account.dual else ("BOTH",)
        return [self.pos(symbol, s) for s in sides]

    # ------------------------------------------------------------------ margin arithmetic
    def mark(self, symbol: str) -> Decimal:
        return self.markets[symbol].mark()

    def upnl(self, p: Position) -> Decimal:
        return p.amt * (self.mark(p.symbol) - p.entry) if p.amt else ZERO

    def isolated(self, symbol: str) -> bool:
        return self.account.margin_type[symbol] == "ISOLATED"

    def position_im(self, p: Position) -> Decimal:
        return abs(p.amt) * self.mark(p.symbol) / self.account.leverage[p.symbol]

    def maint(self, p: Position) -> Decimal:
        return abs(p.amt) * self.mark(p.symbol) * self.markets[p.symbol].spec.maint_rate

    def order_im(self, o: Order) -> Decimal:
        if not o.open or o.reduce_only or o.close_position or o.type != "LIMIT":
            return ZERO
        return o.left * o.price / self.account.leverage[o.symbol]

    def all_positions(self) -> list:
        return [p for p in self.account.positions.values() if p.amt]

    def cross_wallet(self) -> Decimal:
        return self.account.wallet - sum((p.isolated_wallet for p in self.account.positions.values()), ZERO)

    def cross_upnl(self) -> Decimal:
        return sum((self.upnl(p) for p in self.all_positions() if not self.isolated(p.symbol)), ZERO)

    def total_upnl(self) -> Decimal:
        return sum((self.upnl(p) for p in self.all_positions()), ZERO)

    def open_order_im(self) -> Decimal:
        return sum((self.order_im(o) for o in self.orders.values()), ZERO)

    def cross_position_im(self) -> Decimal:
        return sum((self.position_im(p) for p in self.all_positions() if not self.isolated(p.symbol)), ZERO)

    def available(self) -> Decimal:
        return self.cross_wallet() + self.cross_upnl() - self.cross_position_im() - self.open_order_im()

    def liquidation_price(self, p: Position) -> Decimal:
        """Where margin balance meets maintenance for this position alone (others held at the current mark)."""
        if not p.amt:
            return ZERO
        mmr = self.markets[p.symbol].spec.maint_rate
        if self.isolated(p.symbol):
            w = p.isolated_wallet
        else:
            others = [q for q in self.all_positions() if q is not p and not self.isolated(q.symbol)]
            w = self.cross_wallet() + sum((self.upnl(q) - self.maint(q) for q in others), ZERO)
        denom = p.amt - abs(p.amt) * mmr
        price = (p.amt * p.entry - w) / denom if denom else ZERO
        return max(price, ZERO)

    # ------------------------------------------------------------------ user-stream bodies
    def order_event(self, o: Order, x: str, last_qty=ZERO, last_px=ZERO, fee=ZERO, trade_id=0, maker=False,
                    rp=ZERO) -> None:
        s = self.markets[o.symbol].spec
        t = now_ms()
        self.emit({"e": "ORDER_TRADE_UPDATE", "E": t, "T": t, "o": {
            "s": o.symbol, "c": o.client_id, "S": o.side, "o": o.type, "f": o.tif, "q": f"{o.qty:.{s.qty_places}f}",
            "p": f"{o.price:.{s.price_places}f}", "ap": f8(o.avg()), "sp": f"{o.stop_price:.{s.price_places}f}",
            "x": x, "X": o.status, "i": o.order_id, "l": f"{last_qty:.{s.qty_places}f}",
            "z": f"{o.executed:.{s.qty_places}f}", "L": f"{last_px:.{s.price_places}f}", "N": "USDT", "n": f8(fee),
            "T": t, "t": trade_id, "b": "0", "a": "0", "m": maker, "R": o.reduce_only, "wt": o.working_type,
            "ot": o.orig_type, "ps": o.position_side, "cp": o.close_position, "rp": f8(rp), "pP": False, "si": 0,
            "ss": 0, "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0}})

    def position_body(self, p: Position) -> dict:
        return {"s": p.symbol, "pa": f"{p.amt:f}" if p.amt else "0", "ep": f8(p.entry), "bep": f8(p.entry), "cr": "0",
                "up": f8(self.upnl(p)), "mt": "isolated" if self.isolated(p.symbol) else "cross",
                "iw": f8(p.isolated_wallet), "ps": p.side, "ma": "USDT"}

    def account_event(self, reason: str, positions: list, change: Decimal = ZERO) -> None:
        t = now_ms()
        self.emit({"e": "ACCOUNT_UPDATE", "E": t, "T": t, "a": {
            "m": reason, "B": [{"a": "USDT", "wb": f8(self.account.wallet), "cw": f8(self.cross_wallet()),
                                "bc": f8(change)}],
            "P": [self.position_body(p) for p in positions]}})

    # ------------------------------------------------------------------ orders
    def new_order_id(self) -> int:
        self.next_order_id += 1
        return self.next_order_id

    def find(self, symbol: str, order_id=None, client_id=None) -> Order:
        for o in self.orders.values():
            if o.symbol == symbol and ((order_id not in (None, "") and str(o.order_id) == str(order_id))
                                       or (client_id and o.client_id == client_id)):
                return o
        return None

    def place(self, p: dict) -> Order:
        """Validate and place one order (REST or batch params, strings); raises SimError as the venue would."""
        m = self.market(p.get("symbol"))
        spec = m.spec
        side = p.get("side")
        if side is None:
            raise err(-1102, "side")
        if side not in ("BUY", "SELL"):
            raise err(-1117)
        typ = p.get("type")
        if typ is None:
            raise err(-1102, "type")
        if typ not in ORDER_TYPES:
            raise err(-1116)
        acct = self.account
        ps = p.get("positionSide", "BOTH")
        if ps not in ("BOTH", "LONG", "SHORT"):
            raise err(-1130, "positionSide")
        if (ps == "BOTH") == acct.dual:
            raise err(-4061)
        reduce_only = _flag(p, "reduceOnly")
        close_position = _flag(p, "closePosition")
        if acct.dual and "reduceOnly" in p:
            raise err(-1106, "reduceonly")
        if close_position:
            if typ not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
                raise err(-1106, "closePosition")
            if p.get("quantity") not in (None, ""):
                raise err(-1106, "quantity")
            if "reduceOnly" in p:
                raise err(-1106, "reduceOnly")
            qty = ZERO
        else:
            qty = self._decimal(p, "quantity")
            if qty <= 0:
                raise err(-4003)
            if qty % spec.step:
                raise err(-1111) if qty.as_tuple().exponent < -spec.qty_places else err(-4023)
            if qty < spec.min_qty:
                raise err(-4004)
            if qty > (spec.market_max_qty if typ.endswith("MARKET") else spec.max_qty):
                raise err(-4005)
        price = stop = ZERO
        if typ in ("LIMIT", "STOP", "TAKE_PROFIT"):
            price = self._price(p, "price", spec)
        elif p.get("price") not in (None, ""):
            raise err(-1106, "price")
        tif = "GTC"
        if typ in ("LIMIT", "STOP", "TAKE_PROFIT"):
            tif = p.get("timeInForce") or ("GTC" if typ != "LIMIT" else None)
            if tif is None:
                raise err(-1102, "timeInForce")
            if tif not in TIFS:
                raise err(-1115)
        if typ in CONDITIONAL:
            stop = self._price(p, "stopPrice", spec)
        wt = p.get("workingType", "CONTRACT_PRICE")
        if wt not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise err(-1130, "workingType")
        mark = m.mark()
        if price:
            if side == "BUY" and price > mark * PERCENT_UP:
                raise err(-4016, f"{(mark * PERCENT_UP).quantize(spec.tick, rounding=ROUND_DOWN):f}")
            if side == "SELL" and price < mark * PERCENT_DOWN:
                raise err(-4024, f"{(mark * PERCENT_DOWN).quantize(spec.tick, rounding=ROUND_DOWN):f}")
        notional = qty * (price or mark)
        if not close_position and not reduce_only and notional < spec.min_notional:
            raise err(-4164, f"{spec.min_notional:f}")
        # what this order would close and what it would open
        closing, opening = self._split(m.spec.symbol, side, ps, qty)
        if reduce_only and (closing <= 0):
            raise err(-2022)
        if acct.dual and closing > 0 and opening > 0:
            raise err(-2022)  # a hedge-mode close larger than its position
        if reduce_only:
            opening = ZERO
        if opening > 0 and not close_position:
            if self.faults_throttle():
                raise err(-1008, http=503)
            need = opening * (price or mark) / acct.leverage[spec.symbol]
            if typ == "LIMIT" or typ == "MARKET":
                need += opening * (price or mark) * TAKER_FEE
            if need > self.available():
                raise err(-2019)
        if typ in CONDITIONAL:
            trig = mark if wt == "MARK_PRICE" else m.last_price()
            if _triggers(typ, side, stop, trig):
                raise err(-2021)
        if tif == "GTX" and typ == "LIMIT" and self._would_take(m, side, price):
            raise err(-5022)
        t = now_ms()
        cid = p.get("newClientOrderId") or "sim" + secrets.token_hex(8)
        o = Order(self.new_order_id(), spec.symbol, cid, side, typ, typ, tif, qty, price, stop, reduce_only,
                  close_position, ps, wt, t, update_time=t)
        self.orders[o.order_id] = o
        self.order_event(o, "NEW")
        if typ in ("LIMIT", "MARKET"):
            self._execute(o)
        return o

    throttle = None  # set by the server: a callable that consumes the -1008 fault

    def faults_throttle(self) -> bool:
        return bool(self.throttle and self.throttle())

    def _decimal(self, p, name) -> Decimal:
        v = p.get(name)
        if v in (None, ""):
            raise err(-1102, name)
        try:
            d = D(v)
        except Exception:
            raise err(-1100, name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$") from None
        if not d.is_finite():
            raise err(-1100, name, "^([0-9]{1,20})(\\.[0-9]{1,20})?$")
        return d

    def _price(self, p, name, spec) -> Decimal:
        d = self._decimal(p, name)
        if d <= 0 or d < spec.tick:
            raise err(-4013)
        if d % spec.tick:
            raise err(-1111) if d.as_tuple().exponent < -spec.price_places else err(-4014)
        return d

    def _split(self, symbol: str, side: str, ps: str, qty: Decimal) -> tuple:
        """(closing, opening) quantities of a ``side`` order of ``qty`` against the current position."""
        if ps == "BOTH":
            amt = self.pos(symbol, "BOTH").amt
            if (side == "BUY" and amt < 0) or (side == "SELL" and amt > 0):
                c = min(qty, abs(amt)) if qty else abs(amt)
                return c, qty - c if qty else ZERO
            return ZERO, qty
        amt = abs(self.pos(symbol, ps).amt)
        closes = (ps == "LONG" and side == "SELL") or (ps == "SHORT" and side == "BUY")
        if closes:
            c = min(qty, amt) if qty else amt
            return c, (qty - c) if qty else ZERO
        return ZERO, qty

    @staticmethod
    def _would_take(m: Market, side: str, price: Decimal) -> bool:
        if side == "BUY":
            a = m.best_ask()
            return a is not None and m.px(a) <= price
        b = m.best_bid()
        return b is not None and m.px(b) >= price

    def _cap_reduce(self, o: Order, want: Decimal) -> Decimal:
        """A reduce-only or closing order never trades more than the position it reduces."""
        if not (o.reduce_only or o.close_position):
            return want
        closing, _ = self._split(o.symbol, o.side, o.position_side, want)
        return closing

    def _execute(self, o: Order) -> None:
        """Take liquidity for a MARKET or marketable LIMIT order, then rest / expire the remainder."""
        m = self.markets[o.symbol]
        book_side = "a" if o.side == "BUY" else "b"
        if o.tif == "FOK" and o.type == "LIMIT":
            avail = sum((q for k, q in m.levels(book_side, 10_000)
                         if (m.px(k) <= o.price if o.side == "BUY" else m.px(k) >= o.price)), ZERO)
            if avail < o.left:
                self._finish(o, "EXPIRED")
                return
        while o.left > 0:
            top = m.best_ask() if o.side == "BUY" else m.best_bid()
            if top is None:
                break
            px = m.px(top)
            if o.type == "LIMIT" and (px > o.price if o.side == "BUY" else px < o.price):
                break
            want = self._cap_reduce(o, o.left)
            if want <= 0:
                break
            got = m.take(book_side, top, want)
            m.record_trade(px, got, o.side == "SELL", now_ms())
            self._fill(o, px, got, maker=False)
        if o.left > 0 and o.open:
            if o.type == "MARKET" or o.tif in ("IOC", "FOK") or self._cap_reduce(o, o.left) <= 0:
                self._finish(o, "EXPIRED")

    def _finish(self, o: Order, status: str) -> None:
        o.status = status
        o.update_time = now_ms()
        self.order_event(o, "EXPIRED" if status == "EXPIRED" else "CANCELED")

    def _fill(self, o: Order, price: Decimal, qty: Decimal, maker: bool, liquidation: bool = False) -> None:
        o.executed += qty
        o.cum_quote += price * qty
        o.status = "FILLED" if o.left <= 0 else "PARTIALLY_FILLED"
        o.update_time = now_ms()
        fee = (price * qty * (MAKER_FEE if maker else TAKER_FEE)).quantize(D("0.00000001"))
        rp = self._apply_position(o.symbol, o.position_side, o.side, qty, price)
        self.account.wallet += rp - fee
        self.next_trade_id += 1
        t = now_ms()
        self.user_trades.append({
            "buyer": o.side == "BUY", "commission": f8(fee), "commissionAsset": "USDT", "id": self.next_trade_id,
            "maker": maker, "orderId": o.order_id, "price": f"{price:f}", "qty": f"{qty:f}",
            "quoteQty": f8(price * qty), "realizedPnl": f8(rp), "side": o.side, "positionSide": o.position_side,
            "symbol": o.symbol, "time": t})
        if rp:
            self.income.append({"symbol": o.symbol, "incomeType": "REALIZED_PNL", "income": f8(rp), "asset": "USDT",
                                "time": t, "info": "", "tranId": self.next_trade_id,
                                "tradeId": str(self.next_trade_id)})
        self.income.append({"symbol": o.symbol, "incomeType": "COMMISSION", "income": f8(-fee), "asset": "USDT",
                            "time": t, "info": "", "tranId": self.next_trade_id, "tradeId": str(self.next_trade_id)})
        self.order_event(o, "CALCULATED" if liquidation else "TRADE", qty, price, fee, self.next_trade_id, maker, rp)
        self.account_event("ORDER", [self.pos(o.symbol, o.position_side)])

    def _apply_position(self, symbol: str, ps: str, side: str, qty: Decimal, price: Decimal) -> Decimal:
        """Move the position by one fill; returns the realized PnL (before fees)."""
        p = self.pos(symbol, ps)
        lev = self.account.leverage[symbol]
        delta = qty if side == "BUY" else -qty
        rp = ZERO
        old = abs(p.amt)
        if p.amt == 0 or (p.amt > 0) == (delta > 0):
            new = old + qty
            p.entry = (old * p.entry + qty * price) / new
            p.amt += delta
            if self.isolated(symbol):
                p.isolated_wallet += qty * price / lev
        else:
            close = min(qty, old)
            rp = close * (price - p.entry) * (1 if p.amt > 0 else -1)
            if self.isolated(symbol) and old:
                p.isolated_wallet = p.isolated_wallet * (old - close) / old
            p.amt += delta
            if p.amt == 0:
                p.entry = ZERO
            elif close < qty:  # one-way flip: the rest opens at the fill price
                p.entry = price
                if self.isolated(symbol):
                    p.isolated_wallet = abs(p.amt) * price / lev
        p.update_time = now_ms()
        p.margin_called = False
        return rp

    def cancel(self, o: Order) -> Order:
        if not o.open:
            raise err(-2011)
        self._finish(o, "CANCELED")
        return o

    def cancel_all(self, symbol: str) -> int:
        n = 0
        for o in list(self.orders.values()):
            if o.symbol == symbol and o.open:
                self._finish(o, "CANCELED")
                n += 1
        return n

    # ------------------------------------------------------------------ settings
    def set_leverage(self, symbol: str, lev: int) -> None:
        spec = self.market(symbol).spec
        if not 1 <= lev <= spec.max_leverage:
            raise err(-4028, lev)
        self.account.leverage[symbol] = lev

    def set_margin_type(self, symbol: str, mt: str) -> None:
        self.market(symbol)
        if mt not in ("ISOLATED", "CROSSED"):
            raise err(-1130, "marginType")
        if self.account.margin_type[symbol] == mt:
            raise err(-4046)
        if any(p.amt for p in self.positions_of(symbol)):
            raise err(-4048)
        if any(o.open and o.symbol == symbol for o in self.orders.values()):
            raise err(-4047)
        self.account.margin_type[symbol] = mt

    def set_dual(self, dual: bool) -> None:
        if dual == self.account.dual:
            raise err(-4059)
        if self.all_positions():
            raise err(-4068)
        if any(o.open for o in self.orders.values()):
            raise err(-4067)
        self.account.dual = dual

    # ------------------------------------------------------------------ listenKey
    def listen_key_start(self) -> str:
        if self.listen_key is None:
            self.listen_key = secrets.token_urlsafe(48).replace("-", "a").replace("_", "b")[:64]
        self.listen_key_expires = now_ms() + self.listen_key_ttl_ms
        return self.listen_key

    def listen_key_keepalive(self) -> str:
        if self.listen_key is None:
            raise err(-1125)
        self.listen_key_expires = now_ms() + self.listen_key_ttl_ms
        return self.listen_key

    def listen_key_close(self) -> None:
        self.listen_key = None

    def expire_listen_key(self) -> None:
        key, self.listen_key = self.listen_key, None
        if key is not None:
            self.emit({"e": "listenKeyExpired", "E": now_ms(), "listenKey": key})

    # ------------------------------------------------------------------ the clock
    def step(self) -> None:
        t = now_ms()
        for m in self.markets.values():
            m.step(t)
        for o in list(self.orders.values()):
            if o.open:
                self._work(o)
        self.timers()

    def timers(self) -> None:
        """Funding, liquidation, countdownCancelAll and listenKey expiry (they run even while the market is paused)."""
        t = now_ms()
        if t >= self.next_funding_ms:
            self.settle_funding(self.next_funding_ms)
            self.next_funding_ms = self._next_boundary(t)
        self.check_liquidation()
        for sym, (deadline, _) in list(self.countdowns.items()):
            if t >= deadline:
                del self.countdowns[sym]
                self.cancel_all(sym)
        if self.listen_key is not None and t >= self.listen_key_expires:
            self.expire_listen_key()

    def _work(self, o: Order) -> None:
        m = self.markets[o.symbol]
        if o.type in CONDITIONAL and not o.triggered:
            trig = m.mark() if o.working_type == "MARK_PRICE" else m.last_price()
            if not _triggers(o.type, o.side, o.stop_price, trig):
                return
            o.triggered = True
            if o.close_position:
                closing, _ = self._split(o.symbol, o.side, o.position_side, ZERO)
                if closing <= 0:
                    self._finish(o, "EXPIRED")
                    return
                o.qty = closing
            o.type = "MARKET" if o.type.endswith("MARKET") else "LIMIT"
            self._execute(o)
            return
        if o.type != "LIMIT":
            return
        # a resting order fills at its own price once the market trades through it (maker)
        if o.side == "BUY":
            a = m.best_ask()
            hit = a is not None and m.px(a) <= o.price
        else:
            b = m.best_bid()
            hit = b is not None and m.px(b) >= o.price
        if hit:
            q = self._cap_reduce(o, o.left)
            if q <= 0:
                self._finish(o, "EXPIRED")
                return
            m.record_trade(o.price, q, o.side == "BUY", now_ms())
            self._fill(o, o.price, q, maker=True)
            if o.left > 0 and o.open:
                self._finish(o, "EXPIRED")

    def settle_funding(self, when: int) -> None:
        for s, m in self.markets.items():
            mark = m.mark()
            self.funding_history[s].append({"symbol": s, "fundingRate": f8(m.funding_rate), "fundingTime": when,
                                            "markPrice": f"{mark:f}"})
        for p in self.all_positions():
            m = self.markets[p.symbol]
            fee = (-p.amt * m.mark() * m.funding_rate).quantize(D("0.00000001"))
            self.account.wallet += fee
            iso = self.isolated(p.symbol)
            if iso:
                p.isolated_wallet += fee
            self.income.append({"symbol": p.symbol, "incomeType": "FUNDING_FEE", "income": f8(fee), "asset": "USDT",
                                "time": when, "info": "FUNDING_FEE", "tranId": when, "tradeId": ""})
            self.account_event("FUNDING_FEE", [p] if iso else [], fee)

    def check_liquidation(self) -> None:
        cross = [p for p in self.all_positions() if not self.isolated(p.symbol)]
        if cross:
            balance = self.cross_wallet() + self.cross_upnl()
            maint = sum((self.maint(p) for p in cross), ZERO)
            if balance <= maint:
                for p in cross:
                    self.liquidate(p)
            elif maint >= balance * MARGIN_CALL_RATIO and not self.account.margin_called:
                self.account.margin_called = True
                self._margin_call(cross)
            elif maint < balance * MARGIN_CALL_RATIO:
                self.account.margin_called = False
        for p in self.all_positions():
            if self.isolated(p.symbol):
                if p.isolated_wallet + self.upnl(p) <= self.maint(p):
                    self.liquidate(p)
                elif self.maint(p) >= (p.isolated_wallet + self.upnl(p)) * MARGIN_CALL_RATIO and not p.margin_called:
                    p.margin_called = True
                    self._margin_call([p])

    def _margin_call(self, positions: list) -> None:
        self.emit({"e": "MARGIN_CALL", "E": now_ms(), "cw": f8(self.cross_wallet()), "p": [
            {"s": p.symbol, "ps": p.side, "pa": f"{p.amt:f}",
             "mt": "ISOLATED" if self.isolated(p.symbol) else "CROSSED", "iw": f8(p.isolated_wallet),
             "mp": f"{self.mark(p.symbol):f}", "up": f8(self.upnl(p)), "mm": f8(self.maint(p))} for p in positions]})

    def liquidate(self, p: Position) -> None:
        """Close the position at the mark: its symbol's open orders are cancelled first, then one LIQUIDATION
        order (client id ``autoclose-<ms>``) fills it; an isolated position loses at most its margin."""
        self.liquidations += 1
        self.cancel_all(p.symbol)
        mark = self.mark(p.symbol)
        side = "SELL" if p.amt > 0 else "BUY"
        t = now_ms()
        o = Order(self.new_order_id(), p.symbol, f"autoclose-{t}", side, "LIQUIDATION", "LIQUIDATION", "IOC",
                  abs(p.amt), mark, ZERO, True, False, p.side, "CONTRACT_PRICE", t, update_time=t)
        self.orders[o.order_id] = o
        iso_before = p.isolated_wallet if self.isolated(p.symbol) else None
        wallet_before = self.account.wallet
        self._fill(o, mark, o.qty, maker=False, liquidation=True)
        if iso_before is not None and wallet_before - self.account.wallet > iso_before:
            # the insurance fund covers an isolated loss beyond the position's margin
            self.account.wallet = wallet_before - iso_before
            p.isolated_wallet = ZERO


def _flag(p: dict, name: str) -> bool:
    v = p.get(name)
    if v in (None, "", "false", "False", False):
        return False
    if v in ("true", "True", True):
        return True
    raise err(-1130, name)


def _triggers(typ: str, side: str, stop: Decimal, price: Decimal) -> bool:
    """STOP/STOP_MARKET: BUY when the price rises to the stop, SELL when it falls to it; TAKE_PROFIT the other way."""
    if typ.startswith("STOP"):
        return price >= stop if side == "BUY" else price <= stop
    return price <= stop if side == "BUY" else price >= stop
