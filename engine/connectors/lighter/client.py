"""LighterConnector: the seed's Lighter connector. Market data is here; trading (signed sendTx through the
lighter-sdk signer, nonce lanes, the account stream) is being built under issue #4 and raises a clear
NotImplementedError until then."""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import AsyncIterator, Optional

from engine.connectors.base import BaseConnector, ConnectorState
from engine.models import OrderBookSnapshot
from engine.symbols import Symbol, SymbolMap

from .http import LighterHttp
from .urls import ENVIRONMENTS, LighterEndpoints
from .ws_orderbook import LighterMarketData

TRADING_TODO = ("Lighter trading (signed orders via the lighter-sdk signer, nonces, account streams) is not "
                "built yet (issue #4); market data works")


class LighterConnector(BaseConnector):
    name = "lighter"

    def __init__(self, config=None, *, endpoints: Optional[LighterEndpoints] = None, testnet: bool = False,
                 timeout_s: float = 10.0):
        super().__init__()
        if config is not None:
            testnet = testnet or bool(getattr(config, "lighter_testnet", False))
        self.endpoints = endpoints or ENVIRONMENTS["testnet" if testnet else "mainnet"]
        self.http = LighterHttp(self.endpoints, timeout_s=timeout_s)
        self.market = LighterMarketData(self.endpoints.ws)
        self.markets: dict[str, dict] = {}  # native symbol -> orderBookDetails row
        self.symbols = SymbolMap("lighter")

    def __repr__(self) -> str:
        return f"LighterConnector(rest={self.endpoints.rest!r}, state={self.state.value})"

    async def connect(self) -> None:
        self.state = ConnectorState.CONNECTING
        try:
            details = await self.http.get("/api/v1/orderBookDetails")
        except Exception:
            await self.http.close()
            self.state = ConnectorState.DISCONNECTED
            raise
        for row in details.get("order_book_details", ()):
            self.markets[row["symbol"]] = row
            # perps are USDC-margined; ETH-USDT is accepted as an alias so one symbol names both venues
            self.symbols.add(Symbol(row["symbol"], "USDC"), row["symbol"])
            self.symbols.add(Symbol(row["symbol"], "USDT"), row["symbol"])
        await self.market.start()
        self.state = ConnectorState.LIVE

    async def disconnect(self) -> None:
        await self.market.stop()
        await self.http.close()
        self.state = ConnectorState.CLOSED

    def native(self, symbol) -> str:
        return self.symbols.native(symbol)

    def market_info(self, symbol) -> dict:
        return self.markets[self.native(symbol)]

    async def add_book(self, symbol, callback=None):
        m = self.market_info(symbol)
        return await self.market.add_book(m["market_id"], m["symbol"], m["price_decimals"], m["size_decimals"],
                                          callback)

    async def add_trades(self, symbol, callback) -> None:
        await self.market.add_trades(self.market_info(symbol)["market_id"], callback)

    def book_latency(self):
        return self.market.listener.latency.snapshot() if self.market.listener is not None else None

    # -- market data
    async def get_orderbook(self, symbol: str, limit: int = 100) -> OrderBookSnapshot:
        m = self.market_info(symbol)
        body = await self.http.get("/api/v1/orderBookOrders", {"market_id": m["market_id"], "limit": min(limit, 250)})

        def levels(rows, reverse):
            agg: dict = {}
            for r in rows:
                p = Decimal(r["price"])
                agg[p] = agg.get(p, Decimal(0)) + Decimal(r["remaining_base_amount"])
            return [(float(p), float(q)) for p, q in sorted(agg.items(), reverse=reverse)][:limit]

        return OrderBookSnapshot("lighter", str(self.symbols.unified(m["symbol"])), levels(body["bids"], True),
                                 levels(body["asks"], False))

    async def get_candlesticks(self, symbol, interval="1m", limit=100, start_ms=None, end_ms=None):
        raise NotImplementedError("Lighter candles (/api/v1/candles) are not wired yet (issue #4)")

    async def get_ticker_price(self, symbol: str) -> Decimal:
        m = self.market_info(symbol)
        body = await self.http.get("/api/v1/orderBookDetails", {"market_id": m["market_id"]})
        return Decimal(str(body["order_book_details"][0]["last_trade_price"]))

    async def stream_orderbook(self, symbol: str) -> AsyncIterator:
        lb = await self.add_book(symbol)
        while True:
            await lb.changed.wait()
            lb.changed.clear()
            yield lb.book

    async def stream_trades(self, symbol: str) -> AsyncIterator:
        m = self.market_info(symbol)
        queue: asyncio.Queue = asyncio.Queue(maxsize=10_000)

        def put(t):
            if queue.full():
                queue.get_nowait()
            queue.put_nowait(t)

        await self.market.add_trades(m["market_id"], put)
        while True:
            yield await queue.get()

    # -- trading: issue #4
    async def get_account(self):
        raise NotImplementedError(TRADING_TODO)

    async def create_order(self, *a, **k):
        raise NotImplementedError(TRADING_TODO)

    async def cancel_order(self, *a, **k):
        raise NotImplementedError(TRADING_TODO)

    async def cancel_all_orders(self, symbol):
        raise NotImplementedError(TRADING_TODO)

    async def get_order(self, *a, **k):
        raise NotImplementedError(TRADING_TODO)

    async def get_open_orders(self, symbol=None):
        raise NotImplementedError(TRADING_TODO)

    def get_user_data_stream(self):
        raise NotImplementedError(TRADING_TODO)

    def health(self) -> dict:
        return {"exchange": "lighter", "state": self.state.value, "books": self.market.health(),
                "ws_disconnects": self.market.disconnects}
