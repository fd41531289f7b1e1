"""USD-M futures REST: the spot transport (engine/connectors/binance/http.py: budget, signing, retries,
unknown outcomes) with the futures paths, weights and error table (docs/binance_futures.md, "REST served")."""
from __future__ import annotations

from typing import Any, Mapping, Optional

from engine.connectors.binance.http import BinanceHttp
from engine.errors import TradingError

from .errors import FUTURES_ONLY, futures_error

SPOT_DEPTH = "/api/v3/depth"  # the path the shared book syncer asks for its snapshot; served by /fapi/v1/depth


def depth_weight(limit: int) -> int:
    """GET /fapi/v1/depth weight by limit."""
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


def klines_weight(limit: int) -> int:
    return 1 if limit < 100 else 2 if limit < 500 else 5 if limit <= 1000 else 10


WEIGHTS: Mapping[tuple, int] = {
    ("GET", "/fapi/v1/ping"): 1, ("GET", "/fapi/v1/time"): 1, ("GET", "/fapi/v1/exchangeInfo"): 1,
    ("GET", "/fapi/v1/premiumIndex"): 1, ("GET", "/fapi/v1/fundingRate"): 1, ("GET", "/fapi/v1/ticker/price"): 1,
    ("GET", "/fapi/v1/ticker/bookTicker"): 2, ("GET", "/fapi/v2/account"): 5, ("GET", "/fapi/v2/balance"): 5,
    ("GET", "/fapi/v2/positionRisk"): 5, ("POST", "/fapi/v1/order"): 0, ("GET", "/fapi/v1/order"): 1,
    ("DELETE", "/fapi/v1/order"): 1, ("DELETE", "/fapi/v1/allOpenOrders"): 1, ("GET", "/fapi/v1/openOrders"): 1,
    ("GET", "/fapi/v1/positionSide/dual"): 30, ("POST", "/fapi/v1/countdownCancelAll"): 10,
    ("GET", "/fapi/v1/userTrades"): 5,
}


class FuturesHttp(BinanceHttp):
    async def server_time_ms(self) -> int:
        return int((await self.request("GET", "/fapi/v1/time"))["serverTime"])

    async def request_raw(self, method: str, path: str, params=None, *, signed: bool = False,
                          weight: Optional[int] = None, **kw) -> bytes:
        if path == SPOT_DEPTH:  # the shared syncer's snapshot: the futures depth, priced as such
            items = list(params.items() if isinstance(params, Mapping) else (params or ()))
            path, weight = "/fapi/v1/depth", depth_weight(int(dict(items).get("limit", 500)))
            params = items
        if weight is None:
            weight = WEIGHTS.get((method.upper(), path), 1)
        return await super().request_raw(method, path, params, signed=signed, weight=weight, **kw)

    async def _send(self, method: str, path: str, items: list, signed: bool, timeout_s: float,
                    max_bytes: Optional[int] = None) -> bytes:
        try:
            return await super()._send(method, path, items, signed, timeout_s, max_bytes)
        except TradingError as e:
            if e.code in FUTURES_ONLY and not e.outcome_unknown:  # the futures meaning of the code
                raise futures_error(e.http_status, e.raw, endpoint=f"{method} {path}") from None
            raise
