"""Executing the Lighter simulator's account transactions (every sequenced type that is not an order).

Effects, visible in ``/api/v1/account``, ``/api/v1/apikeys`` and the ``account_all`` /
``account_all_positions`` channels:

- UpdateLeverage (20): the market's InitialMarginFraction (basis points: 2000 is 20.00 %, leverage 5) and
  MarginMode (0 cross, 1 isolated) become the position row's ``initial_margin_fraction`` ("20.00") and
  ``margin_mode``. Refused (no effect) for an unknown market, a fraction outside 200..10000 (the simulator's
  ``min_initial_margin_fraction``, 100 %) or a margin mode change with a position open.
- UpdateMargin (29): USDCAmount (micro-USDC) moves between the collateral and an isolated position's
  ``allocated_margin`` (Direction 1 adds, 0 removes); refused for a cross-margin market or more than is there.
- Transfer (12) and Withdraw (13) of USDC (asset 3) out of the account take Amount (+ USDCFee) off the
  collateral; refused for another asset or more than the collateral. Each executed one is a row of
  ``/api/v1/transfer/history`` / ``/api/v1/withdraw/history`` (transfer_rest.py).
- ChangePubKey (8): the key index gets the new public key (hex in ``apikeys``).
- UpdateAccountConfig (41): ``account_trading_mode``; UpdateAccountAssetConfig (42): the asset's
  ``margin_mode`` ("enabled"/"disabled"); ApproveIntegrator (45): a row of ``approved_integrators``
  (an ApprovalExpiry of 0 removes it); CreateSubAccount (9): a new account index is recorded.
- Public pools and staking (10, 11, 18, 19, 35, 36) are accepted and recorded, with no effect.

A refused transaction was still sequenced (sendTx said 200, as on the venue); it is kept in ``refused`` with
the reason and changes nothing.
"""
from __future__ import annotations

import base64
import binascii
import time
from decimal import Decimal

from .transfer_rest import transfer_row, withdraw_row

USDC_ASSET = 3
MIN_IMF, MAX_IMF = 200, 10_000
DEFAULT_IMF = 500  # orderBookDetails' default_initial_margin_fraction: 5.00 %, leverage 20


class SimAccount:
    def __init__(self, sim):
        self.sim = sim
        self.leverage: dict = {}  # market_id -> (initial margin fraction in basis points, margin mode)
        self.allocated: dict = {}  # market_id -> isolated margin in micro-USDC
        self.trading_mode = 0
        self.asset_margin_modes: dict = {}  # asset index -> 0/1
        self.integrators: dict = {}  # integrator account index -> approved_integrators row
        self.public_keys: dict = {}  # (account, api key index) -> hex public key set by ChangePubKey
        self.sub_accounts: list = []
        self.recorded: list = []  # (tx_type, tx_info) accepted with no effect (pools, staking)
        self.refused: list = []  # (tx_type, reason): sequenced, executed, changed nothing
        self.balance_changed = False  # the collateral moved since the last account_all publish (stream.py)
        self.transfers: list = []  # transfer/history rows, oldest first (transfer_rest.py)
        self.withdrawals: list = []  # withdraw/history rows, oldest first

    # -- views
    def imf(self, market_id: int) -> int:
        return self.leverage.get(market_id, (DEFAULT_IMF, 0))[0]

    def margin_mode(self, market_id: int) -> int:
        return self.leverage.get(market_id, (DEFAULT_IMF, 0))[1]

    def allocated_margin(self, market_id: int) -> str:
        return f"{Decimal(self.allocated.get(market_id, 0)).scaleb(-6):.6f}"

    def approved_integrators(self) -> list:
        return list(self.integrators.values())

    # -- execution
    def execute(self, tx_type: int, info: dict) -> None:
        handler = HANDLERS.get(tx_type)
        if handler is None:
            self.recorded.append((tx_type, info))
            return
        reason = handler(self, info)
        if reason:
            self.refused.append((tx_type, reason))

    def _leverage(self, info: dict):
        mid, imf, mode = info["MarketIndex"], info["InitialMarginFraction"], info["MarginMode"]
        if mid not in self.sim.markets:
            return "unknown market"
        if not MIN_IMF <= imf <= MAX_IMF or mode not in (0, 1):
            return "invalid initial margin fraction or margin mode"
        if mode != self.margin_mode(mid) and self.sim.orders.positions.get(mid, 0):
            return "margin mode cannot change with an open position"
        self.leverage[mid] = (imf, mode)
        self.sim.orders.positions_changed.add(mid)
        return None

    def _margin(self, info: dict):
        mid, amount, direction = info["MarketIndex"], info["USDCAmount"], info["Direction"]
        if mid not in self.sim.markets or self.margin_mode(mid) != 1:
            return "not an isolated-margin market"
        usdc = Decimal(amount).scaleb(-6)
        if amount <= 0 or direction not in (0, 1):
            return "invalid amount or direction"
        if direction == 1:
            if usdc > self.sim.collateral:
                return "not enough collateral"
            self.sim.collateral -= usdc
            self.balance_changed = True
            self.allocated[mid] = self.allocated.get(mid, 0) + amount
        else:
            if amount > self.allocated.get(mid, 0):
                return "not enough allocated margin"
            self.sim.collateral += usdc
            self.balance_changed = True
            self.allocated[mid] -= amount
        self.sim.orders.positions_changed.add(mid)
        return None

    def _take_usdc(self, owner: int, asset: int, amount: int):
        if owner != self.sim.account_index:
            return "not the simulator's account"
        if asset != USDC_ASSET:
            return "only USDC (asset 3) is held"
        usdc = Decimal(amount).scaleb(-6)
        if amount <= 0 or usdc > self.sim.collateral:
            return "not enough collateral"
        self.sim.collateral -= usdc
        self.balance_changed = True
        return None

    def _transfer(self, info: dict):
        if info["ToAccountIndex"] == info["FromAccountIndex"]:
            return "transfer to the same account"
        if info["USDCFee"] < 0:
            return "invalid fee"
        refused = self._take_usdc(info["FromAccountIndex"], info["AssetIndex"], info["Amount"] + info["USDCFee"])
        if not refused:
            self.transfers.append(transfer_row(self.sim, info, self._hash_of(info), int(time.time() * 1000)))
        return refused

    def _withdraw(self, info: dict):
        refused = self._take_usdc(info["FromAccountIndex"], info["AssetIndex"], info["Amount"])
        if not refused:
            self.withdrawals.append(withdraw_row(self.sim, info, int(time.time() * 1000)))
        return refused

    def _hash_of(self, info: dict) -> str:
        """The hash sendTx answered for this tx (tx.py remember), newest first; "" once forgotten."""
        return next((h for h, rec in reversed(self.sim.tx_hashes.items()) if rec["info"] is info), "")

    def _change_pub_key(self, info: dict):
        try:
            raw = base64.b64decode(info["PubKey"], validate=True)
        except (binascii.Error, ValueError):
            return "invalid public key"
        if len(raw) != 40:
            return "invalid public key"
        self.public_keys[(info["AccountIndex"], info["ApiKeyIndex"])] = raw.hex()
        return None

    def _sub_account(self, info: dict):
        self.sub_accounts.append(self.sim.account_index + 1 + len(self.sub_accounts))
        return None

    def _account_config(self, info: dict):
        self.trading_mode = info["AccountTradingMode"]
        return None

    def _asset_config(self, info: dict):
        if info["AssetMarginMode"] not in (0, 1):
            return "invalid asset margin mode"
        self.asset_margin_modes[info["AssetIndex"]] = info["AssetMarginMode"]
        return None

    def _integrator(self, info: dict):
        idx = info["IntegratorAccountIndex"]
        if info["ApprovalExpiry"] == 0:
            self.integrators.pop(idx, None)
            return None
        self.integrators[idx] = {"account_index": idx, "name": "", "max_perps_taker_fee": info["MaxPerpsTakerFee"],
                                 "max_perps_maker_fee": info["MaxPerpsMakerFee"],
                                 "max_spot_taker_fee": info["MaxSpotTakerFee"],
                                 "max_spot_maker_fee": info["MaxSpotMakerFee"],
                                 "approval_expiry": info["ApprovalExpiry"]}
        return None


HANDLERS = {8: SimAccount._change_pub_key, 9: SimAccount._sub_account, 12: SimAccount._transfer,
            13: SimAccount._withdraw, 20: SimAccount._leverage, 29: SimAccount._margin,
            41: SimAccount._account_config, 42: SimAccount._asset_config, 45: SimAccount._integrator}
