"""The Lighter simulator's account REST reads: account (public), and the auth-token reads
accountActiveOrders, accountInactiveOrders, accountLimits, plus apikeys (public), with the captured shapes.

Private reads take the token in the ``authorization`` header or the ``auth`` query parameter; without one
the answer is the captured 20001 body, with a bad one the captured 20013 body at HTTP 401.
"""
from __future__ import annotations

import time

from aiohttp import web

from .auth import AuthError


class LighterAccountRest:
    def __init__(self, sim, rest):
        self.sim = sim
        self.rest = rest  # the market-data REST app: shared request count and error shape

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/account", self.account)
        r.add_get("/api/v1/accountActiveOrders", self.active_orders)
        r.add_get("/api/v1/accountInactiveOrders", self.inactive_orders)
        r.add_get("/api/v1/accountLimits", self.limits)
        r.add_get("/api/v1/apikeys", self.api_keys)

    def _authed(self, request) -> int:
        """The account index of a private read whose token is valid, else AuthError/ValueError."""
        q = request.query
        if not q.get("account_index", "").isdigit():
            raise ValueError("account_index")
        account = int(q["account_index"])
        token = request.headers.get("authorization") or q.get("auth")
        self.sim.tokens.check(token, account, where="auth query param and Authorization header are empty")
        return account

    def authed_or_error(self, request):
        """(account index, None) for a private read with a valid token, else (None, the error response)."""
        try:
            return self._authed(request), None
        except AuthError as e:
            return None, self.rest._error(e.code, e.message, e.http)
        except ValueError as e:
            return None, self.rest._error(20001, f"invalid param : {e}")

    async def _private(self, request, body):
        self.rest.requests += 1
        account, error = self.authed_or_error(request)
        if error is not None:
            return error
        if account != self.sim.account_index:
            return web.json_response({"code": 200, "orders": []})
        return body(request)

    def _market_filter(self, request):
        mid = request.query.get("market_id")
        if mid in (None, "", "255"):  # omitted (or the "all markets" sentinel): every market
            return None
        return int(mid) if mid.lstrip("-").isdigit() else "bad"

    async def active_orders(self, request):
        def body(request):
            mid = self._market_filter(request)
            if mid == "bad":
                return self.rest._error(20001, "invalid param : market_id")
            rows = [self.sim.orders.public(o) for o in self.sim.orders.active() if mid in (None, o["market_index"])]
            return web.json_response({"code": 200, "orders": rows})
        return await self._private(request, body)

    async def inactive_orders(self, request):
        def body(request):
            mid = self._market_filter(request)
            try:
                limit = int(request.query.get("limit", ""))
            except ValueError:
                return self.rest._error(20001, "invalid param : limit")
            if mid == "bad" or not 1 <= limit <= 100:
                return self.rest._error(20001, "invalid param : market_id, limit")
            rows = [self.sim.orders.public(o) for o in reversed(list(self.sim.orders.orders.values()))
                    if o["status"] not in ("open", "pending") and mid in (None, o["market_index"])][:limit]
            return web.json_response({"code": 200, "next_cursor": "", "orders": rows})
        return await self._private(request, body)

    async def limits(self, request):
        def body(request):
            return web.json_response({
                "code": 200, "max_llp_percentage": 100, "max_llp_amount": "0.000000", "user_tier": self.sim.user_tier,
                "can_create_public_pool": False, "user_tier_name": self.sim.user_tier, "current_maker_fee_tick": 0,
                "current_taker_fee_tick": 0, "leased_lit": "0.00000000", "effective_lit_stakes": "0.00000000",
                "user_tier_last_update": 0})
        return await self._private(request, body)

    async def api_keys(self, request):
        self.rest.requests += 1
        q = request.query
        try:
            account, key = int(q["account_index"]), int(q.get("api_key_index", 255))
        except (KeyError, ValueError):
            return self.rest._error(20001, "invalid param : account_index, api_key_index")
        pub = self.sim.account.public_keys
        rows = [{"account_index": a, "api_key_index": k, "nonce": n, "public_key": pub.get((a, k), self.sim.api_public_key),
                 "transaction_time": int(time.time() * 1e6)}
                for (a, k), n in sorted(self.sim.nonces.items()) if a == account and key in (255, k)]
        return web.json_response({"code": 200, "api_keys": rows})

    async def account(self, request):
        self.rest.requests += 1
        if request.query.get("by") != "index" or not request.query.get("value", "").isdigit():
            return self.rest._error(20001, "invalid param : by, value")
        idx = int(request.query["value"])
        if idx != self.sim.account_index:
            return web.json_response({"code": 200, "total": 0, "accounts": []})
        usdc, acct_tx = self.sim.collateral, self.sim.account
        acct = {"code": 0, "account_type": 0 if idx < 2 ** 47 else 1, "index": idx, "l1_address": "0x" + "0" * 40,
                "cancel_all_time": 0, "total_order_count": 0, "total_isolated_order_count": 0,
                "pending_order_count": 0, "available_balance": f"{usdc:.6f}", "status": 1,
                "collateral": f"{usdc:.6f}", "transaction_time": 0, "account_trading_mode": acct_tx.trading_mode,
                "account_index": idx,
                "name": "", "description": "", "can_invite": False, "referral_points_percentage": "", "can_rfq": False,
                "can_rfq_market_ids": None, "created_at": 0, "metadata": {"color": ""},
                "positions": [self.sim.orders.position_json(m) for m in self.sim.markets.values()],
                "assets": [{"symbol": "USDC", "asset_id": 3, "balance": f"{usdc:.6f}", "locked_balance": "0.000000",
                            "margin_mode": "enabled" if acct_tx.asset_margin_modes.get(3) else "disabled",
                            "margin_balance": f"{usdc:.6f}"}],
                "total_asset_value": f"{usdc:.6f}", "cross_asset_value": f"{usdc:.6f}",
                "cross_initial_margin_requirement": "0.000000", "cross_maintenance_margin_requirement": "0.000000",
                "shares": [], "pending_unlocks": [], "approved_integrators": acct_tx.approved_integrators()}
        return web.json_response({"code": 200, "total": 1, "accounts": [acct]})

