"""ExecutionEngine: the order lifecycle as an explicit state machine, every order through the RiskManager.

    NEW -> SUBMITTED -> OPEN -> PARTIALLY_FILLED -> FILLED
                 |        \\-> CANCELED / EXPIRED        (final states never change again)
                 |-> REJECTED   (risk refused it, or the venue did)
                 \\-> UNKNOWN   (timeout / 5xx: the outcome was not seen) -> reconciled by client order id
    (an order the venue only *sequenced*, as Lighter's sendTx does, stays SUBMITTED until its first report;
    one that never gets a report within ``confirm_after_s`` is looked up like an UNKNOWN one)

Rules a user may rely on:
- an order gets its client order id before anything is sent, and is never sent twice: an UNKNOWN order is
  looked up by that id (reconciliation), not resent;
- fills are counted once, whichever source reports them first (REST answer, user stream, reconciliation):
  the cumulative filled quantity decides, so a repeated report adds nothing;
- positions, average price, realized/unrealized PnL and fees live in the RiskManager, fed from here;
- strategies get every order change through ``listeners`` (called on the loop, never blocking a socket);
- positions and risk slots are keyed by the venue's unified symbol (``connector.unified``), whichever
  spelling the request used (``ManagedOrder.symbol``); ``position(venue, symbol)`` accepts either;
- every rejection (risk or venue) is counted per venue with its last reason (``rejections()``) and logged,
  at most one line a second per venue (the rest are counted in the next line);
- a venue without credentials runs market-data-only: ``start`` logs one warning line and goes on.
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Optional

from engine.connectors.base import BaseConnector
from engine.errors import AuthenticationError, RPCTimeoutError, TradingError
from engine.models import OrderRequest, OrderStatus, OrderUpdate
from engine.risk import RiskManager

log = logging.getLogger("engine.execution")
S = OrderStatus
ZERO = Decimal(0)

# allowed transitions: anything else is ignored (e.g. a late "open" after "filled")
TRANSITIONS = {
    S.NEW: {S.SUBMITTED, S.REJECTED},
    S.SUBMITTED: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED, S.UNKNOWN},
    S.UNKNOWN: {S.OPEN, S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.REJECTED, S.EXPIRED},
    S.OPEN: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
    S.PARTIALLY_FILLED: {S.PARTIALLY_FILLED, S.FILLED, S.CANCELED, S.EXPIRED},
}


@dataclass
class ManagedOrder:
    venue: str
    request: OrderRequest
    client_order_id: str
    symbol: str = ""  # the venue's unified spelling of request.symbol (positions and risk are keyed by it)
    status: OrderStatus = S.NEW
    order_id: Optional[str] = None
    filled: Decimal = ZERO
    average_price: Optional[Decimal] = None
    fees: Decimal = ZERO
    reason: str = ""
    history: list = field(default_factory=list)  # (monotonic time, status)

    @property
    def is_final(self) -> bool:
        return self.status.is_final


@dataclass
class Rejections:
    """One venue's rejected orders: how many, the last reason, and the log-line throttle."""

    count: int = 0
    last_reason: str = ""
    unlogged: int = 0
    logged_at: float = float("-inf")


class ExecutionEngine:
    LOG_REJECTIONS_EVERY_S = 1.0

    def __init__(self, connectors: dict, risk: RiskManager, *, cancel_on_shutdown: bool = True,
                 reconcile_every_s: float = 1.0, reconcile_for_s: float = 30.0, confirm_after_s: float = 5.0):
        """The RiskManager reads each order's book state from its connector (``book_status``)."""
        self.connectors: dict[str, BaseConnector] = connectors
        self.risk = risk
        self.cancel_on_shutdown = cancel_on_shutdown
        self.reconcile_every_s = reconcile_every_s
        self.reconcile_for_s = reconcile_for_s
        self.confirm_after_s = confirm_after_s  # how long a sequenced-only order may wait for its first report
        self.orders: dict[str, ManagedOrder] = {}  # client order id -> order
        self.listeners: list[Callable[[ManagedOrder], None]] = []
        self._tasks: set[asyncio.Task] = set()
        self._rejections: dict[str, Rejections] = {}
        self.market_data_only: list[str] = []  # venues started without credentials
        risk.on_kill(self.cancel_all)

    # -- user streams
    async def start(self) -> None:
        for venue, conn in self.connectors.items():
            try:
                us = conn.get_user_data_stream()
            except AuthenticationError as e:
                self.market_data_only.append(venue)
                log.warning("%s: market data only, no trading: %s", venue, e)
                continue
            except TradingError as e:
                log.warning("%s: no user data stream (%s); relying on REST answers and reconciliation", venue, e)
                continue
            us.listeners.append(lambda upd, venue=venue: self.on_update(venue, upd))
            us.on_resubscribed.append(lambda epoch, venue=venue: self._spawn(self.reconcile(venue)))
            await us.start()

    async def stop(self) -> None:
        if self.cancel_on_shutdown:
            await self.cancel_all()
        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- submitting
    async def submit(self, venue: str, req: OrderRequest) -> ManagedOrder:
        conn = self.connectors[venue]
        cid = req.client_order_id or conn.new_client_order_id()
        try:
            symbol = conn.unified(req.symbol)
        except ValueError:
            symbol = req.symbol
        o = ManagedOrder(venue, req, cid, symbol)
        o.history.append((time.monotonic(), S.NEW))
        self.orders[cid] = o
        if venue in self.market_data_only:
            o.reason = f"{venue} has no credentials: market data only"
            self._move(o, S.REJECTED)
            return o
        decision = self.risk.check(dataclasses.replace(req, symbol=symbol), venue=venue, connector=conn)
        if not decision:
            o.reason = f"risk: {decision.reason}"
            self._move(o, S.REJECTED)
            return o
        self._move(o, S.SUBMITTED)
        self.risk.record_sent()
        self.risk.on_order_open(venue, symbol)
        try:
            upd = await conn.create_order(req.symbol, req.side, req.type, req.quantity, req.price,
                                          stop_price=req.stop_price, time_in_force=req.time_in_force,
                                          client_order_id=cid, reduce_only=req.reduce_only)
        except RPCTimeoutError as e:
            o.reason = str(e)
            self._move(o, S.UNKNOWN)
            self._spawn(self._reconcile_order(o))
            return o
        except (TradingError, ValueError, TypeError) as e:
            o.reason = str(e)
            self._move(o, S.REJECTED)
            return o
        self.on_update(venue, upd)
        if o.status is S.SUBMITTED:
            # only sequenced (Lighter): the fate comes from the account stream; if it never does (the venue
            # dropped it: duplicate client id, reduce-only), the lookup below settles it
            self._spawn(self._reconcile_order(o, after_s=self.confirm_after_s))
        return o

    async def cancel(self, client_order_id: str) -> ManagedOrder:
        o = self.orders[client_order_id]
        if o.is_final:
            return o
        upd = await self.connectors[o.venue].cancel_order(o.request.symbol, order_id=o.order_id,
                                                         client_order_id=None if o.order_id else o.client_order_id)
        self.on_update(o.venue, upd)
        return o

    async def cancel_all(self, venue: Optional[str] = None) -> None:
        """Cancel every open order (per venue and symbol), and anything the venue still has open."""
        symbols: dict[str, set] = {}
        for o in self.orders.values():
            if not o.is_final and (venue is None or o.venue == venue):
                symbols.setdefault(o.venue, set()).add(o.symbol)
        for v, syms in symbols.items():
            for sym in syms:
                try:
                    for upd in await self.connectors[v].cancel_all_orders(sym):
                        self.on_update(v, upd)
                except TradingError as e:
                    log.error("%s cancel-all %s failed: %s", v, sym, e)

    # -- updates from any source
    def on_update(self, venue: str, upd: OrderUpdate) -> None:
        o = self.orders.get(upd.client_order_id or "")
        if o is None:
            return  # not ours (another process, or placed by hand)
        if upd.order_id:
            o.order_id = upd.order_id
        # fills first: counted once by cumulative quantity, whatever the source
        if upd.filled_quantity > o.filled:
            delta = upd.filled_quantity - o.filled
            price = self._fill_price(o, upd, delta)
            fee = upd.fee if upd.last_fill_quantity > 0 else max(ZERO, upd.fee - o.fees)
            o.average_price = ((o.average_price or ZERO) * o.filled + price * delta) / upd.filled_quantity
            o.filled = upd.filled_quantity
            o.fees += fee
            self.risk.on_fill(venue, o.symbol, o.request.side, delta, price, fee)
        if upd.reason and not o.reason:
            o.reason = upd.reason
        self._move(o, upd.status)

    @staticmethod
    def _fill_price(o: ManagedOrder, upd: OrderUpdate, delta: Decimal) -> Decimal:
        if upd.last_fill_quantity == delta and upd.last_fill_price is not None:
            return upd.last_fill_price
        if upd.average_price is not None:
            before = (o.average_price or ZERO) * o.filled
            return (upd.average_price * upd.filled_quantity - before) / delta
        return upd.last_fill_price or o.request.price or ZERO

    def _move(self, o: ManagedOrder, status: OrderStatus) -> None:
        if status is o.status and status is not S.PARTIALLY_FILLED:
            return
        if status not in TRANSITIONS.get(o.status, ()):
            return
        was_open = not o.status.is_final and o.status is not S.NEW
        o.status = status
        o.history.append((time.monotonic(), status))
        if status.is_final and was_open:
            self.risk.on_order_closed(o.venue, o.symbol)
        if status is S.REJECTED:
            self._rejected(o)
        for cb in self.listeners:
            try:
                cb(o)
            except Exception:
                log.exception("order listener failed")

    # -- reconciliation
    async def _reconcile_order(self, o: ManagedOrder, after_s: float = 0.0) -> None:
        """Look an UNKNOWN (or still only SUBMITTED) order up by client id until the venue shows it; an order
        the venue never shows within ``reconcile_for_s`` was not placed and becomes REJECTED."""
        if after_s:
            await asyncio.sleep(after_s)
        deadline = time.monotonic() + self.reconcile_for_s
        while o.status in (S.UNKNOWN, S.SUBMITTED) and time.monotonic() < deadline:
            try:
                upd = await self.connectors[o.venue].get_order(o.request.symbol, client_order_id=o.client_order_id)
            except TradingError as e:
                log.warning("reconcile %s: %s", o.client_order_id, e)
                upd = None
            if upd is not None:
                self.on_update(o.venue, upd)
                return
            await asyncio.sleep(self.reconcile_every_s)
        if o.status in (S.UNKNOWN, S.SUBMITTED):
            # never seen at the venue within the window: it was not placed
            o.reason = (o.reason + "; " if o.reason else "") + "not found at the venue after reconciliation"
            self._move(o, S.REJECTED)

    async def reconcile(self, venue: str) -> None:
        """Bring every non-final order of ``venue`` up to the venue's view (after a user-stream gap): one
        open-orders read per symbol, then a lookup only for the orders that are no longer open (so a
        resubscription costs a few requests, not one or two per order on a tight REST budget)."""
        conn = self.connectors[venue]
        mine = [o for o in self.orders.values() if o.venue == venue and not o.is_final and o.status is not S.NEW]
        for symbol in sorted({o.symbol for o in mine}):
            try:
                still_open = {u.client_order_id: u for u in await conn.get_open_orders(symbol)}
            except TradingError as e:
                log.warning("reconcile %s %s: %s", venue, symbol, e)
                continue
            for o in [o for o in mine if o.symbol == symbol]:
                upd = still_open.get(o.client_order_id)
                if upd is None:
                    try:
                        upd = await conn.get_order(symbol, order_id=o.order_id,
                                                   client_order_id=None if o.order_id else o.client_order_id)
                    except TradingError as e:
                        log.warning("reconcile %s: %s", o.client_order_id, e)
                        continue
                if upd is not None:
                    self.on_update(venue, upd)

    def _rejected(self, o: ManagedOrder) -> None:
        r = self._rejections.setdefault(o.venue, Rejections())
        r.count += 1
        r.last_reason = o.reason or "no reason given"
        now = time.monotonic()
        if now - r.logged_at < self.LOG_REJECTIONS_EVERY_S:
            r.unlogged += 1
            return
        more = f" (+{r.unlogged} more since the last line)" if r.unlogged else ""
        r.logged_at, r.unlogged = now, 0
        log.warning("%s order %s %s %s %s rejected: %s%s", o.venue, o.client_order_id, o.request.side.value,
                    o.request.quantity, o.symbol, r.last_reason, more)

    def rejections(self) -> dict:
        """Per venue: ``{"count": rejected orders so far, "last_reason": the latest one's reason}``."""
        return {v: {"count": r.count, "last_reason": r.last_reason} for v, r in self._rejections.items()}

    def position(self, venue: str, symbol: str):
        """The RiskManager's position for ``symbol`` on ``venue``, in any spelling the venue accepts."""
        try:
            symbol = self.connectors[venue].unified(symbol)
        except (KeyError, ValueError):
            pass
        return self.risk.position(venue, symbol)

    def _spawn(self, coro) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    def open_orders(self) -> list:
        return [o for o in self.orders.values() if not o.is_final]
