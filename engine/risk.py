"""RiskManager: every order passes pre-trade checks that say why they refuse; a kill switch stops trading.

The manager knows no venue: it is fed fills, order openings/closings and marks (mid prices) by the
execution layer, and at check time it reads the book state itself from the order's connector (its
``state`` and ``book_status(symbol)``, the connector contract), so no caller can switch the book checks
off. Checks, in order (the first that fails is the reason):

    kill switch · connector not live (degraded) · book not live (syncing, resyncing, unsubscribed, empty
    side, crossed) · stale book · max order quantity · max order notional · price band around the mid (fat
    finger) · max position per symbol · max total exposure · max open orders · order rate · daily loss
    (realized + unrealized; breaching it trips the kill switch)

The daily-loss window starts again every day at ``RiskLimits.day_rollover_utc`` (UTC, read from
``wall_clock``): the first check or fill after the boundary moves the window's start to the PnL then.

Money is Decimal throughout. The kill switch, manual or automatic, calls every registered canceller (e.g.
``ExecutionEngine.cancel_all``) once.
"""
from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Awaitable, Callable, Optional

from engine.config import RiskLimits
from engine.connectors.base import BookStatus, ConnectorState
from engine.models import OrderRequest, OrderType, Side

log = logging.getLogger("engine.risk")
ZERO = Decimal(0)


@dataclass(frozen=True)
class RiskDecision:
    ok: bool
    check: str = ""  # which check refused, e.g. "max_order_qty"
    reason: str = ""  # a sentence a human can act on

    def __bool__(self) -> bool:
        return self.ok


ALLOW = RiskDecision(True)


@dataclass
class Position:
    qty: Decimal = ZERO  # signed: long > 0
    avg_price: Decimal = ZERO
    realized: Decimal = ZERO
    fees: Decimal = ZERO
    mark: Optional[Decimal] = None

    @property
    def unrealized(self) -> Decimal:
        if self.mark is None or self.qty == 0:
            return ZERO
        return (self.mark - self.avg_price) * self.qty

    def apply_fill(self, side: Side, qty: Decimal, price: Decimal, fee: Decimal = ZERO) -> Decimal:
        """Update for one fill; returns the PnL it realized (before fees)."""
        signed = qty if side is Side.BUY else -qty
        realized = ZERO
        if self.qty == 0 or (self.qty > 0) == (signed > 0):  # opening or adding
            total = self.qty + signed
            self.avg_price = (self.avg_price * abs(self.qty) + price * qty) / abs(total)
            self.qty = total
        else:  # reducing, closing, or flipping
            closing = min(qty, abs(self.qty))
            realized = (price - self.avg_price) * closing * (1 if self.qty > 0 else -1)
            self.qty += signed
            if self.qty == 0:
                self.avg_price = ZERO
            elif (self.qty > 0) == (signed > 0):  # flipped: the rest opens at this price
                self.avg_price = price
        self.realized += realized
        self.fees += fee
        return realized


@dataclass
class RiskManager:
    limits: RiskLimits = field(default_factory=RiskLimits)
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time  # UTC seconds, for the daily-loss window
    positions: dict = field(default_factory=dict)  # (venue, symbol) -> Position
    open_orders: dict = field(default_factory=dict)  # (venue, symbol) -> count
    killed: bool = False
    kill_reason: str = ""
    refusals: collections.Counter = field(default_factory=collections.Counter)
    _sent: collections.deque = field(default_factory=collections.deque)  # send times, for the order rate
    _cancellers: list = field(default_factory=list)
    _day_start_pnl: Decimal = ZERO
    _day: Optional[int] = None  # the current daily-loss window, as a day number since the epoch
    _pending_cancel: bool = False  # tripped automatically; the cancel-all still has to run

    # -- inputs from the execution layer
    def position(self, venue: str, symbol: str) -> Position:
        return self.positions.setdefault((venue, symbol), Position())

    def on_fill(self, venue: str, symbol: str, side: Side, qty: Decimal, price: Decimal, fee: Decimal = ZERO) -> None:
        self.roll_day()
        self.position(venue, symbol).apply_fill(side, qty, price, fee)
        self._check_daily_loss()

    def mark(self, venue: str, symbol: str, mid: Decimal) -> None:
        self.position(venue, symbol).mark = mid
        self._check_daily_loss()

    def on_order_open(self, venue: str, symbol: str) -> None:
        self.open_orders[(venue, symbol)] = self.open_orders.get((venue, symbol), 0) + 1

    def on_order_closed(self, venue: str, symbol: str) -> None:
        n = self.open_orders.get((venue, symbol), 0)
        self.open_orders[(venue, symbol)] = max(0, n - 1)

    def record_sent(self) -> None:
        self._sent.append(self.clock())

    # -- PnL
    @property
    def realized_pnl(self) -> Decimal:
        return sum((p.realized - p.fees for p in self.positions.values()), ZERO)

    @property
    def unrealized_pnl(self) -> Decimal:
        return sum((p.unrealized for p in self.positions.values()), ZERO)

    @property
    def daily_pnl(self) -> Decimal:
        return self.realized_pnl + self.unrealized_pnl - self._day_start_pnl

    def new_day(self) -> None:
        """Start a new daily-loss window now (``roll_day`` calls this at the configured boundary)."""
        self._day_start_pnl = self.realized_pnl + self.unrealized_pnl
        log.info("risk: new daily-loss window (PnL at the start: %s)", self._day_start_pnl)

    def trading_day(self, now: Optional[float] = None) -> int:
        """The day number of the window ``now`` (UTC seconds) falls in; days start at ``day_rollover_utc``."""
        hh, mm = self.limits.day_rollover_utc.split(":")
        offset = int(hh) * 3600 + int(mm) * 60
        return int(((self.wall_clock() if now is None else now) - offset) // 86400)

    def roll_day(self) -> bool:
        """Start a new window if the boundary passed since the last call; True when it did."""
        day = self.trading_day()
        if self._day is None:
            self._day = day
            return False
        if day == self._day:
            return False
        self._day = day
        self.new_day()
        return True

    # -- kill switch
    def on_kill(self, cancel_all: Callable[[], Awaitable[object]]) -> None:
        """Register a coroutine function to run when the kill switch trips (e.g. cancel every open order)."""
        self._cancellers.append(cancel_all)

    async def kill(self, reason: str) -> None:
        """Stop all new orders and cancel open ones. Idempotent; ``reset`` re-arms trading."""
        first = not self.killed or self._pending_cancel
        self.killed, self.kill_reason, self._pending_cancel = True, reason, False
        if first:
            log.error("KILL SWITCH: %s; cancelling open orders", reason)
            for cancel in self._cancellers:
                try:
                    await cancel()
                except Exception:
                    log.exception("kill switch: cancel-all failed")

    def reset(self) -> None:
        self.killed, self.kill_reason = False, ""

    def _check_daily_loss(self) -> None:
        self.roll_day()
        if not self.killed and self.daily_pnl < -self.limits.max_daily_loss:
            # orders stop at once (synchronously); the cancel-all runs at the next run_pending_kill()
            self.killed, self._pending_cancel = True, True
            self.kill_reason = (f"daily loss {-self.daily_pnl:.2f} exceeds the limit {self.limits.max_daily_loss} "
                                "(automatic kill switch)")
            log.error("KILL SWITCH: %s", self.kill_reason)

    async def run_pending_kill(self) -> None:
        """Cancel open orders after an automatic kill (the execution layer awaits this after fills/marks)."""
        if self._pending_cancel:
            await self.kill(self.kill_reason)

    # -- the pre-trade check
    def check(self, order: OrderRequest, *, venue: str, connector) -> RiskDecision:
        """Check ``order`` for ``venue``; ``connector`` is that venue's (its ``state`` and
        ``book_status(order.symbol)`` are read here, at check time)."""
        return self.check_book(order, venue=venue, book=connector.book_status(order.symbol),
                               connector_state=connector.state)

    def check_book(self, order: OrderRequest, *, venue: str, book: BookStatus,
                   connector_state: ConnectorState) -> RiskDecision:
        """The same checks against a given book status (what ``check`` reads from the connector)."""
        self.roll_day()
        d = self._check(order, venue, book, connector_state)
        if not d.ok:
            self.refusals[d.check] += 1
        return d

    def _check(self, o: OrderRequest, venue, book: BookStatus, state) -> RiskDecision:
        L = self.limits
        if self.killed:
            return RiskDecision(False, "kill_switch", f"trading is halted: {self.kill_reason}")
        if state is not ConnectorState.LIVE:
            why = " (a book or the user stream is not live)" if state is ConnectorState.DEGRADED else ""
            return RiskDecision(False, "connector", f"{venue} connector is {state.value}{why}, not live")
        if not book.live:
            return RiskDecision(False, "book_not_live", f"{venue} {book.reason}: no price band without a live mid")
        if book.age_s > L.max_book_age_s:
            return RiskDecision(False, "stale_book", f"{o.symbol} book is {book.age_s:.1f}s old "
                                                      f"(limit {L.max_book_age_s}s)")
        if o.quantity > L.max_order_qty:
            return RiskDecision(False, "max_order_qty", f"quantity {o.quantity} > max {L.max_order_qty}")
        mid = book.mid
        price = o.price if o.price is not None else mid
        notional = price * o.quantity
        if notional > L.max_order_notional:
            return RiskDecision(False, "max_order_notional", f"notional {notional:.2f} > max {L.max_order_notional}")
        if o.price is not None and o.type is not OrderType.MARKET and mid > 0:
            off = abs(o.price - mid) / mid * 100
            if off > L.price_band_pct:
                return RiskDecision(False, "price_band", f"price {o.price} is {off:.2f}% from the mid {mid} "
                                                         f"(band {L.price_band_pct}%)")
        pos = self.position(venue, o.symbol)
        projected = pos.qty + (o.quantity if o.side is Side.BUY else -o.quantity)
        if abs(projected) > L.max_position and abs(projected) > abs(pos.qty):
            return RiskDecision(False, "max_position", f"position would be {projected} (max {L.max_position})")
        exposure = sum((abs(p.qty) * (p.mark or p.avg_price) for k, p in self.positions.items()
                        if k != (venue, o.symbol)), ZERO) + abs(projected) * price
        if exposure > L.max_total_notional and abs(projected) > abs(pos.qty):
            return RiskDecision(False, "max_total_notional", f"total exposure would be {exposure:.2f} "
                                                             f"(max {L.max_total_notional})")
        if sum(self.open_orders.values()) >= L.max_open_orders:
            return RiskDecision(False, "max_open_orders", f"{sum(self.open_orders.values())} orders open "
                                                          f"(max {L.max_open_orders})")
        now = self.clock()
        while self._sent and now - self._sent[0] > 1.0:
            self._sent.popleft()
        if len(self._sent) >= L.max_orders_per_second:
            return RiskDecision(False, "order_rate", f"{len(self._sent)} orders in the last second "
                                                     f"(max {L.max_orders_per_second:g}/s)")
        if self.daily_pnl < -L.max_daily_loss:
            return RiskDecision(False, "daily_loss", f"daily loss {-self.daily_pnl:.2f} exceeds {L.max_daily_loss}")
        return ALLOW

    def status(self) -> dict:
        return {"killed": self.killed, "kill_reason": self.kill_reason,
                "realized_pnl": str(self.realized_pnl), "unrealized_pnl": str(self.unrealized_pnl),
                "open_orders": sum(self.open_orders.values()), "refusals": dict(self.refusals),
                "positions": {f"{v}:{s}": str(p.qty) for (v, s), p in self.positions.items() if p.qty}}
