"""Soak: both simulators streaming into the engine for a long time; RSS growth and end-to-end latency.

Not part of the default run (it takes 10 minutes): ``ENGINE_SOAK_S=600 python -m pytest benchmarks/bench_soak.py
-s -p no:cacheprovider``. The end-to-end latency is measured from the moment the Binance simulator wrote a
depth diff to its socket to the strategy's ``on_book`` callback for that update id (same process, same
monotonic clock), into a histogram. RSS is sampled every 10 s after a one-minute warm-up.
"""
import asyncio
import os
import resource
import time
from decimal import Decimal

import pytest

from engine.config import RiskLimits
from engine.connectors.binance.client import BinanceConnector
from engine.connectors.binance.urls import BinanceEndpoints
from engine.connectors.lighter.client import LighterConnector
from engine.connectors.lighter.urls import LighterEndpoints
from engine.execution import ExecutionEngine
from engine.metrics import LatencyHistogram
from engine.risk import RiskManager
from engine.sim.binance import BinanceSimulator
from engine.sim.lighter import LighterSimulator
from engine.strategy import Strategy, StrategyRunner

SOAK_S = float(os.environ.get("ENGINE_SOAK_S", "0"))


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class LatencyProbe(Strategy):
    name = "latency-probe"

    def __init__(self, engine, symbols, sent_at):
        super().__init__(engine, symbols)
        self.sent_at = sent_at
        self.hist = LatencyHistogram()
        self.books_seen = 0

    def on_book(self, venue, symbol, book):
        self.books_seen += 1
        if venue == "binance":
            # pop: the probe's own bookkeeping must not be what grows during the soak
            t = self.sent_at.pop((book.symbol, book.last_update_id), None)
            if t is not None:
                self.hist.add(time.monotonic_ns() - t)


@pytest.mark.skipif(SOAK_S <= 0, reason="set ENGINE_SOAK_S (e.g. 600) to run the soak")
def test_soak_rss_and_end_to_end_latency():
    import uvloop

    async def main():
        async with BinanceSimulator(seed=21) as bsim, LighterSimulator(seed=22) as lsim:
            bsim.streams.sent_at = {}
            b = BinanceConnector(endpoints=BinanceEndpoints(bsim.rest_url, bsim.ws_url, bsim.ws_api_url),
                                 api_key=bsim.api_key, api_secret=bsim.api_secret)
            lg = LighterConnector(endpoints=LighterEndpoints(lsim.rest_url, lsim.ws_url))
            await b.connect()
            await lg.connect()
            ex = ExecutionEngine({"binance": b}, RiskManager(limits=RiskLimits(max_daily_loss=Decimal("1e9"))))
            probe = LatencyProbe(ex, {"binance": ["BTC-USDT", "ETH-USDT", "SOL-USDT"],
                                      "lighter": ["BTC-USDT", "ETH-USDT", "CRV-USDT"]}, bsim.streams.sent_at)
            runner = StrategyRunner(probe, {"binance": b, "lighter": lg})
            await runner.start()
            samples = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < SOAK_S:
                await asyncio.sleep(10)
                samples.append((round(time.monotonic() - t0), rss_mb()))
            await runner.stop()
            await b.disconnect()
            await lg.disconnect()
            return samples, probe.hist.snapshot(), probe.books_seen

    samples, lat, books = uvloop.run(main())
    warm = [mb for t, mb in samples if t >= 60] or [mb for _, mb in samples]
    growth = warm[-1] - warm[0]
    print(f"\nsoak {SOAK_S:.0f}s: {books} book callbacks; RSS after warm-up {warm[0]:.1f} -> {warm[-1]:.1f} MB "
          f"(growth {growth:+.2f} MB; peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.1f} MB)")
    print(f"end-to-end (simulator socket write -> strategy on_book) ns: {lat}")
    assert books > 0 and lat["count"] > 0
    assert growth < 5.0
