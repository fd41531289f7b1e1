"""Binance request signing and server-time tracking.

The signature is HMAC-SHA256 over the exact percent-encoded bytes that are sent (Binance checks the
encoded payload since 2026-01-15), computed by the compiled signer. Timestamps are the local clock plus an
offset estimated from the *minimum*-RTT sample (mean-based offsets drift with network jitter and produce
"-1021 ... 1000ms ahead of the server's time"), biased slightly into the past: the venue rejects anything
1000 ms ahead hard, while the past side is bounded by ``recvWindow``.
"""
from __future__ import annotations

import base64
import binascii
import time
from typing import Awaitable, Callable, Iterable, Mapping, Optional, Union

from engine.sign import Signer, encode_query

Params = Union[Mapping[str, object], Iterable[tuple]]


class Ed25519Key:
    """An Ed25519 API key for the WebSocket API: its API key and private key (``cryptography``).

    ``private_key`` is PEM text (``-----BEGIN PRIVATE KEY-----``), or base64 of the 32-byte seed or of the
    PKCS#8 DER. The private key never appears in repr, str or errors (a malformed one is refused naming the
    variable only). ``sign(payload)`` is the base64 signature the WS API checks (docs/binance.md, "WebSocket
    API": signed requests, session.logon).
    """

    def __init__(self, api_key: str, private_key: "str | bytes", *, var: str = "BINANCE_ED25519_PRIVATE_KEY"):
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        if not api_key:
            raise ValueError("BINANCE_ED25519_API_KEY is empty")
        self.api_key = api_key
        raw = private_key.encode() if isinstance(private_key, str) else bytes(private_key)
        key = None
        try:
            if b"-----BEGIN" in raw:
                key = serialization.load_pem_private_key(raw.strip(), password=None)
            else:
                der = base64.b64decode(b"".join(raw.split()), validate=True)
                key = (Ed25519PrivateKey.from_private_bytes(der) if len(der) == 32
                       else serialization.load_der_private_key(der, password=None))
        except Exception:  # any failure to parse: refused below, never echoing the key material
            key = None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError(f"{var} is not an Ed25519 private key (PEM, or base64 of the 32-byte seed or "
                             "of the PKCS#8 DER)") from None
        self._key = key

    def public_bytes(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)

    def sign(self, payload: bytes) -> str:
        return base64.b64encode(self._key.sign(payload)).decode("ascii")

    def __repr__(self) -> str:
        key = self.api_key
        masked = f"{key[:4]}…{key[-4:]}" if len(key) > 12 else "****"
        return f"Ed25519Key(api_key={masked!r})"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("an Ed25519Key is not picklable (it holds a private key)")


def ws_api_payload(params: Mapping[str, object]) -> bytes:
    """The WS API's signature payload: every parameter, sorted by name, ``k=v`` joined by ``&``, unencoded;
    booleans spelled ``true``/``false`` (docs/binance.md, "WebSocket API")."""
    def text(v):
        return ("true" if v else "false") if isinstance(v, bool) else str(v)
    return "&".join(f"{k}={text(params[k])}" for k in sorted(params)).encode("utf-8")


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
        out["signature"] = self._signer.sign(ws_api_payload(out))
        return out

    def sign_ws_api_ed25519(self, params: Mapping[str, object], key: Ed25519Key) -> dict:
        """As ``sign_ws_api``, signed by the Ed25519 ``key`` (its own API key) with this clock."""
        out = dict(params)
        out["apiKey"] = key.api_key
        out["timestamp"] = self.timestamp_ms()
        if self.recv_window is not None:
            out.setdefault("recvWindow", self.recv_window)
        out["signature"] = key.sign(ws_api_payload(out))
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
