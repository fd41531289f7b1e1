"""engine/prometheus.py: the exposition parsed back with prometheus_client.parser, against a fake source and a
real connector on the Binance simulator; a real Prometheus server scraping it (skipped where absent); and
dashboards/engine.json naming only exported metrics."""
import asyncio
import json
import pathlib
import re
import shutil
import socket
import subprocess
import sys
import urllib.parse
from decimal import Decimal as D
from types import SimpleNamespace

import aiohttp
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.execution import ManagedOrder
from engine.metrics import LatencyHistogram
from engine.models import OrderRequest, OrderStatus, OrderType, Side
from engine.prometheus import BOOK_LATENCY_BOUNDS_S, cumulative_buckets, registry_for, start_metrics_server
from engine.risk import RiskManager
from helpers import wait_for

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "connectors"))
from binance_env import binance  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
S = OrderStatus


class FakeConnector:
    def __init__(self, hist):
        self.market = SimpleNamespace(listener=SimpleNamespace(latency=hist))
        self.limits = SimpleNamespace(status=lambda: {"REQUEST_WEIGHT/1M": {"used": 120, "limit": 6000},
                                                      "ORDERS/10S": {"used": 3, "limit": 100},
                                                      "banned_for_s": 0.0, "waiting": 0, "queued": 0})
        self.auth = SimpleNamespace(offset_ms=-12.5)

    def health(self):
        return {"exchange": "binance", "state": "live", "ws_disconnects": 2,
                "books": [{"symbol": "ETH-USDT", "state": "live", "gaps": 3, "resyncs": 1, "messages": 1234,
                           "stalls": 0, "crossed": 0, "age_s": 0.25},
                          {"symbol": "BTC-USDT", "state": "resyncing", "gaps": 0, "resyncs": 0, "messages": 5,
                           "stalls": 1, "crossed": 0, "age_s": None}]}


def _fake_source():
    hist = LatencyHistogram()
    for ns in [3_000] * 50 + [40_000] * 30 + [2_000_000] * 20:
        hist.add(ns)
    risk = RiskManager()
    risk.on_fill("binance", "ETH-USDT", Side.BUY, D("2"), D("100"), D("0.2"))
    risk.on_fill("binance", "ETH-USDT", Side.SELL, D("0.5"), D("110"), D("0.05"))
    risk.mark("binance", "ETH-USDT", D("120"))
    risk.refusals["max_position"] += 4
    orders = {}
    for i, (status, reason, filled) in enumerate([(S.FILLED, "", "2"), (S.CANCELED, "", "0"), (S.OPEN, "", "0"),
                                                  (S.REJECTED, "risk: max_position", "0"),
                                                  (S.REJECTED, "-2010 insufficient balance", "0"),
                                                  (S.REJECTED, "risk: rate", "0")]):
        req = OrderRequest("ETH-USDT", Side.BUY, OrderType.LIMIT, D("2"), D("100"))
        o = ManagedOrder("binance", req, f"c{i}", "ETH-USDT", status=status, reason=reason, filled=D(filled),
                         average_price=D("100") if filled != "0" else None)
        orders[o.client_order_id] = o
    ex = SimpleNamespace(orders=orders, connectors={"binance": None})
    journal = SimpleNamespace(fill_counts={("binance", "ETH-USDT"): 7})
    return SimpleNamespace(connectors={"binance": FakeConnector(hist)}, execution=ex, risk=risk, journal=journal), hist


def _parse(text):
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {}
    for f in fams.values():
        for s in f.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return fams, samples


def test_the_exposition_of_a_fake_source_has_the_right_names_types_labels_and_values():
    source, hist = _fake_source()
    fams, v = _parse(generate_latest(registry_for(source)).decode())
    types = {n: f.type for n, f in fams.items()}
    assert types["engine_book_gaps"] == "counter" and types["engine_book_age_seconds"] == "gauge"
    assert types["engine_book_latency_seconds"] == "histogram"
    assert types["engine_orders_final"] == "counter" and types["engine_position_base"] == "gauge"
    eth = (("symbol", "ETH-USDT"), ("venue", "binance"))
    assert v[("engine_book_gaps_total", eth)] == 3
    assert v[("engine_book_resyncs_total", eth)] == 1
    assert v[("engine_book_frames_total", eth)] == 1234
    assert v[("engine_book_age_seconds", eth)] == 0.25
    assert v[("engine_book_state", (("state", "live"),) + eth)] == 1
    assert v[("engine_book_state", (("state", "resyncing"),) + eth)] == 0
    assert v[("engine_book_state", (("state", "resyncing"), ("symbol", "BTC-USDT"), ("venue", "binance")))] == 1
    assert v[("engine_ws_disconnects_total", (("venue", "binance"),))] == 2
    assert v[("engine_clock_offset_seconds", (("venue", "binance"),))] == -0.0125
    assert v[("engine_rate_limit_used", (("limit", "ORDERS/10S"), ("venue", "binance")))] == 3
    assert v[("engine_rate_limit_limit", (("limit", "REQUEST_WEIGHT/1M"), ("venue", "binance")))] == 6000
    b = (("venue", "binance"),)
    assert v[("engine_orders_final_total", (("state", "filled"),) + b)] == 1
    assert v[("engine_orders_final_total", (("state", "rejected"),) + b)] == 3
    assert v[("engine_orders", (("state", "open"),) + b)] == 1
    assert v[("engine_order_rejections_total", (("reason", "risk"),) + b)] == 2
    assert v[("engine_order_rejections_total", (("reason", "venue"),) + b)] == 1
    assert v[("engine_filled_base_total", eth)] == 2 and v[("engine_filled_quote_total", eth)] == 200
    assert v[("engine_fills_total", eth)] == 7
    assert v[("engine_position_base", eth)] == 1.5
    assert v[("engine_realized_pnl_quote", eth)] == 5  # 0.5 sold 10 above cost
    assert v[("engine_unrealized_pnl_quote", eth)] == 30  # 1.5 marked 20 above cost
    assert v[("engine_fees_quote_total", eth)] == pytest.approx(0.25)
    assert v[("engine_risk_refusals_total", (("check", "max_position"),))] == 4
    # the histogram: real buckets, cumulative, +Inf = count, sum in seconds
    bucket = lambda le: v[("engine_book_latency_seconds_bucket", (("le", le),) + b)]  # noqa: E731
    assert bucket("5e-06") == 50 and bucket("2e-05") == 50 and bucket("5e-05") == 80
    assert bucket("0.001") == 80 and bucket("0.005") == 100 and bucket("+Inf") == 100
    assert v[("engine_book_latency_seconds_count", b)] == 100
    assert v[("engine_book_latency_seconds_sum", b)] == pytest.approx((50 * 3e-6 + 30 * 4e-5 + 20 * 2e-3), rel=1e-9)


def test_cumulative_buckets_follow_the_histogram_for_many_values():
    h = LatencyHistogram()
    values = [int(1000 * 1.37 ** i) for i in range(60)]
    for x in values:
        h.add(x)
    got = dict(cumulative_buckets(h, BOOK_LATENCY_BOUNDS_S))
    for b in BOOK_LATENCY_BOUNDS_S:
        exact = sum(1 for x in values if x <= b * 1e9)
        assert abs(got[repr(b)] - exact) <= 1, b  # a value within 0.8% of a bound may land either side
    assert got["+Inf"] == 60
    empty = dict(cumulative_buckets(LatencyHistogram(), BOOK_LATENCY_BOUNDS_S))
    assert set(empty.values()) == {0}


def test_a_failing_part_is_counted_not_fatal():
    source, _ = _fake_source()
    source.risk = SimpleNamespace()  # no positions attribute: that part fails
    fams, v = _parse(generate_latest(registry_for(source)).decode())
    assert v[("engine_exporter_errors_total", ())] == 1
    assert "engine_book_gaps" in fams


async def test_a_real_connector_on_the_binance_simulator():
    async with binance() as (sim, conn):
        await conn.add_book("ETH-USDT")
        source = SimpleNamespace(connectors={"binance": conn}, execution=None, risk=None)
        server = await start_metrics_server(source, 0)
        try:
            await wait_for(lambda: (conn.book_latency() or {}).get("count", 0) > 5)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{server.port}/metrics") as r:
                    assert r.status == 200
                    text = await r.text()
        finally:
            await server.close()
    fams, v = _parse(text)
    eth = (("symbol", "ETH-USDT"), ("venue", "binance"))
    assert v[("engine_book_state", (("state", "live"),) + eth)] == 1
    assert v[("engine_book_frames_total", eth)] > 0
    b = (("venue", "binance"),)
    count = v[("engine_book_latency_seconds_count", b)]
    assert count > 5 and v[("engine_book_latency_seconds_bucket", (("le", "+Inf"),) + b)] == count
    assert v[("engine_rate_limit_limit", (("limit", "REQUEST_WEIGHT/1M"),) + b)] == 6000
    assert v[("engine_rate_limit_used", (("limit", "REQUEST_WEIGHT/1M"),) + b)] > 0
    assert ("engine_venue_state", (("state", "live"),) + b) in v
    assert fams["engine_event_loop_lag_seconds"].type == "histogram"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="no prometheus binary on PATH (Debian: apt-get install prometheus)")
async def test_a_real_prometheus_scrapes_it_and_answers_a_quantile_and_a_rate(tmp_path):
    source, hist = _fake_source()
    frames = {"n": 1000}
    conn = source.connectors["binance"]
    base_health = conn.health

    def health():
        h = base_health()
        h["books"][0]["messages"] = frames["n"]
        return h

    conn.health = health
    server = await start_metrics_server(source, 0)
    port = _free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text("global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: engine\n"
                   f"    static_configs: [{{targets: ['127.0.0.1:{server.port}']}}]\n")
    proc = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'data'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    api = f"http://127.0.0.1:{port}/api/v1/query?query="
    try:
        async with aiohttp.ClientSession() as http:
            async def query(q):
                try:
                    async with http.get(api + urllib.parse.quote(q)) as r:
                        body = await r.json()
                except aiohttp.ClientError:
                    return None
                res = body.get("data", {}).get("result") or []
                return float(res[0]["value"][1]) if res else None

            state = {}

            async def poll():
                while True:
                    frames["n"] += 100  # the engine applies frames between scrapes
                    state["q"] = await query('histogram_quantile(0.5, engine_book_latency_seconds_bucket)')
                    state["r"] = await query('rate(engine_book_frames_total{symbol="ETH-USDT"}[10s])')
                    if state["q"] is not None and state["r"] is not None:
                        return
                    await asyncio.sleep(0.5)

            await asyncio.wait_for(poll(), 50)
    finally:
        proc.terminate()
        proc.wait()
        await server.close()
    # the median is in the 3 us values' bucket (2 us, 5 us]; the engine's own percentile says the same
    assert 2e-6 < state["q"] <= 5e-6 and 2e-6 < hist.percentile(50) / 1e9 <= 5e-6
    assert state["r"] > 0


def _exported_names():
    source, _ = _fake_source()
    lag = SimpleNamespace(histogram=LatencyHistogram())  # what LoopLagMonitor hands the collector
    fams, _ = _parse(generate_latest(registry_for(source, lag)).decode())
    names = set()
    for f in fams.values():
        for s in f.samples:
            names.add(s.name)
    return names


def test_every_dashboard_panel_queries_metrics_the_exporter_exports():
    dash = json.loads((ROOT / "dashboards" / "engine.json").read_text())
    names = _exported_names()
    panels = [p for p in dash["panels"] if p.get("type") != "row"]
    assert len(panels) >= 8
    for p in panels:
        exprs = [t["expr"] for t in p.get("targets", ())]
        assert exprs, f"panel {p['title']!r} has no query"
        for e in exprs:
            used = set(re.findall(r"\bengine_[a-z0-9_]+", e))
            assert used, f"panel {p['title']!r} names no engine metric: {e}"
            missing = used - names
            assert not missing, f"panel {p['title']!r} queries {missing}, which the exporter does not export"
    for var in dash.get("templating", {}).get("list", ()):
        for m in re.findall(r"\bengine_[a-z0-9_]+", json.dumps(var.get("query", ""))):
            assert m in names, f"variable {var['name']!r} queries {m}"
