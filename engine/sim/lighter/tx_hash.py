"""The message a Lighter transaction's Schnorr signature signs, computed from its tx_info JSON.

Every L2 transaction hashes, with Poseidon2 to one GF(p^5) element (poseidon2.py), the GF(p) elements

    chain id, tx type, Nonce, ExpiredAt, then the type's own fields in the order of FIELDS below

(an integer field enters as its 64-bit two's complement, reduced mod p; the 64-bit amounts marked ``:split``
enter as two elements, the low 32 bits then the high 32 bits). If the transaction carries non-nil
L2TxAttributes, the message is instead Poseidon2(tx hash limbs || attributes hash limbs), the attributes
hash being Poseidon2 of 4 (type, value) pairs: the non-nil attribute types in ascending order, padded with
(0, 0). An auth token's message is its ``deadline:account:api_key`` text cut in 8-byte little-endian
chunks (the last one zero-padded), hashed the same way. The field orders and nil values are transcribed
from the public sources in docs/lighter.md "Signatures"; the chain id the simulator plays is the mainnet
one, 304 (the connector's default, docs/lighter.md).
"""
from __future__ import annotations

import base64
import binascii
from typing import Optional

from . import goldilocks as gf
from . import schnorr
from .poseidon2 import hash_to_four, hash_to_quintic

CHAIN_ID = 304
U64 = 1 << 64

_ACCT = ("AccountIndex", "ApiKeyIndex")
FIELDS = {
    8: (*_ACCT, "PubKey:fp5"),  # ChangePubKey
    9: _ACCT,  # CreateSubAccount
    10: (*_ACCT, "OperatorFee", "InitialTotalShares", "MinOperatorShareRate"),  # CreatePublicPool
    11: (*_ACCT, "PublicPoolIndex", "Status", "OperatorFee", "MinOperatorShareRate"),  # UpdatePublicPool
    12: ("FromAccountIndex", "ApiKeyIndex", "ToAccountIndex", "AssetIndex", "FromRouteType", "ToRouteType",
         "Amount:split", "USDCFee:split"),  # Transfer
    13: ("FromAccountIndex", "ApiKeyIndex", "AssetIndex", "RouteType", "Amount:split"),  # Withdraw
    14: (*_ACCT, "MarketIndex", "ClientOrderIndex", "BaseAmount", "Price", "IsAsk", "Type", "TimeInForce",
         "ReduceOnly", "TriggerPrice", "OrderExpiry"),  # CreateOrder
    15: (*_ACCT, "MarketIndex", "Index"),  # CancelOrder
    16: (*_ACCT, "TimeInForce", "Time"),  # CancelAllOrders
    17: (*_ACCT, "MarketIndex", "Index", "BaseAmount", "Price", "TriggerPrice"),  # ModifyOrder
    18: (*_ACCT, "PublicPoolIndex", "ShareAmount"),  # MintShares
    19: (*_ACCT, "PublicPoolIndex", "ShareAmount"),  # BurnShares
    20: (*_ACCT, "MarketIndex", "InitialMarginFraction", "MarginMode"),  # UpdateLeverage
    28: (*_ACCT, "GroupingType", "Orders:orders"),  # CreateGroupedOrders
    29: (*_ACCT, "MarketIndex", "USDCAmount:split", "Direction"),  # UpdateMargin
    35: (*_ACCT, "StakingPoolIndex", "ShareAmount"),  # StakeAssets
    36: (*_ACCT, "StakingPoolIndex", "ShareAmount"),  # UnstakeAssets
    41: (*_ACCT, "AccountTradingMode"),  # UpdateAccountConfig
    42: (*_ACCT, "AssetIndex", "AssetMarginMode"),  # UpdateAccountAssetConfig
    45: (*_ACCT, "IntegratorAccountIndex", "MaxPerpsTakerFee", "MaxPerpsMakerFee", "MaxSpotTakerFee",
         "MaxSpotMakerFee", "ApprovalExpiry"),  # ApproveIntegrator
}
# each grouped order hashes to a 4-element digest; the digests chain as H(acc || next)
ORDER_FIELDS = ("MarketIndex", "ClientOrderIndex", "BaseAmount", "Price", "IsAsk", "Type", "TimeInForce",
                "ReduceOnly", "TriggerPrice", "OrderExpiry")
# L2TxAttributes type -> its nil value (an attribute at its nil value is left out of the hash)
ATTRIBUTE_NIL = {1: 0, 2: 0, 3: 0, 4: 0, 5: 255, 6: 0, 7: 0, 8: 0}
ATTRIBUTES_PER_TX = 4


class UnhashableTx(ValueError):
    """The tx_info lacks a field its hash needs, or has one of the wrong kind."""


def _int(info: dict, name: str) -> int:
    v = info.get(name)
    if type(v) is not int:
        raise UnhashableTx(f"{name} is not an integer")
    return v % U64


def _bytes(v) -> bytes:
    """A Go []byte as JSON: base64 text (or a list of byte values)."""
    if isinstance(v, str):
        try:
            return base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise UnhashableTx("not base64") from None
    if isinstance(v, list) and all(type(b) is int and 0 <= b < 256 for b in v):
        return bytes(v)
    raise UnhashableTx("not a byte string")


def _elements(info: dict, fields) -> list:
    out: list = []
    for f in fields:
        name, _, kind = f.partition(":")
        if kind == "split":
            v = _int(info, name)
            out += [v & 0xFFFFFFFF, v >> 32]
        elif kind == "fp5":
            try:
                out += list(gf.from_bytes(_bytes(info.get(name))))
            except ValueError as ex:
                raise UnhashableTx(f"{name}: {ex}") from None
        elif kind == "orders":
            orders = info.get(name)
            if not isinstance(orders, list) or not orders or not all(isinstance(o, dict) for o in orders):
                raise UnhashableTx(f"{name} is not a list of orders")
            acc = None
            for o in orders:
                h = hash_to_four([_int(o, k) for k in ORDER_FIELDS])
                acc = h if acc is None else hash_to_four(list(acc) + list(h))
            out += list(acc)
        else:
            out.append(_int(info, name))
    return out


def _attributes(info: dict) -> list:
    """The non-nil (type, value) pairs of L2TxAttributes, types ascending; UnhashableTx if malformed."""
    raw = info.get("L2TxAttributes")
    if raw is None:
        return []
    if not isinstance(raw, dict):
        raise UnhashableTx("L2TxAttributes is not an object")
    pairs = []
    for k, v in raw.items():
        try:
            t = int(k)
        except (TypeError, ValueError):
            raise UnhashableTx(f"attribute type {k!r}") from None
        if type(v) is not int or not 0 < t < 256:
            raise UnhashableTx(f"attribute {k!r}")
        if v != ATTRIBUTE_NIL.get(t, 0):
            pairs.append((t, v % U64))
    if len(pairs) > ATTRIBUTES_PER_TX:
        raise UnhashableTx("too many attributes")
    return sorted(pairs)


def tx_message(tx_type: int, info: dict, chain_id: int = CHAIN_ID) -> bytes:
    """The 40-byte message hash the signer signed for this tx (UnhashableTx for an unknown type or a
    missing/malformed field)."""
    fields = FIELDS.get(tx_type)
    if fields is None:
        raise UnhashableTx(f"no hash known for tx type {tx_type}")
    elems = [chain_id, tx_type, _int(info, "Nonce"), _int(info, "ExpiredAt"), *_elements(info, fields)]
    h = hash_to_quintic(elems)
    attrs = _attributes(info)
    if attrs:
        flat = [x for pair in attrs + [(0, 0)] * (ATTRIBUTES_PER_TX - len(attrs)) for x in pair]
        h = hash_to_quintic(list(h) + list(hash_to_quintic(flat)))
    return gf.to_bytes(h)


def tx_signature(info: dict) -> Optional[bytes]:
    """The 80 signature bytes of tx_info's Sig (base64), or None."""
    try:
        sig = _bytes(info.get("Sig"))
    except UnhashableTx:
        return None
    return sig if len(sig) == 80 else None


def verify_tx(tx_type: int, info: dict, public_key_hex: str, chain_id: int = CHAIN_ID) -> bool:
    """Whether tx_info's Sig is a valid signature of its message under ``public_key_hex`` (80 hex, the
    account's registered API key). A ChangePubKey (type 8) is checked against the key it registers, the
    one its signer holds (the simulator's reading; the venue's choice is not captured)."""
    sig = tx_signature(info)
    if sig is None:
        return False
    try:
        msg = tx_message(tx_type, info, chain_id)
        key = _bytes(info.get("PubKey")) if tx_type == 8 else bytes.fromhex(public_key_hex.removeprefix("0x"))
    except (UnhashableTx, ValueError, AttributeError):
        return False
    return schnorr.verify(key, msg, sig)


def auth_message(text: str) -> bytes:
    """The 40-byte message hash of an auth token's ``deadline:account:api_key`` text."""
    raw = text.encode()
    raw += b"\0" * (-len(raw) % 8)
    return gf.to_bytes(hash_to_quintic([int.from_bytes(raw[i:i + 8], "little") for i in range(0, len(raw), 8)]))


def verify_auth_token(token: str, public_key_hex: str) -> bool:
    """Whether ``deadline:account:api_key:<160 hex>`` carries a valid signature of its first three parts."""
    text, _, sig_hex = str(token).rpartition(":")
    try:
        sig = bytes.fromhex(sig_hex)
        key = bytes.fromhex(public_key_hex.removeprefix("0x"))
    except ValueError:
        return False
    return len(sig) == 80 and schnorr.verify(key, auth_message(text), sig)


def registered_key(sim, key: tuple) -> str:
    """The public key (hex) the simulator has registered for ``(account, api key index)``: the one a
    ChangePubKey set (``sim.account.public_keys``), else the simulator's own ``sim.api_public_key``, the same
    key GET /api/v1/apikeys answers."""
    keys = getattr(getattr(sim, "account", None), "public_keys", None) or {}
    return keys.get(key) or sim.api_public_key


def signature_ok(sim, tx_type: int, info: dict, key: tuple) -> bool:
    """tx.py's hook: whether the tx is signed by the key registered for ``key`` (see verify_tx)."""
    return verify_tx(tx_type, info, registered_key(sim, key))
