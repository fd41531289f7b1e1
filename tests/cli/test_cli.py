"""The engine command: main(argv) in-process and the installed binary; config errors are one line + exit 2."""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

from engine.cli import main


def run_cli(*args, env=None, timeout=60):
    cmd = [sys.executable, "-m", "engine", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("var,value,needle", [
    ("ACTIVE_EXCHANGE", "kraken", "valid: lighter, binance"),
    ("BINANCE_TESTNET", "maybe", "BINANCE_TESTNET"),
    ("MONITOR_EXCHANGES", "binance,ftx", "MONITOR_EXCHANGES entry 2"),  # named by place: values are never echoed
])
def test_bad_config_is_one_clear_line_and_exit_2(var, value, needle):
    out = run_cli("doctor", env={var: value})
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr


def test_usage_errors_exit_2(capsys):
    assert main(["frobnicate"]) == 2
    assert main([]) == 2
    assert main(["run", "--duration", "soon"]) == 2


def test_doctor_reports_the_build_and_masks_secrets():
    out = run_cli("doctor", env={"BINANCE_API_KEY": "k" * 64, "BINANCE_API_SECRET": "S3cr3t" * 10})
    assert out.returncode == 0, out.stderr
    info = json.loads(out.stdout)
    assert set(info["compiled"].values()) <= {"release", "debug"}
    assert info["event_loop"] == "uvloop"
    assert "S3cr3t" not in out.stdout and "k" * 20 not in out.stdout


def _run_json(*args):
    out = run_cli("run", "--duration", "3", "--json", *args)
    assert out.returncode == 0, out.stderr
    return out, [json.loads(x) for x in out.stdout.splitlines() if x.startswith("{")]


def test_run_against_the_embedded_simulator_streams_live_books():
    out, lines = _run_json("--symbols", "BTC-USDT,ETH-USDT")
    assert "embedded Binance simulator" in out.stderr and "embedded Lighter simulator" in out.stderr
    assert len(lines) >= 2
    last = {(b["venue"], b["symbol"]): b for b in lines[-1]["books"]}
    # each venue's unified spelling, the one its positions are keyed by (Lighter's perps settle in USDC)
    assert set(last) == {(v, f"{b}-{q}") for v, q in (("binance", "USDT"), ("lighter", "USDC"), ("binance_futures", "USDT"))
                         for b in ("BTC", "ETH")}
    for b in last.values():
        assert b["state"] == "live" and b["bid"] < b["ask"]
        assert b["gaps"] == 0 and b["last_update_id"] > 0
    assert lines[-1]["orders"]["sent"] >= 2  # the example market maker paper-trades the simulated venues
    assert lines[-1]["risk"]["killed"] is False
    assert set(lines[-1]["cross_venue_gap_bps"]) == {"BTC-USDT", "ETH-USDT"}
    budget = lines[-1]["rest_budget"]
    assert budget["binance"]["kind"] == "weight" and budget["binance"]["limit"] == 6000


def test_run_status_shows_the_lighter_account_stream_token_and_nonces():
    pytest.importorskip("lighter", reason="trading on Lighter needs the lighter extra (pip install 'engine[lighter]')")
    out, lines = _run_json("--symbols", "ETH-USDT")
    lighter = lines[-1]["venues"]["lighter"]  # what helps at 3 a.m.: is the account stream up, token, nonces
    assert lighter["account_stream"]["subscribed"] is True and lighter["auth_token_expires_in_s"] > 3600
    assert lighter["nonce"]["conflicts"] == 0 and lighter["limits"]["tier"] == "premium"
    assert re.search(r"\d+:\d+:\d+:[0-9a-f]{160}", out.stdout + out.stderr) is None  # no auth token printed


def test_installed_binary_help():
    exe = shutil.which("engine")
    if exe is None:
        pytest.skip("the engine console script is not on PATH (package not installed)")
    out = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "run" in out.stdout and "doctor" in out.stdout


def _last_status(out):
    assert out.returncode == 0, out.stderr
    return json.loads([x for x in out.stdout.splitlines() if x.startswith("{")][-1])


def test_monitor_streams_every_venue_without_trading():
    last = _last_status(run_cli("monitor", "--duration", "3", "--json", env={"ENGINE_SYMBOLS": ""}))
    assert {b["venue"] for b in last["books"]} == {"binance", "lighter", "binance_futures"}
    assert {(b["venue"], b["symbol"]) for b in last["books"]} == {  # the default symbols, each venue's spelling
        (v, f"{b}-{q}") for v, q in (("binance", "USDT"), ("lighter", "USDC"), ("binance_futures", "USDT"))
        for b in ("BTC", "ETH")}
    assert last["orders"]["sent"] == 0


@pytest.mark.parametrize("cmd", ["run", "monitor"])
def test_engine_symbols_drives_the_symbols_and_the_flag_overrides_it(cmd):
    env = {"ENGINE_SYMBOLS": "sol/usdt", "MONITOR_EXCHANGES": "binance", "ACTIVE_EXCHANGE": "binance"}
    out = run_cli(cmd, "--duration", "2", "--json", env=env)
    assert {b["symbol"] for b in _last_status(out)["books"]} == {"SOL-USDT"}
    out = run_cli(cmd, "--duration", "2", "--json", "--symbols", "eth-usdt", env=env)
    assert {b["symbol"] for b in _last_status(out)["books"]} == {"ETH-USDT"}


def test_the_banner_says_what_the_market_maker_quotes():
    out = run_cli("run", "--duration", "1", "--symbols", "BTC-USDT,ETH-USDT,SOL-USDT",
                  env={"MONITOR_EXCHANGES": "binance", "ACTIVE_EXCHANGE": "binance"})
    assert out.returncode == 0, out.stderr
    assert ("engine run: market maker quotes BTC-USDT, ETH-USDT on binance; cross-venue monitor on "
            "BTC-USDT, ETH-USDT, SOL-USDT across binance") in out.stderr
    assert "set it to 6 to quote every symbol" in out.stderr


def test_engine_symbols_drives_record(tmp_path):
    path = str(tmp_path / "sol.jsonl.gz")
    out = run_cli("record", "--duration", "1", "--out", path, env={"ENGINE_SYMBOLS": "SOL-USDT"})
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["snapshots"] == 1
    assert "SOL-USDT from the embedded Binance simulator" in out.stderr
