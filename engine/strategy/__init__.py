"""Strategies: callbacks for book changes, trades, order updates and timers, and a way to trade.

    class MyStrategy(Strategy):
        def on_book(self, venue, symbol, book): ...        # the live compiled book (read it, don't keep it)
        def on_trade(self, venue, trade): ...
        def on_order(self, order): ...                     # every ManagedOrder state change
        async def on_timer(self): ...                      # every ``timer_s`` seconds
        # trade with:  await self.submit(venue, OrderRequest(...)) / await self.cancel(client_order_id)

Callbacks run on the event loop right after the book was applied; they must be quick and must not block
(long work goes into ``on_timer`` or a task). An exception in a callback is logged, never fatal.
Parameters are a frozen dataclass ``Params`` in the class (``self.params``); ``engine run --strategy
pkg.module:Class`` or ``path/to/file.py:Class`` loads a strategy (engine/strategy/loader.py). The whole
API is in docs/strategy.md; runnable examples are in examples/.
"""
from .base import Strategy, StrategyRunner

__all__ = ["Strategy", "StrategyRunner"]
