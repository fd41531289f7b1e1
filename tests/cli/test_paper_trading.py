"""engine run --live --paper, the real command in a subprocess, against an external ``engine sim binance``
process standing in for the live venue: market data comes from it, orders are matched locally
(engine/backtest/paper.py) and none reaches it. The "live" endpoints are pointed at the simulator by the
test's launcher only (the mainnet endpoint table is replaced before the CLI starts)."""
from __future__ import annotations

import asyncio
import json
import os
import pathlib
import queue
import signal
import subprocess
import sys
import threading
from decimal import Decimal

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
_OURS = ("ENGINE_", "RISK_", "BINANCE_", "LIGHTER_", "ACTIVE_EXCHANGE", "MONITOR_EXCHANGES")
# the CLI with the live endpoints replaced by the simulator's (from PAPER_TEST_VENUE, its info line)
LAUNCH = ("import json, os, sys; from engine.connectors.binance import urls; "
          "i = json.loads(os.environ['PAPER_TEST_VENUE']); "
          "urls.ENVIRONMENTS['mainnet'] = urls.BinanceEndpoints(i['rest_url'], i['ws_url'], i['ws_api_url']); "
          "from engine.cli import main; sys.exit(main(sys.argv[1:]))")
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update({"ACTIVE_EXCHANGE": "binance", "MONITOR_EXCHANGES": "binance"}, **extra)
    return env


@pytest.fixture
def venue():
    """An external simulator process; its info line (URLs and its account's keys)."""
    p = subprocess.Popen([sys.executable, "-m", "engine", "sim", "binance"], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=_env())
    try:
        info = json.loads(p.stdout.readline())
        yield info
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()


def paper_run(info, args, until, *, env=None, live=True, timeout=60.0):
    """``engine run --json --paper [--live] ARGS`` until ``until(status)``, then SIGTERM; (exit code, every
    status line, stderr)."""
    cmd = [sys.executable, "-c", LAUNCH, "run", "--json", "--paper", *(["--live"] if live else []),
           "--duration", str(timeout), "--interval", "0.5", *args]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                         env=_env(PAPER_TEST_VENUE=json.dumps(info), **(env or {})))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stdout] + [lines.put(None)], daemon=True).start()
    err: list = []
    threading.Thread(target=lambda: err.extend(p.stderr), daemon=True).start()
    seen = []
    try:
        while True:
            line = lines.get(timeout=timeout + 30)
            if line is None:
                break
            seen.append(json.loads(line))
            if until(seen[-1]):
                p.send_signal(signal.SIGTERM)
                break
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
    assert seen and until(seen[-1]), f"never reached; last status: {seen[-1] if seen else None}; {''.join(err)}"
    return rc, seen, "".join(err)


def venue_orders(info) -> dict:
    """Every order the simulator's own account holds, per symbol (its allOrders, signed with its keys)."""
    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.binance.urls import BinanceEndpoints

    async def ask():
        conn = BinanceConnector(endpoints=BinanceEndpoints(info["rest_url"], info["ws_url"], info["ws_api_url"]),
                                api_key=info["api_key"], api_secret=info["api_secret"])
        await conn.http.open()
        try:
            return {s: await conn.http.request("GET", "/api/v3/allOrders", {"symbol": s}, signed=True)
                    for s in SYMBOLS}
        finally:
            await conn.http.close()
    return asyncio.run(ask())


def paper(st) -> dict:
    return st["venues"]["binance"]["paper"]


def fills_at_least(n):
    return lambda st: paper(st)["fills"] >= n and st["orders"]["filled"] >= 1


def check_priced_from_the_book(seen, slack=Decimal("0.5")):
    """Every last paper fill lies within the bids and asks the venue's book showed in the status lines,
    give or take ``slack`` (the book moves between two status lines)."""
    quotes = {}
    for st in seen:
        for r in st["books"]:
            if r["bid"] is not None and r["ask"] is not None:
                lo, hi = quotes.get(r["symbol"], (r["bid"], r["ask"]))
                quotes[r["symbol"]] = (min(lo, r["bid"]), max(hi, r["ask"]))
    last = [paper(st)["last_fill"] for st in seen if paper(st)["last_fill"]]
    assert last
    for f in last:
        lo, hi = quotes[f["symbol"]]
        assert Decimal(str(lo)) - slack <= Decimal(f["price"]) <= Decimal(str(hi)) + slack, (f, quotes)
    return last


def test_taker_paper_trades_live_data_without_keys_and_sends_nothing(venue):
    rc, seen, err = paper_run(venue, ["--strategy", "examples/taker.py:Taker", "--param", "every_s=0.5"],
                              fills_at_least(3))
    assert rc == 0, err
    assert "live Binance" in err and "paper trading: orders matched locally" in err
    st = seen[-1]
    assert st["strategy"]["instances"][0]["filled"] >= 1
    # the paper user stream is up once the books are live: the first orders do not meet a DEGRADED venue
    assert st["orders"]["rejected"] == 0, st["orders"]
    last = check_priced_from_the_book(seen)
    assert {f["liquidity"] for f in last} == {"taker"}
    assert st["venues"]["binance"]["paper"]["orders"] == st["orders"]["sent"] - st["orders"]["rejected"]
    assert venue_orders(venue) == {s: [] for s in SYMBOLS}


def test_market_maker_paper_fills_are_maker_fills_at_its_quotes(venue):
    rc, seen, err = paper_run(venue, ["--strategy", "mm"], fills_at_least(2), timeout=90.0)
    assert rc == 0, err
    # a resting quote fills when a trade reaches it, which may be beyond the touch two status lines showed
    last = check_priced_from_the_book(seen, slack=Decimal(3))
    assert "maker" in {f["liquidity"] for f in last}
    assert venue_orders(venue) == {s: [] for s in SYMBOLS}


def test_paper_with_the_venue_keys_set_still_sends_nothing(venue):
    keys = {"BINANCE_API_KEY": venue["api_key"], "BINANCE_API_SECRET": venue["api_secret"],
            "BINANCE_ORDER_ENTRY": "ws"}  # with keys, the WS API would log on: the venue is built without them
    rc, seen, err = paper_run(venue, ["--strategy", "examples/taker.py:Taker", "--param", "every_s=0.5"],
                              fills_at_least(3), env=keys)
    assert rc == 0, err
    assert venue_orders(venue) == {s: [] for s in SYMBOLS}


def test_paper_without_live_matches_locally_on_the_embedded_simulators(venue):
    rc, seen, err = paper_run(venue, ["--strategy", "examples/taker.py:Taker", "--param", "every_s=0.5"],
                              fills_at_least(2), live=False)
    assert rc == 0, err
    assert "embedded Binance simulator" in err and "paper trading" in err
    # the external venue was not the one used, and nothing reached it either
    assert venue_orders(venue) == {s: [] for s in SYMBOLS}


def test_live_without_paper_and_without_keys_is_refused_before_connecting(venue):
    out = subprocess.run([sys.executable, "-c", LAUNCH, "run", "--live", "--strategy", "examples/taker.py:Taker",
                          "--duration", "1"], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=_env(PAPER_TEST_VENUE=json.dumps(venue)))
    assert out.returncode == 2 and "BINANCE_API_KEY" in out.stderr


# -- the matcher on live frames, with a stand-in for the wrapped connector (hand-computed answers)

class _Feed:
    def __init__(self, symbol):
        from engine.book import BookSync, OrderBook
        from engine.connectors.base import StreamHealth

        self.book = OrderBook(symbol)
        self.sync = BookSync(self.book)
        self.health = StreamHealth(symbol, self.book)
        self.callbacks = []

    def frame(self, raw: bytes, snapshot=False):
        (self.sync.apply_snapshot if snapshot else self.sync.feed)(raw)
        self.health.applied(self.book, self.callbacks)


class _Live:
    """What PaperConnector reads of the venue's connector; any order call on it fails the test."""

    name = "binance"
    symbols = None

    def __init__(self):
        self.feed = _Feed("XUSDT")
        self.trade_cbs = []

    async def connect(self):
        pass

    async def disconnect(self):
        pass

    def unified(self, symbol):
        return symbol.upper()

    def health(self):
        return {"exchange": "binance", "state": "live"}

    def _book_feeds(self):
        return [self.feed]

    async def add_book(self, symbol, callback=None):
        if callback is not None:
            self.feed.callbacks.append(callback)
        return self.feed

    async def add_trades(self, symbol, callback):
        self.trade_cbs.append(callback)

    def trade(self, price, qty, side):
        from engine.models import Trade

        for cb in self.trade_cbs:
            cb(Trade("binance", "XUSDT", float(price), float(qty), side, 1, 0, price, qty))

    def __getattr__(self, name):
        raise AssertionError(f"paper trading called the venue's {name}")


def test_paper_matcher_consumes_the_live_book_until_a_frame_restates_the_level():
    from engine.backtest.paper import PaperConnector
    from engine.connectors.binance.backtest import BinanceBacktest
    from engine.models import Side

    async def go():
        live = _Live()
        paper_conn = PaperConnector(live, BinanceBacktest)
        await paper_conn.connect()
        await paper_conn.add_book("XUSDT")
        live.feed.frame(b'{"lastUpdateId":1,"bids":[["100","5"]],"asks":[["101","3"]]}', snapshot=True)
        a = await paper_conn.create_order("XUSDT", "buy", "limit", "2", "101", time_in_force="IOC")
        b = await paper_conn.create_order("XUSDT", "buy", "limit", "2", "101", time_in_force="IOC")
        assert (a.filled_quantity, b.filled_quantity) == (Decimal(2), Decimal(1))  # 3 shown, given once
        # a frame showing the ask elsewhere does not restate 101: still nothing left there
        live.feed.frame(b'{"e":"depthUpdate","E":1,"s":"XUSDT","U":2,"u":2,"b":[["99","1"]],"a":[]}')
        c = await paper_conn.create_order("XUSDT", "buy", "limit", "1", "101", time_in_force="IOC")
        assert c.filled_quantity == 0
        live.feed.frame(b'{"e":"depthUpdate","E":2,"s":"XUSDT","U":3,"u":3,"b":[],"a":[["101","4"]]}')
        d = await paper_conn.create_order("XUSDT", "buy", "limit", "5", "101", time_in_force="IOC")
        assert d.filled_quantity == Decimal(4)  # the restated level, whole
        # a resting bid behind 5 at 100 (trades-only queue): 5 trading there leaves it unfilled, 1 more fills
        await paper_conn.create_order("XUSDT", "buy", "limit", "1", "100", time_in_force="GTC")
        live.trade("100", "5", Side.SELL)
        assert [f.liquidity for f in paper_conn.fills] == ["taker"] * 3
        live.trade("100", "1", Side.SELL)
        assert [(f.liquidity, f.price, f.qty) for f in paper_conn.fills[3:]] == [("maker", "100", "1")]
        return paper_conn.health()["paper"]

    h = asyncio.run(go())
    assert (h["fills"], h["open"], h["public_trades"]) == (4, 0, 2)
