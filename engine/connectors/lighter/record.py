"""Recording Lighter market data for ``engine record`` / ``engine replay`` (the factory registers
``LighterRecorder`` as Lighter's ``recorder``).

A recording is an ``engine.record.FrameRecorder`` file: the ``/api/v1/orderBookDetails`` body first (as its
``exchange_info`` line: the recorded markets' ids, symbols and decimals), then every raw frame the market-data
socket receives (``subscribed/order_book`` seeds, ``update/order_book`` deltas, ``subscribed/trade`` and
``update/trade``, control frames), each with the frame's ``timestamp`` (ms) as ``exch_ns``. When the recording
rotates, each new file starts with the orderBookDetails body again and, per recorded market, a
``subscribed/order_book`` seed frame (``"seed": true``) holding the book as the recorded frames left it, with
their last ``nonce``, so the next ``update/order_book`` chains onto it and the file seeds its books alone
(docs/lighter.md "Recording"). The simulator's reader (``engine/sim/lighter/replay.py``) loads it for replay.

The compiled listener hands each received frame to ``recorder`` before routing it; a reconnect makes a new
listener, so the recorder is set again on each connection, before its subscriptions go out.
"""
from __future__ import annotations

import asyncio
import os
import time
from decimal import Decimal
from typing import Optional

import orjson


def frame_ns(msg) -> Optional[int]:
    """The frame's ``timestamp`` (ms) in ns; for a trade frame without one, its latest trade's ``timestamp``;
    None when it has neither (control frames)."""
    if not isinstance(msg, dict):
        return None
    ts = msg.get("timestamp")
    if not isinstance(ts, int):
        rows = msg.get("trades")
        stamps = [t["timestamp"] for t in rows if isinstance(t, dict) and isinstance(t.get("timestamp"), int)] \
            if isinstance(rows, list) else []
        ts = max(stamps) if stamps else None
    return ts * 1_000_000 if ts is not None else None


class _Books:
    """Each recorded market's book as the recorded frames leave it (prices and sizes as the venue's strings)."""

    def __init__(self):
        self.books: dict = {}  # market id -> {"a": {price: size}, "b": {...}, "nonce", "offset"}

    def on_frame(self, msg: dict) -> None:
        ch, kind = str(msg.get("channel", "")), msg.get("type")
        ob = msg.get("order_book")
        if not ch.startswith("order_book:") or not isinstance(ob, dict):
            return
        mid = ch.partition(":")[2]
        if kind == "subscribed/order_book":
            self.books[mid] = {"a": {}, "b": {}}
        book = self.books.get(mid)
        if book is None or kind not in ("subscribed/order_book", "update/order_book"):
            return
        for side, key in (("a", "asks"), ("b", "bids")):
            levels = book[side]
            for row in ob.get(key) or ():
                price, size = row["price"], row["size"]
                if Decimal(size) == 0:
                    levels.pop(price, None)
                else:
                    levels[price] = size
        book["nonce"], book["offset"] = ob.get("nonce"), ob.get("offset", msg.get("offset"))

    def seed(self, mid: str) -> bytes:
        book = self.books[mid]
        now_ms = int(time.time() * 1000)
        rows = lambda side, rev: [{"price": p, "size": s}  # noqa: E731
                                  for p, s in sorted(book[side].items(), key=lambda kv: Decimal(kv[0]), reverse=rev)]
        ob = {"code": 0, "asks": rows("a", False), "bids": rows("b", True), "offset": book["offset"],
              "nonce": book["nonce"], "last_updated_at": now_ms * 1000, "begin_nonce": 0}
        return orjson.dumps({"channel": f"order_book:{mid}", "offset": book["offset"], "order_book": ob,
                             "timestamp": now_ms, "type": "subscribed/order_book"})


class LighterRecorder:
    """What the engine's record and replay commands need to know about Lighter, and nothing more."""

    @staticmethod
    async def attach(conn, rec) -> None:
        """Make the connected ``conn`` write into ``rec``: the market list now, then every raw frame its
        market-data socket receives (on this connection and every later one); call before any book is added."""
        rec.exchange_info(orjson.dumps(await conn.http.get("/api/v1/orderBookDetails")))
        market, books = conn.market, _Books()

        # the writer reads the exchange time from the frame on_frame has just parsed (one parse per frame)
        state: dict = {"msg": None}
        rec.exch_ts = lambda _raw: frame_ns(state["msg"])
        write = rec.frame_writer("lighter")

        def on_frame(raw: bytes) -> None:
            if rec.closed:
                return
            try:
                msg = orjson.loads(raw)
            except orjson.JSONDecodeError:
                msg = None
            state["msg"] = msg
            write(raw)  # first: a rotation this frame causes seeds the new file with the book before it
            if isinstance(msg, dict):
                try:
                    books.on_frame(msg)
                except (KeyError, TypeError, ArithmeticError, ValueError):  # a malformed level: recorded as is
                    pass

        def on_rotate(r) -> None:
            for mid, book in books.books.items():
                if book.get("nonce") is not None:
                    r.seed_frame("lighter", books.seed(mid), exch_ns=time.time_ns())
        rec.on_rotate = on_rotate

        if market.listener is not None:
            market.listener.recorder = on_frame
        connected = market.on_ws_connected

        async def hook(transport) -> None:
            for _ in range(100_000):  # until the market-data layer has taken this connection as its own
                if market.transport is transport or transport.is_disconnected:
                    break
                await asyncio.sleep(0)
            if market.transport is transport and market.listener is not None:
                market.listener.recorder = on_frame

        def on_ws_connected(transport) -> None:
            connected(transport)
            asyncio.get_running_loop().create_task(hook(transport))
        market.on_ws_connected = on_ws_connected

    @staticmethod
    def symbols(session) -> list:
        """The symbols (Lighter's names) a replay of ``session`` can seed a book for: the recorded markets with a
        ``subscribed/order_book`` frame, named as the recorded market list names them."""
        return sorted(session.markets[mid] for mid in session.seeded if mid in session.markets)

    @staticmethod
    def problem(path: str) -> Optional[str]:
        """Why ``path`` cannot be a recording before it is read (a directory: Lighter has no capture layout the
        replay reads), else None."""
        if os.path.isdir(path):
            return f"{path} is a directory (a Lighter recording is one engine record file)"
        return None
