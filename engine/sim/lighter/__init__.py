"""Embedded Lighter (zkLighter perps) simulator: REST under /api/v1 and the /stream WebSocket on 127.0.0.1."""
from .server import LighterSimulator

__all__ = ["LighterSimulator"]
