"""Binance REST: one aiohttp session, the compiled signer and the weight budget in front of every call.

Policy (from the error table in .errors, never from message text):
- every request first takes its weight (and order count) from the shared budget; the budget is corrected
  from the ``X-MBX-USED-WEIGHT-*`` / ``X-MBX-ORDER-COUNT-*`` headers of every answer (the server is
  authoritative: other processes on the same IP spend the same budget);
- 429/418 ban the whole budget until ``Retry-After``;
- -1021 (timestamp): resync the clock and retry once (the request was rejected, so this is safe);
- a timeout or 5xx on a request that changes state (orders) raises ``RPCTimeoutError``: the outcome is
  unknown and only the caller (which knows the client order id) may reconcile; it is never resent here;
- idempotent reads are retried on connection errors and 5xx with jittered backoff;
- a caller may bound the body (``max_bytes``): a larger answer is refused before it is read whole
  (``ResponseTooLargeError``, never retried here: the caller decides when to ask again).
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, Iterable, Mapping, Optional

import aiohttp
import orjson
from yarl import URL

from engine.errors import (AuthenticationError, ErrorAction, ExchangeConnectionError, NonceConflictError,
                           RateLimitExceededError, RPCTimeoutError, TradingError, timeout_error)
from engine.ratelimit import RateLimits
from engine.sign import encode_query

from .auth import BinanceAuth
from .errors import binance_error
from .urls import BinanceEndpoints

log = logging.getLogger("engine.binance.http")


def depth_weight(limit: int) -> int:
    """GET /api/v3/depth weight by limit (since 2023-10-19)."""
    if limit <= 100:
        return 5
    if limit <= 500:
        return 25
    if limit <= 1000:
        return 50
    return 250


# (method, path) -> weight; depth is priced by depth_weight(limit). Successful order placement and
# cancels cost 0 weight since 2026-04-02 but failed ones still cost 1: we reserve 1.
WEIGHTS: Mapping[tuple, int] = {
    ("GET", "/api/v3/ping"): 1,
    ("GET", "/api/v3/time"): 1,
    ("GET", "/api/v3/exchangeInfo"): 20,
    ("GET", "/api/v3/klines"): 2,
    ("GET", "/api/v3/ticker/price"): 2,
    ("GET", "/api/v3/ticker/bookTicker"): 2,
    ("GET", "/api/v3/ticker/24hr"): 2,
    ("GET", "/api/v3/avgPrice"): 2,
    ("GET", "/api/v3/account"): 20,
    ("GET", "/api/v3/order"): 4,
    ("GET", "/api/v3/openOrders"): 6,
    ("GET", "/api/v3/myTrades"): 20,
    ("POST", "/api/v3/order"): 1,
    ("DELETE", "/api/v3/order"): 1,
    ("DELETE", "/api/v3/openOrders"): 1,
    ("POST", "/api/v3/order/cancelReplace"): 1,
    ("PUT", "/api/v3/order/amend/keepPriority"): 4,
}
ORDER_COUNT: Mapping[tuple, int] = {("POST", "/api/v3/order"): 1, ("POST", "/api/v3/order/cancelReplace"): 1}
IDEMPOTENT = frozenset({"GET"})
READ_CHUNK = 1 << 16


class ResponseTooLargeError(ExchangeConnectionError):
    """A 200 answer longer than the caller's ``max_bytes``: refused unparsed, the connection dropped."""

    def __init__(self, message: str, *, size: Optional[int], max_bytes: int, **kw):
        super().__init__(message, **kw)
        self.size = size  # the announced (Content-Length) or read-so-far size in bytes; None when unknown
        self.max_bytes = max_bytes


class BinanceHttp:
    """The REST transport. ``request`` returns the decoded JSON body or raises a TradingError."""

    def __init__(self, endpoints: BinanceEndpoints, limits: RateLimits, auth: Optional[BinanceAuth] = None, *,
                 timeout_s: float = 10.0, read_retries: int = 2, session: Optional[aiohttp.ClientSession] = None):
        self.endpoints = endpoints
        self.limits = limits
        self.auth = auth
        self.timeout_s = timeout_s
        self.read_retries = read_retries
        self._session = session
        self._own_session = session is None
        self.requests = 0
        self.errors = 0

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None),
                connector=aiohttp.TCPConnector(limit=64, ttl_dns_cache=300),
                json_serialize=lambda o: orjson.dumps(o).decode(),
            )

    async def close(self) -> None:
        if self._session is not None and self._own_session:
            await self._session.close()
        self._session = None

    async def server_time_ms(self) -> int:
        body = await self.request("GET", "/api/v3/time")
        return int(body["serverTime"])

    async def sync_time(self, samples: int = 5) -> Optional[float]:
        if self.auth is None:
            return None
        return await self.auth.sync_server_time(self.server_time_ms, samples)

    async def request(self, method: str, path: str, params: "Mapping[str, Any] | Iterable[tuple] | None" = None, *,
                      signed: bool = False, weight: Optional[int] = None, timeout_s: Optional[float] = None,
                      on_send=None) -> Any:
        """The decoded JSON answer, or a TradingError. ``on_send()`` runs just before each attempt is signed
        and sent (after any wait for the rate budget)."""
        body = await self.request_raw(method, path, params, signed=signed, weight=weight, timeout_s=timeout_s,
                                      on_send=on_send)
        try:
            return orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            raise TradingError(f"binance: {method} {path} answered 200 with a body that is not JSON",
                               exchange="binance", http_status=200, raw=body[:200],
                               action=ErrorAction.RETRY) from None

    async def request_raw(self, method: str, path: str, params: "Mapping[str, Any] | Iterable[tuple] | None" = None,
                          *, signed: bool = False, weight: Optional[int] = None,
                          timeout_s: Optional[float] = None, max_bytes: Optional[int] = None,
                          on_send=None) -> bytes:
        """The raw body of a 200 answer (the compiled book parses snapshot bytes itself); a body longer than
        ``max_bytes`` raises ``ResponseTooLargeError`` having read at most ``max_bytes`` + one chunk."""
        method = method.upper()
        if signed and self.auth is None:  # before any budget or socket is touched
            raise AuthenticationError(f"binance {path} needs API keys (set BINANCE_API_KEY and BINANCE_API_SECRET)",
                                      exchange="binance")
        key = (method, path)
        if weight is None:
            weight = WEIGHTS.get(key, 1)
        orders = ORDER_COUNT.get(key, 0)
        items = list(params.items() if isinstance(params, Mapping) else (params or ()))
        resynced = False
        attempt = 0
        while True:
            await self.limits.acquire(weight, orders=orders)
            if on_send is not None:
                on_send()
            try:
                return await self._send(method, path, items, signed, timeout_s or self.timeout_s, max_bytes)
            except ResponseTooLargeError:
                raise
            except NonceConflictError:
                if resynced or not signed:
                    raise
                resynced = True
                log.warning("binance %s %s: timestamp rejected (-1021); resyncing clock and retrying once",
                            method, path)
                await self.sync_time()
            except RateLimitExceededError as e:
                self.limits.ban(e.retry_after or 60.0)
                raise
            except TradingError as e:
                if method in IDEMPOTENT and e.action in (ErrorAction.RETRY, ErrorAction.RECONCILE) \
                        and attempt < self.read_retries:
                    attempt += 1
                    await asyncio.sleep(random.uniform(0, 0.2 * 2 ** attempt))
                    continue
                raise

    async def _send(self, method: str, path: str, items: list, signed: bool, timeout_s: float,
                    max_bytes: Optional[int] = None) -> bytes:
        if self._session is None:
            await self.open()
        headers = {}
        if signed:
            query = self.auth.signed_query(items)
            headers.update(self.auth.headers)
        else:
            query = encode_query(items) if items else ""
        url = URL(f"{self.endpoints.rest}{path}" + (f"?{query}" if query else ""), encoded=True)
        self.requests += 1
        endpoint = f"{method} {path}"
        try:
            async with self._session.request(method, url, headers=headers,
                                             timeout=aiohttp.ClientTimeout(total=timeout_s)) as resp:
                self.limits.update_from_headers(resp.headers)
                status = resp.status
                if status == 200 and max_bytes is not None:
                    return await self._read_bounded(resp, max_bytes, endpoint)
                body = await resp.read()
                if status == 200:
                    return body
                retry_hdr = resp.headers
        except asyncio.TimeoutError:
            self.errors += 1
            raise timeout_error("binance", endpoint) from None
        except aiohttp.ClientError as e:
            self.errors += 1
            # the request may have reached the venue before the connection broke: outcome unknown
            raise RPCTimeoutError(f"binance: {endpoint} failed in transport ({type(e).__name__}: {e}); "
                                  "outcome unknown", exchange="binance") from None
        self.errors += 1
        raise binance_error(status, body, retry_hdr, endpoint=endpoint)

    async def _read_bounded(self, resp: aiohttp.ClientResponse, max_bytes: int, endpoint: str) -> bytes:
        """The body, refused as soon as it is known to pass ``max_bytes`` (by Content-Length before a byte is
        read, else while reading); leaving the ``async with`` unread closes the connection."""
        def refuse(size: Optional[int], how: str):
            self.errors += 1
            return ResponseTooLargeError(f"binance: {endpoint} answered {how}, more than max_bytes={max_bytes}; "
                                         "refused unparsed", exchange="binance", http_status=200, size=size,
                                         max_bytes=max_bytes)
        if resp.content_length is not None and resp.content_length > max_bytes:
            raise refuse(resp.content_length, f"a body of {resp.content_length} bytes")
        parts, size = [], 0
        while True:
            chunk = await resp.content.read(READ_CHUNK)
            if not chunk:
                return b"".join(parts)
            size += len(chunk)
            if size > max_bytes:
                raise refuse(size, f"over {size} bytes (still sending)")
            parts.append(chunk)

    def stats(self) -> dict:
        return {"requests": self.requests, "errors": self.errors, **self.limits.status()}


