"""Binance's settings from the environment: BINANCE_API_KEY, BINANCE_API_SECRET, BINANCE_TESTNET.

Imports only ``engine.config``: the settings are read before (and without) any connector or network code.
Market data needs no keys; ``require_trading_keys()`` is called only when trading live.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from engine.config import Secret, VenueSettings, parse_bool, parse_secret


@dataclass(frozen=True)
class BinanceSettings(VenueSettings):
    api_key: Optional[Secret] = None
    api_secret: Optional[Secret] = None
    testnet: bool = False

    venue = "binance"
    env_vars = {"api_key": "BINANCE_API_KEY", "api_secret": "BINANCE_API_SECRET", "testnet": "BINANCE_TESTNET"}
    secret_fields = ("api_key", "api_secret")
    trading_keys = ("api_key", "api_secret")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "BinanceSettings":
        return cls(api_key=parse_secret(env, "BINANCE_API_KEY"), api_secret=parse_secret(env, "BINANCE_API_SECRET"),
                   testnet=parse_bool(env, "BINANCE_TESTNET", False))
