"""Lighter (zkLighter perps) connector: REST over aiohttp, order books over picows into the compiled book."""
