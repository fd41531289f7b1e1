"""Lighter account stream: ``account_all_orders/<account>`` (where an order's fate arrives) and
``account_all_positions/<account>``, on the market-data connection.

sendTx's 200 only means the transaction was sequenced; this stream says whether the order rests, fills or
was rejected. Every subscription carries an auth token (``connector.tokens``: at most 8 h ahead, the venue
refuses more with 20013). The current token is re-sent on every reconnect; the subscriptions are renewed with
a freshly minted token every ``rotate_s`` (before expiry) and at once when the venue says 20013 (a token it
no longer accepts). Each ``subscribed/account_all_orders`` snapshot bumps ``epoch`` and calls
``on_resubscribed`` so the trading layer reconciles what may have happened while the channel was down.

A refusal no retry can fix (``errors.permanent_auth_failure``: 21108/21109/21120/21136, the key or its
account is wrong) stops the stream for good: one ``AuthenticationError`` naming what to check, kept in
``failure`` and raised by ``start()`` at once, no more subscribes or rotations, ``status()`` says
``failed`` and why. 20013 (a token expired or refused for its deadline) stays transient: renewed.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import AsyncIterator, Optional

import orjson

from engine.connectors.base import UserDataStream
from engine.errors import AuthenticationError
from engine.models import OrderUpdate

from . import parse
from .errors import permanent_auth_failure

log = logging.getLogger("engine.lighter.account")
MIN_RENEW_INTERVAL_S = 1.0  # a venue that keeps refusing tokens is not hammered


class LighterAccountStream(UserDataStream):
    def __init__(self, connector, *, rotate_s: Optional[float] = None):
        super().__init__()
        self.c = connector
        acct = connector.account_index
        self.orders_channel = f"account_all_orders:{acct}"
        self.positions_channel = f"account_all_positions:{acct}"
        self.channels = (self.orders_channel, self.positions_channel)
        self.position_listeners: list = []  # called with (unified symbol, signed Decimal size)
        self.positions: dict = {}  # unified symbol -> signed size, as the venue last reported it
        self.epoch = 0
        t = connector.tokens
        self.rotate_s = rotate_s if rotate_s is not None else t.lifetime_s - t.lead_s
        self._rotation: Optional[asyncio.Task] = None
        self._last_renew = 0.0
        self.renewals = 0
        self.auth_errors = 0
        self.dropped = 0  # frames that could not be read
        self.failure: Optional[AuthenticationError] = None  # a permanent refusal: the stream has stopped
        self.last_error: Optional[Exception] = None
        self._failed = asyncio.Event()

    @property
    def tokens_minted(self) -> int:
        return self.c.tokens.minted

    async def start(self, timeout_s: float = 10.0) -> None:
        """Subscribe, waiting up to ``timeout_s``. Raises the ``AuthenticationError`` at once when the venue
        refuses the key for good, ``TimeoutError`` (with the last error) when not subscribed in time."""
        self.c._trading()
        md = self.c.market
        self.failure, self.last_error = None, None
        self._failed.clear()
        for ch in self.channels:
            md.private[ch] = self
            if md.listener is not None:
                md.listener.register_raw(ch.encode(), ch)
        self.running = True
        try:
            await self.subscribe()
        except AuthenticationError as e:
            if permanent_auth_failure(e):
                self.on_auth_failure(e)
            raise self.failure or e from None
        if self._rotation is None:
            self._rotation = asyncio.create_task(self._rotate(), name="lighter-auth-rotation")
        waits = [asyncio.ensure_future(self.subscribed.wait()), asyncio.ensure_future(self._failed.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
        if self.failure is not None:
            raise self.failure
        if not self.up:
            last = self.last_error or (md.errors[-1] if md.errors else None)
            raise TimeoutError(f"lighter account stream not subscribed within {timeout_s:g} s; still retrying "
                               f"(last error: {last or 'none'})")

    async def subscribe(self, *, fresh: bool = False) -> None:
        """(Re)subscribe every account channel with the current token (or a newly minted one)."""
        token = await (self.c.tokens.fresh() if fresh else self.c.tokens.current())
        for ch in self.channels:
            self.c.market._send({"type": "subscribe", "channel": ch.replace(":", "/"), "auth": token})

    async def renew(self) -> None:
        """Unsubscribe and subscribe again with a new token (rotation, or the venue refused the old one)."""
        wait = self._last_renew + MIN_RENEW_INTERVAL_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        if self.failure is not None or not self.running:
            return
        self._last_renew = time.monotonic()
        self.renewals += 1
        for ch in self.channels:
            self.c.market._send({"type": "unsubscribe", "channel": ch.replace(":", "/")})
        await self.subscribe(fresh=True)

    async def _rotate(self) -> None:
        while True:
            await asyncio.sleep(self.rotate_s)
            try:
                await self.renew()
            except Exception:  # minting failed: try again next period, the current token may still be good
                log.exception("lighter auth token rotation failed")

    def on_auth_error(self, err) -> None:
        """The venue refused a token (20013, no channel named): renew every account subscription."""
        if not self.running:
            return
        self.auth_errors += 1
        self.last_error = err
        self._set_up(False)
        log.warning("lighter account stream: %s; renewing the auth token", err)
        self.c.tokens.invalidate()
        asyncio.get_running_loop().create_task(self.renew())

    def on_auth_failure(self, err: AuthenticationError) -> None:
        """The venue refused the key for good (``permanent_auth_failure``): stop, never retry."""
        if self.failure is not None or not self.running:
            return
        self.auth_errors += 1
        self.running = False
        self._set_up(False)
        if self._rotation is not None:
            self._rotation.cancel()
            self._rotation = None
        for ch in self.channels:  # a reconnect must not subscribe again with the refused key
            self.c.market.private.pop(ch, None)
        self.failure = AuthenticationError(
            f"lighter account stream stopped, not retried: the venue refused API key {self.c.api_key_index} of "
            f"account {self.c.account_index} (code {err.code}): {err.message}", exchange="lighter", code=err.code,
            http_status=err.http_status, raw=err.raw, action=err.action)
        self.last_error = self.failure
        self._failed.set()
        log.error("%s", self.failure)

    async def stop(self) -> None:
        self.running = False
        if self._rotation is not None:
            self._rotation.cancel()
            self._rotation = None
        for ch in self.channels:
            if self.c.market.private.pop(ch, None) is not None:
                self.c.market._send({"type": "unsubscribe", "channel": ch.replace(":", "/")})
        self._set_up(False)

    @property
    def state(self) -> str:
        """failed (a permanent refusal), stopped (never started or stopped), subscribed, or connecting."""
        if self.failure is not None:
            return "failed"
        if not self.running:
            return "stopped"
        return "subscribed" if self.up else "connecting"

    def status(self) -> dict:
        return {"state": self.state, "subscribed": self.subscribed.is_set(), "epoch": self.epoch,
                "renewals": self.renewals, "auth_errors": self.auth_errors, "tokens_minted": self.tokens_minted,
                "dropped": self.dropped, "last_error": None if self.last_error is None else str(self.last_error)}

    # -- frames (from the market-data connection's compiled listener)
    def on_frame(self, payload: bytes) -> None:
        try:
            msg = orjson.loads(payload)
        except orjson.JSONDecodeError:
            msg = None
        if not isinstance(msg, dict):
            self.dropped += 1
            log.warning("lighter account stream: malformed frame dropped (%d bytes)", len(payload))
            return
        kind, channel = str(msg.get("type", "")), msg.get("channel")
        if channel == self.positions_channel:
            for row in self._rows(msg.get("positions"), kind):
                self._position(row)
            return
        if kind.startswith("subscribed/"):
            self.epoch += 1
            self._set_up(True)
            for cb in self.on_resubscribed:
                cb(self.epoch)
        orders = msg.get("orders")
        for rows in (orders.values() if isinstance(orders, dict) else [orders] if orders else ()):
            for row in self._rows(rows, kind):
                self.emit(parse.order_update(row, self.c.unified_market(row["market_index"])))

    def _rows(self, rows, kind: str):
        """Each readable row of ``rows`` (a list, or a map of market id -> row); an unreadable one is dropped
        and counted, and the frame's other rows still count."""
        for row in (rows.values() if isinstance(rows, dict) else rows if isinstance(rows, list) else [rows]):
            try:
                parse.check_row(row)
            except (KeyError, TypeError, ValueError, ArithmeticError) as e:
                self.dropped += 1
                log.warning("lighter account stream: unreadable row in a %s frame dropped (%s)", kind or "untyped", e)
                continue
            yield row

    def _position(self, row: dict) -> None:
        symbol = self.c.unified_market(row["market_id"])
        size = parse.position(row)
        self.positions[symbol] = size
        for cb in self.position_listeners:
            try:
                cb(symbol, size)
            except Exception:
                log.exception("position listener failed")
