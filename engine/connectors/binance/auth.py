"""Binance request signing and server-time tracking.

The signature is HMAC-SHA256 over the exact percent-encoded bytes that are sent (Binance checks the
encoded payload since 2026-01-15), computed by the compiled signer. Timestamps are the local clock plus an
offset estimated from the *minimum*-RTT sample (mean-based offsets drift with network jitter and produce
"-1021 ... 1000ms ahead of the server's time"), biased slightly into the past: the venue rejects anything
1000 ms ahead hard, while the past side is bounded by ``recvWindow``.
"""
from __future__ import annotations

import time
from typing import Awaitable, Callable, Iterable, Mapping, Optional, Union

from engine.sign import Signer, encode_query

Params = Union[Mapping[str, object], Iterable[tuple]]


class BinanceAuth:
    """API key + compiled signer + clock offset. The secret never appears in repr, str or errors."""

    def __init__(self, api_key: str, api_secret: "str | bytes", *, recv_window: Optional[int] = 5000,
                 clock_ms: Callable[[], float] = lambda: time.time() * 1000.0):
        if not api_key:
            raise ValueError("BINANCE_API_KEY is empty")
        self.api_key = api_key
        self._signer = Signer(api_secret)
        self.recv_window = recv_window
        self._clock_ms = clock_ms
        self.offset_ms = 0.0  # server - local
        self.rtt_ms: Optional[float] = None  # RTT of the sample the offset came from
        self.synced_at_ms: Optional[float] = None

    def __repr__(self) -> str:
        key = self.api_key
        masked = f"{key[:4]}…{key[-4:]}" if len(key) > 12 else "****"
        return f"BinanceAuth(api_key={masked!r}, offset_ms={self.offset_ms:.1f})"

    __str__ = __repr__

    @property
    def headers(self) -> dict:
        return {"X-MBX-APIKEY": self.api_key}

    def timestamp_ms(self) -> int:
        safety = (self.rtt_ms / 2 if self.rtt_ms is not None else 0.0) + 20.0
        return int(self._clock_ms() + self.offset_ms - safety)

    # -- the seed's API
    def sign(self, params: Params) -> str:
        """Signature (hex) of the percent-encoded query string of ``params`` as given."""
        return self._signer.sign(encode_query(params))

    def sign_params(self, params: Params) -> dict:
        """``params`` plus ``recvWindow``, ``timestamp`` and ``signature`` (as a dict, in send order)."""
        out = dict(params.items() if isinstance(params, Mapping) else params)
        if self.recv_window is not None:
            out["recvWindow"] = self.recv_window
        out["timestamp"] = self.timestamp_ms()
        out["signature"] = self._signer.sign(encode_query(out))
        return out

    def signed_query(self, params: Params) -> str:
        """The exact query string to send: encoded params, recvWindow, timestamp, signature."""
        return self._signer.signed_query(params, timestamp=self.timestamp_ms(), recv_window=self.recv_window)

    def sign_ws_api(self, params: Mapping[str, object]) -> dict:
        """WS-API request params: apiKey + timestamp added, all sorted by name, signed unencoded."""
        out = dict(params)
        out["apiKey"] = self.api_key
        out["timestamp"] = self.timestamp_ms()
        if self.recv_window is not None:
            out.setdefault("recvWindow", self.recv_window)
        payload = "&".join(f"{k}={out[k]}" for k in sorted(out))
        out["signature"] = self._signer.sign(payload.encode("utf-8"))
        return out

    # -- time
    def record_time_sample(self, t_send_ms: float, server_ms: float, t_recv_ms: float) -> None:
        rtt = t_recv_ms - t_send_ms
        if rtt < 0:
            return
        if self.rtt_ms is None or rtt <= self.rtt_ms or self._stale():
            self.rtt_ms = rtt
            self.offset_ms = server_ms - (t_send_ms + t_recv_ms) / 2
            self.synced_at_ms = t_recv_ms

    def _stale(self) -> bool:
        # an old best sample must not pin the offset forever: clocks drift
        return self.synced_at_ms is None or self._clock_ms() - self.synced_at_ms > 600_000

    async def sync_server_time(self, fetch_server_ms: Callable[[], Awaitable[int]], samples: int = 5) -> float:
        """Estimate the offset from ``samples`` round trips, keeping the minimum-RTT one. Returns offset_ms."""
        self.rtt_ms = None
        for _ in range(max(1, samples)):
            t0 = self._clock_ms()
            server = await fetch_server_ms()
            t1 = self._clock_ms()
            self.record_time_sample(t0, server, t1)
        return self.offset_ms
