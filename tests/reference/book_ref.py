"""Pure-Python oracle for the compiled order book (json + dict + Decimal; slow and obviously right).

It follows docs/binance.md ("Local order book", spot and USD-M futures) literally: spot ignores an event
with u <= last and restarts when U > last + 1 (for the first event after a snapshot that is the straddle
U <= last+1 <= u; afterwards U == previous u + 1 in a healthy stream); USD-M futures drop u < last for the
first event, need U <= last <= u, then pu == previous u.
"""
from __future__ import annotations

import json
from decimal import Decimal

APPLIED, STALE, GAP = 1, 2, 3


def unwrap(frame: bytes | str) -> dict:
    msg = json.loads(frame)
    return msg["data"] if isinstance(msg, dict) and "data" in msg and "stream" in msg else msg


class RefBook:
    def __init__(self, futures: bool = False, max_levels: int | None = None):
        self.futures = futures
        self.max_levels = max_levels
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.bid_floor: Decimal | None = None  # bids at or below are not tracked
        self.ask_floor: Decimal | None = None  # asks at or above are not tracked
        self.dropped = 0
        self.last = 0
        self.first = True
        self.synced = False

    def _beyond(self, is_bid: bool, p: Decimal) -> bool:
        floor = self.bid_floor if is_bid else self.ask_floor
        return floor is not None and (p <= floor if is_bid else p >= floor)

    def _trim(self) -> None:
        if self.max_levels is None:
            return
        for is_bid in (True, False):
            side = self.bids if is_bid else self.asks
            ranked = sorted(side, reverse=is_bid)  # best first
            gone = ranked[self.max_levels:]
            if gone:
                for p in gone:
                    del side[p]
                self.dropped += len(gone)
                if is_bid:
                    self.bid_floor = gone[0]
                else:
                    self.ask_floor = gone[0]

    def snapshot(self, body: bytes | str) -> None:
        m = json.loads(body)
        self.bids, self.asks = {}, {}
        for side, key in ((self.bids, "bids"), (self.asks, "asks")):
            for p, q in m[key]:
                side[Decimal(p)] = Decimal(q)  # a later listing of the same price replaces the earlier
            for p in [p for p, q in side.items() if q == 0]:
                del side[p]
        self.bid_floor = self.ask_floor = None
        self._trim()
        self.last = int(m["lastUpdateId"])
        self.first = True
        self.synced = True

    def diff(self, frame: bytes | str) -> int:
        m = unwrap(frame)
        U, u = int(m["U"]), int(m["u"])
        if not self.synced:
            return GAP
        if self.futures:
            if self.first:
                if u < self.last:
                    return STALE
                if not (U <= self.last <= u):
                    self.synced = False
                    return GAP
            else:
                if u <= self.last:
                    return STALE
                if int(m["pu"]) != self.last:
                    self.synced = False
                    return GAP
        else:
            if u <= self.last:
                return STALE
            if U > self.last + 1:
                self.synced = False
                return GAP
        for side, key, is_bid in ((self.bids, "b", True), (self.asks, "a", False)):
            for p, q in m[key]:
                p, q = Decimal(p), Decimal(q)
                if self._beyond(is_bid, p):
                    self.dropped += q != 0
                elif q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self._trim()
        self.last = u
        self.first = False
        return APPLIED

    def trimmed_at(self, scale: int = 8):
        """The boundaries as the compiled book's ``trimmed_at_scaled()`` gives them."""
        f = 10 ** scale
        return tuple(None if x is None else int(x * f) for x in (self.bid_floor, self.ask_floor))

    def levels(self, scale: int = 8):
        """(bids, asks) as exact scaled integers, best first (the compiled book's ``*_scaled`` form)."""
        f = 10 ** scale
        bids = [(int(p * f), int(q * f)) for p, q in sorted(self.bids.items(), reverse=True)]
        asks = [(int(p * f), int(q * f)) for p, q in sorted(self.asks.items())]
        return bids, asks
