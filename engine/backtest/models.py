"""The backtest venue's configurable models: order latency, queue position, fees (docs/backtest.md).

All times are integer nanoseconds; fee rates are exact ``Decimal`` fractions of a fill's notional.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from decimal import Decimal

JITTERS = ("none", "uniform", "exponential")
QUEUE_MODELS = ("trades_only", "probabilistic")


@dataclass(frozen=True)
class Latency:
    """Order entry and response latency.

    ``entry_ns``: from the strategy's send to the order (or cancel) reaching the venue's matching;
    ``response_ns``: from the venue to the strategy seeing the answer or a user-stream update. ``jitter``
    adds a draw to each: ``"uniform"`` in ``[0, jitter_ns]``, ``"exponential"`` with mean ``jitter_ns``
    (whole ns, rounded down), from the run's seeded generator, one draw per message in the order the
    messages happen. Requests reach the venue in the order they were sent and answers come back in the
    order the venue produced them (a draw never lets a later message overtake an earlier one).
    """

    entry_ns: int = 0
    response_ns: int = 0
    jitter: str = "none"
    jitter_ns: int = 0

    def __post_init__(self) -> None:
        for name in ("entry_ns", "response_ns", "jitter_ns"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise ValueError(f"Latency.{name} must be a whole number of ns >= 0, got {v!r}")
        if self.jitter not in JITTERS:
            raise ValueError(f"Latency.jitter must be one of {', '.join(JITTERS)}, got {self.jitter!r}")

    def _draw(self, rng: random.Random) -> int:
        if self.jitter == "none" or self.jitter_ns == 0:
            return 0
        if self.jitter == "uniform":
            return rng.randint(0, self.jitter_ns)
        return int(rng.expovariate(1.0 / self.jitter_ns))

    def entry(self, rng: random.Random) -> int:
        return self.entry_ns + self._draw(rng)

    def response(self, rng: random.Random) -> int:
        return self.response_ns + self._draw(rng)


@dataclass(frozen=True)
class QueueModel:
    """How a resting order's place in its price level's queue advances.

    ``"trades_only"``: only trades at the order's price move it forward (by the traded quantity); a level
    that shrinks without trades is assumed to shrink behind it (only clipped: never more ahead than the
    whole level). ``"probabilistic"``: a decrease not explained by trades is split between ahead and behind
    in proportion ``ahead**power : behind**power`` (the larger side more likely lost it), the ahead part
    taken off the queue.
    """

    kind: str = "trades_only"
    power: int = 2

    def __post_init__(self) -> None:
        if self.kind not in QUEUE_MODELS:
            raise ValueError(f"QueueModel.kind must be one of {', '.join(QUEUE_MODELS)}, got {self.kind!r}")
        if not isinstance(self.power, int) or isinstance(self.power, bool) or not 1 <= self.power <= 8:
            raise ValueError(f"QueueModel.power must be an integer in 1..8, got {self.power!r}")

    @classmethod
    def trades_only(cls) -> "QueueModel":
        return cls("trades_only")

    @classmethod
    def probabilistic(cls, power: int = 2) -> "QueueModel":
        return cls("probabilistic", power)


@dataclass(frozen=True)
class Fees:
    """Fee rates as fractions of notional (``Decimal("0.001")`` is 10 bps), charged in the quote asset;
    a negative rate is a rebate."""

    maker: Decimal = Decimal(0)
    taker: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        for name in ("maker", "taker"):
            v = getattr(self, name)
            if not isinstance(v, Decimal) or not v.is_finite():
                raise ValueError(f"Fees.{name} must be a finite Decimal, got {v!r}")
