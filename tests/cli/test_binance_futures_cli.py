"""``engine sim binance_futures`` and ``engine run`` on the embedded futures simulator, through the factory's
registration (engine/connectors/factory.py)."""
import json
import os
import subprocess
import sys


def test_run_on_the_embedded_futures_simulator_shows_its_book():
    env = {**os.environ, "ACTIVE_EXCHANGE": "binance_futures", "ENGINE_SYMBOLS": "BTC-USDT"}
    out = subprocess.run([sys.executable, "-m", "engine", "run", "--duration", "5", "--json"], capture_output=True,
                         text=True, timeout=90, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "embedded Binance USD-M simulator" in out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines() if x.startswith('{"ts"')]
    books = [b for b in lines[-1]["books"] if b["venue"] == "binance_futures"]
    assert [b["symbol"] for b in books] == ["BTC-USDT"]
    assert books[0]["state"] == "live" and books[0]["bid"] < books[0]["ask"] and books[0]["gaps"] == 0
    assert lines[-1]["venues"]["binance_futures"]["stream_problems"] == []


def test_engine_sim_binance_futures_serves_and_prints_its_urls():
    proc = subprocess.Popen([sys.executable, "-m", "engine", "sim", "binance_futures"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["rest_url"].startswith("http://127.0.0.1:") and info["public_ws_url"].endswith("/public")
        assert info["private_ws_url"].endswith("/private") and info["api_key"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
