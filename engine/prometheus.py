"""Prometheus exporter: a custom collector that reads, at scrape time, what the engine already holds.

Nothing is recorded per message for it: each scrape calls the connectors' ``health()``, reads their rate
limiters' ``status()`` and the compiled latency histograms, and walks the ExecutionEngine's orders and the
RiskManager's positions. Metric names and labels are listed in docs/operations.md.

The source (``MetricsSource``) is any object with these attributes (``engine.app.EngineSession`` has them):

- ``connectors``: {venue: connector} — ``health()`` (``state``, ``books`` rows with ``symbol``, ``state``,
  ``gaps``, ``resyncs``, ``messages``, ``stalls``, ``crossed``, ``age_s``; ``ws_disconnects``,
  ``rest_budget``), and where present the rate limiter (``limits.status()`` or ``http.limits.status()``:
  {name: {used, limit}}), the clock offset (``auth.offset_ms``) and the compiled book-path histograms
  (``market.listener.latency`` or each ``market.connections[i].listener.latency``);
- ``execution`` (optional, may be None): an engine.execution ``ExecutionEngine`` (``orders``);
- ``risk`` (optional, may be None): an engine.risk ``RiskManager`` (``positions``, ``refusals``, ``killed``);
- ``journal`` (optional): an engine/journal.py ``Journal`` (``fill_counts``: fills per venue and symbol).

The compiled ``LatencyHistogram`` (ext/engine/_metrics.pyx) offers ``count``, ``mean`` and ``percentile(p)``
but no way to read its bucket counts, so each exported bucket's cumulative count is found by a binary search
over ranks with ``percentile``: the count of values whose histogram bucket (<= 0.8% wide) reports at most the
bound. ``_sum`` is ``mean * count``.

``await start_metrics_server(source, port, host="127.0.0.1")`` serves ``/metrics`` from an aiohttp handler on
the running event loop (so a scrape reads the engine's objects on the thread that changes them) and measures
the loop's lag (``LoopLagMonitor``); ``await server.close()`` stops both.
"""
from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Any, Iterable, Optional, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from engine.connectors.base import BookState
from engine.metrics import LatencyHistogram
from engine.models import OrderStatus

log = logging.getLogger("engine.prometheus")

BOOK_LATENCY_BOUNDS_S = (1e-6, 2e-6, 5e-6, 1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 0.1, 1.0)
LOOP_LAG_BOUNDS_S = (5e-4, 1e-3, 2e-3, 5e-3, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BOOK_STATES = tuple(s.value for s in BookState)
FINAL = tuple(s for s in OrderStatus if s.is_final)


class MetricsSource(Protocol):
    connectors: dict
    execution: Any
    risk: Any


def cumulative_buckets(h, bounds_s: Iterable[float]) -> list:
    """[(le as text, cumulative count)] for ``h`` (a LatencyHistogram, nanoseconds), ending with +Inf."""
    count = int(h.count)

    def value_at(k: int) -> int:  # the value percentile() reports for rank k (1..count)
        return h.percentile(min(100.0, 100.0 * (k - 0.25) / count))

    out = []
    for b in bounds_s:
        limit = b * 1e9
        lo, hi = 0, count  # largest k with value_at(k) <= limit
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if value_at(mid) <= limit:
                lo = mid
            else:
                hi = mid - 1
        out.append((_le(b), lo))
    out.append(("+Inf", count))
    return out


def _le(b: float) -> str:
    return repr(float(b))


def histogram_family(name: str, doc: str, labels: list, rows: list, bounds_s) -> HistogramMetricFamily:
    """``rows``: [(label values, LatencyHistogram in ns)] as one Prometheus histogram in seconds."""
    fam = HistogramMetricFamily(name, doc, labels=labels)
    for values, h in rows:
        fam.add_metric(values, cumulative_buckets(h, bounds_s), sum_value=h.mean * h.count / 1e9)
    return fam


def _histograms(conn) -> Optional[LatencyHistogram]:
    """The connector's compiled book-path histograms merged into one (None when it has none)."""
    market = getattr(conn, "market", None)
    listeners = []
    if getattr(market, "listener", None) is not None:
        listeners.append(market.listener)
    for c in getattr(market, "connections", None) or ():
        if getattr(c, "listener", None) is not None:
            listeners.append(c.listener)
    hs = [lst.latency for lst in listeners if isinstance(getattr(lst, "latency", None), LatencyHistogram)]
    if not hs:
        return None
    total = LatencyHistogram()
    for h in hs:
        total.merge(h)
    return total


def _limits(conn) -> dict:
    for owner in (conn, getattr(conn, "http", None)):
        lim = getattr(owner, "limits", None)
        if lim is not None and callable(getattr(lim, "status", None)):
            return lim.status()
    return {}


def _num(x) -> Optional[float]:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(v) else v


class LoopLagMonitor:
    """The event loop's lag: a task sleeps ``every_s`` and records how late it woke (ns) in a histogram."""

    def __init__(self, every_s: float = 0.1):
        self.every_s = every_s
        self.histogram = LatencyHistogram()
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        while True:
            t = time.perf_counter_ns()
            await asyncio.sleep(self.every_s)
            self.histogram.add(max(0, time.perf_counter_ns() - t - int(self.every_s * 1e9)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None


class EngineCollector:
    """A prometheus_client collector over a ``MetricsSource``; each part that fails is skipped and counted
    in ``engine_exporter_errors_total`` (a scrape never fails because one venue's status did)."""

    def __init__(self, source, loop_lag: Optional[LoopLagMonitor] = None):
        self.source = source
        self.loop_lag = loop_lag
        self.errors = 0

    def describe(self):
        return []  # unchecked collector: the families depend on what the source holds

    def collect(self):
        parts = (self._books, self._venues, self._orders, self._positions, self._loop)
        for part in parts:
            try:
                yield from list(part())
            except Exception:
                self.errors += 1
                log.exception("metrics: %s failed", part.__name__)
        yield CounterMetricFamily("engine_exporter_errors", "Scrape parts that failed (logged)", value=self.errors)

    def _books(self):
        state = GaugeMetricFamily("engine_book_state", "1 for the book's current state", labels=["venue", "symbol", "state"])
        gaps = CounterMetricFamily("engine_book_gaps", "Sequence gaps seen", labels=["venue", "symbol"])
        resyncs = CounterMetricFamily("engine_book_resyncs", "Book resynchronisations", labels=["venue", "symbol"])
        frames = CounterMetricFamily("engine_book_frames", "Frames applied to the book", labels=["venue", "symbol"])
        stalls = CounterMetricFamily("engine_book_stalls", "Times the book's socket went silent", labels=["venue", "symbol"])
        crossed = CounterMetricFamily("engine_book_crossed", "Updates that left the book crossed", labels=["venue", "symbol"])
        age = GaugeMetricFamily("engine_book_age_seconds", "Time since the book last changed", labels=["venue", "symbol"])
        hist = []
        for venue, conn in self.source.connectors.items():
            for b in conn.health().get("books") or ():
                lv = [venue, str(b.get("symbol"))]
                for s in BOOK_STATES:
                    state.add_metric(lv + [s], 1.0 if b.get("state") == s else 0.0)
                gaps.add_metric(lv, b.get("gaps", 0))
                resyncs.add_metric(lv, b.get("resyncs", 0))
                frames.add_metric(lv, b.get("messages", 0))
                stalls.add_metric(lv, b.get("stalls", 0))
                crossed.add_metric(lv, b.get("crossed", 0))
                if b.get("age_s") is not None:
                    age.add_metric(lv, b["age_s"])
            h = _histograms(conn)
            if h is not None:
                hist.append(([venue], h))
        yield from (state, gaps, resyncs, frames, stalls, crossed, age)
        yield histogram_family("engine_book_latency_seconds", "Frame received to book applied (compiled path)",
                               ["venue"], hist, BOOK_LATENCY_BOUNDS_S)

    def _venues(self):
        up = GaugeMetricFamily("engine_venue_state", "1 for the connector's current state", labels=["venue", "state"])
        disc = CounterMetricFamily("engine_ws_disconnects", "Market stream disconnects (each followed by a reconnect)",
                                   labels=["venue"])
        offset = GaugeMetricFamily("engine_clock_offset_seconds", "The venue's clock minus ours (last sync)",
                                   labels=["venue"])
        used = GaugeMetricFamily("engine_rate_limit_used", "Budget used in the limit's window (weight, requests "
                                 "or orders)", labels=["venue", "limit"])
        limit = GaugeMetricFamily("engine_rate_limit_limit", "The limit's budget per window", labels=["venue", "limit"])
        banned = GaugeMetricFamily("engine_rate_limit_banned_seconds", "Seconds left of a venue ban", labels=["venue"])
        for venue, conn in self.source.connectors.items():
            h = conn.health()
            st = getattr(h.get("state"), "value", h.get("state"))
            up.add_metric([venue, str(st)], 1.0)
            if h.get("ws_disconnects") is not None:
                disc.add_metric([venue], h["ws_disconnects"])
            off = getattr(getattr(conn, "auth", None), "offset_ms", None)
            if _num(off) is not None:
                offset.add_metric([venue], float(off) / 1000)
            lim = _limits(conn)
            for name, row in lim.items():
                if isinstance(row, dict) and _num(row.get("used")) is not None:
                    used.add_metric([venue, name], float(row["used"]))
                    limit.add_metric([venue, name], float(row["limit"]))
            if _num(lim.get("banned_for_s")) is not None:
                banned.add_metric([venue], float(lim["banned_for_s"]))
        yield from (up, disc, offset, used, limit, banned)

    def _orders(self):
        ex = getattr(self.source, "execution", None)
        final, live, rej, filled, notional, fills = _families(
            ("c", "engine_orders_final", "Orders that reached a final state", VS), ("g", "engine_orders",
             "Orders in a non-final state", VS), ("c", "engine_order_rejections", "Rejected orders by who "
             "refused them", ["venue", "reason"]), ("c", "engine_filled_base", "Filled quantity, base currency", VY),
            ("c", "engine_filled_quote", "Filled notional, quote currency", VY), ("c", "engine_fills", "Fills", VY))
        if ex is not None:
            by_state: dict = {}
            by_reason: dict = {}
            vol: dict = {}
            for o in list(ex.orders.values()):
                by_state[(o.venue, o.status.value)] = by_state.get((o.venue, o.status.value), 0) + 1
                if o.status is OrderStatus.REJECTED:
                    k = (o.venue, _reason_class(o.reason))
                    by_reason[k] = by_reason.get(k, 0) + 1
                if o.filled:
                    q, n = vol.get((o.venue, o.symbol), (0, 0))
                    vol[(o.venue, o.symbol)] = (q + o.filled, n + o.filled * (o.average_price or 0))
            for venue in ex.connectors:
                for s in OrderStatus:
                    v = by_state.get((venue, s.value), 0)
                    (final if s.is_final else live).add_metric([venue, s.value], v)
            for (venue, reason), n in by_reason.items():
                rej.add_metric([venue, reason], n)
            for (venue, sym), (q, n) in vol.items():
                filled.add_metric([venue, sym], float(q))
                notional.add_metric([venue, sym], float(n))
        journal = getattr(self.source, "journal", None)
        for (venue, sym), n in dict(getattr(journal, "fill_counts", None) or {}).items():
            fills.add_metric([venue, sym], n)
        yield from (final, live, rej, filled, notional, fills)

    def _positions(self):
        risk = getattr(self.source, "risk", None)
        pos, real, unreal, fees, refusals, killed = _families(
            ("g", "engine_position_base", "Signed position, base currency", VY), ("g", "engine_realized_pnl_quote",
             "Realized PnL before fees, quote currency", VY), ("g", "engine_unrealized_pnl_quote", "Unrealized PnL "
             "at the last mark, quote currency", VY), ("c", "engine_fees_quote", "Fees paid (fee currency, usually "
             "quote)", VY), ("c", "engine_risk_refusals", "Orders the RiskManager refused, by check", ["check"]),
            ("g", "engine_risk_killed", "1 when the kill switch has halted trading", []))
        if risk is not None:
            for (venue, sym), p in list(risk.positions.items()):
                lv = [venue, sym]
                pos.add_metric(lv, float(p.qty))
                real.add_metric(lv, float(p.realized))
                unreal.add_metric(lv, float(p.unrealized))
                fees.add_metric(lv, float(p.fees))
            for check, n in dict(risk.refusals).items():
                refusals.add_metric([str(check)], n)
            killed.add_metric([], 1.0 if risk.killed else 0.0)
        yield from (pos, real, unreal, fees, refusals, killed)

    def _loop(self):
        rows = [([], self.loop_lag.histogram)] if self.loop_lag is not None else []
        yield histogram_family("engine_event_loop_lag_seconds", "How late the event loop ran a timer", [],
                               rows, LOOP_LAG_BOUNDS_S)


VS = ["venue", "state"]
VY = ["venue", "symbol"]


def _families(*spec) -> list:
    """Metric families from (kind "c" counter | "g" gauge, name, help, labels)."""
    return [(CounterMetricFamily if k == "c" else GaugeMetricFamily)(n, d, labels=lab) for k, n, d, lab in spec]


def _reason_class(reason: str) -> str:
    """A rejection reason reduced to a few values (labels stay low-cardinality)."""
    r = reason or ""
    if r.startswith("risk:"):
        return "risk"
    if "no credentials" in r:
        return "no_credentials"
    if "never placed" in r:
        return "never_placed"
    return "venue"


def registry_for(source, loop_lag: Optional[LoopLagMonitor] = None) -> CollectorRegistry:
    reg = CollectorRegistry(auto_describe=False)
    reg.register(EngineCollector(source, loop_lag))
    return reg


class MetricsServer:
    """A running ``/metrics`` endpoint: ``port`` (the bound one, for port 0), ``registry``, ``close()``."""

    def __init__(self, runner, port: int, registry, loop_lag: LoopLagMonitor):
        self._runner, self.port, self.registry, self.loop_lag = runner, port, registry, loop_lag

    async def close(self) -> None:
        await self.loop_lag.stop()
        await self._runner.cleanup()


async def start_metrics_server(source, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Serve ``source``'s metrics at ``http://host:port/metrics`` (port 0: any free port, see ``.port``).
    OSError when the port cannot be bound."""
    from aiohttp import web

    lag = LoopLagMonitor()
    registry = registry_for(source, lag)

    async def metrics(request):
        body = generate_latest(registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError:
        await runner.cleanup()
        raise
    bound = runner.addresses[0][1]
    lag.start()
    return MetricsServer(runner, bound, registry, lag)
