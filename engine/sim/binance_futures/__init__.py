"""Embedded Binance USD-M futures simulator: REST (/fapi), the split market/user streams (/public, /market,
/private) on 127.0.0.1, positions, funding, liquidation and fault injection (docs/binance_futures.md)."""
from .server import BinanceFuturesSimulator

__all__ = ["BinanceFuturesSimulator"]
