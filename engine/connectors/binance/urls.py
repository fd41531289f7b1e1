"""Binance endpoints as data: one row per environment (docs/binance.md, "Endpoints")."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BinanceEndpoints:
    rest: str  # base URL, e.g. https://api.binance.com (paths add /api/v3/...)
    ws: str  # market streams base, e.g. wss://stream.binance.com:9443 (paths add /stream?streams=)
    ws_api: str  # WS API full URL, e.g. wss://ws-api.binance.com:443/ws-api/v3

    def __post_init__(self):
        for name in ("rest", "ws", "ws_api"):
            object.__setattr__(self, name, getattr(self, name).rstrip("/"))


MAINNET = BinanceEndpoints("https://api.binance.com", "wss://stream.binance.com:9443",
                           "wss://ws-api.binance.com:443/ws-api/v3")
TESTNET = BinanceEndpoints("https://testnet.binance.vision", "wss://stream.testnet.binance.vision",
                           "wss://ws-api.testnet.binance.vision/ws-api/v3")
ENVIRONMENTS = {"mainnet": MAINNET, "testnet": TESTNET}
