"""RiskManager: every check refuses with its reason; the kill switch (manual and automatic) cancels."""
from decimal import Decimal as D

import pytest

from engine.config import RiskLimits
from engine.connectors.base import BookState, BookStatus, ConnectorState
from engine.models import OrderRequest, OrderType, Side
from engine.risk import Position, RiskManager

LIVE = ConnectorState.LIVE
LIMITS = RiskLimits(max_order_qty=D("2"), max_order_notional=D("10000"), max_position=D("3"),
                    max_total_notional=D("15000"), max_open_orders=3, max_orders_per_second=5,
                    price_band_pct=D("5"), max_daily_loss=D("100"), max_book_age_s=2.0)


def order(qty="1", price="100", side=Side.BUY, symbol="ETH-USDT", type_=OrderType.LIMIT):
    return OrderRequest(symbol, side, type_, D(qty), D(price) if price is not None else None)


class Clock:
    t = 1000.0

    def __call__(self):
        return self.t


def rm(**kw):
    return RiskManager(limits=kw.pop("limits", LIMITS), clock=kw.pop("clock", Clock()))


class Venue:
    """The two things the RiskManager reads from a connector: its state and the order's book status."""

    def __init__(self, mid="100", age=0.1, state=LIVE, book_state=BookState.LIVE, crossed=False):
        self.state = state
        self.book = BookStatus("ETH-USDT", book_state, D(mid) if mid is not None else None, age, crossed)

    def book_status(self, symbol):
        return self.book


def check(r, o, mid="100", age=0.1, state=LIVE, **kw):
    return r.check(o, venue="sim", connector=Venue(mid, age, state, **kw))


def test_a_normal_order_passes():
    assert check(rm(), order()).ok


@pytest.mark.parametrize("o,mid,name,needle", [
    (order(qty="2.5"), "100", "max_order_qty", "quantity 2.5 > max 2"),
    (order(qty="1.5", price="7000"), "7000", "max_order_notional", "notional 10500.00 > max 10000"),
    (order(price="106"), "100", "price_band", "6.00% from the mid"),
    (order(price="94", side=Side.SELL), "100", "price_band", "band 5%"),
    (order(price=None, type_=OrderType.MARKET), None, "book_not_live", "no mid"),
    (order(price="106"), None, "book_not_live", "no price band without a live mid"),
])
def test_single_order_checks(o, mid, name, needle):
    d = check(rm(), o, mid=mid)
    assert not d and d.check == name and needle in d.reason


def test_stale_book_and_degraded_connector_block_new_orders():
    r = rm()
    d = check(r, order(), age=2.5)
    assert d.check == "stale_book" and "2.5s old" in d.reason
    for state in (ConnectorState.DEGRADED, ConnectorState.CONNECTING, ConnectorState.DISCONNECTED):
        d = check(r, order(), state=state)
        assert d.check == "connector" and state.value in d.reason
    assert r.refusals["connector"] == 3


def test_position_limit_per_symbol_allows_reducing():
    r = rm()
    r.on_fill("sim", "ETH-USDT", Side.BUY, D("2.5"), D("100"))
    d = check(r, order(qty="1"))
    assert d.check == "max_position" and "3.5" in d.reason
    assert check(r, order(qty="1", side=Side.SELL)).ok  # reducing is always allowed


def test_total_exposure_across_symbols():
    r = rm()
    r.on_fill("sim", "BTC-USDT", Side.BUY, D("0.2"), D("60000"))  # 12,000 of exposure already
    r.mark("sim", "BTC-USDT", D("60000"))
    d = check(r, order(qty="1", price="5000"), mid="5000")
    assert d.check == "max_total_notional" and "17000.00" in d.reason


def test_open_orders_and_order_rate():
    clock = Clock()
    r = rm(clock=clock)
    for _ in range(3):
        r.on_order_open("sim", "ETH-USDT")
    assert check(r, order()).check == "max_open_orders"
    r.on_order_closed("sim", "ETH-USDT")
    for _ in range(5):
        assert check(r, order()).ok
        r.record_sent()
    d = check(r, order())
    assert d.check == "order_rate" and "5 orders in the last second" in d.reason
    clock.t += 1.01
    assert check(r, order()).ok


async def test_manual_kill_switch_cancels_once_and_blocks_until_reset():
    r = rm()
    calls = []

    async def cancel_all():
        calls.append(1)

    r.on_kill(cancel_all)
    await r.kill("operator pressed the button")
    await r.kill("again")
    assert calls == [1]
    d = check(r, order())
    assert d.check == "kill_switch" and "again" in d.reason
    r.reset()
    assert check(r, order()).ok


async def test_daily_loss_trips_the_kill_switch_automatically_from_unrealized_pnl():
    r = rm()
    calls = []

    async def cancel_all():
        calls.append(1)

    r.on_kill(cancel_all)
    r.on_fill("sim", "ETH-USDT", Side.BUY, D("2"), D("100"))
    r.mark("sim", "ETH-USDT", D("60"))  # unrealized -80: still inside the limit
    assert check(r, order(price="60"), mid="60").ok
    r.mark("sim", "ETH-USDT", D("45"))  # unrealized -110: breach
    assert r.killed and "daily loss 110.00" in r.kill_reason
    await r.run_pending_kill()
    assert calls == [1]
    assert check(r, order(price="45"), mid="45").check == "kill_switch"


def test_realized_pnl_average_price_and_flips():
    p = Position()
    p.apply_fill(Side.BUY, D("1"), D("100"))
    p.apply_fill(Side.BUY, D("1"), D("110"))
    assert p.qty == 2 and p.avg_price == 105
    assert p.apply_fill(Side.SELL, D("1.5"), D("120")) == D("22.5")
    assert p.qty == D("0.5") and p.avg_price == 105
    p.apply_fill(Side.SELL, D("1.5"), D("100"), fee=D("0.1"))  # close 0.5 (-2.5) and open short 1 at 100
    assert p.qty == -1 and p.avg_price == 100 and p.realized == D("20.0") and p.fees == D("0.1")
    p.mark = D("90")
    assert p.unrealized == 10  # a short gains when the price falls


def test_limits_come_from_config():
    from engine.config import Settings

    s = Settings.from_env({"RISK_MAX_ORDER_QTY": "0.5", "RISK_MAX_OPEN_ORDERS": "7", "RISK_CANCEL_ON_SHUTDOWN": "no"})
    assert s.risk.max_order_qty == D("0.5") and s.risk.max_open_orders == 7 and s.risk.cancel_on_shutdown is False
    r = RiskManager(limits=s.risk)
    assert check(r, order(qty="0.6")).check == "max_order_qty"
