"""Crash and restart: ``engine run --live`` trades the market maker against an external ``engine sim binance``
with a journal, is killed with SIGKILL mid-run, and is started again on the same journal. The journal opens
cleanly; every order the venue still holds open is adopted (or, with --on-start-orders cancel, cancelled);
no client order id is used twice; and, once the restarted run has stopped, the journal's fills add up to the
simulator's own trade list for the account, order by order."""
import asyncio
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from decimal import Decimal

import pytest

from engine.journal import JournalReader
from test_paper_trading import LAUNCH, ROOT, SYMBOLS, _env, venue, venue_orders  # noqa: F401 (venue: fixture)


def _venue_trades(info) -> dict:
    """The simulator account's trade list (GET /api/v3/myTrades, signed), per symbol."""
    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.binance.urls import BinanceEndpoints

    async def ask():
        conn = BinanceConnector(endpoints=BinanceEndpoints(info["rest_url"], info["ws_url"], info["ws_api_url"]),
                                api_key=info["api_key"], api_secret=info["api_secret"])
        await conn.http.open()
        try:
            return {s: await conn.http.request("GET", "/api/v3/myTrades", {"symbol": s, "limit": 1000}, signed=True)
                    for s in SYMBOLS}
        finally:
            await conn.http.close()
    return asyncio.run(ask())


def _start(info, jdir, *extra, env=None):
    cmd = [sys.executable, "-c", LAUNCH, "run", "--live", "--json", "--strategy", "mm", "--interval", "0.5",
           "--duration", "120", "--symbols", "BTC-USDT,ETH-USDT", "--journal-dir", str(jdir), *extra]
    keys = {"BINANCE_API_KEY": info["api_key"], "BINANCE_API_SECRET": info["api_secret"],
            "PAPER_TEST_VENUE": json.dumps(info), **(env or {})}
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(**keys))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stdout] + [lines.put(None)], daemon=True).start()
    err: list = []
    threading.Thread(target=lambda: err.extend(p.stderr), daemon=True).start()
    return p, lines, err


def _until(p, lines, err, pred, timeout=90.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            line = lines.get(timeout=max(0.1, end - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        st = json.loads(line)
        if pred(st):
            return st
    p.kill()
    raise AssertionError(f"never reached; stderr: {''.join(err)[-3000:]}")


def _open_at_venue(info) -> dict:
    return {o["clientOrderId"]: o for rows in venue_orders(info).values() for o in rows
            if o["status"] in ("NEW", "PARTIALLY_FILLED")}


@pytest.mark.parametrize("mode", ["adopt", "cancel"])
def test_kill_9_then_restart_adopts_or_cancels_every_open_order(venue, tmp_path, mode):  # noqa: F811
    info, jdir = venue, tmp_path / "journal"
    # no cancel at exit, so what the restart found open is still open (adopt) or not (cancel) at the end
    env = {"RISK_CANCEL_ON_SHUTDOWN": "false"}
    p, lines, err = _start(info, jdir, env=env)
    _until(p, lines, err, lambda st: st["orders"]["filled"] >= 1 and st["orders"]["open"] >= 2)
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=30)
    files = list(jdir.iterdir())
    path = [f for f in files if f.name.endswith(".journal.sqlite")]
    assert len(path) == 1, files
    with JournalReader(str(path[0])) as r:  # opens cleanly after SIGKILL; every batch is whole
        assert r.schema_version() >= 1
        assert sum(b["rows"] for b in r.batches()) == len(r.order_events()) + len(r.fills())
        journaled = _per_order(r.fills())
    # the simulated market keeps trading through the quotes left behind: wait until one fills while the
    # engine is down, so the restart has a fill to catch up on
    deadline = time.monotonic() + 30
    while _venue_per_order(info) == journaled and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _venue_per_order(info) != journaled, "no fill while the engine was down"
    left_open = _open_at_venue(info)
    assert left_open, "the killed run left no order open at the venue: nothing to reconcile"

    restart_ms = int(time.time() * 1000)
    p, lines, err = _start(info, jdir, "--on-start-orders", mode, env=env)
    _until(p, lines, err, lambda st: st["orders"]["sent"] >= 1)
    p.send_signal(signal.SIGTERM)
    assert p.wait(timeout=60) == 0, "".join(err)
    stderr = "".join(err)
    verb = "cancelled" if mode == "cancel" else "adopted"
    assert f"binance: {len(left_open)} open order(s) found at start" in stderr and verb in stderr, stderr

    now_open = _open_at_venue(info)
    with JournalReader(str(path[0])) as r:
        latest = {row["client_order_id"]: row for row in r.orders()}
        fills = r.fills()
    for cid in left_open:  # every order found open is tracked by the restarted run (journaled by it)
        assert latest[cid]["recorded_ms"] >= restart_ms, (cid, latest[cid])
        if mode == "cancel":
            assert cid not in now_open and latest[cid]["status"] == "canceled", latest[cid]
        elif cid in now_open:
            assert latest[cid]["status"] in ("open", "partially_filled"), latest[cid]
    # no client order id used twice at the venue
    cids = [o["clientOrderId"] for rows in venue_orders(info).values() for o in rows]
    assert len(cids) == len(set(cids))
    # the journal's fills equal the venue's trade list, per order (fills made while down included)
    venue_qty = _venue_per_order(info)
    assert venue_qty and _per_order(fills) == venue_qty


def _per_order(fills) -> dict:
    out = defaultdict(Decimal)
    for f in fills:
        out[str(f["order_id"])] += Decimal(f["quantity"])
    return dict(out)


def _venue_per_order(info) -> dict:
    out = defaultdict(Decimal)
    for rows in _venue_trades(info).values():
        for t in rows:
            out[str(t["orderId"])] += Decimal(t["qty"])
    return dict(out)
