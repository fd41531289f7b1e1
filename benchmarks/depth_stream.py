"""A deterministic synthetic Binance depth stream, byte-shaped like the real one, with ground truth.

Shape (as described in the peer measurements in the project's reference material): a REST snapshot of
5000 levels per side around 60000.00 with tickSize 0.01, then N ``depthUpdate`` diffs with 15-25 bid and
15-25 ask changes each (~40 on average): 25% deletes ("0.00000000"), 25% new levels, 50% modifications,
clustered near the touch; about 1.4 KB per message. Levels sit on ticks with random gaps (as in a real
book), so new levels appear near the touch. The ground truth is kept as exact integers (price in cents,
quantity in 1e-8 units) so every implementation is checked before anything is timed.
"""
from __future__ import annotations

import bisect
import random
from dataclasses import dataclass

LEVELS = 5000
MID_CENTS = 6_000_000  # 60000.00
SEED = 20240601


def _px(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}000000"


def _qty(units: int) -> str:
    return f"{units // 100_000_000}.{units % 100_000_000:08d}"


@dataclass
class DepthStream:
    snapshot: bytes
    diffs: list  # of bytes
    final_bids: list  # [(price_cents, qty_units)] best first
    final_asks: list

    def top_floats(self, n: int = 20):
        f = lambda side: [(c / 100, q / 1e8) for c, q in side[:n]]  # noqa: E731
        return f(self.final_bids), f(self.final_asks)

    def top_exact(self, n: int = 20):
        f = lambda side: [(_px(c), _qty(q)) for c, q in side[:n]]  # noqa: E731
        return f(self.final_bids), f(self.final_asks)


class _Side:
    """Prices as distance from the touch (ticks, >= 1), sorted ascending: index 0 is the best level."""

    def __init__(self, rng: random.Random, is_bid: bool, levels: int):
        self.is_bid = is_bid
        self.dist: list = []
        self.qty: dict = {}
        d = 0
        for _ in range(levels):
            d += rng.choice((1, 1, 2, 3))
            self.dist.append(d)
            self.qty[d] = rng.randrange(1, 500) * 1_000_000

    def price(self, d: int) -> int:
        return MID_CENTS - d if self.is_bid else MID_CENTS + d

    def changes(self, rng: random.Random, k: int) -> list:
        out: dict = {}
        for _ in range(k):
            r = rng.random()
            depth = min(int(rng.expovariate(1 / 12)), len(self.dist) - 1)  # clustered near the touch
            if r < 0.25:
                d = self.dist[depth]
                out[d] = 0
            elif r < 0.50:
                # a new level on a free tick close to the chosen depth (toward the touch first)
                base = self.dist[depth]
                d = next((c for c in (base - 1, base + 1, base - 2, base + 2, base - 3, base + 3)
                          if c >= 1 and c not in self.qty and c not in out), base)
                out[d] = rng.randrange(1, 5000) * 100_000
            else:
                d = self.dist[depth]
                out[d] = rng.randrange(1, 5000) * 100_000
        for d, q in out.items():
            if q:
                if d not in self.qty:
                    bisect.insort(self.dist, d)
                self.qty[d] = q
            elif d in self.qty:
                del self.qty[d]
                self.dist.pop(bisect.bisect_left(self.dist, d))
        return [(self.price(d), q) for d, q in out.items()]

    def levels(self) -> list:
        return [(self.price(d), self.qty[d]) for d in self.dist]


def _levels_json(levels) -> str:
    return ",".join(f'["{_px(p)}","{_qty(q)}"]' for p, q in levels)


def generate(n_diffs: int = 2000, seed: int = SEED, levels: int = LEVELS, symbol: str = "BTCUSDT") -> DepthStream:
    rng = random.Random(seed)
    bids, asks = _Side(rng, True, levels), _Side(rng, False, levels)
    last_id = 1_000_000
    snapshot = ('{"lastUpdateId":%d,"bids":[%s],"asks":[%s]}'
                % (last_id, _levels_json(bids.levels()), _levels_json(asks.levels()))).encode()
    diffs = []
    event_ms = 1_700_000_000_000
    for _ in range(n_diffs):
        b = bids.changes(rng, rng.randint(21, 34))
        a = asks.changes(rng, rng.randint(21, 34))
        first = last_id + 1
        last_id += rng.randint(1, 30)
        event_ms += 100
        diffs.append(('{"e":"depthUpdate","E":%d,"s":"%s","U":%d,"u":%d,"b":[%s],"a":[%s]}'
                      % (event_ms, symbol, first, last_id, _levels_json(b), _levels_json(a))).encode())
    return DepthStream(snapshot, diffs, bids.levels(), asks.levels())
