"""An order's fate is final only when the venue says so or can no longer change it.

A scripted venue (the connector contract's order calls, nothing else) drives the ExecutionEngine through
lost answers, deadlines, late reports and a venue that forgot its orders. The same rules are exercised over
real sockets in tests/test_engine_integration.py.
"""
import time
from decimal import Decimal as D

from engine.config import RiskLimits
from engine.connectors.base import BookState, BookStatus, ConnectorState
from engine.errors import RPCTimeoutError
from engine.execution import ExecutionEngine
from engine.models import OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from engine.risk import RiskManager
from helpers import wait_for

S = OrderStatus
LIMITS = RiskLimits(max_order_qty=D("10"), max_order_notional=D("1e9"), max_position=D("100"),
                    max_total_notional=D("1e9"), max_open_orders=100, max_orders_per_second=1000)


class ScriptedVenue:
    """Answers orders with a lost answer; lookups see what ``known`` holds (client id -> OrderUpdate)."""

    name = "sim"
    state = ConnectorState.LIVE

    def __init__(self, deadline_in_s=60.0):
        self.known: dict = {}
        self.open: set = set()
        self.lookups = 0
        self.deadline_in_s = deadline_in_s
        self.deadlines: dict = {}
        self.n = 0

    def book_status(self, symbol):
        return BookStatus(symbol, BookState.LIVE, D("100"), 0.1)

    def unified(self, symbol):
        return symbol

    def new_client_order_id(self):
        self.n += 1
        return f"c{self.n}"

    def order_deadline_ms(self, cid):
        return self.deadlines.get(cid)

    async def create_order(self, symbol, side, type_, qty, price, *, client_order_id, **kw):
        self.deadlines[client_order_id] = int((time.time() + self.deadline_in_s) * 1000)
        raise RPCTimeoutError("sim: order timed out; outcome unknown", exchange="sim")

    async def get_order(self, symbol, order_id=None, client_order_id=None):
        self.lookups += 1
        return self.known.get(client_order_id)

    async def get_open_orders(self, symbol=None):
        return [u for cid, u in self.known.items() if cid in self.open]

    async def cancel_all_orders(self, symbol):
        return []

    def report(self, cid, status, filled="0", price="100"):
        upd = OrderUpdate("sim", "X-USD", f"id-{cid}", cid, status, side=Side.BUY, quantity=D("1"),
                          filled_quantity=D(filled), average_price=D(price) if D(filled) else None)
        self.known[cid] = upd
        if status in (S.OPEN, S.PARTIALLY_FILLED):
            self.open.add(cid)
        else:
            self.open.discard(cid)
        return upd


def engine(venue):
    risk = RiskManager(limits=LIMITS)
    return ExecutionEngine({"sim": venue}, risk, reconcile_every_s=0.02, reconcile_max_every_s=0.1,
                           cancel_on_shutdown=False), risk


def buy():
    return OrderRequest("X-USD", Side.BUY, OrderType.LIMIT, D("1"), D("100"))


async def test_a_lost_order_stays_unknown_until_the_venue_deadline_and_only_then_is_rejected():
    venue = ScriptedVenue(deadline_in_s=1.0)
    ex, risk = engine(venue)
    o = await ex.submit("sim", buy())
    assert o.status is S.UNKNOWN
    await wait_for(lambda: venue.lookups >= 5)
    assert o.status is S.UNKNOWN and risk.open_orders[("sim", "X-USD")] == 1  # still held: it may exist
    await wait_for(lambda: o.status is S.REJECTED)
    assert time.time() * 1000 >= venue.deadlines[o.client_order_id]  # never before the venue's bound
    assert o.inferred and "never placed" in o.reason and risk.open_orders[("sim", "X-USD")] == 0
    await ex.stop()


async def test_a_late_venue_report_revives_an_inferred_rejection_with_risk_and_position():
    venue = ScriptedVenue(deadline_in_s=0.2)
    ex, risk = engine(venue)
    o = await ex.submit("sim", buy())
    await wait_for(lambda: o.status is S.REJECTED)
    assert risk.open_orders[("sim", "X-USD")] == 0
    ex.on_update("sim", venue.report(o.client_order_id, S.OPEN))  # the stalled request reached the venue
    assert o.status is S.OPEN and not o.inferred and ex.revived == 1
    assert risk.open_orders[("sim", "X-USD")] == 1 and o in ex.open_orders()
    ex.on_update("sim", venue.report(o.client_order_id, S.FILLED, filled="1", price="100"))
    assert o.status is S.FILLED and risk.position("sim", "X-USD").qty == D("1")
    assert risk.open_orders[("sim", "X-USD")] == 0
    ex.on_update("sim", venue.report(o.client_order_id, S.OPEN))  # a venue's own final state is final
    assert o.status is S.FILLED and ex.revived == 1
    await ex.stop()


async def test_reconcile_resolves_every_order_the_venue_no_longer_lists():
    venue = ScriptedVenue(deadline_in_s=3600)
    ex, risk = engine(venue)
    gone = await ex.submit("sim", buy())
    ex.on_update("sim", venue.report(gone.client_order_id, S.OPEN))
    lost = await ex.submit("sim", buy())
    kept = await ex.submit("sim", buy())
    ex.on_update("sim", venue.report(kept.client_order_id, S.OPEN))
    assert [o.status for o in (gone, lost, kept)] == [S.OPEN, S.UNKNOWN, S.OPEN]
    del venue.known[gone.client_order_id]  # the venue restarted and forgot it
    venue.open.discard(gone.client_order_id)
    await ex.reconcile("sim")
    assert gone.status is S.EXPIRED and gone.inferred and "no longer knows" in gone.reason
    assert lost.status is S.UNKNOWN  # its deadline is ahead: still unknown, still looked up
    assert kept.status is S.OPEN
    assert risk.open_orders[("sim", "X-USD")] == 2
    before = venue.lookups
    await wait_for(lambda: venue.lookups > before + 2)
    venue.report(lost.client_order_id, S.OPEN)
    await wait_for(lambda: lost.status is S.OPEN)
    await ex.stop()
