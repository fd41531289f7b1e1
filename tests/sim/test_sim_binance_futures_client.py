"""A minimal signed client for the futures simulator tests (aiohttp + hashlib/hmac, nothing from engine/)."""
import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from urllib.parse import urlencode

import aiohttp
from yarl import URL


class Api:
    def __init__(self, sim, session: aiohttp.ClientSession):
        self.sim = sim
        self.s = session

    async def call(self, method: str, path: str, signed: bool = True, key: bool = False, **params):
        params = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in params.items()}
        headers = {}
        if signed:
            params["timestamp"] = str(int(time.time() * 1000))
            q = urlencode(params)
            q += "&signature=" + hmac.new(self.sim.api_secret.encode(), q.encode(), hashlib.sha256).hexdigest()
        else:
            q = urlencode(params)
        if signed or key:
            headers["X-MBX-APIKEY"] = self.sim.api_key
        # encoded=True: the query goes out byte for byte as signed (yarl would otherwise requote it)
        async with self.s.request(method, URL(f"{self.sim.rest_url}{path}?{q}", encoded=True), headers=headers) as r:
            return r.status, await r.json()

    async def ok(self, method: str, path: str, **params):
        status, body = await self.call(method, path, **params)
        assert status == 200, (status, body)
        return body

    async def code(self, method: str, path: str, **params) -> int:
        status, body = await self.call(method, path, **params)
        assert status != 200 and isinstance(body, dict), (status, body)
        return body["code"]

    async def position(self, symbol="BTCUSDT", side="BOTH") -> dict:
        rows = await self.ok("GET", "/fapi/v2/positionRisk", symbol=symbol)
        return next(r for r in rows if r["positionSide"] == side)


class Listener:
    """Reads one stream URL in the background into ``.msgs`` (decoded JSON)."""

    def __init__(self, session: aiohttp.ClientSession, url: str):
        self.s = session
        self.url = url
        self.msgs: list = []
        self.ws = None
        self.closed = False
        self._task = None

    async def __aenter__(self):
        self.ws = await self.s.ws_connect(self.url)
        self._task = asyncio.create_task(self._read())
        return self

    async def _read(self):
        async for m in self.ws:
            if m.type == aiohttp.WSMsgType.TEXT:
                self.msgs.append(json.loads(m.data))
        self.closed = True

    async def send(self, obj):
        await self.ws.send_str(json.dumps(obj))

    def events(self, e: str) -> list:
        return [m for m in self.msgs if isinstance(m, dict) and (m.get("data", m)).get("e") == e]

    async def __aexit__(self, *exc):
        await self.ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
