"""Wiring for the engine's commands: venues (embedded simulators or live), the RiskManager, the
ExecutionEngine and the strategies, and the status they produce as plain dicts.

Nothing here parses arguments or prints: ``engine/cli.py`` validates the input, calls these functions and
presents what they return. Status is read through the connector contract only (``health()``, the feeds
``add_book`` returns, ``book_latency()``), so a new venue needs no code here.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gzip
import json
import math
import os
import platform
import time
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable, Optional

from engine.config import Settings
from engine.connectors.factory import ConnectorFactory
from engine.models import OrderStatus
from engine.strategy.loader import one_line

# the example market maker's half spread on the simulators: tight enough that the simulated market trades
# through the quotes within seconds, so fills and PnL show up in a short run
MM_HALF_SPREAD_BPS = Decimal("0.05")


class VenueUnavailable(Exception):
    """A venue could not be connected (network, DNS, the venue refused): exit code 3 in the CLI."""


class UnknownSymbol(ValueError):
    """A requested symbol is not listed on a venue (known only after connecting to its catalogue)."""


class StrategyFailed(ValueError):
    """A loaded strategy could not be created or started (its ``create`` or ``on_start`` raised); the message
    is one line naming the strategy and the error."""


class MetricsUnavailable(ValueError):
    """The metrics port cannot be bound (in use, no permission): one line, exit code 2 in the CLI."""


class RecordingError(ValueError):
    """A file given to replay is not a recording, a recording cannot be written, or the venue cannot be
    recorded; the message names the file (or venue) and what is wrong."""


Announce = Callable[[str], None]


def _quiet(line: str) -> None:
    pass


@dataclass(frozen=True)
class RunPlan:
    """What ``engine run``/``engine monitor`` will do, decided before anything connects."""

    symbols: tuple
    strategy: str  # "mm" | "monitor" | "none" | the --strategy spec of a plug-in (pkg.module:Class, file.py:Class)
    live: bool
    venues: tuple  # monitored (books, trades, cross-venue gap)
    trading: tuple  # venues the ExecutionEngine trades on
    quotes: dict  # venue -> the symbols the strategy trades there (the market maker: one instance per pair)
    notes: tuple = ()  # lines worth telling the user (e.g. a venue that cannot trade here)
    strategy_class: Optional[type] = None  # the loaded Strategy subclass (None for monitor/none)
    params: Any = None  # its Params instance, typed as declared
    paper: bool = False  # orders matched locally by the backtest venue's fill model (engine/backtest/paper.py)
    journal_dir: Optional[str] = None  # the order and fill journal's directory (engine/journal.py); None: off
    on_start_orders: str = "adopt"  # what to do with the open orders found at start: "adopt" | "cancel"


def plan_run(settings: Settings, symbols, *, strategy: Optional[str] = None, live: bool = False,
             params=None, paper: bool = False) -> RunPlan:
    """Decide venues, trading and the strategy from the settings; raises ``ConfigError`` (missing live keys)
    or its subclass ``StrategyError`` (a strategy that cannot be loaded, an unknown parameter or a bad value)
    before any I/O. ``strategy`` is the --strategy spec (else ``settings.strategy``, else mm on the
    simulators and monitor live); ``params`` the --param KEY=VALUE items, which override
    ``settings.strategy_params`` (environment, then config file). ``paper``: orders are matched locally
    (engine/backtest/paper.py) on the venues that have a backtest model, no keys are needed or used, and
    nothing is sent to a venue."""
    from engine.strategy.loader import NO_TRADING, StrategyError, build_params, load_strategy, parse_param_flags

    symbols = tuple(symbols)
    strategy = (strategy or settings.strategy or ("monitor" if live else "mm")).strip()
    flags = parse_param_flags(params)
    cls, chosen = None, None
    if strategy in NO_TRADING:
        # parameters from the environment or a file belong to the strategy configured there: not refused
        # when this run trades nothing; a --param flag given with it is a mistake worth a line
        if flags:
            _, source = next(iter(flags.values()))
            raise StrategyError(f"{source}: --strategy {strategy} takes no parameters")
    else:
        cls = load_strategy(strategy)
        # the built-in market maker quotes tighter on the simulators, so fills show up in a short run
        base = {"half_spread_bps": (str(MM_HALF_SPREAD_BPS), "mm default")} if strategy == "mm" else {}
        chosen = build_params(cls, [base, settings.strategy_params, flags], label=strategy)
    venues = tuple(dict.fromkeys([*settings.monitor_exchanges, settings.active_exchange]))
    # what trading on each venue needs beyond the base install (the venue's registration says)
    missing = {v: ConnectorFactory.trading_unavailable(v) for v in venues} if cls is not None else {}
    if paper and cls is not None:  # nothing is sent to the venue: what it takes is the venue's fill model
        models = ConnectorFactory.backtestable()
        missing = {v: "a backtest fill model" for v in venues if ConnectorFactory.spec(v).name not in models}
    what = "paper trading" if paper else "trading there"
    notes = [f"{v} is monitored only: {what} needs {why}" for v, why in missing.items() if why]
    # on the simulators the strategy paper-trades every venue; live, only ACTIVE_EXCHANGE
    trading = tuple(v for v in venues if cls is not None and (not live or v == settings.active_exchange)
                    and not missing.get(v))
    if live and not paper:
        for v in trading:
            settings.require_trading_keys(v)
    burst = getattr(cls, "orders_per_symbol", 0) or 0
    per_venue = _instances_per_venue(settings.risk.max_orders_per_second, len(trading), burst) if burst \
        else len(symbols)
    if trading and per_venue < len(symbols):
        mm = strategy == "mm"
        who, what, verb = ("the market maker quotes", "market makers send both quotes", "quote") if mm else \
            (f"{strategy} trades", f"instances send {burst} orders", "trade")
        notes.append(f"{who} {', '.join(symbols[:per_venue])} only: "
                     f"RISK_MAX_ORDERS_PER_SECOND={settings.risk.max_orders_per_second:g} lets "
                     f"{per_venue * len(trading)} {what} at once; set it to "
                     f"{burst * len(trading) * len(symbols)} to {verb} every symbol on every venue")
    quotes = {v: tuple(symbols[:per_venue]) for v in trading}
    return RunPlan(symbols, strategy, live, venues, trading, quotes, tuple(notes), cls, chosen, paper)


def _instances_per_venue(max_orders_per_second: float, venues: int, burst: int = 2) -> int:
    """How many instances per venue the order-rate limit lets trade without refusals: all of them tick
    together and each may send ``burst`` orders in one tick (the market maker: both quotes), so burst x
    their number must fit in one second's rate (more and the first ticks are refused by the RiskManager's
    order-rate check). At least one per venue."""
    if venues == 0:
        return 0
    return max(1, int(max_orders_per_second // burst) // venues)


async def open_venue(stack: contextlib.AsyncExitStack, name: str, settings: Settings, *, live: bool,
                     trading: bool, paper: bool = False):
    """(connector, description) for venue ``name``: its embedded simulator (entered into ``stack``) unless
    ``live``. Live trading without the venue's keys raises ``ConfigError``. The connector is not connected.
    ``paper`` with ``trading``: the venue's connector for market data only (live: built without its keys), wrapped in a
    ``PaperConnector`` that matches the orders locally (engine/backtest/paper.py)."""
    if paper and trading:
        from engine.backtest.paper import PaperConnector

        if live:  # built without the keys, so that nothing authenticated (a WS API logon) is sent either
            own = settings.venues[ConnectorFactory.spec(name).name]
            inner, where = ConnectorFactory.open_live(
                name, dataclasses.replace(own, **{f: None for f in own.secret_fields}), trading=False)
        else:
            inner, where = await open_venue(stack, name, settings, live=False, trading=False)
        return (PaperConnector(inner, ConnectorFactory.backtest(name)),
                f"{where}; paper trading: orders matched locally against its book, none sent")
    if live:
        return ConnectorFactory.open_live(name, settings, trading=trading)
    return await ConnectorFactory.open_simulated(name, stack)


async def _connect(stack: contextlib.AsyncExitStack, venue: str, conn) -> None:
    try:
        await conn.connect()
    except Exception as e:
        raise VenueUnavailable(f"cannot connect to {venue}: {e}") from e
    stack.push_async_callback(conn.disconnect)


def _check_listed(venue: str, conn, symbols) -> None:
    """Every symbol must be in the connected venue's catalogue, checked before any book is subscribed."""
    for sym in symbols:
        try:
            conn.unified(sym)
        except ValueError as e:
            raise UnknownSymbol(f"{e}; choose listed symbols with --symbols or ENGINE_SYMBOLS") from None


class EngineSession:
    """One ``engine run`` / ``engine monitor``: the connected venues, their books, the RiskManager, the
    ExecutionEngine and the strategies. ``start`` wires it all inside an exit stack; ``status()`` is the
    dict the CLI prints (the same keys in text and JSON)."""

    def __init__(self, settings: Settings, plan: RunPlan):
        self.settings, self.plan = settings, plan
        self.connectors: dict = {}
        self.feeds: dict = {}  # (venue, unified symbol as asked) -> feed (.book, .health)
        self.risk = None
        self.execution = None
        self.monitor = None
        self.strategies: list = []  # the instances of the plan's strategy class
        self.market_makers: list = []  # those that are InventoryMarketMaker instances
        self._last_msgs: dict = {}
        self._last_t: Optional[float] = None
        self.journal = None  # engine/journal.py Journal when the plan has a journal_dir and trades
        self.start_orders: dict = {}  # venue -> {"adopted": n, "canceled": n} found open at start
        self.last_status: dict = {}  # the last status handed to on_status by run()

    async def start(self, stack: contextlib.AsyncExitStack, announce: Announce = _quiet) -> None:
        from engine.execution import ExecutionEngine
        from engine.risk import RiskManager
        from engine.strategy import StrategyRunner
        from engine.strategy.cross_venue import CrossVenueMonitor
        from engine.strategy.market_maker import InventoryMarketMaker

        plan = self.plan
        for venue in plan.venues:
            conn, where = await open_venue(stack, venue, self.settings, live=plan.live, trading=venue in plan.trading,
                                           paper=plan.paper)
            self.connectors[venue] = conn
            announce(f"{venue}: {where}")
        for venue, conn in self.connectors.items():
            await _connect(stack, venue, conn)
        for venue, conn in self.connectors.items():
            _check_listed(venue, conn, plan.symbols)
        for venue, conn in self.connectors.items():
            for sym in plan.symbols:
                self.feeds[(venue, sym)] = await conn.add_book(sym)
        self.risk = RiskManager(limits=self.settings.risk)
        if plan.journal_dir and plan.trading:
            self.journal = open_journal(plan.journal_dir, journal_account(plan))
            stack.callback(self.journal.close)  # closed after the execution engine stops (LIFO)
            announce(f"journal: {self.journal.path}")
        # the RiskManager reads each order's book state from its connector itself
        self.execution = ExecutionEngine({v: self.connectors[v] for v in plan.trading}, self.risk,
                                         cancel_on_shutdown=self.settings.risk.cancel_on_shutdown,
                                         journal=self.journal)
        if plan.trading:
            await self.execution.start()
            stack.push_async_callback(self.execution.stop)
            if self.journal is not None and plan.live and not plan.paper:
                await self.start_orders_reconcile(announce)
        self.monitor = CrossVenueMonitor(self.execution, {v: list(plan.symbols) for v in plan.venues})
        monitor = StrategyRunner(self.monitor, self.connectors)
        await monitor.start()
        stack.push_async_callback(monitor.stop)
        if plan.strategy_class is None or not plan.quotes:
            return
        try:
            self.strategies = list(plan.strategy_class.create(
                self.execution, {v: list(syms) for v, syms in plan.quotes.items() if syms}, plan.params))
        except Exception as e:
            raise StrategyFailed(f"strategy {plan.strategy}: create() failed: {one_line(e)}") from None
        self.market_makers = [s for s in self.strategies if isinstance(s, InventoryMarketMaker)]
        for s in self.strategies:
            runner = StrategyRunner(s, {v: self.connectors[v] for v in s.symbols})
            try:
                await runner.start()
            except Exception as e:
                raise StrategyFailed(f"strategy {plan.strategy}: starting {s.name} failed: {one_line(e)}") \
                    from None
            stack.push_async_callback(runner.stop)

    async def start_orders_reconcile(self, announce: Announce = _quiet) -> None:
        """Restart reconciliation: every order the venue lists open (for the plan's symbols) and every order
        the journal last recorded open is adopted into the ExecutionEngine (its fills since the journal's last
        record are journaled now) or, with ``on_start_orders="cancel"``, adopted and then cancelled; so none is
        orphaned and none is placed twice (the strategies start after this and see them tracked)."""
        from engine.errors import TradingError
        from engine.journal import JournalReader

        ex = self.execution
        with JournalReader(self.journal.path) as r:
            recorded = {(row["venue"], row["client_order_id"]): row for row in r.orders(open_only=True)}
            last = {(row["venue"], row["client_order_id"]): row for row in r.orders()}
        for venue in self.plan.trading:
            conn = self.connectors[venue]
            adopted = []
            for sym in self.plan.symbols:
                try:
                    listed = await conn.get_open_orders(sym)
                except TradingError as e:
                    announce(f"{venue}: cannot read open orders of {sym} at start: {one_line(e)}")
                    continue
                for upd in listed:
                    row = last.get((venue, upd.client_order_id))
                    filled = Decimal(row["filled"]) if row else None
                    avg = Decimal(row["average_price"]) if row and row["average_price"] else None
                    adopted.append(ex.adopt(venue, upd, filled=filled, average_price=avg))
                    recorded.pop((venue, upd.client_order_id), None)
            # open in the journal, not listed by the venue: filled or cancelled while the engine was down
            for (v, cid), row in list(recorded.items()):
                if v != venue:
                    continue
                try:
                    upd = await conn.get_order(row["symbol"], order_id=row["order_id"],
                                               client_order_id=None if row["order_id"] else cid)
                except TradingError as e:
                    announce(f"{venue}: cannot look up journaled order {cid} at start: {one_line(e)}")
                    continue
                if upd is not None:
                    ex.adopt(venue, dataclasses.replace(upd, client_order_id=cid), filled=Decimal(row["filled"]),
                             average_price=Decimal(row["average_price"]) if row["average_price"] else None)
            canceled = 0
            if self.plan.on_start_orders == "cancel":
                for o in adopted:
                    if not o.is_final:
                        try:
                            await ex.cancel(o.client_order_id)
                            canceled += 1
                        except TradingError as e:
                            announce(f"{venue}: cannot cancel {o.client_order_id} at start: {one_line(e)}")
            self.start_orders[venue] = {"adopted": len(adopted), "canceled": canceled}
            announce(f"{venue}: {len(adopted)} open order(s) found at start, "
                     + (f"{canceled} cancelled" if self.plan.on_start_orders == "cancel" else "adopted"))

    def describe(self) -> dict:
        """What each strategy watches or trades: {"strategy": the plan's name, "market_maker": {venue:
        [symbols]}, "trading": {venue: [symbols]} (every instance of the strategy), "monitor": {...}}."""
        quotes: dict = {}
        for mm in self.market_makers:
            quotes.setdefault(mm.venue, []).append(mm.symbol)
        trading: dict = {}
        for s in self.strategies:
            for v, syms in s.symbols.items():
                trading.setdefault(v, []).extend(x for x in syms if x not in trading.get(v, ()))
        return {"strategy": self.plan.strategy, "market_maker": quotes, "trading": trading,
                "monitor": {v: list(self.plan.symbols) for v in self.plan.venues}}

    def strategy_status(self) -> dict:
        """The running strategy: its spec, class, parameters (as text) and what each instance reports in
        its ``status()`` (a dict; the base class reports nothing)."""
        cls, params = self.plan.strategy_class, self.plan.params
        out = {"name": self.plan.strategy,
               "class": None if cls is None else f"{cls.__module__}.{cls.__qualname__}",
               "params": {} if params is None else {f.name: str(getattr(params, f.name))
                                                    for f in dataclasses.fields(params)},
               "instances": []}
        for s in self.strategies:
            try:
                report = s.status()
            except Exception as e:  # a strategy bug must not end the run
                report = {"status_error": one_line(e)}
            out["instances"].append({"name": s.name, "symbols": s.symbols, **report})
        return out

    def status(self) -> dict:
        now = time.monotonic()
        elapsed = None if self._last_t is None else max(now - self._last_t, 1e-9)
        self._last_t = now
        rows = []
        for (venue, sym), f in self.feeds.items():
            h = f.health.as_dict()
            bid, _, ask, _ = f.book.bbo()
            bid, ask = _number(bid), _number(ask)
            key = (venue, sym)
            rate = None if elapsed is None else round((h["messages"] - self._last_msgs.get(key, 0)) / elapsed, 1)
            self._last_msgs[key] = h["messages"]
            rows.append({"venue": venue, "symbol": self.connectors[venue].unified(sym), "native": h["symbol"],
                         "state": h["state"],
                         "bid": bid, "ask": ask,
                         "spread": round(ask - bid, 8) if bid is not None and ask is not None else None,
                         "last_update_id": h["last_update_id"], "gaps": h["gaps"], "resyncs": h["resyncs"],
                         "age_s": h["age_s"], "msgs_s": rate})
        health = {v: c.health() for v, c in self.connectors.items()}
        ex = self.execution
        orders = list(ex.orders.values())
        rejections = ex.rejections()  # {venue: {count, last_reason}}
        return {"ts": round(time.time(), 3), "books": rows,
                "book_path_ns": {v: {k: (c.book_latency() or {}).get(k) for k in ("p50", "p99", "p99.9")}
                                 for v, c in self.connectors.items()},
                "cross_venue_gap_bps": {k: round(g, 2) for k, g in self.monitor.snapshot()["gap_bps"].items()},
                "public_trades": dict(self.monitor.trades),
                "rest_budget": {v: h.get("rest_budget") for v, h in health.items()},
                "venues": {v: {k: x for k, x in h.items() if k not in ("books", "exchange", "rest_budget")}
                           for v, h in health.items()},
                "orders": {"sent": len(orders), "open": len(ex.open_orders()),
                           "filled": sum(1 for o in orders if o.filled > 0),
                           "canceled": sum(1 for o in orders if o.status is OrderStatus.CANCELED),
                           "rejected": sum(r["count"] for r in rejections.values()), "rejections": rejections},
                "risk": self.risk.status(), "strategy": self.strategy_status()}


def summary(session: EngineSession) -> dict:
    """The end-of-run summary of a session: orders (sent, open at exit, filled, canceled, rejected), fills
    (the fill updates the orders went through) and volume (quantity x price, summed over symbols), realized/unrealized PnL and fees (the RiskManager's),
    book gaps and resyncs (all books). Values are exact decimal strings or ints."""
    ex, risk = session.execution, session.risk
    orders = list(ex.orders.values()) if ex is not None else []
    volume = sum((o.filled * (o.average_price or 0) for o in orders), Decimal(0))
    fees = sum((o.fees for o in orders), Decimal(0))
    healths = [f.health.as_dict() for f in session.feeds.values()]
    # each fill moves an order to PARTIALLY_FILLED or FILLED once (engine/execution.py _move)
    fills = sum(1 for o in orders for _, st in o.history
                if st in (OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED))
    return {"orders": len(orders), "open": len(ex.open_orders()) if ex is not None else 0,
            "filled_orders": sum(1 for o in orders if o.filled > 0),
            "canceled": sum(1 for o in orders if o.status is OrderStatus.CANCELED),
            "rejected": sum(r["count"] for r in ex.rejections().values()) if ex is not None else 0,
            "fills": fills,
            "volume": str(volume), "fees": str(fees),
            "realized_pnl": str(risk.realized_pnl) if risk is not None else "0",
            "unrealized_pnl": str(risk.unrealized_pnl) if risk is not None else "0",
            "gaps": sum(h["gaps"] for h in healths), "resyncs": sum(h["resyncs"] for h in healths)}


def _number(x: float) -> Optional[float]:
    """A book price for JSON: NaN (an empty side) is None, so every status line stays valid JSON."""
    return None if math.isnan(x) else x


def journal_account(plan: RunPlan) -> str:
    """The journal's account name: the traded venues joined by ``+`` would not be a valid name, so ``-``
    (e.g. ``binance`` or ``binance-lighter``), with ``-paper`` for paper trading and ``-sim`` on the simulators."""
    name = "-".join(plan.trading) or "none"
    if plan.paper:
        name += "-paper"
    if not plan.live:
        name += "-sim"
    return name


def open_journal(directory: str, account: str):
    """A ``Journal`` for ``account`` under ``directory`` (created); ``JournalError`` (a ValueError) names the
    file when it cannot be used."""
    from engine.journal import Journal, JournalError, journal_path

    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as e:
        raise JournalError(f"journal directory {directory}: {e.strerror or e}") from None
    return Journal(journal_path(directory, account), account=account)


async def run(settings: Settings, plan: RunPlan, *, duration: Optional[float], interval: float,
              stop: asyncio.Event, on_status: Callable[[dict], None], announce: Announce = _quiet,
              on_started: Callable[[dict], None] = lambda described: None,
              metrics: Optional[tuple] = None, session_out: Optional[list] = None) -> Optional[str]:
    """Run a session until ``stop`` is set or ``duration`` passed, handing ``on_status`` a status dict every
    ``interval`` seconds. Returns the risk kill reason if trading was halted, else None. ``metrics``:
    (host, port) to serve Prometheus metrics on (engine/prometheus.py) once the session started.
    ``session_out``: a list the session is appended to (so the caller can summarise it after the run).
    Raises ``VenueUnavailable``, ``UnknownSymbol`` or ``MetricsUnavailable``."""
    loop = asyncio.get_running_loop()
    session = EngineSession(settings, plan)
    if session_out is not None:
        session_out.append(session)
    async with contextlib.AsyncExitStack() as stack:
        await session.start(stack, announce)
        if metrics is not None:
            from engine.prometheus import start_metrics_server

            host, port = metrics
            try:
                srv = await start_metrics_server(session, port, host)
            except OSError as e:
                raise MetricsUnavailable(f"--metrics-port {port}: cannot listen on {host}:{port}: "
                                         f"{e.strerror or e}") from None
            stack.push_async_callback(srv.close)
            announce(f"metrics: http://{host}:{srv.port}/metrics")
        on_started(session.describe())
        session.status()  # the baseline for the first line's messages per second
        t_end = None if duration is None else loop.time() + duration
        while not stop.is_set() and (t_end is None or loop.time() < t_end):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
            session.last_status = session.status()
            on_status(session.last_status)
        return session.risk.kill_reason if session.risk.killed else None


def recording_venue(venue: Optional[str] = None) -> str:
    """The venue ``engine record``/``replay`` work on: ``venue``, else the first recordable one. Raises
    ``RecordingError`` for a venue that cannot be recorded (the message lists those that can)."""
    name = venue or next(iter(ConnectorFactory.recordable()), "")
    try:
        ConnectorFactory.recorder(name)
    except ValueError as e:
        raise RecordingError(str(e)) from None
    return ConnectorFactory.spec(name).name


def default_recording_venue() -> str:
    """``engine record``'s venue when none is named: the first recordable venue whose recordings
    ``engine backtest`` runs on (else the first recordable one), so the default file can be backtested."""
    recordable = ConnectorFactory.recordable()
    backtestable = [v for v in recordable if v in ConnectorFactory.backtestable()]
    return recording_venue((backtestable or recordable or [""])[0] or None)


def recording_paths(out: str, venues) -> dict:
    """Where each venue's recording goes: ``out`` for one venue, ``<stem>.<venue>.jsonl.gz`` for several."""
    venues = list(venues)
    if len(venues) == 1:
        return {venues[0]: out}
    stem = out[:-len(".jsonl.gz")] if out.endswith(".jsonl.gz") else out[:-len(".gz")]
    return {v: f"{stem}.{v}.jsonl.gz" for v in venues}


Progress = Callable[[dict], None]


async def record(settings: Settings, symbols, out: str, *, duration: float, live: bool, venue: Optional[str] = None,
                 venues: Optional[list] = None, rotate_bytes: int = 0, rotate_s: float = 0.0,
                 trades: bool = True, account: bool = False, announce: Announce = _quiet,
                 progress: Optional[Progress] = None, interval: float = 1.0) -> "dict | list":
    """Record each venue's raw frames (books and, with ``trades``, public trades) and the snapshots they need
    for ``duration`` seconds, all venues at once (each registered recorder attaches its file to its connected
    connector; with ``account``, also the user's own order/fill events from the venue's user data stream, which
    live needs the venue's keys); files as ``recording_paths`` names them, rotated by ``rotate_bytes``/``rotate_s``
    (engine/record.py). Returns, per venue, {"venue", "path", "files", "frames", "snapshots", "events", "bytes"}: one
    dict when called with ``venue`` (or no venue at all), else a list. ``progress`` gets {"frames", "mb",
    "rate"} (all venues, frames per second over the last interval) every ``interval`` seconds. Raises
    ``RecordingError`` (a venue that cannot be recorded, or ``out``), ``VenueUnavailable`` or ``UnknownSymbol``."""
    from engine.record import FrameRecorder

    names = [recording_venue(v) for v in (venues or [venue])]
    paths = recording_paths(out, names)
    loop = asyncio.get_running_loop()
    recs: dict = {}
    async with contextlib.AsyncExitStack() as stack:
        for name in names:
            recorder, _ = ConnectorFactory.recorder(name)
            conn, where = await open_venue(stack, name, settings, live=live, trading=account)
            await _connect(stack, name, conn)
            _check_listed(name, conn, symbols)
            try:
                rec = FrameRecorder(paths[name], rotate_bytes=rotate_bytes, rotate_s=rotate_s)
            except OSError as e:  # the CLI checked the path; this is what changed since (or what it cannot see)
                raise RecordingError(f"{paths[name]}: {e.strerror or e}") from None
            stack.callback(rec.close)
            recs[name] = rec
            await recorder.attach(conn, rec)
            if account:
                await record_account(stack, name, conn, rec)
            for s in symbols:
                await conn.add_book(s)
                if trades:
                    await conn.add_trades(s, lambda _t: None)
            announce(f"{', '.join(symbols)} from {where} -> {paths[name]}")
        end = loop.time() + duration
        last = (loop.time(), 0)
        while (left := end - loop.time()) > 0:
            await asyncio.sleep(min(interval, left))
            if progress is not None:
                now, frames = loop.time(), sum(r.frames for r in recs.values())
                rate = (frames - last[1]) / (now - last[0]) if now > last[0] else 0.0
                last = (now, frames)
                progress({"frames": frames, "mb": sum(r.bytes for r in recs.values()) / 1e6, "rate": rate})
    rows = [{"venue": n, "path": r.path, "files": list(r.files), "frames": r.frames, "snapshots": r.snapshots,
             "events": r.events, "bytes": r.bytes} for n, r in recs.items()]
    return rows if venues else rows[0]


async def record_account(stack: contextlib.AsyncExitStack, venue: str, conn, rec) -> None:
    """Write the connected ``conn``'s own order/fill events into ``rec`` (``FrameRecorder.order_listener``) from
    its user data stream, started here and stopped when ``stack`` closes. ``VenueUnavailable`` when the stream
    cannot start (no keys, refused)."""
    try:
        stream = conn.get_user_data_stream()
        stream.listeners.append(rec.order_listener())
        await stream.start()
    except Exception as e:
        raise VenueUnavailable(f"{venue}: cannot record the account's orders and fills: {e}") from e
    stack.push_async_callback(stream.stop)


@dataclass(frozen=True)
class Recording:
    """A checked recording: the venue it is replayed on, its path and the symbols (venue names) it seeds."""

    venue: str
    path: str
    symbols: tuple


def load_recording(path: str, venue: Optional[str] = None) -> Recording:
    """The recorded session at ``path`` (``engine record`` output or a capture directory), checked with the
    venue's own reader: it must parse and hold at least one depth snapshot. Raises ``RecordingError``
    saying what is wrong. With no ``venue``, the first recordable venue whose reader finds a book to seed in
    it (when none does, the error says what each venue's reader found, the same message once)."""
    fix = "; give a file written by engine record --out, or a capture directory"
    if not os.path.exists(path):
        raise RecordingError(f"{path}: no such file or directory{fix}")
    if venue is None:
        errors: list = []
        for name in ConnectorFactory.recordable():
            try:
                return load_recording(path, name)
            except RecordingError as e:
                if str(e) not in errors:
                    errors.append(str(e))
        raise RecordingError(" / ".join(errors) or "no venue can be recorded")
    venue = recording_venue(venue)
    recorder, read = ConnectorFactory.recorder(venue)
    problem = recorder.problem(path)
    if problem:
        raise RecordingError(f"{problem}{fix}")
    try:
        session = read(path)
    except json.JSONDecodeError as e:
        raise RecordingError(f"{path} is not JSON lines ({e.msg}){fix}") from None
    except UnicodeDecodeError:
        raise RecordingError(f"{path} is not UTF-8 JSON lines (a binary file?){fix}") from None
    except (gzip.BadGzipFile, EOFError, zlib.error):
        raise RecordingError(f"{path} is not a complete gzip file{fix}") from None
    except OSError as e:
        raise RecordingError(f"{path}: {e.strerror or e}{fix}") from None
    except (KeyError, TypeError, ValueError, AttributeError):
        raise RecordingError(f"{path} holds JSON lines that are not recorded frames (each needs 'raw'){fix}") \
            from None
    symbols = tuple(recorder.symbols(session))
    if not symbols:
        raise RecordingError(f"{path} holds no depth snapshot to seed a book from{fix}")
    return Recording(venue, path, symbols)


async def replay(recording: Recording, *, pace: str, timeout: float, depth: int = 1000) -> list:
    """Serve a recording through the venue's simulator (opened by the factory with ``replay=``) into its
    connector until the books stop moving for 1.5 s (or ``timeout``); returns one row per recorded symbol:
    {"symbol" (the venue's name, as recorded), "state", "last_update_id", "gaps", "bbo", "book"} where "book" is
    {"bids", "asks"}: up to ``depth`` levels a side, best first, as [price, size] exact decimal strings."""
    loop = asyncio.get_running_loop()
    async with contextlib.AsyncExitStack() as stack:
        conn, _ = await ConnectorFactory.open_simulated(
            recording.venue, stack, sim_kw={"replay": recording.path, "replay_pace": pace})
        await _connect(stack, recording.venue, conn)
        feeds = [await conn.add_book(s) for s in recording.symbols]
        end = loop.time() + timeout
        last, quiet = None, 0
        while loop.time() < end and quiet < 3:
            await asyncio.sleep(0.5)
            seen = [(f.health.messages, f.health.state) for f in feeds]
            quiet = quiet + 1 if seen == last else 0
            last = seen
        return [{"symbol": f.health.symbol, "state": f.health.state.value, "last_update_id": f.book.last_update_id,
                 "gaps": f.health.gaps, "bbo": f.book.bbo(), "book": _levels(f.book, depth)} for f in feeds]


def _levels(book, depth: int) -> dict:
    try:
        bids, asks = book.top_exact(depth)
    except Exception:  # a book never seeded
        return {"bids": [], "asks": []}
    return {"bids": [list(x) for x in bids], "asks": [list(x) for x in asks]}


@dataclass(frozen=True)
class BacktestPlan:
    """What ``engine backtest`` will run, checked before the first frame is played."""

    recording: Any  # the loaded engine.backtest Recording
    venue: str  # the recorded venue's registered name (what the strategy trades on)
    symbols: tuple  # the symbols the strategy is given (unified spelling where the recording says it)
    strategy: str  # the --strategy spec
    strategy_class: type
    params: Any
    seed: int
    latency: Any  # engine.backtest.Latency
    queue_model: Any  # engine.backtest.QueueModel
    fees: Any  # engine.backtest.Fees for the recorded venue
    feed_latency: Any  # "recorded" or ns
    risk: Any  # RiskLimits
    notes: tuple = ()


def recorded_symbols(recording) -> dict:
    """{symbol as a strategy names it: the venue's name} for every symbol the recording has a book for: the
    unified ``BASE-QUOTE`` when the recorded instrument list gives base and quote, else the venue's name."""
    from engine.symbols import Symbol

    try:
        filters = {f.symbol: f for f in recording.venue.filters(recording.exchange_info)}
    except ValueError as e:
        raise RecordingError(str(e)) from None
    out = {}
    for native in recording.symbols():
        f = filters.get(native)
        out[str(Symbol(f.base, f.quote)) if f is not None and f.base and f.quote else native] = native
    return out


def plan_backtest(settings: Settings, paths, *, strategy: Optional[str], params=None, symbols=None,
                  venue: Optional[str] = None, seed: int = 0, latency=None, queue_model=None,
                  fees: Optional[dict] = None, feed_latency="recorded") -> BacktestPlan:
    """Load the recordings and the strategy and decide the symbols. ``strategy``: the --strategy spec (else
    ``settings.strategy``, else mm); ``params`` the --param items over ``settings.strategy_params``;
    ``symbols`` (unified or the venue's names) default to every recorded book, as many as the order-rate
    limit lets trade (as ``engine run``); ``fees``: {venue name or None (any venue): Fees}. Raises
    ``RecordingError`` (a recording that cannot be read, a symbol it lacks, a venue that cannot be
    backtested) or ``ConfigError``/``StrategyError``, before anything runs."""
    from engine.backtest import Fees, Latency, QueueModel, RecordingError as BadRecording, load
    from engine.strategy.loader import NO_TRADING, StrategyError, build_params, load_strategy, parse_param_flags

    spec = (strategy or settings.strategy or "mm").strip()
    if spec in NO_TRADING:
        raise StrategyError(f"--strategy {spec} trades nothing: a backtest needs a trading strategy "
                            "(mm, pkg.module:Class or path/to/file.py:Class)")
    cls = load_strategy(spec)
    chosen = build_params(cls, [settings.strategy_params, parse_param_flags(params)], label=spec)
    for p in paths:
        if not os.path.exists(p):
            raise RecordingError(f"{p}: no such file or directory; give a file written by engine record --out, "
                                 "or a capture directory")
    try:
        rec = load(list(paths), venue)
    except BadRecording as e:
        raise RecordingError(str(e)) from None
    except ValueError as e:  # a venue that cannot be backtested, or none named when several can
        raise RecordingError(str(e)) from None
    name = rec.venue.name
    known = recorded_symbols(rec)
    by_native = {n: u for u, n in known.items()}
    notes = []
    if symbols:
        chosen_syms = []
        for sym in symbols:
            text = str(sym).strip()
            hit = text if text in known else (text.upper() if text.upper() in known else by_native.get(text.upper()))
            if hit is None:
                raise RecordingError(f"{text} has no book in the recording (it has {', '.join(known) or 'none'})")
            chosen_syms.append(hit)
        syms = tuple(dict.fromkeys(chosen_syms))
    else:
        syms = tuple(known)
        burst = getattr(cls, "orders_per_symbol", 0) or 0
        if burst:
            per = _instances_per_venue(settings.risk.max_orders_per_second, 1, burst)
            if per < len(syms):
                notes.append(f"{spec} trades {', '.join(syms[:per])} of the recorded {', '.join(syms)}: "
                             f"RISK_MAX_ORDERS_PER_SECOND={settings.risk.max_orders_per_second:g} lets {per} "
                             f"instances send {burst} orders at once (choose with --symbols)")
                syms = syms[:per]
    fee = (fees or {}).get(name, (fees or {}).get(None, Fees()))
    return BacktestPlan(rec, name, syms, spec, cls, chosen, seed, latency or Latency(),
                        queue_model or QueueModel(), fee, feed_latency, settings.risk, tuple(notes))


def backtest(plan: BacktestPlan):
    """Run the plan (``engine.backtest.run``, which drives its own virtual-time loop: call it from synchronous
    code); returns the ``BacktestResult``. Raises ``StrategyFailed`` (one line) when the strategy cannot be
    created or fails while the backtest runs, ``RecordingError`` for a recording the venue model refuses."""
    from engine.backtest import RecordingError as BadRecording, run

    def make(engine):
        try:
            made = list(plan.strategy_class.create(engine, {plan.venue: list(plan.symbols)}, plan.params))
        except Exception as e:
            raise StrategyFailed(f"strategy {plan.strategy}: create() failed: {one_line(e)}") from None
        if not made:
            raise StrategyFailed(f"strategy {plan.strategy}: create() returned no instance for "
                                 f"{plan.venue} {', '.join(plan.symbols)}")
        return made
    try:
        return run(plan.recording, make, seed=plan.seed, latency=plan.latency, queue_model=plan.queue_model,
                   fees=plan.fees, risk_limits=plan.risk, feed_latency=plan.feed_latency)
    except (StrategyFailed, KeyboardInterrupt):
        raise
    except BadRecording as e:
        raise RecordingError(str(e)) from None
    except Exception as e:  # the strategy's own code (on_start, a setup error it made): one line
        raise StrategyFailed(f"backtest of {plan.strategy} failed: {one_line(e)}") from None


def simulator_cli(venue: str):
    """``(main, parser)`` behind ``engine sim <venue>``: the simulator's ``main(argv)`` and, when its module
    offers one, the ``parser()`` that checks its flags (else None)."""
    import sys

    main = ConnectorFactory.simulator_cli(venue)
    return main, getattr(sys.modules[main.__module__], "parser", None)


async def doctor(settings: Settings) -> dict:
    """Build flags, versions, event loop, SHA-256 backend, each venue's clock offset against its simulator
    and the config summary (secrets masked)."""
    from engine import __version__, _build
    from engine.connectors.base import BaseConnector

    info: dict[str, Any] = {"engine": __version__, "python": platform.python_version(),
                            "platform": platform.platform(),
                            "event_loop": type(asyncio.get_running_loop()).__module__,
                            "compiled": _build.build_info()}
    versions = {}
    for mod in ("picows", "aiohttp", "orjson", "uvloop", "Cython"):
        try:
            m = __import__(mod)
            versions[mod] = getattr(m, "__version__", "?")
        except ImportError:
            versions[mod] = "not installed"
    info["versions"] = versions
    try:
        from engine.sign import accelerated

        info["sha256"] = "SHA extensions" if accelerated() else "portable C"
    except ImportError as e:
        info["sha256"] = f"unavailable: {e}"
    # venue -> its clock minus ours in ms, against its embedded simulator (no keys or network needed); only
    # venues whose requests depend on the local clock are probed
    offsets = info["clock_offset_ms_vs_simulator"] = {}
    for venue in ConnectorFactory.available():
        try:
            if ConnectorFactory.connector_class(venue).clock_offset_ms is BaseConnector.clock_offset_ms:
                continue
            async with contextlib.AsyncExitStack() as stack:
                conn, _ = await ConnectorFactory.open_simulated(venue, stack)
                offset = await conn.clock_offset_ms()
            if offset is not None:
                offsets[venue] = round(offset, 2)
        except Exception as e:  # doctor reports, it does not fail on a probe
            offsets[venue] = f"unavailable: {e}"
    info["config"] = settings.summary()
    return info
