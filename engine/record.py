"""Recording raw frames (and the REST bodies they need) to JSONL.gz, in the shape replay reads.

Each frame line is ``{"recv_ns": <wall ns>, "mono_ns": <monotonic ns>, "exch_ns": <the exchange's timestamp in ns,
or null when the frame carries none>, "conn": "<connection>", "raw": "<frame>"}``; a depth snapshot is
``{"recv_ns": ..., "snapshot": "<SYMBOL>", "raw": "<REST body>"}``; a venue's market list is one
``{"recv_ns": ..., "exchange_info": true, "raw": ...}`` line (so a replay knows the recorded symbols' filters),
and the user's own order/fill events (``event``) are ``{"recv_ns": ..., "exch_ns": ..., "event": "<kind>",
"raw": "<JSON>"}`` (``engine record --account``). Older recordings (no ``exch_ns``) read the same: the readers key
on ``raw`` and ``recv_ns`` (or a capture's ``recv_ts``) and do not read ``exch_ns``. The simulators' readers skip
``event`` lines; the backtest reader (engine/backtest/recording.py) reads one as a frame of no known kind.
The simulators serve such a file with ``engine replay FILE`` (Binance also ``engine sim binance --replay FILE``).

Rotation: with ``rotate_bytes`` (lines' bytes before compression) and/or ``rotate_s`` a recording is several
files, ``<stem>.0000.jsonl.gz``, ``<stem>.0001.jsonl.gz``, ... (``out`` = ``<stem>.jsonl.gz``). Each file starts
with the header lines (``exchange_info``) again, then whatever the venue's ``on_rotate(recorder)`` writes so the
file can seed its books alone (docs/binance.md, docs/lighter.md "Recording"), so each file is readable alone.
Recording is off the hot path's budget: when on, each frame costs one bytes copy, one JSON parse for its
timestamp and one JSON line.
"""
from __future__ import annotations

import gzip
import json
import time
from typing import Callable, Optional

ExchTs = Callable[[bytes], Optional[int]]  # a frame -> the exchange's timestamp in ns, or None


def _jsonable(v):
    """An OrderUpdate field as JSON: enums by value, Decimals as exact strings."""
    if hasattr(v, "value"):
        return v.value
    if v is None or isinstance(v, (bool, int, str)):
        return v
    return str(v)


def numbered(out: str, n: int) -> str:
    """The ``n``-th file of a rotated recording written to ``out`` (``a.jsonl.gz`` -> ``a.0003.jsonl.gz``)."""
    stem = out[:-len(".jsonl.gz")] if out.endswith(".jsonl.gz") else out[:-len(".gz")]
    return f"{stem}.{n:04d}.jsonl.gz"


class FrameRecorder:
    def __init__(self, path: str, *, rotate_bytes: int = 0, rotate_s: float = 0.0,
                 clock: Callable[[], float] = time.monotonic):
        if rotate_bytes < 0 or rotate_s < 0:
            raise ValueError("rotation limits must be >= 0")
        self.path = path
        self.rotate_bytes, self.rotate_s, self._clock = rotate_bytes, rotate_s, clock
        self.rotating = bool(rotate_bytes or rotate_s)
        self.files: list = []
        self.on_rotate: Optional[Callable[["FrameRecorder"], None]] = None  # the venue re-seeds the new file
        self.exch_ts: Optional[ExchTs] = None  # the venue's frame -> exchange time, for writers given none
        self._headers: list = []  # lines every file starts with
        self.frames = self.snapshots = self.events = 0
        self.kinds: dict = {}  # event kind -> lines written
        self.bytes = 0  # lines' bytes written, all files, before compression
        self._file_bytes = 0
        self._f = None
        self._open()

    def _open(self) -> None:
        path = numbered(self.path, len(self.files)) if self.rotating else self.path
        self._f = gzip.open(path, "wt", encoding="utf-8", compresslevel=5)
        self.files.append(path)
        self._file_bytes = 0
        self._opened = self._clock()
        for line in self._headers:
            self._put(line)

    def _put(self, line: str) -> None:
        self._f.write(line)
        self.bytes += len(line)
        self._file_bytes += len(line)

    def _line(self, rec: dict) -> None:
        if self.rotating and self._due():
            self.rotate()
        self._put(json.dumps(rec) + "\n")

    def _due(self) -> bool:
        if self._file_bytes <= sum(len(h) for h in self._headers):
            return False  # nothing but headers yet
        return bool((self.rotate_bytes and self._file_bytes >= self.rotate_bytes)
                    or (self.rotate_s and self._clock() - self._opened >= self.rotate_s))

    def rotate(self) -> None:
        """Close this file and start the next one: headers first, then the venue's ``on_rotate`` seed lines."""
        self._f.close()
        self._open()
        if self.on_rotate is not None:
            self.on_rotate(self)

    def frame_writer(self, conn: str, exch_ts: Optional[ExchTs] = None) -> Callable[[bytes], None]:
        exch_ts = exch_ts or self.exch_ts

        def write(raw: bytes) -> None:
            recv, mono = time.time_ns(), time.monotonic_ns()
            try:
                exch = exch_ts(raw) if exch_ts is not None else None
            except Exception:  # a frame we cannot read a time from is still recorded
                exch = None
            self._line({"recv_ns": recv, "mono_ns": mono, "exch_ns": exch, "conn": conn,
                        "raw": raw.decode("utf-8", "replace")})
            self.frames += 1
        return write

    def seed_frame(self, conn: str, raw: bytes, exch_ns: Optional[int] = None) -> None:
        """A frame written at a file's start by ``on_rotate`` (not counted as received), written without a
        rotation check, so it lands in the new file."""
        self._put(json.dumps({"recv_ns": time.time_ns(), "mono_ns": time.monotonic_ns(), "exch_ns": exch_ns,
                              "conn": conn, "seed": True, "raw": raw.decode("utf-8", "replace")}) + "\n")

    def snapshot(self, symbol: str, body: bytes) -> None:
        self._line({"recv_ns": time.time_ns(), "snapshot": symbol, "raw": body.decode("utf-8", "replace")})
        self.snapshots += 1

    def exchange_info(self, body: bytes) -> None:
        line = json.dumps({"recv_ns": time.time_ns(), "exchange_info": True,
                           "raw": body.decode("utf-8", "replace")}) + "\n"
        self._headers.append(line)
        self._put(line)

    def event(self, kind: str, body: dict, exch_ns: Optional[int] = None) -> None:
        """One of the user's own order/fill events (``kind`` e.g. "order", "fill"), ``body`` JSON-able."""
        self._line({"recv_ns": time.time_ns(), "exch_ns": exch_ns, "event": kind,
                    "raw": json.dumps(body, default=str)})
        self.events += 1
        self.kinds[kind] = self.kinds.get(kind, 0) + 1

    def order_listener(self) -> Callable[[object], None]:
        """A ``UserDataStream`` listener writing each of the user's ``OrderUpdate`` as an event line: "fill"
        when it carries a fill (``last_fill_quantity`` > 0), else "order"; its fields as JSON (exact decimal
        strings, enum values), ``exch_ns`` from its ``timestamp_ms`` (null when 0)."""
        def write(upd) -> None:
            if self.closed:
                return
            body = {}
            for name in ("exchange", "symbol", "order_id", "client_order_id", "status", "side", "type", "price",
                         "quantity", "filled_quantity", "average_price", "last_fill_quantity", "last_fill_price",
                         "fee", "fee_asset", "reason", "timestamp_ms"):
                body[name] = _jsonable(getattr(upd, name, None))
            fill = bool(getattr(upd, "last_fill_quantity", 0))
            ts = getattr(upd, "timestamp_ms", 0)
            self.event("fill" if fill else "order", body, exch_ns=ts * 1_000_000 if ts else None)
        return write

    @property
    def closed(self) -> bool:
        return self._f is None or self._f.closed

    def close(self) -> None:
        if self._f is not None and not self._f.closed:
            self._f.close()
