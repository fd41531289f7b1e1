"""Futures market streams other than the book and aggTrade (which run on the shared spot machinery,
engine/connectors/binance/ws_streams.py, one instance per route), and the route watch.

``RawStream``: one raw stream (``<ws>/<route>/ws/<stream>``) with reconnects, each JSON payload to a
callback (bookTicker, markPrice, kline). ``RouteWatch``: every subscription's first-data deadline. On the
venue a stream subscribed on the wrong route is accepted and never sends anything (docs/binance_futures.md,
"Streams"); a subscription that has delivered nothing ``deadline_s`` after it was made is reported by
``problems()`` (and ``health()["stream_problems"]``) and ``wait()`` raises ``StreamSilentError`` naming it.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable, Optional

import aiohttp
import orjson

from engine.connectors.base import ReconnectPolicy
from engine.connectors.binance.ws_streams import BinanceMarketData
from engine.errors import ExchangeConnectionError

log = logging.getLogger("engine.binance_futures.streams")
FIRST_DATA_DEADLINE_S = 10.0


class StreamSilentError(ExchangeConnectionError):
    """A subscribed stream delivered nothing within its deadline (wrong route, unknown name, dead feed)."""


class RouteWatch:
    def __init__(self, deadline_s: float = FIRST_DATA_DEADLINE_S, clock=time.monotonic):
        self.deadline_s = deadline_s
        self._clock = clock
        self.subs: dict[str, dict] = {}  # stream name -> {route, since, first_data}

    def subscribed(self, stream: str, route: str) -> None:
        self.subs.setdefault(stream, {"route": route, "since": self._clock(), "first_data": None})

    def data(self, stream: str) -> None:
        sub = self.subs.get(stream)
        if sub is not None and sub["first_data"] is None:
            sub["first_data"] = self._clock()

    def problems(self) -> list[str]:
        now = self._clock()
        return [f"no data on {s} (route /{v['route']}) within {self.deadline_s:g} s of subscribing: wrong route "
                f"or unknown stream?" for s, v in self.subs.items()
                if v["first_data"] is None and now - v["since"] >= self.deadline_s]

    async def wait(self, streams: Optional[list] = None, poll_s: float = 0.05) -> None:
        """Return once every subscription (or those named) has delivered; ``StreamSilentError`` past a deadline."""
        names = list(self.subs) if streams is None else streams
        unknown = [s for s in names if s not in self.subs]
        if unknown:
            raise ValueError(f"not subscribed: {', '.join(unknown)}")
        while True:
            pending = [s for s in names if self.subs.get(s, {}).get("first_data") is None]
            if not pending:
                return
            late = [p for p in self.problems() if any(p.startswith(f"no data on {s} ") for s in pending)]
            if late:
                raise StreamSilentError("binance_futures: " + "; ".join(late), exchange="binance_futures")
            await asyncio.sleep(poll_s)


class RawStream:
    def __init__(self, session_of: Callable, url: str, stream: str, callback: Callable[[dict], None],
                 watch: RouteWatch, heartbeat_s: float = 30.0):
        self.session_of, self.url, self.stream, self.callback, self.watch = session_of, url, stream, callback, watch
        self.heartbeat_s = heartbeat_s
        self.disconnects = 0
        self._task: Optional[asyncio.Task] = None
        self._policy = ReconnectPolicy()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"binance-futures-{self.stream}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                async with self.session_of().ws_connect(self.url, heartbeat=self.heartbeat_s) as ws:
                    self._policy.reset()
                    async for msg in ws:
                        if msg.type is not aiohttp.WSMsgType.TEXT:
                            continue
                        try:
                            payload = orjson.loads(msg.data)
                        except orjson.JSONDecodeError:
                            log.warning("binance_futures %s: frame is not JSON; ignored", self.stream)
                            continue
                        self.watch.data(self.stream)
                        try:
                            self.callback(payload)
                        except Exception:
                            log.exception("binance_futures %s: callback failed", self.stream)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("binance_futures %s: %s", self.stream, e)
            self.disconnects += 1
            await asyncio.sleep(self._policy.next_delay())


class FuturesMarketData(BinanceMarketData):
    """The shared book streams with the futures snapshot rule: a snapshot is asked for only once a diff is
    buffered. The first event applied after a snapshot must straddle it (``U <= lastUpdateId <= u``,
    docs/binance_futures.md, "Streams"); a snapshot taken before any diff was buffered can end exactly where
    an event already missed ended, and then no later event straddles it (each one resyncs again). A diff
    buffered first (``BUFFERED`` asks for the snapshot) is the documented order: buffer, then snapshot."""

    def _want_snapshot(self, target) -> None:
        if target.sync.buffered == 0:
            return  # the first buffered diff asks for it
        super()._want_snapshot(target)
