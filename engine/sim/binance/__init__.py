"""Embedded Binance spot simulator: REST, market streams and WS API on 127.0.0.1, with fault injection."""
from .server import BinanceSimulator

__all__ = ["BinanceSimulator"]
