"""Recording raw frames (and the REST snapshots they need) to JSONL.gz, in the shape replay reads.

Each line is ``{"recv_ns": <wall ns>, "mono_ns": <monotonic ns>, "conn": "<connection>", "raw": "<frame>"}``,
or for a depth snapshot ``{"recv_ns": ..., "snapshot": "<SYMBOL>", "raw": "<REST body>"}`` (and one
``{"exchange_info": true, "raw": ...}`` line, so a replay knows the recorded symbols' filters). The Binance
simulator serves such a file with ``engine replay FILE`` / ``engine sim binance --replay FILE``.
Recording is off the hot path's budget: when on, each frame costs one bytes copy and one JSON line.
"""
from __future__ import annotations

import gzip
import json
import time
from typing import Callable


class FrameRecorder:
    def __init__(self, path: str):
        self.path = path
        self._f = gzip.open(path, "wt", encoding="utf-8", compresslevel=5)
        self.frames = 0
        self.snapshots = 0

    def frame_writer(self, conn: str) -> Callable[[bytes], None]:
        def write(raw: bytes) -> None:
            self._f.write(json.dumps({"recv_ns": time.time_ns(), "mono_ns": time.monotonic_ns(), "conn": conn,
                                      "raw": raw.decode("utf-8", "replace")}) + "\n")
            self.frames += 1
        return write

    def snapshot(self, symbol: str, body: bytes) -> None:
        self._f.write(json.dumps({"recv_ns": time.time_ns(), "snapshot": symbol,
                                  "raw": body.decode("utf-8", "replace")}) + "\n")
        self.snapshots += 1

    def exchange_info(self, body: bytes) -> None:
        self._f.write(json.dumps({"recv_ns": time.time_ns(), "exchange_info": True,
                                  "raw": body.decode("utf-8", "replace")}) + "\n")

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()
