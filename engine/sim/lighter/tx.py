"""sendTx handling in the Lighter simulator: shape checks, per-(account, API key) nonces, the answer.

What is checked: ``tx_type`` is one of the L2 transactions the official signer produces (``REQUIRED``; the
numbers and fields are the signer's, docs/lighter.md "Transaction types"), ``tx_info`` is the JSON object it
produces (the owner, ApiKeyIndex, Nonce, ExpiredAt, Sig, plus the type's own fields; all integers except Sig
and the ``SHAPED`` fields, else 21101), the key belongs to the account, the nonce is exactly the next one for
that key (else 21104 "invalid nonce", HTTP 400), and the transaction has not expired. The owner is
``AccountIndex``, or ``FromAccountIndex`` for Transfer and Withdraw (``OWNER``). A ChangePubKey may name a
key index the account does not have yet (its nonce starts at 0, what nextNonce answers). The Schnorr
signature is checked only when the simulator is built with ``verify_signatures=True`` (``--verify-signatures``;
off by default, as the pure-Python check costs ~30 ms a transaction): then a Sig that is not the key's
signature of the tx's Poseidon2 message is 21120 "invalid signature" (tx_hash.py, schnorr.py: the
simulator's own verifier; the key is the one registered for the account and key index). HTTP 200 means
"sequenced": the outcome reaches the account channels later, as on the real venue.
"""
from __future__ import annotations

import json
import secrets
import time

from . import tx_hash
from .auth import REFUSALS

TX_CHANGE_PUB_KEY, TX_CREATE_SUB_ACCOUNT, TX_CREATE_PUBLIC_POOL, TX_UPDATE_PUBLIC_POOL = 8, 9, 10, 11
TX_TRANSFER, TX_WITHDRAW = 12, 13
TX_CREATE_ORDER, TX_CANCEL_ORDER, TX_CANCEL_ALL, TX_MODIFY_ORDER = 14, 15, 16, 17
TX_MINT_SHARES, TX_BURN_SHARES, TX_UPDATE_LEVERAGE = 18, 19, 20
TX_CREATE_GROUPED_ORDERS, TX_UPDATE_MARGIN = 28, 29
TX_STAKE_ASSETS, TX_UNSTAKE_ASSETS = 35, 36
TX_UPDATE_ACCOUNT_CONFIG, TX_UPDATE_ACCOUNT_ASSET_CONFIG, TX_APPROVE_INTEGRATOR = 41, 42, 45
ORDER_FIELDS = ("MarketIndex", "ClientOrderIndex", "BaseAmount", "Price", "IsAsk", "Type", "TimeInForce",
                "ReduceOnly", "TriggerPrice", "OrderExpiry")
REQUIRED = {
    TX_CHANGE_PUB_KEY: ("PubKey", "L1Sig"),
    TX_CREATE_SUB_ACCOUNT: (),
    TX_CREATE_PUBLIC_POOL: ("OperatorFee", "InitialTotalShares", "MinOperatorShareRate"),
    TX_UPDATE_PUBLIC_POOL: ("PublicPoolIndex", "Status", "OperatorFee", "MinOperatorShareRate"),
    TX_TRANSFER: ("ToAccountIndex", "AssetIndex", "FromRouteType", "ToRouteType", "Amount", "USDCFee", "Memo",
                  "L1Sig"),
    TX_WITHDRAW: ("AssetIndex", "RouteType", "Amount"),
    TX_CREATE_ORDER: ORDER_FIELDS,
    TX_CANCEL_ORDER: ("MarketIndex", "Index"),
    TX_CANCEL_ALL: ("TimeInForce", "Time"),
    TX_MODIFY_ORDER: ("MarketIndex", "Index", "BaseAmount", "Price", "TriggerPrice"),
    TX_MINT_SHARES: ("PublicPoolIndex", "ShareAmount"),
    TX_BURN_SHARES: ("PublicPoolIndex", "ShareAmount"),
    TX_UPDATE_LEVERAGE: ("MarketIndex", "InitialMarginFraction", "MarginMode"),
    TX_CREATE_GROUPED_ORDERS: ("GroupingType", "Orders"),
    TX_UPDATE_MARGIN: ("MarketIndex", "USDCAmount", "Direction"),
    TX_STAKE_ASSETS: ("StakingPoolIndex", "ShareAmount"),
    TX_UNSTAKE_ASSETS: ("StakingPoolIndex", "ShareAmount"),
    TX_UPDATE_ACCOUNT_CONFIG: ("AccountTradingMode",),
    TX_UPDATE_ACCOUNT_ASSET_CONFIG: ("AssetIndex", "AssetMarginMode"),
    TX_APPROVE_INTEGRATOR: ("IntegratorAccountIndex", "MaxPerpsTakerFee", "MaxPerpsMakerFee", "MaxSpotTakerFee",
                            "MaxSpotMakerFee", "ApprovalExpiry", "L1Sig"),
}
COMMON = ("AccountIndex", "ApiKeyIndex", "Nonce", "ExpiredAt", "Sig")
OWNER = {TX_TRANSFER: "FromAccountIndex", TX_WITHDRAW: "FromAccountIndex"}  # else AccountIndex
GROUP_SIZES = {1: 2, 2: 2, 3: 3}  # GroupingType (OTO, OCO, OTOCO) -> how many orders


def _is_int(v) -> bool:
    return type(v) is int


def _orders_ok(v) -> bool:
    return isinstance(v, list) and all(isinstance(o, dict) and all(_is_int(o.get(k)) for k in ORDER_FIELDS)
                                       for o in v)


# the fields that are not integers, with what they must be: PubKey base64 text, L1Sig a (maybe empty) hex
# string, Memo 32 bytes as integers, Orders a list of create-order objects
SHAPED = {
    "PubKey": lambda v: isinstance(v, str) and bool(v),
    "L1Sig": lambda v: isinstance(v, str),
    "Memo": lambda v: isinstance(v, list) and len(v) == 32 and all(_is_int(b) and 0 <= b <= 255 for b in v),
    "Orders": _orders_ok,
}


def owner_field(tx_type: int) -> str:
    return OWNER.get(tx_type, "AccountIndex")


def common_fields(tx_type: int) -> tuple:
    return (owner_field(tx_type), *COMMON[1:])


class TxError(Exception):
    def __init__(self, code: int, message: str, http: int = 400):
        super().__init__(message)
        self.code, self.message, self.http = code, message, http


def check_tx(sim, tx_type: int, tx_info, *, expect_nonce=None, consume: bool = True) -> dict:
    """Validate one transaction and consume its nonce; returns the decoded tx_info.

    ``tx_info`` is the signer's JSON string (REST form field) or the object the WS ``jsonapi/sendtx`` carries.
    """
    if tx_type not in REQUIRED:
        raise TxError(21100, f"invalid tx type {tx_type}")
    try:
        info = tx_info if isinstance(tx_info, dict) else json.loads(tx_info)
    except (TypeError, ValueError):
        raise TxError(21101, "invalid tx info") from None
    if not isinstance(info, dict):
        raise TxError(21101, "invalid tx info")
    fields = (*common_fields(tx_type), *REQUIRED[tx_type])
    missing = [k for k in fields if k not in info]
    if missing:
        raise TxError(21101, f"invalid tx info: missing {', '.join(missing)}")
    # the venue decodes tx_info into integer fields: a string, float or bool there is a malformed tx (and would
    # otherwise reach the executor and stop the simulator's clock)
    bad = [k for k in fields if k != "Sig" and not SHAPED.get(k, _is_int)(info[k])]
    if bad or not isinstance(info.get("L2TxAttributes") or {}, dict):
        raise TxError(21101, f"invalid tx info: {', '.join(bad) or 'L2TxAttributes'}")
    if tx_type == TX_CREATE_GROUPED_ORDERS and GROUP_SIZES.get(info["GroupingType"]) != len(info["Orders"]):
        raise TxError(21101, "invalid tx info: GroupingType, Orders")
    key = (info[owner_field(tx_type)], info["ApiKeyIndex"])
    new_key = tx_type == TX_CHANGE_PUB_KEY and key not in sim.nonces and any(a == key[0] for a, _ in sim.nonces)
    if key not in sim.nonces and not new_key:
        raise TxError(21109, "api key not found")
    if not isinstance(info["Sig"], str) or not info["Sig"]:
        raise TxError(21120, "invalid signature")
    if getattr(sim, "verify_signatures", False) and not tx_hash.signature_ok(sim, tx_type, info, key):
        raise TxError(21120, "invalid signature")  # the Schnorr check (tx_hash.py, schnorr.py)
    if key in sim.refused_keys:  # sim.refuse_key(): the venue no longer takes this key
        raise TxError(sim.refused_keys[key], REFUSALS[sim.refused_keys[key]])
    if info["ExpiredAt"] < int(time.time() * 1000):
        raise TxError(21110, "transaction expired")
    if sim.faults.get("nonce_conflict", 0) > 0 and not new_key:  # someone else used the key: the venue moved on
        sim.faults["nonce_conflict"] -= 1
        sim.nonces[key] += 1
        raise TxError(21104, "invalid nonce")
    if (info.get("L2TxAttributes") or {}).get("4") == 1 and not info.get("L1Sig") and expect_nonce is None:
        # skip nonce (attribute 4, docs/lighter.md): the key's nonce is neither checked nor consumed, except on a
        # tx carrying an L1 signature; the simulator's reading (not captured) is that Nonce (ccxt sends the time
        # in ms) must be positive and not used before
        used = sim.skip_nonces.setdefault(key, set())
        if info["Nonce"] <= 0 or info["Nonce"] in used:
            raise TxError(21104, "invalid nonce")
        if consume:
            used.add(info["Nonce"])
            if len(used) > MAX_SKIP_NONCES:
                used.discard(min(used))
        return info
    if info["Nonce"] != (sim.nonces.get(key, 0) if expect_nonce is None else expect_nonce):
        raise TxError(21104, "invalid nonce")
    if consume:
        sim.nonces[key] = sim.nonces.get(key, 0) + 1
    return info


MAX_SKIP_NONCES = 10_000  # skip-nonce values kept per key; the oldest (smallest) forgotten first


def sequence(sim, tx_type: int, tx_info) -> dict:
    """Check one transaction, queue it for execution at the next block, and answer as the venue does."""
    info = check_tx(sim, tx_type, tx_info)
    sim.txs.append((tx_type, info))
    sim.pending_txs.append((tx_type, info))
    answer = sent_answer()
    remember(sim, answer["tx_hash"], tx_type, info)
    return answer


MAX_BATCH = 50


def sequence_batch(sim, tx_types, tx_infos) -> dict:
    """sendTxBatch: all or nothing; one owner and API key (21121), consecutive nonces (21105), <= 50 (21514)."""
    try:
        types = json.loads(tx_types) if isinstance(tx_types, str) else list(tx_types)
        infos = json.loads(tx_infos) if isinstance(tx_infos, str) else list(tx_infos)
    except (TypeError, ValueError):
        raise TxError(21101, "invalid tx info") from None
    if not isinstance(types, list) or not isinstance(infos, list) or len(types) != len(infos) or not types:
        raise TxError(21101, "invalid tx info")
    if len(types) > MAX_BATCH:
        raise TxError(21514, "too many txs in batch")
    checked: list = []
    for i, (t, raw) in enumerate(zip(types, infos)):
        if not isinstance(t, int):
            raise TxError(21100, f"invalid tx type {t}")
        if i == 0:
            info = first = check_tx(sim, t, raw, consume=False)
        else:
            owner, nonce = _peek(raw)
            if owner != (first[owner_field(types[0])], first["ApiKeyIndex"]):
                raise TxError(21121, "batch txs must share account and api key")
            if nonce != first["Nonce"] + i:
                raise TxError(21105, "batch nonces must increase by one")
            info = check_tx(sim, t, raw, expect_nonce=nonce, consume=False)
        checked.append((t, info))
    first_key = (first[owner_field(types[0])], first["ApiKeyIndex"])
    sim.nonces[first_key] = sim.nonces.get(first_key, 0) + len(checked)
    sim.txs.extend(checked)
    sim.pending_txs.extend(checked)
    answer = sent_answer()
    answer["tx_hash"] = [secrets.token_hex(40) for _ in checked]
    for h, (t, info) in zip(answer["tx_hash"], checked):
        remember(sim, h, t, info)
    return answer


MAX_REMEMBERED = 10_000


def remember(sim, tx_hash: str, tx_type: int, info: dict) -> None:
    """Keep a sequenced tx under its hash for GET /api/v1/tx (the oldest dropped past MAX_REMEMBERED)."""
    sim.tx_hashes[tx_hash] = {"type": tx_type, "info": info, "queued_at": int(time.time() * 1000)}
    if len(sim.tx_hashes) > MAX_REMEMBERED:
        del sim.tx_hashes[next(iter(sim.tx_hashes))]


def _peek(raw):
    try:
        info = raw if isinstance(raw, dict) else json.loads(raw)
        return (info.get("AccountIndex", info.get("FromAccountIndex")), info.get("ApiKeyIndex")), info.get("Nonce")
    except (TypeError, ValueError, AttributeError):
        return None, None


def sent_answer() -> dict:
    return {"code": 200, "message": '{"ratelimit": "Ratelimit is off"}', "tx_hash": secrets.token_hex(40),
            "predicted_execution_time_ms": int(time.time() * 1000) + 200}
