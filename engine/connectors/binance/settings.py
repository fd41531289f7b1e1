"""Binance's settings from the environment: BINANCE_API_KEY, BINANCE_API_SECRET, BINANCE_TESTNET,
BINANCE_ED25519_API_KEY, BINANCE_ED25519_PRIVATE_KEY, BINANCE_ORDER_ENTRY.

Imports only ``engine.config``: the settings are read before (and without) any connector or network code.
Market data needs no keys; ``require_trading_keys()`` is called only when trading live.

The HMAC key (BINANCE_API_KEY / BINANCE_API_SECRET) signs REST. An Ed25519 key (its own API key,
BINANCE_ED25519_API_KEY, and its private key, BINANCE_ED25519_PRIVATE_KEY: PEM text, or the base64 of the
32-byte seed or of the PKCS#8 DER) logs the WebSocket API session on (``session.logon``). BINANCE_ORDER_ENTRY
chooses where orders go: ``rest`` (the default) or ``ws`` (the WebSocket API, falling back to REST while its
socket is down).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from engine.config import ConfigError, Secret, VenueSettings, parse_bool, parse_secret

ORDER_ENTRY = ("rest", "ws")


def parse_order_entry(env: Mapping[str, str], var: str = "BINANCE_ORDER_ENTRY") -> str:
    raw = (env.get(var) or "").strip().lower()
    if not raw:
        return "rest"
    if raw not in ORDER_ENTRY:
        raise ConfigError(f"{var}={raw!r}; valid: {', '.join(ORDER_ENTRY)}")
    return raw


@dataclass(frozen=True)
class BinanceSettings(VenueSettings):
    api_key: Optional[Secret] = None
    api_secret: Optional[Secret] = None
    testnet: bool = False
    ed25519_api_key: Optional[Secret] = None
    ed25519_private_key: Optional[Secret] = None
    order_entry: str = "rest"

    venue = "binance"
    env_vars = {"api_key": "BINANCE_API_KEY", "api_secret": "BINANCE_API_SECRET", "testnet": "BINANCE_TESTNET",
                "ed25519_api_key": "BINANCE_ED25519_API_KEY", "ed25519_private_key": "BINANCE_ED25519_PRIVATE_KEY",
                "order_entry": "BINANCE_ORDER_ENTRY"}
    secret_fields = ("api_key", "api_secret", "ed25519_api_key", "ed25519_private_key")
    trading_keys = ("api_key", "api_secret")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "BinanceSettings":
        return cls(api_key=parse_secret(env, "BINANCE_API_KEY"), api_secret=parse_secret(env, "BINANCE_API_SECRET"),
                   testnet=parse_bool(env, "BINANCE_TESTNET", False),
                   ed25519_api_key=parse_secret(env, "BINANCE_ED25519_API_KEY"),
                   ed25519_private_key=parse_secret(env, "BINANCE_ED25519_PRIVATE_KEY"),
                   order_entry=parse_order_entry(env))
