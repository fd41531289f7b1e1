"""Lighter's settings from the environment: LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX,
LIGHTER_API_PRIVATE_KEY, LIGHTER_TESTNET.

Imports only ``engine.config``: the settings are read before (and without) any connector, signer or
network code. Market data needs none of them; ``require_trading_keys()`` is called only when trading live.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from engine.config import ConfigError, Secret, VenueSettings, parse_bool, parse_int, parse_secret

_HEX = frozenset("0123456789abcdefABCDEF")


def parse_private_key(env: Mapping[str, str], var: str) -> Optional[Secret]:
    """An API private key is 40 bytes: 80 hex digits, with or without 0x (the value is never echoed)."""
    key = parse_secret(env, var)
    if key is not None:
        digits = key.value[2:] if key.value[:2].lower() == "0x" else key.value
        if len(digits) != 80 or not _HEX.issuperset(digits):
            raise ConfigError(f"{var} is not a Lighter API private key (80 hex digits, 0x optional; "
                              f"got {len(digits)} characters)")
    return key


@dataclass(frozen=True)
class LighterSettings(VenueSettings):
    account_index: Optional[int] = None
    api_key_index: Optional[int] = None
    api_private_key: Optional[Secret] = None
    testnet: bool = False

    venue = "lighter"
    env_vars = {"account_index": "LIGHTER_ACCOUNT_INDEX", "api_key_index": "LIGHTER_API_KEY_INDEX",
                "api_private_key": "LIGHTER_API_PRIVATE_KEY", "testnet": "LIGHTER_TESTNET"}
    secret_fields = ("api_private_key",)
    trading_keys = ("account_index", "api_key_index", "api_private_key")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "LighterSettings":
        return cls(
            account_index=parse_int(env, "LIGHTER_ACCOUNT_INDEX", 1, 2 ** 63 - 1, "an account index is 1..2^63-1"),
            # 0 and 1 are the web and mobile apps' keys, 255 only a query sentinel: never sign with them
            api_key_index=parse_int(env, "LIGHTER_API_KEY_INDEX", 2, 254, "usable API key indexes are 2..254 "
                                    "(0 and 1 belong to the Lighter apps, 255 is a sentinel)"),
            api_private_key=parse_private_key(env, "LIGHTER_API_PRIVATE_KEY"),
            testnet=parse_bool(env, "LIGHTER_TESTNET", False),
        )
