"""Binance USD-M futures connector (docs/binance_futures.md, "Connector")."""
