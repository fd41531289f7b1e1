"""Recording Binance market data for ``engine record`` / ``engine replay`` (the factory registers
``BinanceRecorder`` as Binance's ``recorder``).

A recording is an ``engine.record.FrameRecorder`` file: the exchangeInfo body first (so a replay serves
the recorded symbols' filters), then every raw market-stream frame and every depth snapshot the
market-data layer receives. The simulator's own reader (``engine/sim/binance/replay.py``, the
registration's ``recording_reader``) loads it for replay; nothing here reads the file back.
"""
from __future__ import annotations

import os
from typing import Optional


class BinanceRecorder:
    """What the engine's record and replay commands need to know about Binance, and nothing more."""

    # a capture directory (as the fixtures are laid out) keeps its frames in this file
    capture_frames = "ws_session.jsonl"

    @staticmethod
    async def attach(conn, rec) -> None:
        """Make the connected ``conn`` write into ``rec``: the exchangeInfo body now, then every raw frame and
        depth snapshot its market-data layer receives; call before any book is added."""
        rec.exchange_info(await conn.http.request_raw("GET", "/api/v3/exchangeInfo"))
        conn.market.recorder = rec

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
