"""BinanceSimulator: REST + WS API (aiohttp) and market streams (picows) on 127.0.0.1, one market clock.

    async with BinanceSimulator(seed=1) as sim:
        sim.rest_url, sim.ws_url, sim.ws_api_url, sim.api_key, sim.api_secret
        sim.faults.order_5xx = 1          # arm a fault
        sim.exchange.markets["BTCUSDT"]   # the true book, orders, balances

The simulator shares no code with the engine's connectors or compiled hot path: it is a witness.
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import Optional

from aiohttp import web

from .exchange import SimExchange
from .faults import Faults
from .market import DEFAULT_SYMBOLS
from .replay import ReplayStreams, load_session
from .rest import RestApi
from .streams import StreamServer
from .wsapi import WsApi


class BinanceSimulator:
    def __init__(self, *, seed: int = 1, host: str = "127.0.0.1", rest_port: int = 0, ws_port: int = 0,
                 symbols: tuple = DEFAULT_SYMBOLS, tick_s: float = 0.1, weight_limit: int = 6000,
                 ping_interval_s: float = 20.0, pong_timeout_s: float = 60.0,
                 max_connection_s: float = 24 * 3600, api_key: Optional[str] = None,
                 api_secret: Optional[str] = None, faults: Optional[Faults] = None,
                 replay: Optional[str] = None, replay_pace: str = "fast", replay_speed: float = 1.0):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator only listens on loopback")
        self.host = host
        self._rest_port, self._ws_port = rest_port, ws_port
        self.tick_s = tick_s
        self.api_key = api_key or "sim" + secrets.token_hex(30)
        self.api_secret = api_secret or secrets.token_hex(32)
        self.faults = faults or Faults()
        self.exchange = SimExchange(seed=seed, symbols=symbols)
        self.rest = RestApi(self.exchange, self.faults, self.api_key, self.api_secret, weight_limit)
        self.wsapi = WsApi(self.exchange, self.api_key, self.api_secret, self.rest.server_ms, weight_limit)
        # one IP request-weight budget for REST and the WS API, as on the venue
        self.wsapi.weights = self.rest.weights
        if replay:
            # a recorded session instead of the live market: streams, snapshots and exchangeInfo from it
            session = load_session(replay)
            self.rest.replay = session
            self.streams = ReplayStreams(session, pace=replay_pace, speed=replay_speed)
        else:
            self.streams = StreamServer(self.exchange, self.faults, ping_interval_s=ping_interval_s,
                                        pong_timeout_s=pong_timeout_s, max_connection_s=max_connection_s)
        self._runner: Optional[web.AppRunner] = None
        self._clock: Optional[asyncio.Task] = None
        self.rest_url = self.ws_url = self.ws_api_url = ""
        self.paused = False  # tests can freeze the market

    def __repr__(self) -> str:
        return f"BinanceSimulator(rest={self.rest_url!r}, ws={self.ws_url!r})"

    def info(self) -> dict:
        return {"exchange": "binance", "rest_url": self.rest_url, "ws_url": self.ws_url,
                "ws_api_url": self.ws_api_url, "api_key": self.api_key, "api_secret": self.api_secret}

    async def start(self) -> "BinanceSimulator":
        app = web.Application()
        self.rest.routes(app)
        app.router.add_get("/ws-api/v3", self.wsapi.handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._rest_port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        await self.streams.start(self.host, self._ws_port)
        self.rest_url = f"http://{self.host}:{port}"
        self.ws_api_url = f"ws://{self.host}:{port}/ws-api/v3"
        self.ws_url = f"ws://{self.host}:{self.streams.port}"
        self._clock = asyncio.create_task(self._run_clock(), name="binance-sim-clock")
        return self

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
        await self.streams.stop()
        await self.wsapi.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> "BinanceSimulator":
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        next_t = loop.time()
        while True:
            next_t += self.tick_s
            if not self.paused:
                self.exchange.step()
            self.streams.publish()
            await asyncio.sleep(max(0.0, next_t - loop.time()))

    def step(self, n: int = 1) -> None:
        """Advance the market n ticks now (tests), publishing to the streams."""
        for _ in range(n):
            self.exchange.step()
            self.streams.publish()
