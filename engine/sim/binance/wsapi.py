"""The simulator's WS API (``/ws-api/v3``): every request as ``{"id", "method", "params"}`` over one socket.

Methods: ping, time, session.logon/status/logout, userDataStream.subscribe (after logon),
userDataStream.subscribe.signature, userDataStream.unsubscribe, session.subscriptions, and the market-data,
account and order methods of wsapi_methods.py (served by the same exchange and REST handlers as REST).
Signed methods take a per-request signature of the key's kind (HMAC-SHA256 hex for the simulator's key,
Ed25519 base64 for a key registered with ``add_ed25519_key``) over the sorted ``k=v&...`` of every parameter
but ``signature``; after ``session.logon`` (Ed25519 keys only) they need neither ``apiKey`` nor ``signature``.
Every answer to a well-formed request carries ``rateLimits`` (unless ``returnRateLimits`` is false, per request
or in the URL) with the request weight counted from weights.py; an error is ``{"id", "status", "error": {"code", "msg"}}``.
User-data events arrive as ``{"subscriptionId": n, "event": {...}}``.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Optional

from aiohttp import WSMsgType, web

from . import ed25519
from .errors import SimError, key_problem
from .exchange import SimExchange
from .faults import Faults
from .market import now_ms
from .rest import WeightWindow
from .weights import wsapi_weight
from .wsapi_methods import METHODS, ORDER_METHODS, SIGNED, DataError, RestBackend



@dataclass
class Session:
    """One WS API connection: its outgoing queue, logon and user-data subscriptions."""
    queue: asyncio.Queue
    ip: str
    connected_ms: int
    return_rate_limits: bool = True
    api_key: Optional[str] = None  # set by session.logon
    authorized_ms: Optional[int] = None
    subs: dict = field(default_factory=dict)  # subscription id -> listener
    logon_subs: set = field(default_factory=set)  # subscriptions made through the logon (ended by logout)


def _text(v) -> str:
    """A JSON parameter value as REST (and the signature payload) spells it."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict)) else str(v)


class WsApi:
    def __init__(self, ex: SimExchange, api_key: str, api_secret: str, server_ms, weight_limit: int = 6000):
        self.ex = ex
        self.api_key = api_key
        self.api_secret = api_secret.encode()
        self.server_ms = server_ms
        self.ed25519_keys: dict[str, bytes] = {}  # API key -> 32-byte Ed25519 public key
        self.rest = RestBackend(ex, Faults(), api_key, api_secret, weight_limit)
        self.weights = WeightWindow(weight_limit)
        self._sub_ids = itertools.count(0)
        self.sockets: set = set()
        self.calls: collections.Counter = collections.Counter()  # method -> requests received (tests count retries)

    def add_ed25519_key(self, api_key: str, public_key: bytes) -> None:
        """Accept ``api_key`` as an Ed25519 key whose 32-byte public key is ``public_key``."""
        if len(public_key) != 32:
            raise ValueError("an Ed25519 public key is 32 bytes")
        self.ed25519_keys[api_key] = bytes(public_key)

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)
        sess = Session(asyncio.Queue(), request.remote or "?", now_ms(),
                       return_rate_limits=request.query.get("returnRateLimits", "true") != "false")

        async def pump():
            while True:
                await ws.send_str(await sess.queue.get())

        sender = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
                    if not isinstance(params, dict):
                        raise ValueError
                except (ValueError, AttributeError):
                    sess.queue.put_nowait(json.dumps({"id": None, "status": 400,
                                                      "error": {"code": -1102, "msg": "Invalid JSON"}}))
                    continue
                sess.queue.put_nowait(json.dumps(await self._answer(rid, method, dict(params), sess)))
        finally:
            sender.cancel()
            for cb in sess.subs.values():
                if cb in self.ex.listeners:
                    self.ex.listeners.remove(cb)
            self.sockets.discard(ws)
        return ws

    # ---------------------------------------------------------------- one request
    async def _answer(self, rid, method, params: dict, sess: Session) -> dict:
        self.calls[method] += 1
        if isinstance(method, str) and method.startswith("v3/"):
            method = method[3:]
        # kept in params: a per-request signature covers every parameter but ``signature`` itself
        rrl = params.get("returnRateLimits", sess.return_rate_limits) not in (False, "false")
        used = None
        try:
            used = self._charge(sess.ip, wsapi_weight(method, params))
            body = {"id": rid, "status": 200, "result": await self._call(method, params, sess)}
        except SimError as e:
            body = {"id": rid, "status": e.http, "error": e.body()}
            if isinstance(e, DataError):
                body["error"]["data"] = e.data
        if rrl and used is not None:
            body["rateLimits"] = self._rate_limits(used, method in ORDER_METHODS)
        return body

    async def _call(self, method, params: dict, sess: Session):
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.server_ms()}
        if method == "session.logon":
            key = self._verify(params, logon=True)
            sess.api_key, sess.authorized_ms = key, now_ms()
            return self._session_status(sess)
        if method == "session.status":
            return self._session_status(sess)
        if method == "session.logout":
            for sid in list(sess.logon_subs):
                self._unsubscribe(sess, sid)
            sess.api_key = sess.authorized_ms = None
            return self._session_status(sess)
        if method == "userDataStream.subscribe":
            if sess.api_key is None:
                raise SimError(-1002, "You are not authorized to execute this request.", http=401)
            sid = self._subscribe(sess)
            sess.logon_subs.add(sid)
            return {"subscriptionId": sid}
        if method == "userDataStream.subscribe.signature":
            self._verify(params)
            return {"subscriptionId": self._subscribe(sess)}
        if method == "userDataStream.unsubscribe":
            sid = params.get("subscriptionId")
            if sid is not None and sid not in sess.subs:
                raise SimError(-2036, "User Data Stream subscription not active.")
            for s in [sid] if sid is not None else list(sess.subs):
                self._unsubscribe(sess, s)
            return {}
        if method == "session.subscriptions":
            return [{"subscriptionId": s} for s in sess.subs]
        fn = METHODS.get(method)
        if fn is None:
            raise SimError(-1100, f"Illegal characters found in parameter 'method'; legal range is "
                                  f"known methods (got {method!r}).")
        if method in SIGNED:
            self._verify(params, sess)
        p = {k: (v if k == "symbols" and isinstance(v, list) else _text(v)) for k, v in params.items()
             if k not in ("apiKey", "signature", "timestamp", "recvWindow")}
        return await fn(self, p, sess)

    def _session_status(self, sess: Session) -> dict:
        return {"apiKey": sess.api_key, "authorizedSince": sess.authorized_ms, "connectedSince": sess.connected_ms,
                "returnRateLimits": sess.return_rate_limits, "serverTime": self.server_ms(),
                "userDataStream": bool(sess.subs)}

    def _subscribe(self, sess: Session) -> int:
        sid = next(self._sub_ids)

        def deliver(ev, sid=sid):
            sess.queue.put_nowait(json.dumps({"subscriptionId": sid, "event": ev}))

        sess.subs[sid] = deliver
        self.ex.listeners.append(deliver)
        return sid

    def _unsubscribe(self, sess: Session, sid: int) -> None:
        cb = sess.subs.pop(sid)
        sess.logon_subs.discard(sid)
        if cb in self.ex.listeners:
            self.ex.listeners.remove(cb)
        sess.queue.put_nowait(json.dumps({"subscriptionId": sid, "event": {"e": "eventStreamTerminated",
                                                                          "E": now_ms()}}))

    # ---------------------------------------------------------------- authentication
    def _verify(self, params: dict, sess: Optional[Session] = None, logon: bool = False) -> str:
        """Check a signed request; return the API key it is authorised by. With ``sess``, a request without a
        signature on a logged-on session is authorised by the session's key (its timestamp is still checked)."""
        if sess is not None and sess.api_key is not None and "signature" not in params:
            self._check_time(params)
            return sess.api_key
        key = params.get("apiKey")
        if key not in self.ed25519_keys:
            problem = key_problem(key, self.api_key)
            if problem:
                raise SimError(*problem, http=401)
            if logon:  # the venue logs on Ed25519 keys only
                raise SimError(-1002, "You are not authorized to execute this request.", http=401)
        sig = params.get("signature")
        if not sig or not isinstance(sig, str):
            raise SimError(-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        payload = "&".join(f"{k}={_text(params[k])}" for k in sorted(params) if k != "signature").encode()
        if key in self.ed25519_keys:
            try:
                raw = base64.b64decode(sig, validate=True)
            except (binascii.Error, ValueError):
                raw = b""
            good = ed25519.verify(self.ed25519_keys[key], payload, raw)
        else:
            good = hmac.compare_digest(hmac.new(self.api_secret, payload, hashlib.sha256).hexdigest(), sig.lower())
        if not good:
            raise SimError(-1022, "Signature for this request is not valid.")
        self._check_time(params)
        return key

    def _check_time(self, params: dict) -> None:
        ts = params.get("timestamp")
        if not isinstance(ts, int) or isinstance(ts, bool):
            raise SimError(-1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed.")
        window = params.get("recvWindow", 5000)
        if not isinstance(window, (int, float, str)) or isinstance(window, bool) or float(window) > 60000:
            raise SimError(-1131, "recvWindow must be less than 60000")
        server = self.server_ms()
        if ts >= server + 1000:
            raise SimError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server - ts > float(window):
            raise SimError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # ---------------------------------------------------------------- rate limits
    def _charge(self, ip: str, weight: int) -> int:
        used = self.weights.charge(ip, weight)
        if used > self.weights.limit:
            retry_ms = (int(time.time() // 60) + 1) * 60_000
            raise DataError(-1003, f"Too much request weight used; current limit is {self.weights.limit} request "
                                   "weight per 1 MINUTE. Please use WebSocket Streams for live updates to avoid "
                                   "polling the API.", {"serverTime": self.server_ms(), "retryAfter": retry_ms},
                            http=429)
        return used

    def order_limits(self) -> list:
        """The account's ORDERS rows with their counts (shared with REST: engine/sim/binance/order_limits.py)."""
        return self.ex.order_limits.rate_limits()

    def _rate_limits(self, used: int, orders: bool) -> list:
        out = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                "limit": self.weights.limit, "count": used}]
        return out + self.order_limits() if orders else out

    async def close_all(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
