"""The Strategy base class and the runner that wires it to connectors and the ExecutionEngine.

A strategy declares its parameters as a frozen dataclass named ``Params`` inside the class (field name,
type, default); ``engine/strategy/loader.py`` turns ``--param key=value``, ``ENGINE_PARAM_<KEY>`` and a
config file's ``[strategy.params]`` into one ``Params`` instance, typed as declared, and the strategy
reads it as ``self.params``. The API is described in docs/strategy.md.
"""
from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from decimal import Decimal
from typing import Optional

from engine.execution import ExecutionEngine, ManagedOrder
from engine.models import OrderRequest

log = logging.getLogger("engine.strategy")


class Strategy:
    name = "strategy"
    timer_s = 1.0
    # how many orders one instance may send at once per venue and symbol (a market maker: its bid and
    # ask); when set, ``engine run`` gives it only as many symbols as RISK_MAX_ORDERS_PER_SECOND lets
    # send that burst without refusals (engine/app.py plan_run). 0: no such planning.
    orders_per_symbol = 0

    @dataclasses.dataclass(frozen=True)
    class Params:
        """No parameters (a subclass declares its own frozen dataclass of the same name)."""

    def __init__(self, engine: ExecutionEngine, symbols: dict, params=None):
        """``symbols``: venue -> list of unified symbols this strategy watches; ``params``: an instance of
        the class's ``Params`` (its defaults when None)."""
        self.engine = engine
        self.symbols = symbols
        self.params = params if params is not None else type(self).Params()
        self.books: dict = {}  # (venue, symbol) -> live compiled book

    @classmethod
    def create(cls, engine: ExecutionEngine, symbols: dict, params) -> list:
        """The instances ``engine run`` starts for ``symbols`` (venue -> list of symbols it may trade):
        one instance watching all of them. A subclass that wants one instance per venue and symbol (the
        market maker) overrides this."""
        return [cls(engine, symbols, params)]

    # -- callbacks (override)
    def on_book(self, venue: str, symbol: str, book) -> None:
        pass

    def on_trade(self, venue: str, trade) -> None:
        pass

    def on_order(self, order: ManagedOrder) -> None:
        pass

    async def on_timer(self) -> None:
        pass

    async def on_start(self) -> None:
        pass

    async def on_stop(self) -> None:
        pass

    def status(self) -> dict:
        """Extra keys for this instance's row in the status (``engine run --json``: status["strategy"]
        ["instances"]); keep it small and JSON-serializable. The base class adds nothing."""
        return {}

    # -- trading
    async def submit(self, venue: str, req: OrderRequest) -> ManagedOrder:
        return await self.engine.submit(venue, req)

    async def cancel(self, client_order_id: str) -> Optional[ManagedOrder]:
        try:
            return await self.engine.cancel(client_order_id)
        except Exception as e:  # already gone, venue hiccup: the order state machine has the truth
            log.warning("%s: cancel %s failed: %s", self.name, client_order_id, e)
            return None


class StrategyRunner:
    """Subscribes the strategy's books and trades (callbacks, no queues) and drives its timer."""

    def __init__(self, strategy: Strategy, connectors: dict):
        self.strategy = strategy
        self.connectors = connectors
        self._timer: Optional[asyncio.Task] = None

    async def start(self) -> None:
        s = self.strategy
        s.engine.listeners.append(self._guard(s.on_order))
        for venue, symbols in s.symbols.items():
            conn = self.connectors[venue]
            for sym in symbols:
                def on_book(book, venue=venue, sym=sym):
                    s.books[(venue, sym)] = book
                    self._call(s.on_book, venue, sym, book)

                feed = await conn.add_book(sym, on_book)
                s.books[(venue, sym)] = feed.book
                await conn.add_trades(sym, lambda t, venue=venue: self._call(s.on_trade, venue, t))
        await s.on_start()
        self._timer = asyncio.create_task(self._tick(), name=f"{s.name}-timer")

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._timer
        try:
            await self.strategy.on_stop()
        except Exception:  # the shutdown goes on (the ExecutionEngine still cancels what is open)
            log.exception("%s: on_stop failed", self.strategy.name)

    async def _tick(self) -> None:
        risk = self.strategy.engine.risk
        while True:
            await asyncio.sleep(self.strategy.timer_s)
            try:
                # mark positions to the live mids (unrealized PnL, the daily-loss kill switch)
                for (venue, sym), book in self.strategy.books.items():
                    if book.synced and book.mid == book.mid:
                        risk.mark(venue, self.connectors[venue].unified(sym), Decimal(str(book.mid)))
                await risk.run_pending_kill()
                await self.strategy.on_timer()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: on_timer failed", self.strategy.name)

    def _guard(self, fn):
        return lambda *a: self._call(fn, *a)

    def _call(self, fn, *args) -> None:
        try:
            fn(*args)
        except Exception:
            log.exception("%s: %s failed", self.strategy.name, getattr(fn, "__name__", "callback"))
