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
    def __init__(self, futures: bool = False):
        self.futures = futures
        self.bids: dict[Decimal, Decimal] = {}
        self.asks: dict[Decimal, Decimal] = {}
        self.last = 0
        self.first = True
        self.synced = False

    def snapshot(self, body: bytes | str) -> None:
        m = json.loads(body)
        self.bids = {Decimal(p): Decimal(q) for p, q in m["bids"] if Decimal(q) != 0}
        self.asks = {Decimal(p): Decimal(q) for p, q in m["asks"] if Decimal(q) != 0}
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
        for side, key in ((self.bids, "b"), (self.asks, "a")):
            for p, q in m[key]:
                p, q = Decimal(p), Decimal(q)
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.last = u
        self.first = False
        return APPLIED

    def levels(self, scale: int = 8):
        """(bids, asks) as exact scaled integers, best first (the compiled book's ``*_scaled`` form)."""
        f = 10 ** scale
        bids = [(int(p * f), int(q * f)) for p, q in sorted(self.bids.items(), reverse=True)]
        asks = [(int(p * f), int(q * f)) for p, q in sorted(self.asks.items())]
        return bids, asks
