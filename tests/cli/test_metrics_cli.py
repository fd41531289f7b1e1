"""engine run --metrics-port: the Prometheus endpoint of a real `engine run` process on the embedded simulators,
scraped with aiohttp and parsed with prometheus_client.parser; a busy port is one line and exit 2; a real
Prometheus server scrapes `engine run` and answers a histogram quantile and a counter rate."""
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.parse

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _engine(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "engine", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ))


async def _scrape(http, port):
    try:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as r:
            return await r.text() if r.status == 200 else None
    except aiohttp.ClientError:
        return None


def _samples(text):
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append(s)
    return out


async def test_engine_run_serves_book_and_order_metrics():
    port = _free_port()
    proc = _engine("run", "--duration", "30", "--json", "--metrics-port", str(port))
    try:
        async with aiohttp.ClientSession() as http:
            got = {}

            async def poll():
                while True:
                    text = await _scrape(http, port)
                    if text:
                        s = _samples(text)
                        filled = sum(x.value for x in s.get("engine_filled_base_total", []))
                        if s.get("engine_book_state") and filled > 0 and s.get("engine_orders_final_total"):
                            got["s"] = s
                            return
                    await asyncio.sleep(0.3)

            await asyncio.wait_for(poll(), 25)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    s = got["s"]
    live = [x for x in s["engine_book_state"] if x.labels["state"] == "live" and x.value == 1]
    assert {x.labels["symbol"] for x in live} >= {"BTC-USDT", "ETH-USDT"}, s["engine_book_state"]
    assert all(x.value >= 0 for x in s["engine_book_gaps_total"])
    assert sum(x.value for x in s["engine_book_frames_total"]) > 0
    counts = [x for x in s["engine_book_latency_seconds_count"] if x.value > 0]
    assert counts, "no book-path latency samples exported"
    for c in counts:  # the +Inf bucket equals the count
        inf = [b for b in s["engine_book_latency_seconds_bucket"] if b.labels["le"] == "+Inf"
               and b.labels["venue"] == c.labels["venue"]]
        assert inf and inf[0].value == c.value
    assert sum(x.value for x in s["engine_orders_final_total"]) > 0
    assert all(x.value >= 0 for x in s["engine_fees_quote_total"])
    # the run's own last line (--json) is the summary, printed after SIGTERM
    last = json.loads(out.strip().splitlines()[-1])
    assert last["summary"]["orders"] > 0, err


def test_a_busy_metrics_port_is_one_line_and_exit_2():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        out = subprocess.run([sys.executable, "-m", "engine", "run", "--duration", "5", "--metrics-port", str(port)],
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("engine: ")]
    assert len(errors) == 1 and f"--metrics-port {port}" in errors[0], out.stderr
    assert "Traceback" not in out.stderr


def _prometheus(tmp_path, target_port: int, listen_port: int) -> subprocess.Popen:
    """A Prometheus server scraping 127.0.0.1:target_port every second, its API on listen_port."""
    (tmp_path / "prom.yml").write_text(
        "global: {scrape_interval: 1s}\nscrape_configs:\n  - job_name: engine\n"
        f"    static_configs: [{{targets: ['127.0.0.1:{target_port}']}}]\n")
    argv = ["prometheus", f"--config.file={tmp_path / 'prom.yml'}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{listen_port}"]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def _prom_query(http, prom_port: int, expr: str):
    """The result vector of an instant query (None while Prometheus is not up or has no data)."""
    url = f"http://127.0.0.1:{prom_port}/api/v1/query?query={urllib.parse.quote(expr)}"
    try:
        async with http.get(url) as r:
            body = await r.json()
    except aiohttp.ClientError:
        return None
    return (body.get("data") or {}).get("result") or None


@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="no prometheus binary on PATH (Debian: apt-get install prometheus)")
async def test_a_real_prometheus_scrapes_engine_run(tmp_path):
    port, prom_port = _free_port(), _free_port()
    proc = _engine("run", "--duration", "60", "--json", "--metrics-port", str(port))
    prom = _prometheus(tmp_path, port, prom_port)
    state = {}
    try:
        async with aiohttp.ClientSession() as http:
            def query(q):
                return _prom_query(http, prom_port, q)

            async def poll():
                while True:
                    state["q"] = await query("histogram_quantile(0.5, engine_book_latency_seconds_bucket)")
                    state["r"] = await query("rate(engine_book_frames_total[10s])")
                    state["own"] = await _scrape(http, port)
                    if state["q"] and state["r"] and state["own"] and \
                            any(float(x["value"][1]) > 0 for x in state["r"]):
                        return
                    await asyncio.sleep(0.5)

            await asyncio.wait_for(poll(), 50)
    finally:
        prom.terminate()
        prom.wait()
        proc.terminate()
        proc.communicate(timeout=30)
    quantiles = [float(x["value"][1]) for x in state["q"] if x["value"][1] not in ("NaN",)]
    assert quantiles and all(0 < q < 1.0 for q in quantiles), state["q"]
    # what the engine exported itself: the buckets Prometheus computed its quantile from exist there too
    own = _samples(state["own"])
    assert {x["metric"]["venue"] for x in state["q"]} <= {x.labels["venue"] for x in own["engine_book_latency_seconds_count"]}
