"""Signed REST endpoints of the simulator beyond the basics (docs/binance.md, "Simulator: more REST endpoints"):
``GET /api/v3/account/commission``, ``POST /api/v3/order/cancelReplace``, ``PUT
/api/v3/order/amend/keepPriority`` and ``GET /api/v3/myTrades`` with its filters. The order logic is the
exchange's (engine/sim/binance/exchange.py); this is a mixin of ``RestApi`` (engine/sim/binance/rest.py), which
registers the routes."""
from __future__ import annotations

from .errors import SimError
from .exchange import COMMISSION
from .public_rest import int_param, limit_param

DAY_MS = 86_400_000
ZERO = "0.00000000"


class AccountRest:
    async def account_commission(self, request, p, q, b):
        self._signed(request, p, q, b)
        m = self._market(p)
        rate = f"{COMMISSION:.8f}"
        return {"symbol": m.spec.symbol,
                "standardCommission": {"maker": rate, "taker": rate, "buyer": ZERO, "seller": ZERO},
                "specialCommission": {"maker": ZERO, "taker": ZERO, "buyer": ZERO, "seller": ZERO},
                "taxCommission": {"maker": ZERO, "taker": ZERO, "buyer": ZERO, "seller": ZERO},
                "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB",
                             "discount": ZERO}}

    async def cancel_replace(self, request, p, q, b):
        self._signed(request, p, q, b)
        return self.ex.cancel_replace(p)

    async def amend_keep_priority(self, request, p, q, b):
        self._signed(request, p, q, b)
        return self.ex.amend_keep_priority(p)

    async def my_trades(self, request, p, q, b):
        """The account's trades on a symbol: by ``orderId``, from a trade id ``fromId`` on, in
        ``startTime``..``endTime`` (at most 24 h apart), the most recent ``limit`` otherwise."""
        self._signed(request, p, q, b)
        m = self._market(p)
        order_id, from_id = int_param(p, "orderId"), int_param(p, "fromId")
        start, end = int_param(p, "startTime"), int_param(p, "endTime")
        limit = limit_param(p)
        timed = start is not None or end is not None
        if timed and (from_id is not None or order_id is not None):
            raise SimError(-1128, "Combination of optional parameters invalid.")
        if start is not None and end is not None and end - start > DAY_MS:
            raise SimError(-1127, "More than 24 hours between startTime and endTime.")
        rows = [t for t in self.ex.my_trades if t["symbol"] == m.spec.symbol]
        if order_id is not None:
            rows = [t for t in rows if t["orderId"] == order_id]
        if from_id is not None:
            return [t for t in rows if t["id"] >= from_id][:limit]
        if start is not None:
            return [t for t in rows if t["time"] >= start and (end is None or t["time"] <= end)][:limit]
        if end is not None:
            return [t for t in rows if t["time"] <= end][-limit:]
        return rows[-limit:]
