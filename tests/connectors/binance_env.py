"""A Binance simulator plus a connector pointed at it, for the connector tests."""
import contextlib

from engine.connectors.binance.client import BinanceConnector
from engine.connectors.binance.urls import BinanceEndpoints
from engine.sim.binance import BinanceSimulator


@contextlib.asynccontextmanager
async def binance(seed=7, connect=True, sim_kw=None, creds=None, **conn_kw):
    """``creds(sim)`` may replace the simulator's api_key/api_secret (a dict of either) for the connector."""
    async with BinanceSimulator(seed=seed, **(sim_kw or {})) as sim:
        keys = {"api_key": sim.api_key, "api_secret": sim.api_secret, **(creds(sim) if creds else {})}
        conn = BinanceConnector(endpoints=BinanceEndpoints(sim.rest_url, sim.ws_url, sim.ws_api_url),
                                **keys, **conn_kw)
        if connect:
            await conn.connect()
        try:
            yield sim, conn
        finally:
            await conn.disconnect()


def true_top(sim, symbol, n=20):
    """The simulator's own book, as (price, qty) floats best first."""
    m = sim.exchange.markets[symbol]
    f = lambda side: [(float(m.spec.px(p)), float(m.spec.qty(q))) for p, q in side[:n]]  # noqa: E731
    return f(sorted(m.bids.items(), reverse=True)), f(sorted(m.asks.items()))
