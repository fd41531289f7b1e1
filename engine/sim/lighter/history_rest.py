"""The Lighter simulator's history reads: accountOrders (orders by client order index, any status; auth
token), trades (the account's fills with a token and ``account_index``, else a market's recent trades) and
tx (a sequenced transaction by hash). Shapes: lighter-sdk's ``orders.py``/``order.py``, ``trades.py``/
``trade.py`` and ``enriched_tx.py`` models."""
from __future__ import annotations

import json

from aiohttp import web

from .auth import AuthError

SORT_BY = ("block_height", "timestamp", "trade_id")


def full_trade(sim, row: dict) -> dict:
    """A fill or market trade row with every field lighter-sdk's Trade model requires: the simulated fees,
    integrator fees, PnL and margins are zero, positions before the trade flat, order versions 0."""
    m = sim.markets[row["market_id"]]
    out = {k: v for k, v in row.items() if not k.startswith("_")}
    zero_sz = m.spec.sz(0)
    for side in ("taker", "maker"):
        out.setdefault(f"{side}_position_size_before", zero_sz)
        out.setdefault(f"{side}_entry_quote_before", "0.000000")
        out.setdefault(f"{side}_initial_margin_fraction_before", 500)  # the simulated markets' IMF (5 %)
        out.setdefault(f"{side}_position_sign_changed", False)
        out.setdefault(f"{side}_allocated_margin_usdc_before", 0)
        out.setdefault(f"{side}_allocated_margin_usdc_after", 0)
        out.setdefault(f"integrator_{side}_fee", 0)
        out.setdefault(f"integrator_{side}_fee_collector_index", 0)
    out.update({k: out.get(k, "0.000000") for k in ("bid_account_pnl", "ask_account_pnl")})
    out.update({k: out.get(k, 0) for k in ("bid_order_version", "ask_order_version")})
    out.setdefault("market_symbol", m.spec.symbol)
    out.setdefault("market_kind", "perp")
    return out


class LighterHistoryRest:
    def __init__(self, sim, rest, account_rest):
        self.sim = sim
        self.rest = rest  # shared request count and error shape
        self.account_rest = account_rest  # the auth-token check

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/accountOrders", self.account_orders)
        app.router.add_get("/api/v1/trades", self.trades)
        app.router.add_get("/api/v1/tx", self.tx)

    async def account_orders(self, request):
        def body(request):
            raw = request.query.get("client_order_indexes", "")
            cois = [c.strip() for c in raw.split(",") if c.strip()]
            if not cois or not all(c.isdigit() for c in cois):
                return self.rest._error(20001, "invalid param : client_order_indexes")
            want = {int(c) for c in cois}
            rows = [self.sim.orders.public(o) for o in self.sim.orders.orders.values()
                    if o["client_order_index"] in want]
            return web.json_response({"code": 200, "next_cursor": "", "orders": rows})
        return await self.account_rest._private(request, body)

    async def trades(self, request):
        self.rest.requests += 1
        q = request.query
        try:
            limit = int(q.get("limit", ""))
        except ValueError:
            limit = 0
        if q.get("sort_by") not in SORT_BY or not 1 <= limit <= 100:
            return self.rest._error(20001, "invalid param : sort_by, limit")
        mid = q.get("market_id")
        if mid not in (None, "", "255") and not (mid.isdigit() and int(mid) in self.sim.markets):
            return self.rest._error(20001, "invalid param : market_id")
        market = int(mid) if mid not in (None, "", "255") else None
        if "account_index" in q:
            try:
                account = self.account_rest._authed(request)
            except AuthError as e:
                return self.rest._error(e.code, e.message, e.http)
            except ValueError as e:
                return self.rest._error(20001, f"invalid param : {e}")
            rows = list(self.sim.orders.history) if account == self.sim.account_index else []
        else:
            rows = [self.rest._rest_trade(m, t) for m in self.sim.markets.values() for t in m.trades]
        rows = [r for r in rows if market in (None, r["market_id"])]
        key = "trade_id" if q["sort_by"] == "trade_id" else "timestamp"
        rows.sort(key=lambda r: (r[key], r["trade_id"]), reverse=q.get("sort_dir", "desc") != "asc")
        return web.json_response({"code": 200, "next_cursor": "",
                                  "trades": [full_trade(self.sim, r) for r in rows[:limit]]})

    async def tx(self, request):
        self.rest.requests += 1
        q = request.query
        if q.get("by") != "hash" or not q.get("value"):
            return self.rest._error(20001, "invalid param : by, value")
        rec = self.sim.tx_hashes.get(q["value"])
        if rec is None:
            return self.rest._error(20001, "invalid param : value (no such tx)")
        info, queued = rec["info"], rec["queued_at"]
        pending = any(i is info for _, i in self.sim.pending_txs)
        ae = ""
        if rec["type"] == 14 and not pending:
            coi = info.get("ClientOrderIndex")
            reasons = [why for c, why in self.sim.orders.dropped if c == coi]
            ae = json.dumps({"message": reasons[-1]}) if reasons else ""
        owner = info.get("AccountIndex", info.get("FromAccountIndex"))  # Transfer/Withdraw name the sender
        return web.json_response({
            "code": 200, "hash": q["value"], "type": rec["type"], "info": json.dumps(info),
            "event_info": json.dumps({"ae": ae}), "status": 1 if pending else 2, "transaction_index": 0,
            "l1_address": "0x" + "0" * 40, "account_index": owner, "nonce": info["Nonce"],
            "expire_at": info["ExpiredAt"], "block_height": 510869, "queued_at": queued,
            "executed_at": 0 if pending else queued, "sequence_index": 0, "parent_hash": "",
            "api_key_index": info["ApiKeyIndex"], "transaction_time": queued * 1000, "committed_at": 0,
            "verified_at": 0})
