"""engine/journal.py: the order and fill journal (SQLite, WAL, batches committed whole, written off the loop)."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from decimal import Decimal as D

import pytest

from engine.execution import ExecutionEngine, ManagedOrder
from engine.journal import (SCHEMA_VERSION, Journal, JournalError, JournalReader, journal_path, parse_since,
                            to_csv)
from engine.models import OrderRequest, OrderStatus, OrderType, OrderUpdate, Side
from engine.risk import RiskManager

S = OrderStatus
DAY = 86_400_000
T0 = 1_764_547_200_000  # 2025-12-01T00:00:00Z


def _order(cid="c1", side=Side.BUY, qty="2", price="100.10"):
    req = OrderRequest("ETH-USDT", side, OrderType.LIMIT, D(qty), D(price), client_order_id=cid)
    o = ManagedOrder("binance", req, cid, "ETH-USDT")
    return o


def test_the_execution_engine_journals_every_state_change_and_every_fill_exactly(tmp_path):
    path = journal_path(str(tmp_path), "binance-main")
    j = Journal(path, account="binance-main")
    ex = ExecutionEngine({}, RiskManager(), journal=j)
    o = _order()
    ex.orders[o.client_order_id] = o
    ex._move(o, S.SUBMITTED)
    ex.on_update("binance", OrderUpdate("binance", "ETHUSDT", "777", "c1", S.OPEN, timestamp_ms=T0))
    ex.on_update("binance", OrderUpdate("binance", "ETHUSDT", "777", "c1", S.PARTIALLY_FILLED,
                                        filled_quantity=D("0.5"), last_fill_quantity=D("0.5"),
                                        last_fill_price=D("100.10"), fee=D("0.00050050"), fee_asset="USDT",
                                        timestamp_ms=T0 + 1))
    # the same report again (another source): counted once, journaled once
    ex.on_update("binance", OrderUpdate("binance", "ETHUSDT", "777", "c1", S.PARTIALLY_FILLED,
                                        filled_quantity=D("0.5"), last_fill_quantity=D("0.5"),
                                        last_fill_price=D("100.10"), fee=D("0.00050050"), timestamp_ms=T0 + 1))
    ex.on_update("binance", OrderUpdate("binance", "ETHUSDT", "777", "c1", S.FILLED, filled_quantity=D("2"),
                                        last_fill_quantity=D("1.5"), last_fill_price=D("100.09"),
                                        fee=D("0.0015013500"), fee_asset="USDT", timestamp_ms=T0 + 2))
    assert j.flush()
    j.close()
    with JournalReader(path) as r:
        events = r.order_events("c1")
        fills = r.fills()
        assert r.schema_version() == SCHEMA_VERSION
    assert [e["status"] for e in events] == ["submitted", "open", "partially_filled", "filled"]
    assert events[-1]["order_id"] == "777" and events[-1]["filled"] == "2"
    assert events[-1]["average_price"] == str(o.average_price) and events[-1]["fees"] == str(o.fees)
    assert [(f["quantity"], f["price"], f["fee"], f["fee_asset"], f["ts_ms"], f["cum_filled"]) for f in fills] == [
        ("0.5", "100.10", "0.00050050", "USDT", T0 + 1, "0.5"),
        ("1.5", "100.09", "0.0015013500", "USDT", T0 + 2, "2")]
    assert {(f["venue"], f["symbol"], f["client_order_id"], f["order_id"], f["side"]) for f in fills} == \
        {("binance", "ETH-USDT", "c1", "777", "buy")}


def test_a_fill_journaled_twice_is_kept_once(tmp_path):
    j = Journal(str(tmp_path / "a.sqlite"))
    for _ in range(2):
        j.record_fill(venue="binance", symbol="ETH-USDT", client_order_id="c1", side="buy", quantity="1",
                      price="100", fee="0.1", cum_filled="1", ts_ms=T0)
        j.flush()
    j.close()
    with JournalReader(str(tmp_path / "a.sqlite")) as r:
        assert len(r.fills()) == 1
        assert sum(b["rows"] for b in r.batches()) == 1


def test_writes_happen_off_the_caller_thread(tmp_path):
    """While another connection holds the file locked, order() still returns at once: the row waits in
    the queue and is committed by the writer thread once the lock is gone."""
    path = str(tmp_path / "a.sqlite")
    j = Journal(path)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    ex = ExecutionEngine({}, RiskManager(), journal=j)
    o = _order()
    ex.orders["c1"] = o
    for status in (S.SUBMITTED, S.OPEN, S.CANCELED):
        ex._move(o, status)  # would block (or fail with "database is locked") if it wrote here
    assert o.status is S.CANCELED
    assert not j.flush(timeout=0.3)  # the writer is still waiting for the lock
    blocker.execute("COMMIT")
    blocker.close()
    assert j.flush()
    j.close()
    with JournalReader(path) as r:
        assert [e["status"] for e in r.order_events()] == ["submitted", "open", "canceled"]


def test_report_by_day_and_symbol_with_pnl_fees_and_csv(tmp_path):
    path = str(tmp_path / "a.sqlite")
    j = Journal(path)
    rows = [  # (ts, symbol, side, qty, price, fee)
        (T0 + 1000, "ETH-USDT", "buy", "1", "100.5", "0.1"),
        (T0 + 2000, "ETH-USDT", "sell", "0.4", "110.5", "0.05"),
        (T0 + DAY + 5, "ETH-USDT", "sell", "0.6", "90.5", "0.05"),
        (T0 + DAY + 6, "BTC-USDT", "sell", "0.01", "50000", "0.5"),
        (T0 + DAY + 7, "BTC-USDT", "buy", "0.01", "49000", "0.5"),
    ]
    for i, (ts, sym, side, qty, px, fee) in enumerate(rows):
        j.record_fill(ts_ms=ts, venue="binance", symbol=sym, client_order_id=f"c{i}", side=side, quantity=qty,
                      price=px, fee=fee, fee_asset="USDT")
    j.close()
    with JournalReader(path) as r:
        by_day = r.report(by="day")
        by_sym = r.report(by="symbol")
        since = r.report(T0 + DAY, by="symbol")
        csv_text = to_csv(by_day)
    assert [(x["day"], x["symbol"], x["fills"], x["realized_pnl"], x["fees"], x["net_pnl"]) for x in by_day] == [
        ("2025-12-01", "ETH-USDT", 2, "4.00", "0.15", "3.85"),
        ("2025-12-02", "BTC-USDT", 2, "10.00", "1.0", "9.00"),
        ("2025-12-02", "ETH-USDT", 1, "-6.00", "0.05", "-6.05")]
    eth = next(x for x in by_sym if x["symbol"] == "ETH-USDT")
    assert (eth["buy_qty"], eth["sell_qty"], eth["notional"], eth["realized_pnl"]) == ("1", "1.0", "199.00", "-2.00")
    # a later window still closes the ETH position at its real cost (the fills before it are replayed)
    assert next(x for x in since if x["symbol"] == "ETH-USDT")["realized_pnl"] == "-6.00"
    lines = csv_text.splitlines()
    assert lines[0].split(",")[:4] == ["day", "venue", "symbol", "fills"]
    assert len(lines) == 4 and "2025-12-02,binance,BTC-USDT,2" in lines[2]


def test_orders_latest_state_and_open_only(tmp_path):
    path = str(tmp_path / "a.sqlite")
    j = Journal(path)
    for cid, states in (("a", ["submitted", "open"]), ("b", ["submitted", "open", "canceled"])):
        for st in states:
            j.record_order(venue="binance", symbol="ETH-USDT", client_order_id=cid, side="buy", type="limit",
                           price="1", quantity="1", status=st)
    j.close()
    with JournalReader(path) as r:
        assert [(o["client_order_id"], o["status"]) for o in r.orders()] == [("a", "open"), ("b", "canceled")]
        assert [o["client_order_id"] for o in r.orders(open_only=True)] == ["a"]


def test_bad_files_and_inputs_give_clear_errors(tmp_path):
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"this is not a database at all, just text" * 100)
    with pytest.raises(JournalError, match="not an SQLite journal"):
        Journal(str(junk))
    with pytest.raises(JournalError, match="no such journal file"):
        JournalReader(str(tmp_path / "missing.sqlite"))
    other = tmp_path / "other.sqlite"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="not an order journal"):
        JournalReader(str(other))
    newer = tmp_path / "newer.sqlite"
    Journal(str(newer)).close()
    con = sqlite3.connect(newer)
    con.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    con.commit()
    con.close()
    with pytest.raises(JournalError, match="newer than this engine"):
        Journal(str(newer))
    with pytest.raises(JournalError, match="letters, digits"):
        journal_path(str(tmp_path), "../etc")
    with pytest.raises(ValueError, match="--since 'yesterday'"):
        parse_since("yesterday")
    assert parse_since("2025-12-01") == T0
    assert parse_since("36h", now_ms=T0 + 2 * DAY) == T0 + 12 * 3_600_000
    assert parse_since(str(T0)) == T0
    with pytest.raises(ValueError, match="report by"):
        Journal(str(tmp_path / "x.sqlite")).close() or JournalReader(str(tmp_path / "x.sqlite")).report(by="week")


CHILD = textwrap.dedent("""
    import sys
    from engine.journal import Journal
    j = Journal(sys.argv[1], batch_max=100_000, flush_every_s=30)
    group = 0
    while True:
        for i in range({per}):
            j.record_fill(venue="binance", symbol="ETH-USDT", client_order_id=f"g{{group}}-{{i}}", side="buy",
                          quantity="0.001", price="100.01", fee="0", cum_filled="0.001", ts_ms=1764547200000)
        j.flush(timeout=None)  # one group = one batch = one transaction
        group += 1
""")


def test_kill_9_mid_run_leaves_a_clean_file_of_whole_batches(tmp_path):
    path = str(tmp_path / "crash.sqlite")
    per = 2000
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(per=per), path],
                             cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        deadline = time.monotonic() + 60
        committed = 0
        while committed < 5:  # let it commit a few batches, then kill it while it writes the next ones
            assert child.poll() is None, "the writer process died on its own"
            assert time.monotonic() < deadline, "the writer committed nothing"
            time.sleep(0.05)
            if os.path.exists(path):
                try:
                    with JournalReader(path) as r:
                        committed = len(r.batches())
                except (JournalError, sqlite3.Error):
                    pass
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    con = sqlite3.connect(path)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    with JournalReader(path) as r:
        batches = r.batches()
        fills = r.fills()
    assert len(batches) >= 5
    per_batch: dict = {}
    for f in fills:
        per_batch.setdefault(f["client_order_id"].split("-")[0], set()).add(f["client_order_id"])
    # every committed batch is whole: its row count is what it says, and each group it holds is complete
    assert all(b["rows"] == per for b in batches)
    assert len(fills) == per * len(batches)
    assert all(len(ids) == per for ids in per_batch.values()), "a group was committed in part"
