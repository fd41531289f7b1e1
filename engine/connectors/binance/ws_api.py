"""Binance spot order entry over the WebSocket API (``/ws-api/v3``): one standing socket per account.

Protocol facts: docs/binance.md, "WebSocket API" and "WebSocket API order entry (connector)".

- One aiohttp socket; one reader task hands each answer to the future waiting on its ``id``.
- Authentication: with an Ed25519 key the socket is logged on (``session.logon``, signed by that key) and
  later requests carry only ``timestamp`` (and ``recvWindow``); without a logon every signed request carries
  ``apiKey`` and a signature of its own: Ed25519 when an Ed25519 key is given (``logon=False``, or the logon
  was refused), else HMAC-SHA256 with the REST key.
- Every request first takes its weight and order count from the connector's shared ``RateLimits``; every
  answer's ``rateLimits`` rows are fed back into it (as the REST usage headers are), so what the venue
  reports used stays used until its window ends.
- ``request()`` raises ``WsApiUnavailable`` when the socket is not up: nothing was sent, the caller may use
  REST instead. Once a request is written, a timeout, a socket lost before its answer, or a 5xx answer is an
  ``RPCTimeoutError`` (outcome unknown): never resent here, the caller reconciles by client order id.
- A silent socket is a lost one: aiohttp pings after ``read_deadline.aiohttp_heartbeat_s`` without data and
  closes the socket without a pong; the loop reconnects (attempts paced by ``ConnectionPacer``, backoff by
  ``ReconnectPolicy``) and logs on again.
- ``-1021`` (timestamp) resyncs the clock and retries that request once (the venue rejected it unexecuted).
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Callable, Optional

import aiohttp
import orjson

from engine.connectors.base import ReadDeadline, ReconnectPolicy
from engine.errors import ExchangeConnectionError, NonceConflictError, RPCTimeoutError, timeout_error
from engine.ratelimit import RateLimits

from .auth import BinanceAuth, Ed25519Key
from .errors import binance_error, permanent_auth_failure
from .limits import USAGE_HEADERS, ConnectionPacer

log = logging.getLogger("engine.binance.ws_api")
HANDSHAKE_TIMEOUT_S = 10.0
_LETTER = {"SECOND": "s", "MINUTE": "m", "HOUR": "h", "DAY": "d"}

# method -> (weight, order count) reserved before sending (docs/binance.md, "WebSocket API": weights)
WS_WEIGHTS = {
    "session.logon": (2, 0), "order.place": (1, 1), "order.cancel": (1, 0), "order.cancelReplace": (1, 1),
    "order.amend.keepPriority": (4, 0), "order.status": (4, 0), "openOrders.status": (6, 0),
    "account.status": (20, 0), "time": (1, 0), "ping": (1, 0),
}


class WsApiUnavailable(ExchangeConnectionError):
    """The WS API socket is not up: the request was not sent (safe to send over REST)."""


def usage_headers(rate_limits) -> dict:
    """An answer's ``rateLimits`` rows as the REST usage headers naming the same counts."""
    out = {}
    for row in rate_limits or ():
        if not isinstance(row, dict):
            continue
        template = USAGE_HEADERS.get(row.get("rateLimitType"))
        letter = _LETTER.get(row.get("interval"))
        if template is None or letter is None or "count" not in row:
            continue
        out[template.format(num=row.get("intervalNum", 1), unit=letter)] = str(row["count"])
    return out


class BinanceWsApi:
    def __init__(self, url: str, auth: BinanceAuth, limits: RateLimits, session: Callable[[], aiohttp.ClientSession],
                 *, ed25519: Optional[Ed25519Key] = None, logon: bool = True, resync=None,
                 read_deadline: Optional[ReadDeadline] = None, reconnect: Optional[ReconnectPolicy] = None,
                 pacer: Optional[ConnectionPacer] = None, timeout_s: float = 10.0):
        self.url = url
        self.auth = auth
        self.limits = limits
        self._session = session  # the REST session's getter: one connection pool
        self.ed25519 = ed25519
        self.logon = logon and ed25519 is not None
        self._resync = resync  # async () -> None: resync the clock (-1021)
        self.read_deadline = read_deadline or ReadDeadline()
        self._policy = reconnect or ReconnectPolicy()
        self.pacer = pacer or ConnectionPacer()
        self.timeout_s = timeout_s
        self.ready = asyncio.Event()
        self.logged_on = False
        self.connects = 0
        self.disconnects = 0
        self.requests = 0
        self.garbage = 0  # frames that are not a JSON object with a hashable id
        self.unknown = 0  # requests whose outcome is unknown (timeout, socket lost, 5xx)
        self.last_error: Optional[Exception] = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._ws: Optional[aiohttp.ClientWebSocketResponse] = None
        self._task: Optional[asyncio.Task] = None
        self._stopping = False

    def __repr__(self) -> str:
        return (f"BinanceWsApi(url={self.url!r}, up={self.up}, logged_on={self.logged_on}, "
                f"ed25519={self.ed25519!r})")

    @property
    def up(self) -> bool:
        return self.ready.is_set() and self._ws is not None and not self._ws.closed

    # -- lifecycle
    async def start(self, timeout_s: float = 10.0) -> bool:
        """Start the socket loop and wait up to ``timeout_s`` for it to be ready; False if it is not yet
        (the loop keeps trying; orders go over REST meanwhile)."""
        if self._task is None or self._task.done():
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="binance-ws-api")
        try:
            await asyncio.wait_for(self.ready.wait(), timeout_s)
        except asyncio.TimeoutError:
            log.warning("binance WS API not ready within %.1f s (last error: %s); orders go over REST meanwhile",
                        timeout_s, self.last_error)
        return self.up

    async def stop(self) -> None:
        self._stopping = True
        self.ready.clear()
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._task = None

    async def _run(self) -> None:
        while not self._stopping:
            try:
                await self.pacer.acquire()
                ws = await asyncio.wait_for(self._session().ws_connect(
                    self.url, autoping=True, heartbeat=self.read_deadline.aiohttp_heartbeat_s,
                    max_msg_size=4 << 20), HANDSHAKE_TIMEOUT_S)
                async with ws:
                    self._ws = ws
                    self.connects += 1
                    reader = asyncio.create_task(self._read(ws))
                    try:
                        await self._authenticate()
                        self._policy.reset()
                        self.ready.set()
                        await reader
                    finally:
                        self.ready.clear()
                        reader.cancel()
                        await asyncio.gather(reader, return_exceptions=True)
                        self._fail_pending(ws)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.last_error = e
                log.warning("binance WS API: %s", e)
            self.ready.clear()
            if self._stopping:
                return
            self.disconnects += 1
            await asyncio.sleep(self._policy.next_delay())

    async def _authenticate(self) -> None:
        self.logged_on = False
        if not self.logon:
            return
        try:
            await self._send("session.logon", self.auth.sign_ws_api_ed25519({}, self.ed25519), 2, 0, None)
        except Exception as e:
            if not permanent_auth_failure(e):
                raise
            # a refused logon: keep the socket, sign every request instead (and do not retry the logon)
            self.logon = False
            log.error("binance WS API: session.logon refused (%s); signing each request instead", e)
            return
        self.logged_on = True
        log.info("binance WS API: logged on (Ed25519 key %r)", self.ed25519)

    # -- requests
    def _sign(self, params: dict) -> dict:
        if self.logged_on:
            out = dict(params)
            out["timestamp"] = self.auth.timestamp_ms()
            if self.auth.recv_window is not None:
                out.setdefault("recvWindow", self.auth.recv_window)
            return out
        if self.ed25519 is not None:
            return self.auth.sign_ws_api_ed25519(params, self.ed25519)
        return self.auth.sign_ws_api(params)

    async def request(self, method: str, params: Optional[dict] = None, *, signed: bool = True,
                      on_send: Optional[Callable[[], None]] = None, timeout_s: Optional[float] = None,
                      weight: Optional[int] = None):
        """The answer's ``result``, or a TradingError (``WsApiUnavailable`` when nothing was sent).
        ``on_send()`` runs after the wait for the rate budget, just before the request is signed; ``weight``
        replaces the method's table weight (e.g. openOrders.status without a symbol)."""
        table_weight, orders = WS_WEIGHTS.get(method, (1, 0))
        weight = table_weight if weight is None else weight
        resynced = False
        while True:
            if not self.up:
                raise WsApiUnavailable(f"binance WS API is down; {method} not sent", exchange="binance")
            await self.limits.acquire(weight, orders=orders)
            if not self.up:  # went down while we waited: the budget is spent, nothing is sent
                raise WsApiUnavailable(f"binance WS API is down; {method} not sent", exchange="binance")
            if on_send is not None:
                on_send()
            try:
                return await self._send(method, params or {}, None, None, timeout_s, signed=signed)
            except NonceConflictError:
                if resynced or self._resync is None:
                    raise
                resynced = True
                log.warning("binance WS API %s: timestamp rejected (-1021); resyncing clock and retrying once",
                            method)
                await self._resync()

    async def _send(self, method: str, params: dict, weight, orders, timeout_s, *, signed: bool = False):
        ws = self._ws
        if ws is None or ws.closed:
            raise WsApiUnavailable(f"binance WS API is down; {method} not sent", exchange="binance")
        if weight is not None:  # the logon: budgeted here (requests are budgeted by request())
            await self.limits.acquire(weight, orders=orders)
        rid = next(self._ids)
        frame = orjson.dumps({"id": rid, "method": method, "params": self._sign(params) if signed else params})
        fut = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        self.requests += 1
        endpoint = f"WS-API {method}"
        try:
            try:
                await ws.send_str(frame.decode())
            except Exception as e:  # it may have gone out before the socket broke
                self.unknown += 1
                raise RPCTimeoutError(f"binance: {endpoint} failed in transport ({type(e).__name__}); outcome "
                                      "unknown", exchange="binance") from None
            try:
                msg = await asyncio.wait_for(fut, timeout_s or self.timeout_s)
            except asyncio.TimeoutError:
                self.unknown += 1
                raise timeout_error("binance", endpoint) from None
        finally:
            self._pending.pop(rid, None)
        if isinstance(msg, Exception):
            self.unknown += 1
            raise msg
        headers = usage_headers(msg.get("rateLimits"))
        if headers:
            self.limits.update_from_headers(headers)
        if msg.get("status") == 200:
            return msg.get("result")
        err = msg.get("error") or {}
        exc = binance_error(msg.get("status"), err, endpoint=endpoint)
        retry_at = (err.get("data") or {}).get("retryAfter") if isinstance(err.get("data"), dict) else None
        if msg.get("status") in (418, 429) and retry_at:
            self.limits.ban(max(1.0, (int(retry_at) - self.auth.timestamp_ms()) / 1000))
        if exc.outcome_unknown:
            self.unknown += 1
        raise exc

    def _fail_pending(self, ws) -> None:
        """Whatever still waits for an answer on this socket will not get one: outcome unknown."""
        for fut in self._pending.values():
            if not fut.done():
                fut.set_result(RPCTimeoutError(
                    f"binance WS API socket closed (code {ws.close_code}) before the answer; outcome unknown",
                    exchange="binance"))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for m in ws:
            if m.type is aiohttp.WSMsgType.TEXT:
                self._dispatch(m.data)
        self.ready.clear()
        self._fail_pending(ws)
        if not self._stopping:
            log.warning("binance WS API socket closed (code=%s); orders go over REST until it is back",
                        ws.close_code)

    def _dispatch(self, data: str) -> None:
        """Hand one answer to the request waiting on its id (events and unknown ids are ignored)."""
        try:
            msg = orjson.loads(data)
            fut = self._pending.get(msg.get("id"))
        except (orjson.JSONDecodeError, AttributeError, TypeError):  # not JSON, not an object, odd id
            self.garbage += 1
            return
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def status(self) -> dict:
        return {"garbage": self.garbage, "up": self.up, "logged_on": self.logged_on, "connects": self.connects,
                "disconnects": self.disconnects, "requests": self.requests, "unknown": self.unknown,
                "pacer": self.pacer.status(), "last_error": None if self.last_error is None else str(self.last_error)}
