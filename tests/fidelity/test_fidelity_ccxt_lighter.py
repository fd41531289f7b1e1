"""ccxt's lighter (async_support) against the Lighter simulator, its REST base URLs pointed at it."""
import asyncio
import contextlib

import pytest

ccxt_async = pytest.importorskip("ccxt.async_support", reason="the fidelity extra (ccxt) is not installed")

from engine.sim.lighter import LighterSimulator  # noqa: E402
from fidelity_env import CALL_TIMEOUT, call  # noqa: E402


@contextlib.asynccontextmanager
async def client():
    async with LighterSimulator(seed=1) as sim:
        ex = ccxt_async.lighter()
        ex.urls["api"] = {k: sim.rest_url for k in ex.urls["api"]}  # every entry is the venue's host, no path
        try:
            yield sim, ex
        finally:
            await asyncio.wait_for(ex.close(), CALL_TIMEOUT)


async def test_fetch_status_and_time():
    async with client() as (sim, ex):
        assert (await call(ex.fetch_status()))["status"] == "ok"
        assert await call(ex.fetch_time()) > 0


async def test_load_markets_and_order_book():
    async with client() as (sim, ex):
        markets = await call(ex.load_markets())
        assert "ETH/USDC:USDC" in markets
        book = await call(ex.fetch_order_book("ETH/USDC:USDC"))
        assert book["bids"] and book["asks"]


async def test_fetch_ohlcv_and_ticker():
    async with client() as (sim, ex):
        bars = await call(ex.fetch_ohlcv("ETH/USDC:USDC", "1m", limit=10))
        assert bars and all(len(b) == 6 for b in bars)
        assert (await call(ex.fetch_ticker("ETH/USDC:USDC")))["symbol"] == "ETH/USDC:USDC"
