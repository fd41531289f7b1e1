"""Lighter endpoints as data (docs/lighter.md, "Endpoints")."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LighterEndpoints:
    rest: str  # e.g. https://mainnet.zklighter.elliot.ai (paths add /api/v1/...)
    ws: str  # e.g. wss://mainnet.zklighter.elliot.ai/stream
    chain_id: int = 304


MAINNET = LighterEndpoints("https://mainnet.zklighter.elliot.ai", "wss://mainnet.zklighter.elliot.ai/stream", 304)
TESTNET = LighterEndpoints("https://testnet.zklighter.elliot.ai", "wss://testnet.zklighter.elliot.ai/stream", 300)
ENVIRONMENTS = {"mainnet": MAINNET, "testnet": TESTNET}
