"""python-binance (1.0.37) against the simulator with nothing changed but its base URLs.

Its other acceptance checks live next to the surface they cover: ``trade_socket`` and ``kline_socket`` in
tests/sim/test_sim_binance_streams_surface.py, ``ws_create_order`` (and the rest of its WS API calls) in
tests/sim/test_sim_binance_wsapi.py, its REST ``Client`` in tests/sim/test_sim_binance.py. This file holds
``DepthCacheManager``: its book must equal the simulator's, exactly, with snapshots that straddle diffs.
"""
import asyncio
from decimal import Decimal

import pytest

from engine.sim.binance import BinanceSimulator
from engine.sim.binance.market import DEFAULT_SYMBOLS

from helpers import wait_for


def true_book(m):
    """The simulator's book as python-binance's DepthCache lists it with conv_type=Decimal."""
    sp = m.spec
    bids = [[sp.tick * p, sp.step * q] for p, q in sorted(m.bids.items(), reverse=True)]
    asks = [[sp.tick * p, sp.step * q] for p, q in sorted(m.asks.items())]
    return bids, asks


async def test_python_binance_depth_cache_manager_equals_the_true_book():
    pytest.importorskip("binance.ws.depthcache", reason="python-binance (test extra) not installed")
    from binance import AsyncClient, BinanceSocketManager, DepthCacheManager

    # one symbol, so each dropped diff is BTCUSDT's
    async with BinanceSimulator(seed=4, symbols=DEFAULT_SYMBOLS[:1]) as sim:
        sim.streams.diff_split = "always"  # every snapshot between two busy ticks straddles the next diff
        m = sim.exchange.markets["BTCUSDT"]
        straddles: list = []  # per full snapshot: were changes up to its lastUpdateId still unpublished?
        plain = m.snapshot

        def recording(limit):
            if limit > 20:  # not the partial @depth<n> streams (5/10/20)
                straddles.append(bool(m.changes))
            return plain(limit)

        m.snapshot = recording
        client = AsyncClient(sim.api_key, sim.api_secret)
        # configuration only, the client's code is untouched: AsyncClient takes no base URL, so its documented
        # API_URL attribute is set; BinanceSocketManager's STREAM_URL likewise, and the manager is given it
        client.API_URL = sim.rest_url + "/api"
        bm = BinanceSocketManager(client)
        bm.STREAM_URL = sim.ws_url + "/"
        try:
            dcm = DepthCacheManager(client, "BTCUSDT", bm=bm, limit=1000, conv_type=Decimal, ws_interval=100)
            async with dcm as dcs:
                for _ in range(10):
                    dc = await asyncio.wait_for(dcs.recv(), 20)
                for _ in range(2):  # a gap: the manager fetches a new snapshot
                    n = len(straddles)
                    sim.faults.drop_diffs = 1
                    while len(straddles) == n:
                        dc = await asyncio.wait_for(dcs.recv(), 20)
                for _ in range(5):
                    dc = await asyncio.wait_for(dcs.recv(), 20)
                sim.paused = True
                await wait_for(lambda: not m.changes)  # the last diff is out
                # the frozen book arrives within a tick; a manager that never gets there times out here
                while (dc.get_bids(), dc.get_asks()) != true_book(m):
                    dc = await asyncio.wait_for(dcs.recv(), 10)
        finally:
            await client.close_connection()
        bids, asks = true_book(m)
        assert dc.get_bids() == bids and dc.get_asks() == asks and len(bids) > 100
        assert len(straddles) >= 3 and any(straddles), straddles
