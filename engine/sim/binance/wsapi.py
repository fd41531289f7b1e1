"""The simulator's WS API (``/ws-api/v3``): user-data subscriptions with HMAC request signatures.

``userDataStream.subscribe.signature`` (the current spot user-data path; the listenKey REST flow was
retired on 2026-02-20) subscribes the connection to ``executionReport``/``outboundAccountPosition``
events, delivered as ``{"subscriptionId": n, "event": {...}}``.
"""
from __future__ import annotations

import asyncio
import collections
import hashlib
import hmac
import itertools
import json

from aiohttp import WSMsgType, web

from .errors import key_problem
from .exchange import SimExchange
from .market import now_ms


class WsApi:
    def __init__(self, ex: SimExchange, api_key: str, api_secret: str, server_ms):
        self.ex = ex
        self.api_key = api_key
        self.api_secret = api_secret.encode()
        self.server_ms = server_ms
        self._sub_ids = itertools.count(0)
        self.sockets: set = set()
        self.calls: collections.Counter = collections.Counter()  # method -> requests received (tests count retries)

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=None, autoping=True)
        await ws.prepare(request)
        self.sockets.add(ws)
        subs: dict[int, object] = {}
        queue: asyncio.Queue = asyncio.Queue()

        async def pump():
            while True:
                await ws.send_str(await queue.get())

        sender = asyncio.create_task(pump())
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    req = json.loads(msg.data)
                    rid, method, params = req.get("id"), req.get("method"), req.get("params") or {}
                except (ValueError, AttributeError):
                    queue.put_nowait(json.dumps({"id": None, "status": 400,
                                                 "error": {"code": -1102, "msg": "Invalid JSON"}}))
                    continue
                queue.put_nowait(json.dumps(self._answer(rid, method, params, subs, queue)))
        finally:
            sender.cancel()
            for cb in subs.values():
                if cb in self.ex.listeners:
                    self.ex.listeners.remove(cb)
            self.sockets.discard(ws)
        return ws

    def _answer(self, rid, method, params, subs, queue) -> dict:
        self.calls[method] += 1
        def ok(result):
            return {"id": rid, "status": 200, "result": result,
                    "rateLimits": [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                    "limit": 6000, "count": 2}]}

        def err(code, text, status=400):
            return {"id": rid, "status": status, "error": {"code": code, "msg": text}}

        if method == "ping":
            return ok({})
        if method == "time":
            return ok({"serverTime": self.server_ms()})
        if method == "userDataStream.subscribe.signature":
            problem = self._verify(params)
            if problem:
                return err(*problem)
            sid = next(self._sub_ids)

            def deliver(ev, sid=sid):
                queue.put_nowait(json.dumps({"subscriptionId": sid, "event": ev}))

            subs[sid] = deliver
            self.ex.listeners.append(deliver)
            return ok({"subscriptionId": sid})
        if method == "userDataStream.unsubscribe":
            sid = params.get("subscriptionId")
            targets = [sid] if sid is not None else list(subs)
            if sid is not None and sid not in subs:
                return err(-2036, "User Data Stream subscription not active.")
            for s in targets:
                cb = subs.pop(s)
                if cb in self.ex.listeners:
                    self.ex.listeners.remove(cb)
                queue.put_nowait(json.dumps({"subscriptionId": s, "event": {"e": "eventStreamTerminated",
                                                                          "E": now_ms()}}))
            return ok({})
        if method == "session.subscriptions":
            return ok([{"subscriptionId": s} for s in subs])
        return err(-1100, f"Illegal characters found in parameter 'method'; legal range is "
                          f"known methods (got {method!r}).")

    def _verify(self, params: dict):
        problem = key_problem(params.get("apiKey"), self.api_key)
        if problem:
            return (*problem, 401)
        sig = params.get("signature")
        if not sig:
            return -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature")
        want = hmac.new(self.api_secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(want, str(sig).lower()):
            return -1022, "Signature for this request is not valid."
        ts = params.get("timestamp")
        if not isinstance(ts, int):
            return -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        server = self.server_ms()
        if ts >= server + 1000 or server - ts > int(params.get("recvWindow", 5000)):
            return -1021, "Timestamp for this request is outside of the recvWindow."
        return None

    async def close_all(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
