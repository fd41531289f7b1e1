"""Binance spot connector: REST over aiohttp, market streams over picows into the compiled book."""
