"""Lighter REST reads: one aiohttp session, a request budget, and errors mapped by code."""
from __future__ import annotations

import asyncio
from typing import Any, Mapping, Optional

import aiohttp
import orjson

from engine.errors import RateLimitExceededError, RPCTimeoutError, TradingError, timeout_error

from .errors import lighter_error
from .limits import TierLimits

from .urls import LighterEndpoints

# Lighter sends no Retry-After: after a 429 nothing goes out for 2 s, doubling per 429 up to 60 s (reset on success)
BACKOFF_BASE_S, BACKOFF_CAP_S = 2.0, 60.0


class LighterHttp:
    def __init__(self, endpoints: LighterEndpoints, budget: Optional[TierLimits] = None, *, timeout_s: float = 10.0):
        self.endpoints = endpoints
        self.budget = budget or TierLimits()
        self.limits = self.budget.rest  # the REST budget (a ban after a 429 lives here)
        self.timeout_s = timeout_s
        self._session: Optional[aiohttp.ClientSession] = None
        self.requests = 0
        self.rate_limited = 0
        self._backoff_s = BACKOFF_BASE_S

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def get(self, path: str, params: Optional[Mapping[str, Any]] = None, *, auth: Optional[str] = None) -> Any:
        """GET ``path``; ``auth`` (a token, for private reads) goes in the ``authorization`` header, never the URL,
        so it cannot leak into a log line that prints a URL."""
        await self.limits.acquire(self.budget.weight(path))
        return await self._request("GET", path, params={k: str(v) for k, v in (params or {}).items()},
                                   headers={"authorization": auth} if auth else None, ok_codes=(200, 0))

    async def send_tx(self, tx_type: int, tx_info: str) -> dict:
        """POST /api/v1/sendTx (form); the caller has taken it from the transaction budget. 200 means
        *sequenced*, not accepted: the fate comes from the account stream. A transport failure or 5xx leaves the
        outcome unknown (RPCTimeoutError): never resend blindly."""
        return await self._request("POST", "/api/v1/sendTx", data={"tx_type": str(tx_type), "tx_info": tx_info})

    async def send_tx_batch(self, txs: list) -> dict:
        """POST /api/v1/sendTxBatch: ``txs`` = [(tx_type, tx_info)], one key, consecutive nonces, all or none."""
        return await self._request("POST", "/api/v1/sendTxBatch", data={
            "tx_types": orjson.dumps([t for t, _ in txs]).decode(),
            "tx_infos": orjson.dumps([i for _, i in txs]).decode()})

    async def _request(self, method: str, path: str, *, ok_codes=(200,), **kw) -> dict:
        await self.open()
        self.requests += 1
        where = f"{method} {path}"
        try:
            async with self._session.request(method, self.endpoints.rest + path,
                                             timeout=aiohttp.ClientTimeout(total=self.timeout_s), **kw) as r:
                body, status, headers = await r.read(), r.status, r.headers
        except asyncio.TimeoutError:
            raise timeout_error("lighter", where) from None
        except aiohttp.ClientError as e:
            raise RPCTimeoutError(f"lighter: {where} failed in transport ({type(e).__name__}); outcome unknown",
                                  exchange="lighter") from None
        try:
            data = orjson.loads(body) if body else {}
        except orjson.JSONDecodeError:
            data = None
        # a GET body may omit "code"; a sendTx answer without code 200 was not sequenced as far as we know
        code = data.get("code", 200 if method == "GET" else None) if isinstance(data, dict) else None
        if status != 200 or code not in ok_codes:
            raise self._failed(status, body, headers, where)
        self._backoff_s = BACKOFF_BASE_S
        return data

    def _failed(self, status, body, headers, endpoint: str) -> TradingError:
        err = lighter_error(status, body, headers, endpoint=endpoint)
        if isinstance(err, RateLimitExceededError):
            self.rate_limited += 1
            if not (headers and headers.get("Retry-After")):
                err.retry_after = self._backoff_s
                self._backoff_s = min(BACKOFF_CAP_S, self._backoff_s * 2)
            # a refused transaction is the transaction budget's 429, anything else the REST budget's
            (self.budget.tx if endpoint.startswith("POST") else self.limits).ban(err.retry_after)
        return err


__all__ = ["LighterHttp", "TradingError"]
