"""Lighter's settings from the environment: LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX,
LIGHTER_API_PRIVATE_KEY, LIGHTER_TESTNET, LIGHTER_TX_TIMEOUT_S, LIGHTER_TX_DEADLINE_MARGIN_S.

- LIGHTER_TX_TIMEOUT_S (seconds, default 10, from more than 0 to 120): how long a transaction's answer on
  the stream socket (jsonapi/sendtx) is awaited; past it the outcome is unknown and the order is reconciled
  (an answer that comes later is counted in health()'s ``late_answers``). sendTx over REST keeps the
  connector's REST ``timeout_s``.
- LIGHTER_TX_DEADLINE_MARGIN_S (seconds, default 5, 0 to 300): added to a transaction's ExpiredAt (after
  which the venue cannot execute it) before an order the venue never showed is given up as never placed:
  the venue's clock may run behind ours.

Each is also a LighterConnector keyword (``tx_timeout_s``, ``tx_deadline_margin_s``), checked the same way.

Imports only ``engine.config``: the settings are read before (and without) any connector, signer or
network code. Market data needs none of them; ``require_trading_keys()`` is called only when trading live.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from engine.config import ConfigError, Secret, VenueSettings, parse_bool, parse_int, parse_secret

DEFAULT_TX_TIMEOUT_S = 10.0
MAX_TX_TIMEOUT_S = 120.0
DEFAULT_TX_DEADLINE_MARGIN_S = 5.0
MAX_TX_DEADLINE_MARGIN_S = 300.0

_HEX = frozenset("0123456789abcdefABCDEF")
# order n of the ECgFp5 group, the curve of Lighter's signer (docs/lighter.md, "API keys"): a private key is a
# scalar modulo n, 40 bytes little-endian
ECGFP5_ORDER = 1067993516717146951041484916571792702745057740581727230159139685185762082554198619328292418486241
PRIVATE_KEY_VAR = "LIGHTER_API_PRIVATE_KEY"


def private_key_problem(value: str) -> Optional[str]:
    """Why ``value`` is not a usable Lighter API private key, or None. Never contains the value.

    80 hex digits (0x optional), read as a little-endian integer that must not be a multiple of the group
    order (0, n or 2n: the zero scalar, whose public key is the identity and whose signatures prove nothing).
    The signer library itself accepts any 40 bytes, the all-zero key included, so this is the only check.
    """
    digits = value[2:] if value[:2].lower() == "0x" else value
    if len(digits) != 80 or not _HEX.issuperset(digits):
        return f"not a Lighter API private key (80 hex digits, 0x optional; got {len(digits)} characters)"
    if int.from_bytes(bytes.fromhex(digits), "little") % ECGFP5_ORDER == 0:
        return ("not a valid Lighter API private key: it is the zero scalar of the signer's curve (all zeros, "
                "or a multiple of the ECgFp5 group order); generate a key with the signer")
    return None


def check_private_key(value: Optional[str], var: str = PRIVATE_KEY_VAR) -> None:
    """Raise ConfigError (one line naming ``var``, never the value) if ``value`` is set and unusable."""
    if value is not None:
        why = private_key_problem(value)
        if why is not None:
            raise ConfigError(f"{var} is {why}")


def check_seconds(value, var: str, *, zero_ok: bool, hi: float) -> float:
    """``value`` as seconds if it is a finite number in range (above 0, or from 0 with ``zero_ok``, up to
    ``hi``), else ConfigError naming ``var`` and the range, never the value."""
    lo = "0" if zero_ok else "more than 0"
    why = f"{var} must be a number of seconds, {lo} to {hi:g}"
    if isinstance(value, bool):
        raise ConfigError(why)
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(why) from None
    if not (v >= 0 if zero_ok else v > 0) or not v <= hi:  # NaN fails both
        raise ConfigError(why)
    return v


def parse_seconds(env: Mapping[str, str], var: str, default: float, *, zero_ok: bool, hi: float) -> float:
    raw = env.get(var)
    if raw is None or raw.strip() == "":
        return default
    return check_seconds(raw.strip(), var, zero_ok=zero_ok, hi=hi)


def parse_private_key(env: Mapping[str, str], var: str) -> Optional[Secret]:
    """An API private key is 40 bytes: 80 hex digits, with or without 0x, and not the zero scalar
    (``private_key_problem``); the value is never echoed."""
    key = parse_secret(env, var)
    if key is not None:
        check_private_key(key.value, var)
    return key


@dataclass(frozen=True)
class LighterSettings(VenueSettings):
    account_index: Optional[int] = None
    api_key_index: Optional[int] = None
    api_private_key: Optional[Secret] = None
    testnet: bool = False
    tx_timeout_s: float = DEFAULT_TX_TIMEOUT_S
    tx_deadline_margin_s: float = DEFAULT_TX_DEADLINE_MARGIN_S

    venue = "lighter"
    env_vars = {"account_index": "LIGHTER_ACCOUNT_INDEX", "api_key_index": "LIGHTER_API_KEY_INDEX",
                "api_private_key": "LIGHTER_API_PRIVATE_KEY", "testnet": "LIGHTER_TESTNET",
                "tx_timeout_s": "LIGHTER_TX_TIMEOUT_S", "tx_deadline_margin_s": "LIGHTER_TX_DEADLINE_MARGIN_S"}
    secret_fields = ("api_private_key",)
    trading_keys = ("account_index", "api_key_index", "api_private_key")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "LighterSettings":
        return cls(
            account_index=parse_int(env, "LIGHTER_ACCOUNT_INDEX", 1, 2 ** 63 - 1, "an account index is 1..2^63-1"),
            # 0 and 1 are the web and mobile apps' keys, 255 only a query sentinel: never sign with them
            api_key_index=parse_int(env, "LIGHTER_API_KEY_INDEX", 2, 254, "usable API key indexes are 2..254 "
                                    "(0 and 1 belong to the Lighter apps, 255 is a sentinel)"),
            api_private_key=parse_private_key(env, PRIVATE_KEY_VAR),
            testnet=parse_bool(env, "LIGHTER_TESTNET", False),
            tx_timeout_s=parse_seconds(env, "LIGHTER_TX_TIMEOUT_S", DEFAULT_TX_TIMEOUT_S, zero_ok=False,
                                       hi=MAX_TX_TIMEOUT_S),
            tx_deadline_margin_s=parse_seconds(env, "LIGHTER_TX_DEADLINE_MARGIN_S", DEFAULT_TX_DEADLINE_MARGIN_S,
                                               zero_ok=True, hi=MAX_TX_DEADLINE_MARGIN_S),
        )
