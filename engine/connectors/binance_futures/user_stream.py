"""USD-M futures user data on the ``/private`` route via a listenKey (docs/binance_futures.md, "User data").

POST /fapi/v1/listenKey (API key header, no signature) makes or extends the key; PUT every ``keepalive_s``
keeps it (60 min validity); the socket is ``<ws>/private/ws/<listenKey>``. ``listenKeyExpired`` (or a PUT
answered -1125, or any lost socket) makes a new key and a new socket and bumps ``epoch``: events may have
been missed, so ``on_resubscribed`` callers reconcile over REST. ``ORDER_TRADE_UPDATE`` -> ``OrderUpdate``
(``emit``); ``ACCOUNT_UPDATE`` updates ``positions`` ((symbol, positionSide) -> the ``P`` row) and
``balances`` (asset -> the ``B`` row); ``MARGIN_CALL`` events are kept in ``margin_calls``.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Optional

import aiohttp
import orjson

from engine.connectors.base import ReadDeadline, ReconnectPolicy, UserDataStream
from engine.symbols import SymbolMap

from .errors import futures_error
from .parse import order_from_event
from .urls import ROUTES, FuturesEndpoints

log = logging.getLogger("engine.binance_futures.user")
LISTEN_KEY = "/fapi/v1/listenKey"


class FuturesUserStream(UserDataStream):
    def __init__(self, endpoints: FuturesEndpoints, auth, http, symbols: SymbolMap, *, keepalive_s: float = 1800.0,
                 reconnect: Optional[ReconnectPolicy] = None, read_deadline: Optional[ReadDeadline] = None):
        super().__init__()
        self.endpoints, self.auth, self.http, self.symbols = endpoints, auth, http, symbols
        self.keepalive_s = keepalive_s
        self.read_deadline = read_deadline or ReadDeadline()
        self._policy = reconnect or ReconnectPolicy()
        self.listen_key: Optional[str] = None
        self.positions: dict[tuple, dict] = {}
        self.balances: dict[str, dict] = {}
        self.margin_calls: list[dict] = []
        self.epoch = self.events = self.disconnects = self.expiries = self.keepalives = 0
        self.last_error: Optional[Exception] = None
        self._task: Optional[asyncio.Task] = None
        self._ws = None
        self._stopping = False

    async def start(self, timeout_s: float = 10.0) -> None:
        self.running = True
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="binance-futures-user-stream")
        try:
            await asyncio.wait_for(self.subscribed.wait(), timeout_s)
        except asyncio.TimeoutError:
            raise TimeoutError(f"binance_futures user stream not up within {timeout_s:g} s; still retrying "
                               f"(last error: {self.last_error or 'none'})") from None

    async def stop(self) -> None:
        self._stopping = True
        self.running = False
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.listen_key is not None:
            try:
                await self._listen_key("DELETE")
            except Exception:
                pass
        self._set_up(False)

    async def _listen_key(self, method: str) -> Optional[str]:
        """POST/PUT/DELETE the listenKey (API key only); the key on POST. A refusal raises its TradingError."""
        await self.http.open()
        params = f"?listenKey={self.listen_key}" if method != "POST" and self.listen_key else ""
        async with self.http._session.request(method, f"{self.endpoints.rest}{LISTEN_KEY}{params}",
                                              headers=self.auth.headers,
                                              timeout=aiohttp.ClientTimeout(total=10)) as resp:
            body = await resp.read()
            if resp.status != 200:
                raise futures_error(resp.status, body, resp.headers, endpoint=f"{method} {LISTEN_KEY}")
        return orjson.loads(body).get("listenKey") if method == "POST" else None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                self.listen_key = await self._listen_key("POST")
                url = f"{self.endpoints.ws}/{ROUTES['user']}/ws/{self.listen_key}"
                async with self.http._session.ws_connect(url, heartbeat=self.read_deadline.aiohttp_heartbeat_s,
                                                         max_msg_size=4 << 20) as ws:
                    self._ws = ws
                    self.epoch += 1
                    self._set_up(True)
                    self._policy.reset()
                    for cb in self.on_resubscribed:
                        cb(self.epoch)
                    keep = asyncio.create_task(self._keepalive(ws))
                    try:
                        async for msg in ws:
                            if msg.type is aiohttp.WSMsgType.TEXT and self._on_event(orjson.loads(msg.data)):
                                break  # listenKeyExpired: a new key, a new socket
                    finally:
                        keep.cancel()
                        await asyncio.gather(keep, return_exceptions=True)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.last_error = e
                log.warning("binance_futures user stream: %s", e)
            self._set_up(False)
            if self._stopping:
                return
            self.disconnects += 1
            await asyncio.sleep(self._policy.next_delay())

    async def _keepalive(self, ws) -> None:
        while True:
            await asyncio.sleep(self.keepalive_s)
            try:
                await self._listen_key("PUT")
                self.keepalives += 1
            except Exception as e:  # -1125: the key is gone; a new one on a new socket
                self.last_error = e
                log.warning("binance_futures listenKey keepalive refused (%s); making a new key", e)
                await ws.close()
                return

    def _on_event(self, ev: dict) -> bool:
        """Handle one event; True when the key expired."""
        self.events += 1
        kind = ev.get("e")
        if kind == "listenKeyExpired":
            self.expiries += 1
            log.warning("binance_futures listenKey expired; making a new one")
            self.listen_key = None
            return True
        if kind == "ORDER_TRADE_UPDATE":
            o = ev.get("o") or {}
            try:
                unified = str(self.symbols.unified(o.get("s", "")))
            except (KeyError, ValueError):
                unified = o.get("s", "")
            self.emit(order_from_event(o, unified))
        elif kind == "ACCOUNT_UPDATE":
            a = ev.get("a") or {}
            for b in a.get("B") or ():
                self.balances[b["a"]] = b
            for p in a.get("P") or ():
                self.positions[(p["s"], p.get("ps", "BOTH"))] = p
        elif kind == "MARGIN_CALL":
            self.margin_calls.append(ev)
        return False

    def status(self) -> dict:
        return {"state": "up" if self.up else ("down" if self.running else "stopped"), "epoch": self.epoch,
                "events": self.events, "disconnects": self.disconnects, "expiries": self.expiries,
                "keepalives": self.keepalives, "last_error": None if self.last_error is None else str(self.last_error)}
