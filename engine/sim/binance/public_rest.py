"""Public REST endpoints of the simulator beyond the basics (docs/binance.md, "Simulator: more REST endpoints"):
``GET /api/v3/historicalTrades`` (older trades by id, an API key required) and ``GET /api/v3/ticker`` (rolling
window statistics). A mixin of ``RestApi`` (engine/sim/binance/rest.py), which registers the routes."""
from __future__ import annotations

import re
from decimal import Decimal

from .errors import SimError, key_problem
from .market import now_ms

WINDOW = re.compile(r"^([1-9][0-9]?)([mhd])$")
WINDOW_MOST = {"m": 59, "h": 23, "d": 7}  # 1m..59m, 1h..23h, 1d..7d
UNIT_MS = {"m": 60_000, "h": 3_600_000, "d": 86_400_000}


def window_ms(raw: str) -> int:
    """A ``windowSize`` (default 1d) in milliseconds; units cannot be combined."""
    m = WINDOW.match(raw)
    if not m or int(m[1]) > WINDOW_MOST[m[2]]:
        raise SimError(-1100, "Illegal characters found in parameter 'windowSize'; legal range is "
                              "'1m-59m, 1h-23h, 1d-7d'.")
    return int(m[1]) * UNIT_MS[m[2]]


def int_param(p: dict, name: str, default=None):
    """An integer parameter (ids, times, limits), or ``default`` when it was not sent."""
    raw = p.get(name)
    if raw is None or raw == "":
        return default
    if not str(raw).isdigit():
        raise SimError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.")
    return int(raw)


def limit_param(p: dict, default: int = 500, most: int = 1000) -> int:
    n = int_param(p, "limit", default)
    if n < 1:
        raise SimError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1-1000'.")
    return min(n, most)


def signed_change(spec, first: int, last: int) -> str:
    return spec.px(last - first) if last >= first else "-" + spec.px(first - last)


class PublicRest:
    async def historical_trades(self, request, p, q, b):
        key = request.headers.get("X-MBX-APIKEY") if request is not None else self.api_key
        problem = key_problem(key, self.api_key)
        if problem:
            raise SimError(*problem, http=401)
        m = self._market(p)
        s = m.spec
        limit = limit_param(p)
        from_id = int_param(p, "fromId")
        rows = list(m.trades)
        rows = [t for t in rows if t.first_id >= from_id][:limit] if from_id is not None else rows[-limit:]
        return [{"id": t.first_id, "price": s.px(t.price), "qty": s.qty(t.qty),
                 "quoteQty": f"{s.tick * t.price * s.step * t.qty:.8f}", "time": t.time_ms,
                 "isBuyerMaker": t.buyer_maker, "isBestMatch": True} for t in rows]

    async def rolling_ticker(self, request, p, q, b):
        if not p.get("symbol") and not p.get("symbols"):
            raise SimError(-1102, "Param 'symbol' or 'symbols' must be sent, but both were empty/null!")
        kind = p.get("type") or "FULL"
        if kind not in ("FULL", "MINI"):
            raise SimError(-1100, "Illegal characters found in parameter 'type'; legal range is 'FULL, MINI'.")
        span = window_ms(p.get("windowSize") or "1d")
        close = now_ms()
        start = (close - span) // 60_000 * 60_000  # the window opens on a minute: up to 59999 ms wider
        rows = [self._rolling(m, start, close, kind) for m in self._listed(p)]
        return rows[0] if p.get("symbol") else rows

    def _rolling(self, m, start: int, close: int, kind: str) -> dict:
        s = m.spec
        trades = [t for t in m.trades if start <= t.time_ms <= close]
        last = trades[-1].price if trades else self._last_price(m)
        prices = [t.price for t in trades] or [last]
        first = prices[0]
        steps = sum(t.qty for t in trades)
        volume = s.step * steps
        quote = sum((s.tick * t.price * s.step * t.qty for t in trades), Decimal(0))
        row = {"symbol": s.symbol}
        if kind == "FULL":
            row.update({"priceChange": signed_change(s, first, last),
                        "priceChangePercent": f"{Decimal(last - first) / first * 100:.3f}" if first else "0.000",
                        "weightedAvgPrice": f"{quote / volume:.8f}" if steps else "0.00000000"})
        row.update({"openPrice": s.px(first), "highPrice": s.px(max(prices)), "lowPrice": s.px(min(prices)),
                    "lastPrice": s.px(last), "volume": f"{volume:.8f}", "quoteVolume": f"{quote:.8f}",
                    "openTime": start, "closeTime": close,
                    "firstId": trades[0].first_id if trades else -1, "lastId": trades[-1].last_id if trades else -1,
                    "count": len(trades)})
        return row
