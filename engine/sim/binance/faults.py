"""Fault injection knobs for the Binance simulator (set from tests via the API, or from the command line).

Counters ("the next N requests ...") are consumed as faults fire, so a test arms exactly what it expects.
Actions on live connections (close a stream, serverShutdown, early 24 h rotation, garbage frames, holding
frames back to model a lagging connection) are methods of the stream server; the simulator exposes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Faults:
    clock_skew_ms: int = 0  # server time = real time + skew (clients that do not sync get -1021)
    rate_limit_429: int = 0  # the next N requests answer 429 (and 418 if the client keeps going)
    ban_seconds: float = 120.0  # length of a 418 ban
    status_5xx: int = 0  # the next N REST requests answer 500 before doing anything
    order_5xx: int = 0  # the next N POST /order are PLACED, then answered 503 (-1007, outcome unknown)
    order_timeout: int = 0  # the next N POST /order are PLACED, then answered only after order_timeout_s
    order_timeout_s: float = 15.0
    slow_snapshot_s: float = 0.0  # delay every GET /depth
    drop_diffs: int = 0  # the next N depth diffs are never sent (a gap the client must detect)
    # symbol -> bytes: every REST GET /depth for that symbol is padded with JSON whitespace to that length (an
    # oversized snapshot) until the entry is removed; snapshot_no_length sends those padded answers chunked,
    # without a Content-Length
    pad_snapshot: dict = field(default_factory=dict)
    snapshot_no_length: bool = False
    # the next depth diff of big_frame_symbol is sent padded with JSON whitespace to big_frame_bytes (once,
    # to every connection carrying it): an oversized frame that is still a link of the diff chain
    big_frame_bytes: int = 0
    big_frame_symbol: str = ""

    def take(self, name: str) -> bool:
        n = getattr(self, name)
        if n > 0:
            setattr(self, name, n - 1)
            return True
        return False

    def take_order_fault(self) -> str | None:
        if self.take("order_5xx"):
            return "5xx"
        if self.take("order_timeout"):
            return "timeout"
        return None
