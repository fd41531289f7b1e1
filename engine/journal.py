"""The order and fill journal: every order state change and every fill, in one SQLite file per account.

Writing (``Journal``) never touches the disk on the event loop: ``order(o)`` and ``fill(...)`` (called by
``ExecutionEngine`` when it is built with ``journal=``, see engine/execution.py) turn their arguments into a
row of strings and put it on a bounded queue; one writer thread takes what is queued, up to ``batch_max``
rows or what arrived within ``flush_every_s``, and commits it as ONE transaction together with a row in
``batches`` naming how many rows it holds. SQLite runs in WAL mode with ``synchronous=FULL`` by default, so a
crash (even ``kill -9``) loses at most the rows not yet committed (the batch being gathered) and never leaves
a half batch or a damaged file: a transaction is in the file whole or not at all. When the queue is full
(``queue_max`` rows waiting: the disk is far behind) ``order``/``fill`` wait for room rather than drop a row;
``blocked`` counts those waits.

Prices, quantities and fees are stored as exact decimal strings (``str(Decimal)``), timestamps as integer
milliseconds since the epoch (UTC). The schema is versioned (``PRAGMA user_version`` and ``meta``); a file
written by a newer schema, or one that is not a journal, is refused with ``JournalError``. The schema itself
is described in docs/operations.md.

Reading (``JournalReader``): ``fills``/``orders`` (latest state per order)/``order_events`` as rows (dicts),
``report(since_ms, by="day"|"symbol")`` for fills, volume, fees and realized PnL (the fills replayed through
``engine.risk.Position``, the RiskManager's own arithmetic), and ``to_csv(rows)``.
"""
from __future__ import annotations

import csv
import io
import logging
import os
import queue
import re
import sqlite3
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Iterable, Optional

from engine.models import Side

log = logging.getLogger("engine.journal")

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id INTEGER PRIMARY KEY, rows INTEGER NOT NULL, committed_ms INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS order_events (
    id INTEGER PRIMARY KEY, batch INTEGER NOT NULL REFERENCES batches(id), recorded_ms INTEGER NOT NULL,
    venue TEXT NOT NULL, symbol TEXT NOT NULL, client_order_id TEXT NOT NULL, order_id TEXT,
    side TEXT NOT NULL, type TEXT NOT NULL, price TEXT, quantity TEXT NOT NULL, status TEXT NOT NULL,
    filled TEXT NOT NULL, average_price TEXT, fees TEXT NOT NULL, reason TEXT NOT NULL,
    inferred INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS order_events_cid ON order_events (venue, client_order_id);
CREATE TABLE IF NOT EXISTS fills (
    id INTEGER PRIMARY KEY, batch INTEGER NOT NULL REFERENCES batches(id), recorded_ms INTEGER NOT NULL,
    ts_ms INTEGER NOT NULL, venue TEXT NOT NULL, symbol TEXT NOT NULL, client_order_id TEXT NOT NULL,
    order_id TEXT, side TEXT NOT NULL, quantity TEXT NOT NULL, price TEXT NOT NULL, fee TEXT NOT NULL,
    fee_asset TEXT, cum_filled TEXT NOT NULL,
    UNIQUE (venue, client_order_id, cum_filled));
CREATE INDEX IF NOT EXISTS fills_ts ON fills (ts_ms);
"""

ORDER_COLUMNS = ("recorded_ms", "venue", "symbol", "client_order_id", "order_id", "side", "type", "price",
                 "quantity", "status", "filled", "average_price", "fees", "reason", "inferred")
FILL_COLUMNS = ("recorded_ms", "ts_ms", "venue", "symbol", "client_order_id", "order_id", "side", "quantity",
                "price", "fee", "fee_asset", "cum_filled")


class JournalError(ValueError):
    """A journal file that cannot be used (not SQLite, not a journal, a newer schema); the message names it."""


def journal_path(directory: str, account: str) -> str:
    """The journal file of ``account`` (e.g. ``binance-main``) under ``directory``: one file per account.
    The account name may hold letters, digits, ``.``, ``_`` and ``-`` only."""
    if not account or not re.fullmatch(r"[A-Za-z0-9._-]+", account) or account.strip(".") == "":
        raise JournalError(f"journal account {account!r}: use letters, digits, '.', '_' and '-' only")
    return os.path.join(directory, f"{account}.journal.sqlite")


def _s(x) -> Optional[str]:
    return None if x is None else str(x)


def _enum(x) -> str:
    return getattr(x, "value", x) if x is not None else ""


def _connect(path: str, *, create: bool) -> sqlite3.Connection:
    if not create and not os.path.exists(path):
        raise JournalError(f"{path}: no such journal file")
    try:
        con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
        version = con.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.DatabaseError as e:
        raise JournalError(f"{path}: not an SQLite journal ({e})") from None
    if version > SCHEMA_VERSION:
        con.close()
        raise JournalError(f"{path}: journal schema {version} is newer than this engine's ({SCHEMA_VERSION})")
    if tables and "fills" not in tables:
        con.close()
        raise JournalError(f"{path}: an SQLite file that is not an order journal")
    if not tables and not create:
        con.close()
        raise JournalError(f"{path}: an empty file, not an order journal")
    return con


class Journal:
    """The writing side; see the module docstring. Thread-safe to feed; ``close()`` flushes and stops."""

    def __init__(self, path: str, *, account: str = "", batch_max: int = 500, flush_every_s: float = 0.2,
                 queue_max: int = 10_000, synchronous: str = "FULL"):
        if synchronous not in ("FULL", "NORMAL", "EXTRA"):
            raise JournalError(f"journal synchronous={synchronous!r}: use FULL, NORMAL or EXTRA")
        self.path = path
        self.batch_max = max(1, batch_max)
        self.flush_every_s = flush_every_s
        con = _connect(path, create=True)
        try:
            con.execute("PRAGMA journal_mode=WAL")
            con.execute(f"PRAGMA synchronous={synchronous}")
            con.execute("BEGIN IMMEDIATE")
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            con.execute("INSERT OR IGNORE INTO meta VALUES ('account', ?)", (account,))
            con.execute("INSERT OR IGNORE INTO meta VALUES ('created_ms', ?)", (str(int(time.time() * 1000)),))
            con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            con.execute("COMMIT")
        except sqlite3.Error as e:
            con.close()
            raise JournalError(f"{path}: cannot set up the journal ({e})") from None
        self._con = con
        self._queue: queue.Queue = queue.Queue(maxsize=max(1, queue_max))
        self.batches = 0  # committed by this process
        self.rows = 0
        self.errors = 0  # batches that failed to commit (logged; their rows are lost)
        self.blocked = 0  # times order()/fill() waited for room in a full queue
        self._closed = False
        self.fill_counts: dict = {}  # (venue, symbol) -> fills handed to fill() by this process
        self._last: dict = {}  # (venue, client id) -> what order() last queued for an order not yet final
        self._thread = threading.Thread(target=self._run, name="engine-journal", daemon=True)
        self._thread.start()

    # -- the engine's side (called on the event loop: builds a tuple, queues it)
    def order(self, o) -> None:
        """Queue one state change of ``o`` (an engine.execution ``ManagedOrder``); a call that changes
        nothing journaled since the last one (a repeated partially-filled report) is skipped."""
        r = o.request
        key = (o.status, o.filled, o.order_id, o.fees, o.reason, o.inferred)
        cid = (o.venue, o.client_order_id)
        if self._last.get(cid) == key:
            return
        if o.status.is_final:
            self._last.pop(cid, None)
        else:
            self._last[cid] = key
        self._put(("o", (int(time.time() * 1000), o.venue, o.symbol or r.symbol, o.client_order_id, o.order_id,
                         _enum(r.side), _enum(r.type), _s(r.price), str(r.quantity), _enum(o.status), str(o.filled),
                         _s(o.average_price), str(o.fees), o.reason or "", int(bool(o.inferred)))))

    def fill(self, venue: str, o, upd, qty: Decimal, price: Decimal, fee: Decimal) -> None:
        """Queue one fill of ``o``: ``qty`` at ``price`` paying ``fee``, as reported by ``upd`` (an
        ``OrderUpdate``: its venue timestamp, order id and fee asset)."""
        now = int(time.time() * 1000)
        key = (venue, o.symbol or o.request.symbol)
        self.fill_counts[key] = self.fill_counts.get(key, 0) + 1
        self._put(("f", (now, int(getattr(upd, "timestamp_ms", 0) or now), venue, o.symbol or o.request.symbol,
                         o.client_order_id, upd.order_id or o.order_id, _enum(o.request.side), str(qty), str(price),
                         str(fee), getattr(upd, "fee_asset", None), str(upd.filled_quantity))))

    def record_order(self, **row) -> None:
        """Queue an order event given as columns (``ORDER_COLUMNS``; missing ones are empty)."""
        row.setdefault("recorded_ms", int(time.time() * 1000))
        defaults = {"filled": "0", "fees": "0", "reason": "", "inferred": 0, "quantity": "0"}
        self._put(("o", tuple(_s(row.get(c, defaults.get(c, ""))) if c not in ("recorded_ms", "inferred")
                              else int(row.get(c, defaults.get(c, 0))) for c in ORDER_COLUMNS)))

    def record_fill(self, **row) -> None:
        """Queue a fill given as columns (``FILL_COLUMNS``; ``ts_ms`` defaults to now)."""
        now = int(time.time() * 1000)
        row.setdefault("recorded_ms", now)
        row.setdefault("ts_ms", now)
        row.setdefault("cum_filled", row.get("quantity"))
        self._put(("f", tuple(int(row[c]) if c in ("recorded_ms", "ts_ms") else _s(row.get(c))
                              for c in FILL_COLUMNS)))

    def _put(self, item) -> None:
        if self._closed:
            raise JournalError(f"{self.path}: the journal is closed")
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.blocked += 1
            self._queue.put(item)

    # -- control
    def flush(self, timeout: Optional[float] = 10.0) -> bool:
        """Block until everything queued before this call is committed; False on timeout. Not for the
        event loop (it waits for the disk)."""
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def close(self, timeout: Optional[float] = 10.0) -> None:
        """Commit what is queued, stop the writer thread and close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(("stop", None))
        self._thread.join(timeout)
        if not self._thread.is_alive():
            self._con.close()

    @property
    def pending(self) -> int:
        """Rows queued and not yet committed (approximate)."""
        return self._queue.qsize()

    def status(self) -> dict:
        return {"path": self.path, "batches": self.batches, "rows": self.rows, "pending": self.pending,
                "errors": self.errors, "blocked": self.blocked}

    # -- the writer thread
    def _run(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch, waiters = [], []
            deadline = time.monotonic() + self.flush_every_s
            while True:
                kind, payload = item
                if kind == "stop":
                    stop = True
                    break
                if kind == "flush":
                    waiters.append(payload)
                    break
                batch.append(item)
                if len(batch) >= self.batch_max:
                    break
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
            if batch:
                self._commit(batch)
            for w in waiters:
                w.set()

    def _commit(self, batch: list) -> None:
        con = self._con
        try:
            con.execute("BEGIN IMMEDIATE")
            cur = con.execute("INSERT INTO batches (rows, committed_ms) VALUES (?, ?)",
                              (len(batch), int(time.time() * 1000)))
            b = cur.lastrowid
            orders = [(b, *p) for k, p in batch if k == "o"]
            fills = [(b, *p) for k, p in batch if k == "f"]
            if orders:
                con.executemany(f"INSERT INTO order_events (batch, {', '.join(ORDER_COLUMNS)}) VALUES "
                                f"({', '.join('?' * (len(ORDER_COLUMNS) + 1))})", orders)
            kept = 0
            for f in fills:  # a fill journaled before (same order, same cumulative quantity) is not repeated
                kept += con.execute(f"INSERT OR IGNORE INTO fills (batch, {', '.join(FILL_COLUMNS)}) VALUES "
                                    f"({', '.join('?' * (len(FILL_COLUMNS) + 1))})", f).rowcount
            if kept != len(fills):
                con.execute("UPDATE batches SET rows = ? WHERE id = ?", (len(orders) + kept, b))
            con.execute("COMMIT")
            self.batches += 1
            self.rows += len(orders) + kept
        except sqlite3.Error as e:
            self.errors += 1
            log.error("journal %s: a batch of %d rows could not be committed: %s", self.path, len(batch), e)
            try:
                con.execute("ROLLBACK")
            except sqlite3.Error:
                pass


# -- reading
def parse_since(text: str, *, now_ms: Optional[int] = None) -> int:
    """``--since`` as epoch ms (UTC): ``2026-12-01``, ``2026-12-01T08:00`` (ISO, UTC unless it gives an
    offset), ``36h``/``7d``/``30m`` (that long ago) or epoch milliseconds. ValueError with the accepted forms."""
    text = (text or "").strip()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    m = re.fullmatch(r"(\d+)([smhd])", text)
    if m:
        return now_ms - int(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)] * 1000
    if re.fullmatch(r"\d{10,}", text):
        return int(text)
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: give a date (2026-12-01), a UTC time (2026-12-01T08:00), "
                         f"an age (36h, 7d) or epoch milliseconds") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


class JournalReader:
    """Read-only queries on a journal file (safe while a ``Journal`` writes it: WAL readers see the last
    committed batch)."""

    def __init__(self, path: str):
        self.path = path
        con = _connect(path, create=False)
        con.close()
        try:
            self._con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        except sqlite3.Error as e:
            raise JournalError(f"{path}: cannot open the journal ({e})") from None
        self._con.row_factory = sqlite3.Row

    def close(self) -> None:
        self._con.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _rows(self, sql: str, args=()) -> list:
        return [dict(r) for r in self._con.execute(sql, args)]

    @staticmethod
    def _where(since_ms, until_ms, venue, symbol, ts: str):
        cond, args = [], []
        for value, clause in ((since_ms, f"{ts} >= ?"), (until_ms, f"{ts} < ?"), (venue, "venue = ?"),
                              (symbol, "symbol = ?")):
            if value is not None:
                cond.append(clause)
                args.append(value)
        return (" WHERE " + " AND ".join(cond)) if cond else "", args

    def fills(self, since_ms: Optional[int] = None, until_ms: Optional[int] = None, venue: Optional[str] = None,
              symbol: Optional[str] = None) -> list:
        """Fills, oldest first (by the venue's timestamp), as dicts of ``FILL_COLUMNS`` plus ``id``."""
        where, args = self._where(since_ms, until_ms, venue, symbol, "ts_ms")
        return self._rows(f"SELECT id, {', '.join(FILL_COLUMNS)} FROM fills{where} ORDER BY ts_ms, id", args)

    def order_events(self, client_order_id: Optional[str] = None) -> list:
        """Every recorded state change, oldest first (of one order when ``client_order_id`` is given)."""
        if client_order_id is None:
            return self._rows(f"SELECT id, {', '.join(ORDER_COLUMNS)} FROM order_events ORDER BY id")
        return self._rows(f"SELECT id, {', '.join(ORDER_COLUMNS)} FROM order_events WHERE client_order_id = ? "
                          "ORDER BY id", (client_order_id,))

    def orders(self, since_ms: Optional[int] = None, venue: Optional[str] = None, symbol: Optional[str] = None,
               open_only: bool = False) -> list:
        """Each order's latest recorded state (one row per venue and client order id), oldest first;
        ``open_only``: those whose latest state is not final (what a restart must adopt or cancel)."""
        where, args = self._where(since_ms, None, venue, symbol, "recorded_ms")
        rows = self._rows(
            f"SELECT id, {', '.join(ORDER_COLUMNS)} FROM order_events WHERE id IN "
            f"(SELECT MAX(id) FROM order_events GROUP BY venue, client_order_id)"
            f"{where.replace(' WHERE ', ' AND ', 1)} ORDER BY id", args)
        if open_only:
            final = {"filled", "canceled", "rejected", "expired"}
            rows = [r for r in rows if r["status"] not in final]
        return rows

    def batches(self) -> list:
        return self._rows("SELECT id, rows, committed_ms FROM batches ORDER BY id")

    def schema_version(self) -> int:
        return int(self._con.execute("PRAGMA user_version").fetchone()[0])

    def report(self, since_ms: Optional[int] = None, *, by: str = "day", until_ms: Optional[int] = None) -> list:
        """Fills, volume, notional, fees and realized PnL per ``by`` = ``"day"`` (UTC; rows per day, venue
        and symbol) or ``"symbol"`` (per venue and symbol over the whole period), for fills at or after
        ``since_ms``. Realized PnL replays every fill of a symbol from the start of the journal through
        ``engine.risk.Position`` (so a position opened before ``since_ms`` is closed at its real cost);
        ``realized_pnl`` is before fees, ``net_pnl`` after. Fees are summed as numbers whatever their asset;
        ``fee_assets`` lists the assets seen. Values are exact decimal strings."""
        from engine.risk import Position

        if by not in ("day", "symbol"):
            raise ValueError(f"report by {by!r}: use 'day' or 'symbol'")
        positions: dict = {}
        out: dict = {}
        for f in self.fills(until_ms=until_ms):
            key_ps = (f["venue"], f["symbol"])
            pos = positions.setdefault(key_ps, Position())
            qty, price, fee = Decimal(f["quantity"]), Decimal(f["price"]), Decimal(f["fee"])
            realized = pos.apply_fill(Side(f["side"]), qty, price, fee)
            if since_ms is not None and f["ts_ms"] < since_ms:
                continue
            key = ((_day(f["ts_ms"]),) if by == "day" else ()) + key_ps
            row = out.get(key)
            if row is None:
                row = out[key] = {**({"day": key[0]} if by == "day" else {}), "venue": f["venue"],
                                  "symbol": f["symbol"], "fills": 0, "buy_qty": Decimal(0), "sell_qty": Decimal(0),
                                  "notional": Decimal(0), "fees": Decimal(0), "fee_assets": set(),
                                  "realized_pnl": Decimal(0)}
            row["fills"] += 1
            row["buy_qty" if f["side"] == "buy" else "sell_qty"] += qty
            row["notional"] += qty * price
            row["fees"] += fee
            if f["fee_asset"]:
                row["fee_assets"].add(f["fee_asset"])
            row["realized_pnl"] += realized
        rows = []
        for key in sorted(out):
            r = out[key]
            r["net_pnl"] = r["realized_pnl"] - r["fees"]
            r["fee_assets"] = ",".join(sorted(r["fee_assets"]))
            rows.append({k: (str(v) if isinstance(v, Decimal) else v) for k, v in r.items()})
        return rows


def to_csv(rows: Iterable[dict], columns: Optional[Iterable[str]] = None) -> str:
    """``rows`` (dicts, as the reader returns them) as CSV text with a header line; empty string for none
    unless ``columns`` names the header."""
    rows = list(rows)
    cols = list(columns) if columns is not None else (list(rows[0]) if rows else [])
    if not cols:
        return ""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=cols, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in cols})
    return buf.getvalue()
