"""The built-in inventory-aware market maker as a plug-in, with its own defaults and a status row.

    engine run --strategy examples/market_maker.py:MarketMaker --duration 20
    engine run --strategy examples/market_maker.py:MarketMaker --param size=0.02 --param half_spread_bps=1

It subclasses engine/strategy/market_maker.py's ``InventoryMarketMaker`` (one instance per venue and
symbol, a post-only bid and ask around the mid, skewed against inventory) and only changes what a
subclass can: the defaults of its declared ``Params`` (a quote a hair from the mid, so the simulators
trade through it within seconds) and what it reports in ``engine run --json``. See docs/strategy.md.
"""
from __future__ import annotations

import dataclasses
from decimal import Decimal

from engine.strategy.market_maker import InventoryMarketMaker


class MarketMaker(InventoryMarketMaker):
    name = "example-market-maker"

    @dataclasses.dataclass(frozen=True)
    class Params(InventoryMarketMaker.Params):
        half_spread_bps: Decimal = Decimal("0.05")  # tighter than the built-in's 5 bps
        max_inventory: Decimal = Decimal("0.05")

    def status(self) -> dict:
        pos = self.engine.position(self.venue, self.symbol)
        return {"venue": self.venue, "symbol": self.symbol, "fills": self.fills, "position": str(pos.qty),
                "quoting": {side.value: str(q.request.price) for side, q in self.quotes.items()
                            if q is not None and not q.is_final}}
