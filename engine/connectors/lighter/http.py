"""Lighter REST reads: one aiohttp session, a request budget, and errors mapped by code."""
from __future__ import annotations

import asyncio
from typing import Any, Mapping, Optional

import aiohttp
import orjson

from engine.errors import RPCTimeoutError, TradingError, lighter_error, timeout_error
from engine.ratelimit import RateLimits

from .urls import LighterEndpoints

# The standard account's REST budget is weight-based per minute (most reads cost 300); keep one bucket.
DEFAULT_LIMITS = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 24000}]
WEIGHTS = {"/api/v1/recentTrades": 600, "/api/v1/nextNonce": 6, "/api/v1/sendTx": 6, "/api/v1/sendTxBatch": 6}


class LighterHttp:
    def __init__(self, endpoints: LighterEndpoints, limits: Optional[RateLimits] = None, *, timeout_s: float = 10.0):
        self.endpoints = endpoints
        self.limits = limits or RateLimits(DEFAULT_LIMITS)
        self.timeout_s = timeout_s
        self._session: Optional[aiohttp.ClientSession] = None
        self.requests = 0

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: Optional[Mapping[str, Any]] = None) -> Any:
        await self.open()
        await self.limits.acquire(WEIGHTS.get(path, 300))
        self.requests += 1
        url = self.endpoints.rest + path
        try:
            async with self._session.get(url, params={k: str(v) for k, v in (params or {}).items()},
                                         timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as r:
                body = await r.read()
                status = r.status
                headers = r.headers
        except asyncio.TimeoutError:
            raise timeout_error("lighter", f"GET {path}") from None
        except aiohttp.ClientError as e:
            raise RPCTimeoutError(f"lighter: GET {path} failed in transport ({type(e).__name__})",
                                  exchange="lighter") from None
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            data = None
        if status != 200 or not isinstance(data, dict) or data.get("code", 200) not in (200, 0):
            err = lighter_error(status, body, headers, endpoint=f"GET {path}")
            if err.retry_after:
                self.limits.ban(err.retry_after)
            raise err
        return data


    async def send_tx(self, tx_type: int, tx_info: str) -> dict:
        """POST /api/v1/sendTx (form). 200 means *sequenced*, not accepted: the fate comes from the account
        stream. A transport failure or 5xx leaves the outcome unknown (RPCTimeoutError): never resend blindly."""
        await self.open()
        await self.limits.acquire(WEIGHTS["/api/v1/sendTx"])
        self.requests += 1
        try:
            async with self._session.post(self.endpoints.rest + "/api/v1/sendTx",
                                          data={"tx_type": str(tx_type), "tx_info": tx_info},
                                          timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as r:
                body, status, headers = await r.read(), r.status, r.headers
        except asyncio.TimeoutError:
            raise timeout_error("lighter", "POST /api/v1/sendTx") from None
        except aiohttp.ClientError as e:
            raise RPCTimeoutError(f"lighter: sendTx failed in transport ({type(e).__name__}); outcome unknown",
                                  exchange="lighter") from None
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            data = None
        if status != 200 or not isinstance(data, dict) or data.get("code") != 200:
            raise lighter_error(status, body, headers, endpoint="POST /api/v1/sendTx")
        return data


__all__ = ["LighterHttp", "TradingError"]
