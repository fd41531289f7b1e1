"""The simulators with a connector pointed at them through fault proxies, for the fault tests."""
import asyncio
import contextlib
from decimal import Decimal as D
from urllib.parse import urlsplit

import pytest

from engine.config import RiskLimits
from engine.execution import ExecutionEngine
from engine.models import OrderRequest, OrderType, Side
from engine.risk import RiskManager
from faults.proxy import FaultProxy
from helpers import wait_for

LIMITS = RiskLimits(max_order_qty=D("1"), max_order_notional=D("100000"), max_position=D("2"),
                    max_total_notional=D("500000"), max_open_orders=10, max_orders_per_second=20,
                    price_band_pct=D("10"), max_daily_loss=D("1000"), max_book_age_s=3600)


def port_of(url: str) -> int:
    return urlsplit(url).port


@contextlib.asynccontextmanager
async def lighter_via_proxy(seed=9, *, trading=True, engine_kw=None, rest_via_proxy=False):
    """A Lighter simulator, a proxy in front of its stream socket (and of REST with ``rest_via_proxy``), a
    LighterConnector through it with the ETH-USDC book live, and (``trading``) an ExecutionEngine started on it.

    Yields (sim, proxy, conn, ex, risk, feed); ``ex`` and ``risk`` are None without ``trading``."""
    from engine.connectors.lighter.client import LighterConnector
    from engine.connectors.lighter.urls import LighterEndpoints
    from engine.sim.lighter import LighterSimulator

    if trading:
        pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
        from engine.connectors.lighter.signer import new_api_key
    async with LighterSimulator(seed=seed) as sim, FaultProxy(port_of(sim.ws_url)) as proxy:
        keys = {}
        if trading:
            keys = dict(account_index=sim.account_index, api_key_index=sim.api_key_index,
                        api_private_key=new_api_key()[0])
        rest = proxy.url(sim.rest_url) if rest_via_proxy else sim.rest_url
        conn = LighterConnector(endpoints=LighterEndpoints(rest, proxy.url(sim.ws_url)), **keys)
        await conn.connect()
        ex = risk = None
        try:
            feed = await conn.add_book("ETH-USDC")
            if trading:
                risk = RiskManager(limits=LIMITS)
                ex = ExecutionEngine({"lighter": conn}, risk, cancel_on_shutdown=False,
                                     **{"reconcile_every_s": 0.2, "reconcile_max_every_s": 0.5, **(engine_kw or {})})
                await ex.start()
            await wait_for(lambda: conn.book_status("ETH-USDC").live)
            yield sim, proxy, conn, ex, risk, feed
        finally:
            if ex is not None:
                await ex.stop()
            await conn.disconnect()


def stream_link(proxy):
    """The one open Lighter stream connection (the WebSocket, by its request path)."""
    return only_link(proxy, "/stream")


def limit(side, qty, price, symbol="ETH-USDC"):
    return OrderRequest(symbol, Side(side), OrderType.LIMIT, D(qty), D(price))


def lighter_creates(sim, coi) -> int:
    """How many CreateOrder transactions the simulator sequenced for this client order index."""
    return sum(1 for t, info in sim.txs if t == 14 and str(info["ClientOrderIndex"]) == str(coi))


def lighter_open(sim) -> set:
    """Client order indexes the simulator holds open."""
    return {str(o["client_order_index"]) for o in sim.orders.active()}


def lighter_position(sim, market_id=0) -> D:
    m = sim.markets[market_id]
    return D(sim.orders.positions.get(market_id, 0)).scaleb(-m.spec.size_decimals)


@contextlib.asynccontextmanager
async def simulator_process(venue: str):
    """A simulator in its own process (``python -m engine.sim.<venue>``), so a test can SIGSTOP it; yields
    (its info line as a dict, the process). Always continued and terminated on the way out."""
    import json
    import os
    import signal
    import sys

    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", f"engine.sim.{venue}",
                                                stdout=asyncio.subprocess.PIPE)
    try:
        info = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        yield info, proc
    finally:
        if proc.returncode is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.terminate()
        await proc.wait()


@contextlib.asynccontextmanager
async def binance_via_proxy(seed=7, *, sim_kw=None, **conn_kw):
    """A Binance simulator, one proxy per role (``rest``, ``ws`` market streams, ``ws_api`` user stream: REST and
    WS API share the simulator's port, each gets its own proxy) and a connected BinanceConnector through them.

    Yields (sim, proxies, conn)."""
    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.binance.urls import BinanceEndpoints
    from engine.sim.binance import BinanceSimulator

    async with BinanceSimulator(seed=seed, **(sim_kw or {})) as sim, \
            FaultProxy(port_of(sim.rest_url)) as rest, FaultProxy(port_of(sim.ws_url)) as ws, \
            FaultProxy(port_of(sim.ws_api_url)) as ws_api:
        conn = BinanceConnector(endpoints=BinanceEndpoints(rest.url(sim.rest_url), ws.url(sim.ws_url),
                                                           ws_api.url(sim.ws_api_url)),
                                api_key=sim.api_key, api_secret=sim.api_secret, **conn_kw)
        await conn.connect()
        try:
            yield sim, {"rest": rest, "ws": ws, "ws_api": ws_api}, conn
        finally:
            await conn.disconnect()


def only_link(proxy, path=None):
    """The one open connection through ``proxy`` (to ``path``, when given)."""
    links = proxy.open_links(path)
    assert len(links) == 1, links
    return links[0]


FAULTS = ("reset", "truncate", "stall", "delay", "blackhole", "refuse")
DELAY_S = 0.3  # well under the read deadline's idle time: a slow link, not a dead one


async def inject(proxy, link, fault: str) -> None:
    """Apply one of FAULTS to ``link`` (``refuse``: the listener closes too, and the link is reset)."""
    if fault == "refuse":
        await proxy.refuse()
        link.reset()
    elif fault == "delay":
        link.delay(DELAY_S)
    else:
        {"reset": link.reset, "truncate": link.truncate, "stall": link.stall, "blackhole": link.blackhole}[fault]()


async def refused_then_allowed(proxy, market) -> None:
    """While the listener is closed, wait for two refused connection attempts; then two accepted and closed at
    once; then forward again."""
    await wait_for(lambda: market.connect_failures >= 2, timeout=20)
    proxy.accept_mode = "close"
    await proxy.listen()
    await wait_for(lambda: proxy.refused >= 1 and market.connect_failures >= 3, timeout=20)
    proxy.accept_mode = "forward"


class LoopErrors:
    """Collects what the event loop would log as unhandled (exceptions in callbacks, tasks never awaited)."""

    def __enter__(self):
        self.loop = asyncio.get_running_loop()
        self.errors: list = []
        self.loop.set_exception_handler(lambda loop, ctx: self.errors.append(ctx.get("message", ctx)))
        return self

    def __exit__(self, *exc):
        self.loop.set_exception_handler(None)
