"""Lighter account stream (``account_all_orders/<account>``): where an order's fate arrives.

sendTx's 200 only means the transaction was sequenced; this stream says whether the order rests, fills or
was rejected. The subscription carries an auth token (at most 8 h ahead, the venue refuses more with
20013); it is minted by the signer on its worker thread, rotated every ``rotate_s`` (before expiry), and
minted again for every reconnect, which also bumps ``epoch`` so the trading layer reconciles.
"""
from __future__ import annotations

import asyncio
import logging
import time
from decimal import Decimal
from typing import AsyncIterator, Optional

import orjson

from engine.connectors.base import UserDataStream
from engine.models import OrderStatus, OrderType, OrderUpdate, Side

log = logging.getLogger("engine.lighter.account")
TOKEN_LIFETIME_S = 7 * 3600
STATUS = {"open": OrderStatus.OPEN, "filled": OrderStatus.FILLED, "canceled": OrderStatus.CANCELED,
          "canceled-expired": OrderStatus.EXPIRED, "in-progress": OrderStatus.SUBMITTED,
          "pending": OrderStatus.SUBMITTED}
REJECTED = {"canceled-post-only", "canceled-margin-not-allowed", "canceled-too-much-slippage",
            "canceled-not-enough-liquidity", "canceled-invalid-balance", "canceled-position-not-allowed",
            "canceled-reduce-only"}
TYPES = {"limit": OrderType.LIMIT, "market": OrderType.MARKET}


class LighterAccountStream(UserDataStream):
    def __init__(self, connector, *, rotate_s: float = 6 * 3600):
        self.c = connector
        self.channel = f"account_all_orders:{connector.account_index}"
        self.listeners: list = []
        self.on_resubscribed: list = []
        self.epoch = 0
        self.subscribed = asyncio.Event()
        self.rotate_s = rotate_s
        self._queue: asyncio.Queue = asyncio.Queue()
        self._rotation: Optional[asyncio.Task] = None
        self.tokens_minted = 0

    async def start(self, timeout_s: float = 10.0) -> None:
        self.c._trading()
        md = self.c.market
        md.private[self.channel] = self
        if md.listener is not None:
            md.listener.register_raw(self.channel.encode(), self.channel)
        await self.subscribe()
        if self._rotation is None:
            self._rotation = asyncio.create_task(self._rotate(), name="lighter-auth-rotation")
        try:
            await asyncio.wait_for(self.subscribed.wait(), timeout_s)
        except asyncio.TimeoutError:
            last = md.errors[-1] if md.errors else None
            raise last or TimeoutError("lighter account stream: no subscription answer") from None

    async def subscribe(self) -> None:
        """(Re)subscribe with a freshly minted token (start, rotation, every reconnect)."""
        signer, _ = self.c._trading()
        token = await signer.auth_token(int(time.time()) + TOKEN_LIFETIME_S)
        self.tokens_minted += 1
        self.c.market._send({"type": "subscribe", "channel": self.channel.replace(":", "/"), "auth": token})

    async def _rotate(self) -> None:
        while True:
            await asyncio.sleep(self.rotate_s)
            self.c.market._send({"type": "unsubscribe", "channel": self.channel.replace(":", "/")})
            await self.subscribe()

    async def stop(self) -> None:
        if self._rotation is not None:
            self._rotation.cancel()
            self._rotation = None
        self.c.market.private.pop(self.channel, None)
        self.c.market._send({"type": "unsubscribe", "channel": self.channel.replace(":", "/")})
        self.subscribed.clear()

    async def stream_order_updates(self) -> AsyncIterator[OrderUpdate]:
        while True:
            yield await self._queue.get()

    # -- frames (from the market-data connection's compiled listener)
    def on_frame(self, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        if msg.get("type", "").startswith("subscribed/"):
            self.epoch += 1
            self.subscribed.set()
            for cb in self.on_resubscribed:
                cb(self.epoch)
        for market_id, rows in (msg.get("orders") or {}).items():
            for o in rows:
                upd = self._update(o)
                self._queue.put_nowait(upd)
                for cb in self.listeners:
                    try:
                        cb(upd)
                    except Exception:
                        log.exception("order update listener failed")

    def _update(self, o: dict) -> OrderUpdate:
        market = next((m for m in self.c.markets.values() if m["market_id"] == o["market_index"]), None)
        symbol = str(self.c.symbols.unified(market["symbol"])) if market else str(o["market_index"])
        filled = Decimal(o.get("filled_base_amount") or "0")
        quote = Decimal(o.get("filled_quote_amount") or "0")
        raw = o.get("status", "")
        status = OrderStatus.REJECTED if raw in REJECTED else STATUS.get(raw, OrderStatus.CANCELED
                                                                      if raw.startswith("canceled") else
                                                                      OrderStatus.UNKNOWN)
        if status is OrderStatus.OPEN and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        return OrderUpdate(exchange="lighter", symbol=symbol, order_id=str(o.get("order_id")),
                           client_order_id=str(o.get("client_order_id")), status=status,
                           side=Side.SELL if o.get("is_ask") else Side.BUY, type=TYPES.get(o.get("type", "")),
                           price=Decimal(o.get("price") or "0"), quantity=Decimal(o.get("initial_base_amount") or "0"),
                           filled_quantity=filled, average_price=(quote / filled) if filled > 0 else None,
                           reason=raw if status is OrderStatus.REJECTED else "",
                           timestamp_ms=int(o.get("transaction_time", 0)) // 1000, raw=o)
