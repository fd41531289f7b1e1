"""Small hand-made recordings (engine record's file format, engine/record.py) and a scripted strategy.

One symbol, BTCUSDT, with filters tick 0.01, step 0.001, minimum notional 10 (MIN_NOTIONAL). Every frame's
receive time equals its event time ``E`` (so the recorded feed latency is 0); times are ms after ``T0``.
"""
from __future__ import annotations

import asyncio
import json
from decimal import Decimal

from engine.models import OrderRequest, OrderType, Side, TimeInForce
from engine.strategy.base import Strategy

T0 = 1_700_000_000_000  # ms
SYM = "BTCUSDT"
INFO = {"symbols": [{"symbol": SYM, "status": "TRADING", "baseAsset": "BTC", "quoteAsset": "USDT", "filters": [
    {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000.00", "tickSize": "0.01"},
    {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "9000", "stepSize": "0.001"},
    {"filterType": "MIN_NOTIONAL", "minNotional": "10", "applyToMarket": True, "avgPriceMins": 5}]}]}


class Tape:
    """Builds a recording: ``snapshot`` first, then ``depth``/``trade`` frames at ms offsets."""

    def __init__(self):
        self.lines = [{"recv_ns": T0 * 1_000_000, "exchange_info": True, "raw": json.dumps(INFO)}]
        self.uid = 100
        self.agg = 1

    def _line(self, ms: int, raw: dict, stream: str) -> None:
        self.lines.append({"recv_ns": (T0 + ms) * 1_000_000, "mono_ns": ms * 1_000_000, "conn": "c0",
                           "raw": json.dumps({"stream": stream, "data": raw}, separators=(",", ":"))})

    def snapshot(self, ms: int, bids, asks) -> "Tape":
        self.lines.append({"recv_ns": (T0 + ms) * 1_000_000, "snapshot": SYM,
                           "raw": json.dumps({"lastUpdateId": self.uid, "bids": bids, "asks": asks})})
        return self

    def depth(self, ms: int, bids=(), asks=()) -> "Tape":
        self.uid += 1
        self._line(ms, {"e": "depthUpdate", "E": T0 + ms, "s": SYM, "U": self.uid, "u": self.uid,
                        "b": [list(x) for x in bids], "a": [list(x) for x in asks]}, "btcusdt@depth@100ms")
        return self

    def trade(self, ms: int, price: str, qty: str, seller_aggressor: bool) -> "Tape":
        """A trade print; ``seller_aggressor`` (Binance m=true, the buyer was the maker) hits the bids."""
        self._line(ms, {"e": "aggTrade", "E": T0 + ms, "s": SYM, "a": self.agg, "p": price, "q": qty,
                        "f": self.agg, "l": self.agg, "T": T0 + ms, "m": seller_aggressor, "M": True},
                   "btcusdt@aggTrade")
        self.agg += 1
        return self

    def write(self, path) -> str:
        with open(path, "w") as f:
            for line in self.lines:
                f.write(json.dumps(line) + "\n")
        return str(path)


def order(side: str, type_: str, qty: str, price: str | None = None, tif: str | None = None) -> OrderRequest:
    return OrderRequest(SYM, Side(side), OrderType(type_), Decimal(qty), Decimal(price) if price else None,
                        time_in_force=TimeInForce(tif) if tif else None)


class Scripted(Strategy):
    """Submits ``script`` = [(ms after T0, OrderRequest or ("cancel", index)), ...] at those virtual times."""

    name = "scripted"
    timer_s = 3600.0

    def __init__(self, engine, script):
        super().__init__(engine, {"binance": [SYM]})
        self.script = script
        self.sent: list = []  # ManagedOrder per OrderRequest, in script order
        self.task = None

    async def on_start(self) -> None:
        self.task = asyncio.get_running_loop().create_task(self._play())

    async def _play(self) -> None:
        loop = asyncio.get_running_loop()
        for ms, what in self.script:
            # loop time 0 is the recording's first frame (T0 here: its feed latency is 0)
            delay = ms / 1000 - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if isinstance(what, tuple):
                await self.cancel(self.sent[what[1]].client_order_id)
            else:
                self.sent.append(None)
                i = len(self.sent) - 1
                self.sent[i] = await self.submit("binance", what)

    async def on_stop(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
