"""Binance USD-M futures endpoints as data (docs/binance_futures.md, "Endpoints"): the REST base (paths add
/fapi/...), the stream base (the routes /public, /market, /private are added per stream kind) and the WS API."""
from __future__ import annotations

from dataclasses import dataclass

from engine.connectors.binance.urls import BinanceEndpoints

# stream kind -> route (docs/binance_futures.md, "Streams"): a stream on another route gets nothing
ROUTES = {"depth": "public", "bookTicker": "public", "aggTrade": "market", "markPrice": "market",
          "kline": "market", "user": "private"}


@dataclass(frozen=True)
class FuturesEndpoints:
    rest: str  # e.g. https://fapi.binance.com
    ws: str  # stream base without a route, e.g. wss://fstream.binance.com
    ws_api: str  # e.g. wss://ws-fapi.binance.com/ws-fapi/v1

    def __post_init__(self):
        for name in ("rest", "ws", "ws_api"):
            object.__setattr__(self, name, getattr(self, name).rstrip("/"))

    def route(self, route: str) -> BinanceEndpoints:
        """The spot-shaped endpoints whose ``ws`` is this route's base (``<ws>/<route>``)."""
        return BinanceEndpoints(self.rest, f"{self.ws}/{route}", self.ws_api)


MAINNET = FuturesEndpoints("https://fapi.binance.com", "wss://fstream.binance.com",
                           "wss://ws-fapi.binance.com/ws-fapi/v1")
TESTNET = FuturesEndpoints("https://demo-fapi.binance.com", "wss://fstream.binancefuture.com",
                           "wss://testnet.binancefuture.com/ws-fapi/v1")
ENVIRONMENTS = {"mainnet": MAINNET, "testnet": TESTNET}
