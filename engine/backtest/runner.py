"""Running a strategy on recordings: ``run(recordings, strategy_factory, ...) -> BacktestResult``.

The strategy runs inside the live classes, unchanged: ``StrategyRunner`` (engine/strategy/base.py) wires it
to the backtest venue's books, trades and timer, every order goes through ``ExecutionEngine.submit`` and
``RiskManager.check`` (engine/execution.py, engine/risk.py) to ``BacktestConnector``
(engine/backtest/venue.py). Everything runs on a ``VirtualTimeLoop``: the recorded frames are played at
their recorded times, each twice (to the venue at its exchange time, to the strategy at its receive time),
and the strategy's timer, order latency and every other timer run on the same virtual clock. The same
recordings, strategy, settings and seed give the same result, byte for byte (``BacktestResult.to_json``).
"""
from __future__ import annotations

import heapq
import json
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import Callable, Iterable, Optional, Union

from engine.config import RiskLimits
from engine.execution import ExecutionEngine
from engine.risk import RiskManager
from engine.strategy.base import Strategy, StrategyRunner

from . import recording as R
from .clock import VirtualClock, VirtualTimeLoop
from .models import Fees, Latency, QueueModel
from .venue import MONEY, BacktestConnector, plain, unscale

ZERO = Decimal(0)


@dataclass
class BacktestResult:
    """Plain data for a report: every value is a str, int or a list/dict of them (exact decimals as str).

    ``fills``: one dict per fill (venue time ``t_ns``, symbol, client_order_id, side, price, qty,
    liquidity maker/taker, fee). ``orders``: every order the strategy submitted, as the ExecutionEngine
    ended with it (status, reason, filled, average price, fees) plus the venue's arrival time.
    ``positions``: ``[t_ns, symbol, position]`` after each fill. ``marks``: ``[t_ns, symbol, mid]``, the venue
    book's exact mid of each symbol the strategy subscribed, sampled every ``mark_interval_ns`` of venue
    time and at each fill (the equity curve and the quotes-vs-mid plot are built from them).
    ``final_books``: per recorded symbol (the venue's name), the book at the end: the strategy's when it
    subscribed it, else the venue's (``"book"`` says which), as ``last_update_id`` and the exact best
    ``bid``/``bid_qty``/``ask``/``ask_qty`` (None for an empty side). ``pnl_gross`` = cash flow of the fills plus
    the final positions marked at the final venue mid; ``pnl_net`` = gross minus ``fees``.
    """

    venue: str
    seed: int
    frames: int
    start_ns: int
    end_ns: int
    fills: list = field(default_factory=list)
    orders: list = field(default_factory=list)
    positions: list = field(default_factory=list)
    marks: list = field(default_factory=list)
    final_books: dict = field(default_factory=dict)
    final_positions: dict = field(default_factory=dict)
    final_mids: dict = field(default_factory=dict)
    pnl_gross: str = "0"
    fees: str = "0"
    pnl_net: str = "0"
    volume: str = "0"  # quote notional traded
    maker_fills: int = 0
    taker_fills: int = 0
    maker_share: str = "0"  # maker fills' share of the traded notional (0..1)
    rejections: dict = field(default_factory=dict)
    risk_refusals: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))


def feed_times(events: list, feed_latency: Union[str, int]) -> list:
    """Each event's exchange time (ns): its receive time minus the feed latency, never going back.

    ``feed_latency`` is a fixed number of ns, or ``"recorded"``: each frame with an exchange event time
    ``E`` gets ``(recv - E) - min over the recording of (recv - E)``, so the clock offset between recorder
    and venue cancels and the fastest frame is taken as 0; a frame without ``E`` (snapshots, bookTicker)
    keeps the previous frame's latency."""
    if feed_latency == "recorded":
        diffs = [e.recv_ns - e.event_ms * 1_000_000 for e in events if e.event_ms is not None]
        offset = min(diffs) if diffs else 0
    elif isinstance(feed_latency, int) and not isinstance(feed_latency, bool) and feed_latency >= 0:
        offset = None
    else:
        raise ValueError(f"feed_latency must be 'recorded' or a whole number of ns >= 0, got {feed_latency!r}")
    out, last, lat = [], None, 0
    for e in events:
        if offset is None:
            lat = feed_latency
        elif e.event_ms is not None:
            lat = max(0, e.recv_ns - e.event_ms * 1_000_000 - offset)
        t = e.recv_ns - lat
        if last is not None and t < last:
            t = last
        out.append(t)
        last = t
    return out


def run(recordings: "Union[str, Iterable[str], R.Recording]",
        strategy_factory: Callable[[ExecutionEngine], "Strategy | list"],
        *, seed: int = 0, latency: Latency = Latency(), queue_model: QueueModel = QueueModel(),
        fees: Fees = Fees(), risk_limits: Optional[RiskLimits] = None,
        feed_latency: Union[str, int] = "recorded", venue: Optional[str] = None,
        mark_interval_ns: int = 1_000_000_000) -> BacktestResult:
    """Backtest ``strategy_factory(engine)`` (a ``Strategy`` trading the recorded venue, or a list of them,
as ``Strategy.create`` returns: each gets its own ``StrategyRunner``) on ``recordings``.

    ``recordings``: paths (engine record files or capture directories, see engine/backtest/recording.py)
    or a loaded ``Recording``. ``venue``: the recorded venue's registered name (``result.venue``, the name
    the strategy trades on); None is the one venue the factory can backtest (a ``ValueError`` lists them
    when there are several). ``mark_interval_ns``: how often the mids in ``result.marks`` are sampled. Raises ``RecordingError`` for a recording that cannot be read and
    ``ValueError`` for a bad setting, before anything runs, and ``ValueError`` when the factory returns no
    ``Strategy`` (or a list holding something else). It runs its own event loop, so it is called from synchronous code (inside a running loop,
    call it in a worker thread: ``await asyncio.to_thread(run, ...)``)."""
    rec = recordings if isinstance(recordings, R.Recording) else R.load(recordings, venue)
    if not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    if not isinstance(mark_interval_ns, int) or isinstance(mark_interval_ns, bool) or mark_interval_ns <= 0:
        raise ValueError(f"mark_interval_ns must be a whole number of ns > 0, got {mark_interval_ns!r}")
    for name, v, t in (("latency", latency, Latency), ("queue_model", queue_model, QueueModel), ("fees", fees, Fees)):
        if not isinstance(v, t):
            raise ValueError(f"{name} must be an engine.backtest.{t.__name__}, got {type(v).__name__}")
    exch_t = feed_times(rec.events, feed_latency)
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(_run(loop, rec, exch_t, strategy_factory, seed, latency, queue_model,
                                            fees, risk_limits or RiskLimits(), mark_interval_ns))
    finally:
        loop.close()


async def _run(loop, rec, exch_t, factory, seed, latency, queue_model, fees, limits, every) -> BacktestResult:
    clock = VirtualClock(loop, min(exch_t[0], rec.events[0].recv_ns))
    conn = BacktestConnector(rec, seed=seed, latency=latency, queue_model=queue_model, fees=fees, clock=clock)
    await conn.connect()
    risk = RiskManager(limits, clock=loop.time, wall_clock=lambda: clock.now_ns() / 1e9)
    ex = ExecutionEngine({conn.name: conn}, risk, cancel_on_shutdown=limits.cancel_on_shutdown)
    await ex.start()
    made = factory(ex)
    strategies = list(made) if isinstance(made, (list, tuple)) else [made]
    for strategy in strategies:
        if not isinstance(strategy, Strategy):
            raise ValueError(f"strategy_factory returned {type(strategy).__name__}, not an engine.strategy.Strategy")
    runners = [StrategyRunner(strategy, {conn.name: conn}) for strategy in strategies]
    for runner in runners:
        await runner.start()
    events = rec.events
    timeline = heapq.merge(((t, 0, i) for i, t in enumerate(exch_t)),
                           ((e.recv_ns, 1, i) for i, e in enumerate(events)))
    next_mark = None
    for t, phase, i in timeline:
        await clock.sleep_until(t)
        if phase == 0:
            conn.on_exchange_event(events[i], t)
            if next_mark is None or t >= next_mark:
                _mark(conn, t)
                next_mark = t + every
        else:
            conn.on_local_event(events[i], t)
    end = clock.now_ns()
    _mark(conn, exch_t[-1])
    for runner in runners:
        await runner.stop()
    await ex.stop()
    await clock.sleep_until(conn._out_last)  # the last answers and updates reach the strategy's side
    await loop.shutdown_asyncgens()
    return _result(conn, ex, risk, seed, len(events), clock.base_ns, end)


def _mark(conn: BacktestConnector, t: int) -> None:
    for native in sorted(conn.local):
        mid = conn.mid(native)
        if mid is not None:
            conn.marks.append((t, conn.unified(native), plain(mid)))


def _book(book) -> dict:
    bids, asks = book.top_exact(1)
    return {"last_update_id": book.last_update_id,
            "bid": bids[0][0] if bids else None, "bid_qty": bids[0][1] if bids else None,
            "ask": asks[0][0] if asks else None, "ask_qty": asks[0][1] if asks else None}


def _result(conn: BacktestConnector, ex: ExecutionEngine, risk: RiskManager, seed: int, frames: int,
            start: int, end: int) -> BacktestResult:
    res = BacktestResult(conn.name, seed, frames, start, end)
    res.fills = [asdict(f) for f in conn.fills]
    cash, fee_total, volume, maker_vol = {}, ZERO, ZERO, ZERO
    for f in conn.fills:
        notional = MONEY.multiply(Decimal(f.price), Decimal(f.qty))
        cash[f.symbol] = MONEY.add(cash.get(f.symbol, ZERO), -notional if f.side == "buy" else notional)
        fee_total = MONEY.add(fee_total, Decimal(f.fee))
        volume = MONEY.add(volume, notional)
        if f.liquidity == "maker":
            maker_vol = MONEY.add(maker_vol, notional)
            res.maker_fills += 1
        else:
            res.taker_fills += 1
    gross = ZERO
    for native in sorted(conn.exch):
        sym = conn.unified(native)
        mid = conn.mid(native)
        if mid is not None:
            res.final_mids[sym] = plain(mid)
        pos = conn.position_qty.get(sym, 0)
        if sym in cash or pos:
            res.final_positions[sym] = plain(unscale(pos))
            mark = MONEY.multiply(unscale(pos), mid) if pos and mid is not None else ZERO
            gross = MONEY.add(gross, MONEY.add(cash.get(sym, ZERO), mark))
    res.pnl_gross, res.fees = plain(gross), plain(fee_total)
    res.pnl_net = plain(MONEY.subtract(gross, fee_total))
    res.volume = plain(volume)
    res.maker_share = plain(MONEY.divide(maker_vol, volume).quantize(Decimal("1e-6"))) if volume else "0"
    res.positions = [list(p) for p in conn.positions]
    res.marks = [list(m) for m in conn.marks]
    for native in sorted(conn.exch):
        local = conn.local.get(native)
        book = local.book if local is not None else conn.exch[native].book
        res.final_books[native] = {"book": "strategy" if local is not None else "venue", **_book(book)}
    for cid, o in ex.orders.items():
        v = conn.orders.get(cid)
        req = o.request
        res.orders.append({
            "client_order_id": cid, "symbol": o.symbol, "side": req.side.value, "type": req.type.value,
            "price": plain(req.price) if req.price is not None else None, "qty": plain(req.quantity),
            "status": o.status.value, "reason": o.reason, "filled": plain(o.filled),
            "average_price": plain(o.average_price) if o.average_price is not None else None,
            "fees": plain(o.fees), "sent_ns": v.sent_ns if v is not None else None,
            "arrival_ns": v.arrival_ns if v is not None else None,
            "done_ns": v.done_ns if v is not None else None})
    res.rejections = ex.rejections()
    res.risk_refusals = dict(sorted(risk.refusals.items()))
    return res


__all__ = ["run", "BacktestResult", "feed_times"]
