"""Recording Binance market data for ``engine record`` / ``engine replay`` (the factory registers
``BinanceRecorder`` as Binance's ``recorder``).

A recording is an ``engine.record.FrameRecorder`` file: the exchangeInfo body first (so a replay serves
the recorded symbols' filters), then every raw market-stream frame (depth diffs and, when ``engine record``
asks for trades, aggTrade) and every depth snapshot the market-data layer receives, each frame with its
event time ``E`` as ``exch_ns`` (null for a frame without one). When the recording rotates, each new file
gets the exchangeInfo body again and a fresh REST depth snapshot of every recorded book, so it seeds its
books alone (docs/binance.md "Recording"). The simulator's own reader (``engine/sim/binance/replay.py``, the
registration's ``recording_reader``) loads it for replay; nothing here reads the file back.
"""
from __future__ import annotations

import asyncio
import os
import re
from typing import Optional

from .http import depth_weight

_EVENT_MS = re.compile(rb'"E":(\d+)')


def event_ns(raw: bytes) -> Optional[int]:
    """The frame's event time ``E`` (ms) in ns, or None when it has none (a control reply, spot bookTicker)."""
    m = _EVENT_MS.search(raw)
    return int(m.group(1)) * 1_000_000 if m else None


class BinanceRecorder:
    """What the engine's record and replay commands need to know about Binance, and nothing more."""

    # a capture directory (as the fixtures are laid out) keeps its frames in this file
    capture_frames = "ws_session.jsonl"

    @staticmethod
    async def attach(conn, rec) -> None:
        """Make the connected ``conn`` write into ``rec``: the exchangeInfo body now, then every raw frame and
        depth snapshot its market-data layer receives; call before any book is added."""
        rec.exchange_info(await conn.http.request_raw("GET", "/api/v3/exchangeInfo"))
        market = conn.market
        market.recorder = rec
        rec.exch_ts = event_ns
        tasks: set = set()

        async def reseed() -> None:
            limit = market.snapshot_limit
            for sym in list(market.books):
                try:
                    body = await conn.http.request_raw("GET", "/api/v3/depth", [("symbol", sym), ("limit", limit)],
                                                       weight=depth_weight(limit))
                except Exception:  # the next file lacks this book's seed; the live feed goes on
                    continue
                if rec.closed:
                    return
                rec.snapshot(sym, body)

        def on_rotate(_rec) -> None:
            t = asyncio.get_running_loop().create_task(reseed())
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        rec.on_rotate = on_rotate

    @staticmethod
    def symbols(session) -> list:
        """The symbols (Binance's names) a replay of ``session`` can seed a book for: those with a snapshot."""
        return sorted(session.snapshots)

    @classmethod
    def problem(cls, path: str) -> Optional[str]:
        """Why ``path`` cannot be a recording before it is read (a directory without its frames), else None."""
        if os.path.isdir(path) and not os.path.isfile(os.path.join(path, cls.capture_frames)):
            return f"{path} is a directory without {cls.capture_frames}"
        return None
