"""LighterConnector: the seed's Lighter connector.

Market data: order books over picows into the compiled book, trades, REST reads. Orders: signed by the
official signer library on a worker thread (the ``lighter`` extra), numbered by a nonce lane per API key,
sent with sendTx; a nonce conflict (21104) refreshes the lane from nextNonce and retries once. sendTx's 200
means *sequenced*: orders come back as SUBMITTED and their fate arrives on the account stream
(``get_user_data_stream()``: ``account_all_orders`` with rotated auth tokens). Order lookups over REST
(``get_order``/``get_open_orders``, accountActiveOrders with an auth token) are still to come (issue #4).
"""
from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import AsyncIterator, Optional

import secrets
import time
from decimal import ROUND_CEILING, ROUND_FLOOR

from engine.connectors.base import BaseConnector, ConnectorState
from engine.errors import NonceConflictError, OrderRejectedError
from engine.models import (Balance, Candle, OrderBookSnapshot, OrderStatus, OrderType, OrderUpdate, Side,
                           TimeInForce)
from engine.symbols import Symbol, SymbolMap

from .http import LighterHttp
from .nonce import NonceLane
from .urls import ENVIRONMENTS, LighterEndpoints
from .ws_orderbook import LighterMarketData

TRADING_TODO = ("Lighter order lookups over REST (accountActiveOrders) are not built yet (issue #4); the "
                "account stream reports every order change")
MAX_COI = 2 ** 48 - 1


class LighterConnector(BaseConnector):
    name = "lighter"

    def __init__(self, config=None, *, endpoints: Optional[LighterEndpoints] = None, testnet: bool = False,
                 timeout_s: float = 10.0, account_index: Optional[int] = None, api_key_index: Optional[int] = None,
                 api_private_key: Optional[str] = None):
        super().__init__()
        if config is not None:
            testnet = testnet or bool(getattr(config, "lighter_testnet", False))
            account_index = account_index if account_index is not None else config.lighter_account_index
            api_key_index = api_key_index if api_key_index is not None else config.lighter_api_key_index
            key = config.lighter_api_private_key
            api_private_key = api_private_key or (key.value if key else None)
        self.account_index, self.api_key_index = account_index, api_key_index
        self._private_key = api_private_key
        self.signer = None
        self.lane: Optional[NonceLane] = None
        self._account_stream = None
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
        if self.signer is not None:
            self.signer.close()
        self.state = ConnectorState.CLOSED

    def _trading(self):
        """The signer and nonce lane, created on first use (the lighter extra is needed only here)."""
        if self.signer is None:
            if self._private_key is None or self.account_index is None or self.api_key_index is None:
                raise OrderRejectedError("lighter trading needs LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX and "
                                         "LIGHTER_API_PRIVATE_KEY", exchange="lighter")
            from .signer import LighterSigner

            self.signer = LighterSigner(self.endpoints.rest, self._private_key, self.account_index,
                                        self.api_key_index, self.endpoints.chain_id)

            async def next_nonce(account, key):
                body = await self.http.get("/api/v1/nextNonce", {"account_index": account, "api_key_index": key})
                return body["nonce"]

            self.lane = NonceLane(self.account_index, self.api_key_index, next_nonce)
        return self.signer, self.lane

    async def _send(self, sign) -> dict:
        """Sign with the next nonce and send; on 21104 refresh the lane and retry exactly once."""
        signer, lane = self._trading()
        for attempt in (1, 2):
            nonce = await lane.take()
            tx_type, tx_info, tx_hash = await sign(nonce)
            try:
                return await self.http.send_tx(tx_type, tx_info)
            except NonceConflictError:
                if attempt == 2:
                    raise
                await lane.on_conflict()
            except Exception:
                lane.forget()  # the outcome is unknown: the next transaction asks the venue where we are
                raise
        raise AssertionError("unreachable")

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
        m = self.market_info(symbol)
        end = end_ms if end_ms is not None else int(time.time() * 1000)
        body = await self.http.get("/api/v1/candles", {
            "market_id": m["market_id"], "resolution": interval, "start_timestamp": start_ms or 0,
            "end_timestamp": end, "count_back": min(limit, 500)})
        step = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "4h": 14_400_000,
                "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000}.get(interval, 60_000)
        d = lambda x: Decimal(str(x))  # noqa: E731 (candle values are JSON floats on Lighter)
        return [Candle(open_time_ms=k["t"], open=d(k["o"]), high=d(k["h"]), low=d(k["l"]), close=d(k["c"]),
                       volume=d(k.get("v", 0)), close_time_ms=k["t"] + step - 1) for k in (body.get("c") or [])]

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

    def new_client_order_id(self) -> str:
        return str(1 + secrets.randbelow(MAX_COI))

    # -- orders
    async def create_order(self, symbol, side, order_type, quantity, price=None, *, stop_price=None,
                           time_in_force=None, client_order_id=None, reduce_only=False) -> OrderUpdate:
        m = self.market_info(symbol)
        side = side if isinstance(side, Side) else Side(str(side).lower())
        otype = order_type if isinstance(order_type, OrderType) else OrderType(str(order_type).lower())
        tif = time_in_force if time_in_force is None or isinstance(time_in_force, TimeInForce) \
            else TimeInForce(str(time_in_force).upper())
        if isinstance(quantity, float) or isinstance(price, float):
            raise TypeError("quantity and price must be Decimal, str or int, not float")
        base = int((Decimal(quantity).scaleb(m["size_decimals"])).to_integral_value(rounding=ROUND_FLOOR))
        if base <= 0:
            raise OrderRejectedError(f"lighter {m['symbol']}: quantity {quantity} rounds to zero at "
                                     f"{m['size_decimals']} decimals", exchange="lighter")
        if price is None:
            raise ValueError("Lighter orders need a price (for market orders: the worst acceptable price)")
        px = int(Decimal(price).scaleb(m["price_decimals"]).to_integral_value(
            rounding=ROUND_FLOOR if side is Side.BUY else ROUND_CEILING))
        if not 0 < px < 2 ** 32:
            raise OrderRejectedError(f"lighter {m['symbol']}: price {price} out of range", exchange="lighter")
        if otype is OrderType.MARKET or tif in (TimeInForce.IOC, TimeInForce.FOK):
            type_code, tif_code, expiry = (1 if otype is OrderType.MARKET else 0), 0, 0
        elif otype is OrderType.LIMIT_MAKER or tif is TimeInForce.POST_ONLY:
            type_code, tif_code, expiry = 0, 2, -1
        elif otype is OrderType.LIMIT:
            type_code, tif_code, expiry = 0, 1, -1
        else:
            raise ValueError(f"{otype.value} orders on Lighter are not wired yet")
        if client_order_id is not None and not str(client_order_id).isdigit():
            raise ValueError(f"a Lighter client order index is an integer (got {client_order_id!r}); "
                             "connector.new_client_order_id() makes one")
        coi = int(client_order_id) if client_order_id is not None else int(self.new_client_order_id())
        if not 0 < coi <= MAX_COI:
            raise ValueError("a Lighter client order index is an integer in 1 .. 2^48-1")

        async def sign(nonce):
            return await self.signer.create_order(
                market_index=m["market_id"], client_order_index=coi, base_amount=base, price=px,
                is_ask=side is Side.SELL, order_type=type_code, time_in_force=tif_code, reduce_only=reduce_only,
                order_expiry=expiry, nonce=nonce)

        await self._send(sign)
        return OrderUpdate(exchange="lighter", symbol=str(self.symbols.unified(m["symbol"])), order_id=None,
                           client_order_id=str(coi), status=OrderStatus.SUBMITTED, side=side, type=otype,
                           price=Decimal(price), quantity=Decimal(base).scaleb(-m["size_decimals"]),
                           timestamp_ms=int(time.time() * 1000))

    async def cancel_order(self, symbol, order_id=None, client_order_id=None) -> OrderUpdate:
        m = self.market_info(symbol)
        index = order_id if order_id is not None else client_order_id  # Lighter takes either (disjoint ranges)
        if index is None:
            raise ValueError("cancel_order needs order_id or client_order_id")

        async def sign(nonce):
            return await self.signer.cancel_order(market_index=m["market_id"], order_index=int(index), nonce=nonce)

        await self._send(sign)
        return OrderUpdate(exchange="lighter", symbol=str(self.symbols.unified(m["symbol"])),
                           order_id=str(order_id) if order_id is not None else None,
                           client_order_id=str(client_order_id) if client_order_id is not None else None,
                           status=OrderStatus.SUBMITTED, timestamp_ms=int(time.time() * 1000))

    async def cancel_all_orders(self, symbol) -> list:
        m = self.market_info(symbol)

        async def sign(nonce):
            return await self.signer.cancel_all(time_in_force=0, time_ms=0, market_index=m["market_id"],
                                                nonce=nonce)

        await self._send(sign)
        return []  # the cancelled orders are reported by the account stream

    # -- account
    async def get_account(self) -> dict:
        """Balances (USDC collateral) from GET /api/v1/account; positions are in ``get_positions``."""
        body = await self._account_body()
        return {a["symbol"]: Balance(a["symbol"], Decimal(a["balance"]), Decimal(a["locked_balance"]))
                for a in body.get("assets", ())}

    async def get_positions(self) -> dict:
        body = await self._account_body()
        return {p["symbol"]: Decimal(p["position"]) * int(p.get("sign", 1)) for p in body.get("positions", ())}

    async def _account_body(self) -> dict:
        if self.account_index is None:
            raise OrderRejectedError("lighter account reads need LIGHTER_ACCOUNT_INDEX", exchange="lighter")
        body = await self.http.get("/api/v1/account", {"by": "index", "value": self.account_index})
        if not body.get("accounts"):
            raise OrderRejectedError(f"lighter account {self.account_index} not found", exchange="lighter")
        return body["accounts"][0]

    async def get_order(self, *a, **k):
        raise NotImplementedError(TRADING_TODO)

    async def get_open_orders(self, symbol=None):
        raise NotImplementedError(TRADING_TODO)

    def get_user_data_stream(self):
        if self._account_stream is None:
            from .account_ws import LighterAccountStream

            self._account_stream = LighterAccountStream(self)
        return self._account_stream

    def health(self) -> dict:
        return {"exchange": "lighter", "state": self.state.value, "books": self.market.health(),
                "ws_disconnects": self.market.disconnects}
