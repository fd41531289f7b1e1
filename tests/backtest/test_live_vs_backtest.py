"""Backtest against live: the built-in market maker trades on an external ``engine sim binance`` process (the real
``engine run --live`` in a subprocess, the simulator's keys) while ``engine record --live`` records that same
simulator session; then ``engine backtest`` runs the same strategy with the same parameters on the recording,
and its fills are compared with the live run's orders that traded, as the simulator reports them (its
``/api/v3/allOrders``), within the tolerance documented in docs/backtest.md ("Backtest against live: the tolerance").

The "live" endpoints are pointed at the simulator by tests/cli/test_paper_trading.py's launcher only (the
mainnet endpoint table is replaced before the CLI starts).
"""
from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

# the launcher, the external simulator (the ``venue`` fixture) and its account's orders
from cli.test_paper_trading import LAUNCH, ROOT, _env, venue, venue_orders  # noqa: F401 (venue: a fixture)

# quotes at the touch that follow the mid and do not depend on inventory, so a quote at an instant is the same
# in both runs whenever each of them started (see the tolerance in docs/backtest.md)
MM = ["--strategy", "mm", "--symbols", "BTC-USDT", "--param", "half_spread_bps=0.001",
      "--param", "skew_bps_per_unit=0", "--param", "requote_bps=0.005"]
LIVE_S = 15
MATCH_MS = 1000  # a fill matches one on the same side at the same price within this many ms
MIN_SHARE = (1, 2)  # at least this share of each side's fills in the common window must match


def live_session(info, tmp_path) -> tuple:
    """Record the simulator ``info`` while the market maker trades on it; (recording path, live fills, window
    in ms: from the first live order to the last update of any)."""
    env = _env(PAPER_TEST_VENUE=json.dumps(info))
    path = str(tmp_path / "live.jsonl.gz")
    rec = subprocess.Popen([sys.executable, "-c", LAUNCH, "record", "--live", "--venue", "binance",
                            "--symbols", "BTC-USDT", "--duration", str(LIVE_S + 8), "--out", path],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    try:
        for line in rec.stderr:  # the recorder announces once its book is subscribed
            if "->" in line:
                break
        keys = {"BINANCE_API_KEY": info["api_key"], "BINANCE_API_SECRET": info["api_secret"]}
        live = subprocess.run([sys.executable, "-c", LAUNCH, "run", "--live", "--json", *MM,
                               "--duration", str(LIVE_S), "--interval", "1"],
                              capture_output=True, text=True, cwd=ROOT, env=dict(env, **keys), timeout=120)
        assert live.returncode == 0, live.stderr
        _, err = rec.communicate(timeout=120)
        assert rec.returncode == 0, err
    finally:
        if rec.poll() is None:
            rec.kill()
    orders = venue_orders(info)["BTCUSDT"]
    # each order that traded, at its last update (a filled order's: its last fill)
    fills = [(o["updateTime"], o["side"].lower(), o["price"], o["executedQty"]) for o in orders
             if Decimal(o["executedQty"]) > 0]
    window = (min(o["time"] for o in orders), max(o["updateTime"] for o in orders))
    return path, fills, window


def backtest_fills(path, *extra) -> list:
    out = subprocess.run([sys.executable, "-m", "engine", "backtest", path, *MM, "--json", *extra],
                         capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env())
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout.strip().splitlines()[-1])["result"]
    return [(f["t_ns"] // 1_000_000, f["side"], f["price"], f["qty"]) for f in res["fills"]]


def matched_share(ours, theirs) -> tuple:
    """(matched, total) of ``ours``: fills with a fill in ``theirs`` on the same side at the same price within
    MATCH_MS (quantities not compared: a partial fill in one run can be a whole one in the other)."""
    hits = sum(1 for t, side, price, _ in ours
               if any(s == side and Decimal(p) == Decimal(price) and abs(u - t) <= MATCH_MS for u, s, p, _ in theirs))
    return hits, len(ours)


def within_tolerance(live, backtest, window) -> bool:
    lo, hi = window
    bt = [f for f in backtest if lo <= f[0] <= hi]
    (a, n), (b, m) = matched_share(live, backtest), matched_share(bt, live)
    return n > 0 and m > 0 and a * MIN_SHARE[1] >= n * MIN_SHARE[0] and b * MIN_SHARE[1] >= m * MIN_SHARE[0]


def test_backtest_of_a_live_session_fills_like_live_within_the_tolerance(venue, tmp_path):
    path, live, window = live_session(venue, tmp_path)
    assert len(live) >= 3, f"the live market maker hardly traded ({live}): nothing to compare"
    backtest = backtest_fills(path)
    detail = f"live {live}\nbacktest {backtest}\nwindow {window}"
    assert within_tolerance(live, backtest, window), detail
    # the comparison can fail: the same recording backtested with 1.5 s of order latency fills elsewhere
    late = backtest_fills(path, "--latency-ms", "1500")
    assert not within_tolerance(live, late, window), detail + f"\nlate {late}"
