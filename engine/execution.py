"""ExecutionEngine: the order lifecycle as an explicit state machine, every order through the RiskManager.

    NEW -> SUBMITTED -> OPEN -> PARTIALLY_FILLED -> FILLED
                 |        \\-> CANCELED / EXPIRED        (final states never change again)
                 |-> REJECTED   (risk refused it, or the venue did)
                 \\-> UNKNOWN   (timeout / 5xx: the outcome was not seen) -> reconciled by client order id
    (an order the venue only *sequenced*, as Lighter's sendTx does, stays SUBMITTED until its first report;
    one that never gets a report within ``confirm_after_s`` becomes UNKNOWN and is looked up the same way)

An unconfirmed order is final only when the venue says so or can no longer change it: it stays UNKNOWN,
looked up with backoff, until the connector's ``order_deadline_ms`` (Binance: the request's recvWindow
has passed; Lighter: the transaction's ExpiredAt), and only a lookup made after that deadline that still
finds nothing makes it REJECTED. A state the engine *inferred* (that REJECTED, or EXPIRED for an open order
the venue no longer lists nor finds) is not the venue's word: any later report of the order revives it into
the reported state, with its risk slot and fills accounted again.

Rules a user may rely on:
- an order gets its client order id before anything is sent, and is never sent twice: an UNKNOWN order is
  looked up by that id (reconciliation), not resent;
- fills are counted once, whichever source reports them first (REST answer, user stream, reconciliation):
  the cumulative filled quantity decides, so a repeated report adds nothing;
- positions, average price, realized/unrealized PnL and fees live in the RiskManager, fed from here;
- strategies get every order change through ``listeners`` (called on the loop, never blocking a socket);
- a ``journal`` (engine/journal.py ``Journal``), when given, is handed every state change (``order(o)``) and
  every fill (``fill(venue, o, upd, qty, price, fee)``); it only queues them, the writing is on its own thread;
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
    inferred: bool = False  # the final state is the engine's conclusion, not a venue report: revivable
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
                 reconcile_every_s: float = 1.0, reconcile_max_every_s: float = 10.0,
                 unknown_deadline_s: float = 600.0, confirm_after_s: float = 5.0, journal=None):
        """The RiskManager reads each order's book state from its connector (``book_status``).

        An unconfirmed order is looked up every ``reconcile_every_s``, doubling up to ``reconcile_max_every_s``,
        until its venue deadline (``unknown_deadline_s`` after sending when the connector gives none)."""
        self.connectors: dict[str, BaseConnector] = connectors
        self.risk = risk
        self.cancel_on_shutdown = cancel_on_shutdown
        self.reconcile_every_s = reconcile_every_s
        self.reconcile_max_every_s = max(reconcile_every_s, reconcile_max_every_s)
        self.unknown_deadline_s = unknown_deadline_s
        self.confirm_after_s = confirm_after_s  # how long a sequenced-only order may wait for its first report
        self.orders: dict[str, ManagedOrder] = {}  # client order id -> order
        self.listeners: list[Callable[[ManagedOrder], None]] = []
        self.journal = journal  # .order(o) per state change, .fill(venue, o, upd, qty, price, fee) per fill
        self._tasks: set[asyncio.Task] = set()
        self._rejections: dict[str, Rejections] = {}
        self._reconciling: set[str] = set()  # client order ids with a lookup loop running
        self.revived = 0  # inferred final states a later venue report overturned
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
            if self.journal is not None:
                self.journal.fill(venue, o, upd, delta, price, fee)
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

    def _move(self, o: ManagedOrder, status: OrderStatus, *, inferred: bool = False) -> None:
        if status is o.status and status is not S.PARTIALLY_FILLED:
            return
        if o.inferred and not inferred and status is not S.UNKNOWN:
            # the venue reports an order the engine had concluded was gone: the venue's word wins
            log.warning("%s order %s: the venue reports it %s after the engine inferred %s; reviving it",
                        o.venue, o.client_order_id, status.value, o.status.value)
            self.revived += 1
            o.inferred = False
            o.status = S.UNKNOWN
            self.risk.on_order_open(o.venue, o.symbol)
        if status not in TRANSITIONS.get(o.status, ()):
            return
        was_open = not o.status.is_final and o.status is not S.NEW
        o.inferred = inferred
        o.status = status
        o.history.append((time.monotonic(), status))
        if status.is_final and was_open:
            self.risk.on_order_closed(o.venue, o.symbol)
        if status is S.REJECTED:
            self._rejected(o)
        if self.journal is not None:
            self.journal.order(o)
        for cb in self.listeners:
            try:
                cb(o)
            except Exception:
                log.exception("order listener failed")

    # -- reconciliation
    def _deadline(self, o: ManagedOrder) -> float:
        """Monotonic time after which the venue can no longer place ``o`` (its own bound when it gives one)."""
        sent = next((t for t, st in o.history if st is S.SUBMITTED), time.monotonic())
        wall_ms = self.connectors[o.venue].order_deadline_ms(o.client_order_id)
        if wall_ms is None:
            return sent + self.unknown_deadline_s
        return time.monotonic() + (wall_ms - time.time() * 1000) / 1000

    async def _reconcile_order(self, o: ManagedOrder, after_s: float = 0.0) -> None:
        """Look an UNKNOWN (or still only SUBMITTED) order up by client id, with backoff, until the venue shows
        it; it becomes REJECTED only when a lookup made after the venue's deadline still finds nothing."""
        if o.client_order_id in self._reconciling:
            return
        self._reconciling.add(o.client_order_id)
        try:
            if after_s:
                await asyncio.sleep(after_s)
            every = self.reconcile_every_s
            while o.status in (S.UNKNOWN, S.SUBMITTED):
                deadline = self._deadline(o)  # read each time: a connector may learn a tighter bound
                if o.status is S.SUBMITTED:  # no report in confirm_after_s: its fate is unknown until found
                    self._move(o, S.UNKNOWN)
                past_deadline = time.monotonic() >= deadline
                try:
                    upd = await self.connectors[o.venue].get_order(o.request.symbol,
                                                                   client_order_id=o.client_order_id)
                except TradingError as e:
                    log.warning("reconcile %s: %s", o.client_order_id, e)
                    await asyncio.sleep(max(every, e.retry_after or 0))
                    every = min(every * 2, self.reconcile_max_every_s)
                    continue
                if upd is not None:
                    self.on_update(o.venue, upd)
                    if o.status is S.UNKNOWN:  # a report that moved nothing: keep looking
                        await asyncio.sleep(every)
                        continue
                    return
                if past_deadline:
                    o.reason = (o.reason + "; " if o.reason else "") + \
                        "never placed: not found at the venue after its deadline"
                    self._move(o, S.REJECTED, inferred=True)
                    return
                await asyncio.sleep(max(0.0, min(every, deadline - time.monotonic())))
                every = min(every * 2, self.reconcile_max_every_s)
        finally:
            self._reconciling.discard(o.client_order_id)

    async def reconcile(self, venue: str) -> None:
        """Bring every non-final order of ``venue`` up to the venue's view (after a user-stream gap): one
        open-orders read per symbol, then a lookup only for the orders that are no longer open (so a
        resubscription costs a few requests, not one or two per order on a tight REST budget). An order the
        venue neither lists nor finds is resolved: an unconfirmed one by its deadline (``_reconcile_order``),
        an open one as EXPIRED (inferred: the venue no longer knows it, so it cannot trade)."""
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
                elif o.status in (S.UNKNOWN, S.SUBMITTED):
                    self._spawn(self._reconcile_order(o))
                elif not o.is_final:
                    o.reason = (o.reason + "; " if o.reason else "") + "the venue no longer knows this order"
                    self._move(o, S.EXPIRED, inferred=True)

    def adopt(self, venue: str, upd: OrderUpdate, *, filled: Optional[Decimal] = None,
              average_price: Optional[Decimal] = None) -> ManagedOrder:
        """Track an order this process did not place, as the venue reports it (``upd``; found at start, e.g.
        left by a previous run): from then on it is cancelled, reconciled and counted by the RiskManager like
        one placed here. ``filled``/``average_price``: what is already accounted for (the journal's last
        record of it); the venue's fills beyond that reach the RiskManager and the journal now, through
        ``on_update``. Without ``filled`` every fill the venue reports is taken as accounted for."""
        cid = upd.client_order_id or f"adopted-{upd.order_id}"
        known = self.orders.get(cid)
        if known is not None:
            return known
        try:
            symbol = self.connectors[venue].unified(upd.symbol)
        except ValueError:
            symbol = upd.symbol
        req = OrderRequest(upd.symbol, upd.side, upd.type, upd.quantity or ZERO, upd.price, client_order_id=cid)
        o = ManagedOrder(venue, req, cid, symbol, order_id=upd.order_id,
                         filled=upd.filled_quantity if filled is None else filled,
                         average_price=upd.average_price if filled is None else average_price)
        o.history.append((time.monotonic(), S.NEW))
        self.orders[cid] = o
        self._move(o, S.SUBMITTED)
        self.risk.on_order_open(venue, symbol)
        self.on_update(venue, dataclasses.replace(upd, client_order_id=cid))
        return o

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
