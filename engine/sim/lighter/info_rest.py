"""The Lighter simulator's exchange-wide reads: assetDetails, exchangeStats, fundings and funding-rates, in
lighter-sdk's model shapes (``lighter/models/asset_details.py``, ``asset.py``, ``exchange_stats.py``,
``order_book_stats.py``, ``fundings.py``, ``funding.py``, ``funding_rates.py``, ``funding_rate.py``).

The simulated exchange has one collateral asset, USDC (asset id 3, as the account rows in account_rest.py
carry it). Statistics are computed from each market's recent trades (``LighterMarket.trades``).
Funding is hourly. Each market's rate for an hour is drawn from a generator seeded with the market and the
hour, so every read of that hour (fundings, funding-rates) gives the same rate."""
from __future__ import annotations

import random
import time

from aiohttp import web

HOUR_MS = 3_600_000
FUNDING_RESOLUTION_MS = {"1h": HOUR_MS, "1d": 24 * HOUR_MS}
MAX_FUNDINGS = 100


def funding_rate(m, hour: int) -> float:
    """The market's funding rate for the hour starting at ``hour * HOUR_MS`` (within +-0.01 % an hour)."""
    return round(random.Random(f"{m.spec.market_id}/funding/{hour}").uniform(-0.0001, 0.0001), 8)

USDC = {"asset_id": 3, "symbol": "USDC", "l1_decimals": 6, "decimals": 6, "min_transfer_amount": "1.000000",
        "min_withdrawal_amount": "1.000000", "margin_mode": "enabled", "index_price": "1.000000",
        "l1_address": "0x95Fd23d5110f9D89A4b0B7d63D78F5B5Ea5074D1", "global_supply_cap": "0.000000",
        "liquidation_fee": "0.000000", "liquidation_threshold": "0.000000", "loan_to_value": "1.000000",
        "price_decimals": 6, "total_supplied": "0.000000", "user_supply_cap": "0.000000",
        "liquidation_factor": "0.000000", "multiplier": "1"}
ASSETS = (USDC,)


class LighterInfoRest:
    def __init__(self, sim, rest):
        self.sim = sim
        self.rest = rest  # the market-data REST app: shared request count and error shape

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/assetDetails", self.asset_details)
        app.router.add_get("/api/v1/exchangeStats", self.exchange_stats)
        app.router.add_get("/api/v1/fundings", self.fundings)
        app.router.add_get("/api/v1/funding-rates", self.funding_rates)

    async def asset_details(self, request):
        self.rest.requests += 1
        aid = request.query.get("asset_id")
        rows = list(ASSETS)
        if aid not in (None, ""):
            if not aid.isdigit():
                return self.rest._error(20001, "invalid param : asset_id")
            rows = [a for a in rows if a["asset_id"] == int(aid)]
            if not rows:
                return self.rest._error(20001, "invalid param : asset_id")
        return web.json_response({"code": 200, "asset_details": [dict(a) for a in rows]})

    def market_stats(self, m) -> dict:
        """One market's statistics over the trades the simulator keeps: count, volumes, last price, change."""
        s = m.spec
        scale_p, scale_s = 10 ** s.price_decimals, 10 ** s.size_decimals
        last = (m.trades[-1][1] if m.trades else m.mid) / scale_p
        first = (m.trades[0][1] if m.trades else m.mid) / scale_p
        base = sum(t[2] for t in m.trades) / scale_s
        quote = sum(t[1] * t[2] for t in m.trades) / (scale_p * scale_s)
        return {"symbol": s.symbol, "last_trade_price": last, "daily_trades_count": len(m.trades),
                "daily_base_token_volume": round(base, s.size_decimals), "daily_quote_token_volume": round(quote, 6),
                "daily_price_change": round((last - first) / first * 100, 6) if first else 0.0}

    async def exchange_stats(self, request):
        self.rest.requests += 1
        markets = self.rest._markets(request)  # market_id narrows the list (a simulator extension)
        if not markets:
            return self.rest._error(20001, "invalid param : market_id")
        rows = [self.market_stats(m) for m in markets]
        return web.json_response({"code": 200, "total": len(rows), "order_book_stats": rows,
                                  "daily_usd_volume": round(sum(r["daily_quote_token_volume"] for r in rows), 6),
                                  "daily_trades_count": sum(r["daily_trades_count"] for r in rows)})

    async def fundings(self, request):
        """The funding periods of ``resolution`` that start within [start_timestamp, end_timestamp] (ms), the
        latest ``count_back`` of them (all when 0), at most MAX_FUNDINGS, oldest first. A day's rate is the
        sum of its hours'."""
        self.rest.requests += 1
        q = request.query
        try:
            start, end, count = int(q["start_timestamp"]), int(q["end_timestamp"]), int(q["count_back"])
        except (KeyError, ValueError):
            return self.rest._error(20001, "invalid param : start_timestamp, end_timestamp, count_back")
        markets = self.rest._markets(request)
        step = FUNDING_RESOLUTION_MS.get(q.get("resolution"))
        if not markets or "market_id" not in q or step is None or start > end or count < 0:
            return self.rest._error(20001, "invalid param : market_id, resolution")
        m = markets[0]
        first = -(-start // step) * step  # the first period that starts at or after start
        periods = list(range(first, end + 1, step))[-(min(count, MAX_FUNDINGS) or MAX_FUNDINGS):]
        mid = float(m.spec.px(m.mid))
        rows = []
        for t in periods:
            rate = round(sum(funding_rate(m, h) for h in range(t // HOUR_MS, (t + step) // HOUR_MS)), 8)
            rows.append({"timestamp": t // 1000, "value": f"{abs(rate) * mid:.6f}", "rate": f"{rate:.8f}",
                         "direction": "long" if rate >= 0 else "short"})
        return web.json_response({"code": 200, "resolution": q["resolution"], "fundings": rows})

    async def funding_rates(self, request):
        """Every market's rate for the current hour."""
        self.rest.requests += 1
        hour = int(time.time() * 1000) // HOUR_MS
        return web.json_response({"code": 200, "funding_rates": [
            {"market_id": m.spec.market_id, "exchange": "lighter", "symbol": m.spec.symbol,
             "rate": funding_rate(m, hour)} for m in self.sim.markets.values()]})
