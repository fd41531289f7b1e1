"""Binance spot user data over the WS API (``userDataStream.subscribe.signature``).

The spot listenKey flow was retired on 2026-02-20; the WS API subscription works with HMAC keys and needs
no keepalive. Events arrive as ``{"subscriptionId": n, "event": {...}}``. After any reconnect or
``eventStreamTerminated`` the stream resubscribes and bumps ``epoch``: events may have been missed in
between, so the trading layer must reconcile open orders over REST (it watches ``epoch``/``on_resubscribed``).

A silent socket is a lost one: aiohttp pings after ``read_deadline.aiohttp_heartbeat_s`` without data and
closes the socket when no pong comes within half that (a stalled stream or a frozen server sends neither
data nor close); the stall is counted in ``stalls``, requests still waiting on that socket fail at once, and
the stream reconnects and resubscribes (a new epoch). The handshake and the subscription are bounded too, so
a server that accepts and never answers is retried, not waited on forever.

A refused key, secret or permission (-2014, -2015, -1022: ``permanent_auth_failure``) is never retried: the
stream stops at the first refusal, ``failure`` holds one ``AuthenticationError`` naming the settings and
the IP allow-list to check, ``start()`` raises it, and ``status()`` reports ``state: failed`` and why.
Everything else (network, handshake, 5xx, -1021 timestamp) is retried with backoff.
"""
from __future__ import annotations

import asyncio
import logging
import uuid
from decimal import Decimal
from typing import Optional

import aiohttp
import orjson

from engine.connectors.base import ReadDeadline, ReconnectPolicy, UserDataStream
from engine.errors import AuthenticationError, NonceConflictError, WebSocketDisconnectedError
from engine.models import Balance, OrderUpdate
from engine.symbols import SymbolMap

from .auth import BinanceAuth
from .errors import binance_error, permanent_auth_failure
from .http import BinanceHttp
from .parse import order_from_execution_report
from .urls import BinanceEndpoints

log = logging.getLogger("engine.binance.user")
HANDSHAKE_TIMEOUT_S = 10.0  # the WebSocket upgrade, on a server that accepted the TCP connection


class BinanceUserStream(UserDataStream):
    def __init__(self, endpoints: BinanceEndpoints, auth: BinanceAuth, http: BinanceHttp, symbols: SymbolMap, *,
                 reconnect: Optional[ReconnectPolicy] = None, read_deadline: Optional[ReadDeadline] = None):
        super().__init__()
        self.read_deadline = read_deadline or ReadDeadline()
        self.endpoints = endpoints
        self.auth = auth
        self.http = http
        self.symbols = symbols
        self.balances: dict[str, Balance] = {}
        self.epoch = 0  # bumped on every (re)subscription
        self.events = 0
        self.disconnects = 0
        self.stalls = 0  # sockets declared dead by the read deadline (also in disconnects)
        self._task: Optional[asyncio.Task] = None
        self._ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self._policy = reconnect or ReconnectPolicy()
        self._stopping = False
        self.last_error: Optional[Exception] = None
        self.failure: Optional[AuthenticationError] = None  # a permanent refusal: the stream has stopped

    async def start(self, timeout_s: float = 10.0) -> None:
        """Subscribe, waiting up to ``timeout_s``. Raises the ``AuthenticationError`` at once when the venue
        refuses the key for good, ``TimeoutError`` (with the last transient error) when not subscribed in time."""
        self.running = True
        if self._task is None or self._task.done():
            self._stopping = False
            self.failure = None
            self._task = asyncio.create_task(self._run(), name="binance-user-stream")
        up = asyncio.ensure_future(self.subscribed.wait())
        try:
            await asyncio.wait({up, self._task}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            up.cancel()
        if self.up:
            return
        if self.failure is not None:
            self.running = False  # start() failed: the caller has the error; nothing runs
            raise self.failure
        raise TimeoutError(f"binance user stream not subscribed within {timeout_s:g} s; still retrying "
                           f"(last error: {self.last_error or 'none'})")

    async def stop(self) -> None:
        self._stopping = True
        self.running = False
        if self._ws is not None and not self._ws.closed:
            try:
                await self._request("userDataStream.unsubscribe", {})
            except Exception:
                pass
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._set_up(False)

    # -- internals
    async def _run(self) -> None:
        await self.http.open()
        while not self._stopping:
            try:
                ws = await asyncio.wait_for(self.http._session.ws_connect(
                    self.endpoints.ws_api, autoping=True, heartbeat=self.read_deadline.aiohttp_heartbeat_s,
                    max_msg_size=4 << 20), HANDSHAKE_TIMEOUT_S)
                async with ws:
                    self._ws = ws
                    self._pending: dict[str, asyncio.Future] = {}
                    reader = asyncio.create_task(self._read(ws))
                    try:
                        await self._subscribe()
                        self._policy.reset()
                        await reader
                    finally:
                        reader.cancel()
                        await asyncio.gather(reader, return_exceptions=True)
                if isinstance(ws.exception(), aiohttp.ServerTimeoutError):  # no pong: the heartbeat closed it
                    self.stalls += 1
                    log.warning("binance user stream: no data and no pong within %.1f s; declared dead",
                                self.read_deadline.aiohttp_heartbeat_s * 1.5)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.last_error = e
                if permanent_auth_failure(e):
                    self._fail(e)
                    return
                log.warning("binance user stream: %s", e)
                if isinstance(e, NonceConflictError):  # -1021: our clock is off; measure it again, then retry
                    try:
                        await self.http.sync_time()
                    except Exception as sync_error:
                        log.warning("binance user stream: clock resync failed: %s", sync_error)
            self._set_up(False)
            if self._stopping:
                return
            self.disconnects += 1
            await asyncio.sleep(self._policy.next_delay())

    def _fail(self, e: AuthenticationError) -> None:
        """Stop for good on a refusal no retry can fix (a retry loop would only hammer the venue with it)."""
        self._set_up(False)
        self.failure = AuthenticationError(
            f"binance user stream stopped, not retried: the venue refused the API key on {self.endpoints.ws_api} "
            f"(code {e.code}): {e.message}", exchange="binance", code=e.code, http_status=e.http_status,
            raw=e.raw, action=e.action)
        self.last_error = self.failure
        log.error("%s", self.failure)

    async def _subscribe(self) -> None:
        res = await self._request("userDataStream.subscribe.signature", self.auth.sign_ws_api({}))
        self.epoch += 1
        self._set_up(True)
        log.info("binance user stream subscribed (subscriptionId=%s, epoch=%d)",
                 (res or {}).get("subscriptionId"), self.epoch)
        for cb in self.on_resubscribed:
            cb(self.epoch)

    async def _request(self, method: str, params: dict, timeout_s: float = 10.0):
        rid = uuid.uuid4().hex
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self._ws.send_str(orjson.dumps({"id": rid, "method": method, "params": params}).decode())
        try:
            msg = await asyncio.wait_for(fut, timeout_s)
        finally:
            self._pending.pop(rid, None)
        if msg.get("status") != 200:
            err = msg.get("error") or {}
            raise binance_error(msg.get("status"), err, endpoint=f"WS-API {method}")
        return msg.get("result")

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for m in ws:
            if m.type is not aiohttp.WSMsgType.TEXT:
                continue
            try:
                msg = orjson.loads(m.data)
            except orjson.JSONDecodeError:
                log.warning("binance user stream: non-JSON frame dropped")
                continue
            if not isinstance(msg, dict):
                continue
            if "event" in msg:
                self._on_event(msg["event"])
            elif msg.get("id") in self._pending:
                fut = self._pending[msg["id"]]
                if not fut.done():
                    fut.set_result(msg)
        # whatever still waits for an answer on this socket will not get one
        for fut in self._pending.values():
            if not fut.done():
                fut.set_exception(WebSocketDisconnectedError("binance user stream closed before the answer",
                                                             exchange="binance", close_code=ws.close_code))
        if not self._stopping:
            log.warning("binance user stream closed (code=%s)", ws.close_code)

    @property
    def state(self) -> str:
        """stopped (never started or stopped), failed (a permanent refusal), subscribed, or connecting."""
        if self.failure is not None:
            return "failed"
        if self._task is None or self._task.done():
            return "stopped"
        return "subscribed" if self.up else "connecting"

    def status(self) -> dict:
        return {"state": self.state, "running": self.running, "subscribed": self.up, "epoch": self.epoch,
                "events": self.events, "disconnects": self.disconnects, "stalls": self.stalls,
                "last_error": None if self.last_error is None else str(self.last_error)}

    def _on_event(self, ev: dict) -> None:
        self.events += 1
        kind = ev.get("e")
        if kind == "executionReport":
            native = ev.get("s", "")
            try:
                unified = str(self.symbols.unified(native))
            except ValueError:
                unified = native
            self.emit(order_from_execution_report(ev, unified))
        elif kind == "outboundAccountPosition":
            for b in ev.get("B", ()):
                self.balances[b["a"]] = Balance(b["a"], Decimal(b["f"]), Decimal(b["l"]))
        elif kind == "eventStreamTerminated" and not self._stopping:
            log.warning("binance user stream terminated by the server; resubscribing")
            asyncio.get_running_loop().create_task(self._ws.close())
