"""Reading recordings for a backtest: every raw frame with its local receive time, in recorded order.

Two shapes are read (the ones ``engine replay`` reads, see engine/record.py):

- an ``engine record`` file (JSONL, gzip when the name ends in ``.gz``): ``{"recv_ns", "mono_ns", "conn",
  "raw"}`` frame lines, ``{"recv_ns", "snapshot": SYMBOL, "raw"}`` depth snapshots and one
  ``{"exchange_info": true, "raw"}`` line (the venue's instrument list and filters);
- a capture directory as under tests/data/binance/: a frames file (``{"recv_ts": "<epoch s>", "raw"}``
  lines), one REST depth snapshot file per symbol, the instrument list and a meta file whose
  ``snapshots[].recv_ts`` places each snapshot among the frames (without it a snapshot comes first). The
  file names are the venue's (its backtest object's ``capture_*`` attributes).

What the frames mean is the venue's knowledge, reached through the factory
(``ConnectorFactory.backtest(name)``, registered for Binance in engine/connectors/binance/backtest.py): a
frame is classified once here by the venue's ``classify`` as a depth diff, a trade print, or something the
backtest does not use (kept as ``OTHER`` and skipped), with the exchange's event time (ms) kept for the
feed-latency model. Nothing in a line is trusted: a line that is not a JSON object, or lacks its fields,
is a ``RecordingError`` naming the file and line.
"""
from __future__ import annotations

import glob
import gzip
import json
import os
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Iterable, Optional

DEPTH, TRADE, SNAPSHOT, OTHER = 0, 1, 2, 3


class RecordingError(ValueError):
    """A recording that cannot be backtested; the message names the file (and line)."""


@dataclass(frozen=True, slots=True)
class Event:
    recv_ns: int  # local receive time (wall ns), made non-decreasing in recorded order
    kind: int  # DEPTH, TRADE, SNAPSHOT or OTHER
    symbol: str  # the venue's spelling, upper case ("" when unknown)
    raw: bytes  # the frame (or REST body) exactly as recorded
    event_ms: Optional[int] = None  # the exchange's event time E, when the frame has one


@dataclass
class Recording:
    events: list = field(default_factory=list)
    exchange_info: Optional[dict] = None  # the venue's recorded instrument list, as its body was
    futures: bool = False
    sources: list = field(default_factory=list)
    venue: Any = None  # the venue's backtest object (``ConnectorFactory.backtest``) that read it

    @property
    def start_ns(self) -> int:
        return self.events[0].recv_ns if self.events else 0

    def symbols(self) -> list:
        return sorted({e.symbol for e in self.events if e.kind in (DEPTH, SNAPSHOT) and e.symbol})


def venue_backtest(venue: Any = None):
    """The venue's backtest object: ``venue`` itself when it is one, else ``ConnectorFactory.backtest(venue)``
    (a registered name, or None for the one venue that can be backtested)."""
    if venue is None or isinstance(venue, str):
        from engine.connectors.factory import ConnectorFactory
        return ConnectorFactory.backtest(venue)
    return venue


def load(paths: "str | Iterable[str]", venue: Any = None) -> Recording:
    """Read one or more recordings of ``venue`` (see ``venue_backtest``) into one event list, in the order
    given (each must start no earlier than the previous one ends)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    v = venue_backtest(venue)
    rec = Recording(venue=v)
    last = None
    for path in paths:
        path = os.fspath(path)
        events, info = _load_one(path, v)
        if events and last is not None and events[0].recv_ns < last:
            raise RecordingError(f"{path}: starts before the previous recording ends (give them in time order)")
        rec.events.extend(events)
        if events:
            last = events[-1].recv_ns
        if info is not None:
            problem = v.info_problem(info)
            if problem:
                raise RecordingError(f"{path}: {problem}")
            rec.exchange_info = v.merge_info(rec.exchange_info, info)
        rec.sources.append(path)
    if not rec.events:
        raise RecordingError(f"{', '.join(rec.sources) or 'no path'}: no frames to backtest")
    rec.futures = bool(v.futures(rec.exchange_info, [e.raw for e in rec.events[:200] if e.kind == DEPTH]))
    return rec


def _lines(path: str):
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except ValueError as e:
                        raise RecordingError(f"{path}:{n}: not a JSON line ({e})") from None
                    if not isinstance(obj, dict) or not isinstance(obj.get("raw"), str):
                        raise RecordingError(f"{path}:{n}: a recording line is an object with a 'raw' string")
                    yield n, obj
    except OSError as e:
        raise RecordingError(f"{path}: cannot read ({e.strerror or e})") from None
    except EOFError:
        raise RecordingError(f"{path}: truncated gzip file") from None
    except UnicodeDecodeError:
        raise RecordingError(f"{path}: not UTF-8 text (a gzip recording needs a name ending in .gz)") from None


def _recv_ns(path: str, n: int, obj: dict) -> int:
    try:
        if "recv_ns" in obj:
            return int(obj["recv_ns"])
        return int(Decimal(str(obj["recv_ts"])) * 1_000_000_000)
    except (KeyError, ValueError, ArithmeticError, TypeError):
        raise RecordingError(f"{path}:{n}: no usable receive time (recv_ns or recv_ts)") from None


def _load_one(path: str, v) -> tuple:
    events: list = []
    info = None
    classify = v.classify
    if os.path.isdir(path):
        frames = os.path.join(path, v.capture_frames)
        if not os.path.isfile(frames):
            raise RecordingError(f"{path} is a directory without {v.capture_frames}")
        snaps = {}
        prefix = v.capture_snapshot_prefix
        for f in sorted(glob.glob(os.path.join(path, glob.escape(prefix) + "*.json"))):
            sym = os.path.basename(f)[len(prefix):-len(".json")].upper()
            with open(f, "rb") as fh:
                snaps[sym] = fh.read()
        infos = sorted(glob.glob(os.path.join(path, v.capture_info_glob)))
        if infos:
            with open(infos[0]) as fh:
                try:
                    info = json.load(fh)
                except ValueError as e:
                    raise RecordingError(f"{infos[0]}: not JSON ({e})") from None
        at = {}
        meta = os.path.join(path, v.capture_meta)
        if os.path.isfile(meta):
            with open(meta) as fh:
                try:
                    for s in json.load(fh).get("snapshots", ()):
                        at[str(s["symbol"]).upper()] = int(Decimal(str(s["recv_ts"])) * 1_000_000_000)
                except (ValueError, KeyError, TypeError, ArithmeticError):
                    raise RecordingError(f"{meta}: snapshots[] need symbol and recv_ts") from None
        pending = sorted(((at.get(sym, -1), sym) for sym in snaps), key=lambda x: (x[0], x[1]))
        for n, obj in _lines(frames):
            t = _recv_ns(frames, n, obj)
            while pending and pending[0][0] <= t:
                ts, sym = pending.pop(0)
                events.append(Event(t if ts < 0 else ts, SNAPSHOT, sym, snaps[sym]))
            kind, sym, E = classify(obj["raw"])
            events.append(Event(t, kind, sym, obj["raw"].encode(), E))
        for ts, sym in pending:
            events.append(Event(ts, SNAPSHOT, sym, snaps[sym]))
    else:
        for n, obj in _lines(path):
            t = _recv_ns(path, n, obj)
            if obj.get("exchange_info"):
                try:
                    info = json.loads(obj["raw"])
                except ValueError as e:
                    raise RecordingError(f"{path}:{n}: {v.info_name} body is not JSON ({e})") from None
                continue
            if "snapshot" in obj:
                events.append(Event(t, SNAPSHOT, str(obj["snapshot"]).upper(), obj["raw"].encode()))
                continue
            kind, sym, E = classify(obj["raw"])
            events.append(Event(t, kind, sym, obj["raw"].encode(), E))
    # local time never goes back in recorded order (a wall clock can step): keep the order, clamp the time
    out, last = [], None
    for e in events:
        if last is not None and e.recv_ns < last:
            e = Event(last, e.kind, e.symbol, e.raw, e.event_ms)
        last = e.recv_ns
        out.append(e)
    return out, info
