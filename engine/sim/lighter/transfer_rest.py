"""The Lighter simulator's transfer and withdrawal history reads (auth token): ``/api/v1/transfer/history`` and
``/api/v1/withdraw/history`` for ``account_index``, newest first, in lighter-sdk's TransferHistory /
WithdrawHistory model shapes (``cursor`` "": one page holds them all). Rows come from the Transfers and
Withdrawals the simulator executed (account_tx.py); a withdrawal stays "pending" (nothing settles on L1 here).
"""
from __future__ import annotations

from decimal import Decimal

from aiohttp import web

ROUTES = {0: "perp", 1: "spot"}  # the signer's ROUTE_PERP / ROUTE_SPOT
L1_ADDRESS = "0x" + "0" * 40  # what /api/v1/account answers as the simulator's l1_address


class LighterTransferRest:
    def __init__(self, sim, rest, account_rest):
        self.sim, self.rest, self.account_rest = sim, rest, account_rest

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/transfer/history", self.transfers)
        app.router.add_get("/api/v1/withdraw/history", self.withdraws)

    async def _read(self, request, key: str, rows):
        self.rest.requests += 1
        account, error = self.account_rest.authed_or_error(request)
        if error is not None:
            return error
        ours = account == self.sim.account_index
        return web.json_response({"code": 200, key: list(reversed(rows)) if ours else [], "cursor": ""})

    async def transfers(self, request):
        return await self._read(request, "transfers", self.sim.account.transfers)

    async def withdraws(self, request):
        return await self._read(request, "withdraws", self.sim.account.withdrawals)


def transfer_row(sim, info: dict, tx_hash: str, ts_ms: int) -> dict:
    return {"id": str(len(sim.account.transfers) + 1), "amount": _usdc(info["Amount"]), "timestamp": ts_ms,
            "type": "L2TransferOutflow",
            "from_l1_address": L1_ADDRESS, "to_l1_address": L1_ADDRESS,
            "from_account_index": info["FromAccountIndex"], "to_account_index": info["ToAccountIndex"],
            "tx_hash": tx_hash, "asset_id": info["AssetIndex"], "fee": _usdc(info["USDCFee"]),
            "from_route": ROUTES.get(info["FromRouteType"], str(info["FromRouteType"])),
            "to_route": ROUTES.get(info["ToRouteType"], str(info["ToRouteType"]))}


def withdraw_row(sim, info: dict, ts_ms: int) -> dict:
    return {"id": str(len(sim.account.withdrawals) + 1), "amount": _usdc(info["Amount"]), "timestamp": ts_ms,
            "status": "pending", "type": "secure", "l1_tx_hash": "", "asset_id": info["AssetIndex"]}


def _usdc(micro: int) -> str:
    return f"{Decimal(micro).scaleb(-6):.6f}"
