"""Binance USD-M futures settings from the environment: BINANCE_FUTURES_API_KEY, BINANCE_FUTURES_API_SECRET
(secrets), BINANCE_FUTURES_TESTNET, and the URL overrides BINANCE_FUTURES_REST_URL, BINANCE_FUTURES_WS_URL
(the stream base, routes are added), BINANCE_FUTURES_WS_API_URL. Imports only ``engine.config``."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Optional

from engine.config import Secret, VenueSettings, parse_bool, parse_secret


@dataclass(frozen=True)
class BinanceFuturesSettings(VenueSettings):
    api_key: Optional[Secret] = None
    api_secret: Optional[Secret] = None
    testnet: bool = False
    rest_url: str = ""
    ws_url: str = ""
    ws_api_url: str = ""

    venue = "binance_futures"
    env_vars = {"api_key": "BINANCE_FUTURES_API_KEY", "api_secret": "BINANCE_FUTURES_API_SECRET",
                "testnet": "BINANCE_FUTURES_TESTNET", "rest_url": "BINANCE_FUTURES_REST_URL",
                "ws_url": "BINANCE_FUTURES_WS_URL", "ws_api_url": "BINANCE_FUTURES_WS_API_URL"}
    secret_fields = ("api_key", "api_secret")
    trading_keys = ("api_key", "api_secret")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "BinanceFuturesSettings":
        return cls(api_key=parse_secret(env, "BINANCE_FUTURES_API_KEY"),
                   api_secret=parse_secret(env, "BINANCE_FUTURES_API_SECRET"),
                   testnet=parse_bool(env, "BINANCE_FUTURES_TESTNET", False),
                   rest_url=(env.get("BINANCE_FUTURES_REST_URL") or "").strip(),
                   ws_url=(env.get("BINANCE_FUTURES_WS_URL") or "").strip(),
                   ws_api_url=(env.get("BINANCE_FUTURES_WS_API_URL") or "").strip())
