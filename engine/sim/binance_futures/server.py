"""BinanceFuturesSimulator: the USD-M futures REST API, the WS API and the split streams (aiohttp) on 127.0.0.1,
one clock.

    async with BinanceFuturesSimulator(seed=1, funding_interval_s=2) as sim:
        sim.rest_url, sim.ws_url, sim.ws_api_url, sim.api_key, sim.api_secret
        sim.ws_url + "/public/ws/btcusdt@depth@100ms"; sim.ws_url + "/private/ws/" + listen_key
        sim.faults.rate_limit_429 = 1     # arm a fault
        sim.exchange.markets["BTCUSDT"]   # the true book; sim.exchange.account: wallet, positions

Independent of the engine's connectors and compiled code: a witness (docs/binance_futures.md).
"""
from __future__ import annotations

import asyncio
import secrets
from decimal import Decimal
from typing import Optional

from aiohttp import web

from engine.sim.binance.server import BinanceSimulator

from .exchange import FuturesExchange
from .faults import Faults
from .market import DEFAULT_SYMBOLS
from .rest import RestApi
from .streams import StreamServer
from .wsapi import WsApi


class BinanceFuturesSimulator:
    def __init__(self, *, seed: int = 1, host: str = "127.0.0.1", rest_port: int = 0, ws_port: int = 0,
                 symbols: tuple = DEFAULT_SYMBOLS, tick_s: float = 0.1, weight_limit: int = 2400,
                 ping_interval_s: float = 180.0, funding_interval_s: float = 8 * 3600,
                 listen_key_ttl_s: float = 3600, wallet: str = "100000", api_key: Optional[str] = None,
                 api_secret: Optional[str] = None, faults: Optional[Faults] = None):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator only listens on loopback")
        self.host = host
        self._rest_port, self._ws_port = rest_port, ws_port
        self.tick_s = tick_s
        self.api_key = api_key or "sim" + secrets.token_hex(30)
        self.api_secret = api_secret or secrets.token_hex(32)
        self.faults = faults or Faults()
        self.exchange = FuturesExchange(seed=seed, symbols=symbols, wallet=Decimal(wallet),
                                        funding_interval_s=funding_interval_s, listen_key_ttl_s=listen_key_ttl_s)
        self.rest = RestApi(self.exchange, self.faults, self.api_key, self.api_secret, weight_limit)
        self.wsapi = WsApi(self.rest)
        self.streams = StreamServer(self.exchange, self.faults, tick_s, ping_interval_s)
        self._runners: list[web.AppRunner] = []
        self._clock: Optional[asyncio.Task] = None
        self.rest_url = self.ws_url = self.ws_api_url = ""
        self.paused = False  # tests can freeze the market (funding, liquidation and timers still run)

    def __repr__(self) -> str:
        return f"BinanceFuturesSimulator(rest={self.rest_url!r}, ws={self.ws_url!r})"

    def info(self) -> dict:
        return {"exchange": "binance_futures", "rest_url": self.rest_url, "ws_url": self.ws_url,
                "public_ws_url": self.ws_url + "/public", "market_ws_url": self.ws_url + "/market",
                "private_ws_url": self.ws_url + "/private", "ws_api_url": self.ws_api_url,
                "api_key": self.api_key, "api_secret": self.api_secret}

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        self._runners.append(runner)
        return site._server.sockets[0].getsockname()[1]

    async def start(self) -> "BinanceFuturesSimulator":
        rest_app = web.Application()
        self.rest.routes(rest_app)
        rest_app.router.add_get("/ws-fapi/v1", self.wsapi.handler)
        ws_app = web.Application()
        self.streams.routes(ws_app)
        rest_port = await self._serve(rest_app, self._rest_port)
        ws_port = await self._serve(ws_app, self._ws_port)
        self.rest_url = f"http://{self.host}:{rest_port}"
        self.ws_url = f"ws://{self.host}:{ws_port}"
        self.ws_api_url = f"ws://{self.host}:{rest_port}/ws-fapi/v1"
        self._clock = asyncio.create_task(self._run_clock(), name="binance-futures-sim-clock")
        return self

    async def stop(self) -> None:
        clock, self._clock = self._clock, None
        if clock is not None:
            clock.cancel()
            await asyncio.gather(clock, return_exceptions=True)
        await self.streams.stop()
        await self.wsapi.close_all()
        for r in self._runners:
            await r.cleanup()

    # `async with sim:` starts and stops it, as the spot simulator does
    __aenter__ = BinanceSimulator.__aenter__
    __aexit__ = BinanceSimulator.__aexit__

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            next_t += self.tick_s
            self.step_once()
            await asyncio.sleep(max(0.0, next_t - loop.time()))

    def step_once(self) -> None:
        if self.paused:
            self.exchange.timers()
        else:
            self.exchange.step()
        self.streams.publish()

    # fault actions on live connections
    async def disconnect_streams(self, route: Optional[str] = None) -> int:
        """Cut every stream connection (or those of one route: public, market, private)."""
        return await self.streams.disconnect_all(route)

    def expire_listen_key(self) -> None:
        """The listenKey expires now: listenKeyExpired to its connections, then nothing until a new key."""
        self.exchange.expire_listen_key()
