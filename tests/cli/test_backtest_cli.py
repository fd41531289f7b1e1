"""engine backtest, the real command in a subprocess: the three examples on a recording made by engine record
against the simulator and on the captured sessions under tests/data/, the strategy's final books equal to
what engine replay builds, the summary numbers, every bad input as one line with exit code 2, and the
--report-dir report (CSV rows, PNGs, the HTML page, the plotted series)."""
import base64
import csv
import json
import os
import pathlib
import subprocess
import sys
from decimal import Decimal as D

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "binance"
SPOT = str(DATA / "spot" / "session_2021-10-12_cryptofeed")
FUTURES = str(DATA / "futures_usdm" / "session_2021-07-22_cryptofeed")
# the default RiskLimits allow 1 unit per order; the recorded symbols trade in whole units
RISK = {"RISK_MAX_ORDER_QTY": "1000", "RISK_MAX_POSITION": "1000", "RISK_MAX_ORDER_NOTIONAL": "100000",
        "RISK_MAX_TOTAL_NOTIONAL": "1000000"}
SUSHI_MM = ["--strategy", "examples/market_maker.py:MarketMaker", "--symbols", "SUSHI-USDT", "--param", "size=2",
            "--param", "tick=0.001", "--param", "max_inventory=20", "--param", "half_spread_bps=2",
            "--param", "skew_bps_per_unit=1"]


def env(**extra):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("ENGINE_", "RISK_"))}
    e.update(RISK, **extra)
    return e


def engine(*args, timeout=120, environ=None):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True, timeout=timeout,
                          env=environ or env(), cwd=ROOT)


def backtest_json(*args):
    out = engine("backtest", *args, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """A recording engine record made against the Binance simulator (BTC-USDT, ETH-USDT, 3 s)."""
    path = str(tmp_path_factory.mktemp("rec") / "session.jsonl.gz")
    out = engine("record", "--duration", "3", "--out", path, "--symbols", "BTC-USDT,ETH-USDT")
    assert out.returncode == 0, out.stderr
    return path


def replay_books(path) -> dict:
    out = engine("replay", path, "--json")
    assert out.returncode == 0, out.stderr
    return {r["symbol"]: r for r in map(json.loads, out.stdout.strip().splitlines())}


def assert_books_equal(final_books: dict, replayed: dict) -> None:
    assert set(final_books) == set(replayed)
    for sym, b in final_books.items():
        r = replayed[sym]
        assert b["book"] == "strategy"  # the book the strategy read, not only the venue's copy
        assert b["last_update_id"] == r["last_update_id"]
        assert [float(b[k]) for k in ("bid", "bid_qty", "ask", "ask_qty")] == r["bbo"], sym


def test_the_examples_run_on_an_engine_record_recording(recorded):
    mm = backtest_json(recorded, "--strategy", "examples/market_maker.py:MarketMaker")
    taker = backtest_json(recorded, "--strategy", "examples/taker.py:Taker")
    for run in (mm, taker):
        res = run["result"]
        assert res["venue"] == "binance" and res["frames"] > 10 and res["orders"]
        assert {o["symbol"] for o in res["orders"]} == {"BTC-USDT", "ETH-USDT"}
        assert_books_equal(res["final_books"], replay_books(recorded))
    # the taker's first order on each symbol crosses at the touch: it fills as taker
    assert taker["summary"]["taker_fills"] >= 1 and taker["result"]["fills"]
    assert all(f["liquidity"] == "taker" for f in taker["result"]["fills"])
    # post-only quotes never take
    assert all(f["liquidity"] == "maker" for f in mm["result"]["fills"])
    assert all(o["type"] == "limit_maker" for o in mm["result"]["orders"])


def test_the_hedger_on_a_single_venue_recording_is_one_line(recorded):
    out = engine("backtest", recorded, "--strategy", "examples/hedger.py:Hedger")
    assert out.returncode == 2 and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("engine: backtest: strategy examples/hedger.py:Hedger")
    assert "the hedger needs two" in lines[0]


def test_a_captured_spot_session_ends_on_the_books_replay_builds():
    res = backtest_json(SPOT, "--strategy", "examples/taker.py:Taker", "--param", "size=1")["result"]
    assert sorted(res["final_books"]) == ["BLZETH", "LRCBTC", "NKNUSDT", "RUNEEUR"]
    assert_books_equal(res["final_books"], replay_books(SPOT))


def test_a_captured_futures_session_trades_and_is_deterministic():
    a = backtest_json(FUTURES, *SUSHI_MM, "--seed", "3", "--latency-ms", "1,2", "--jitter", "uniform:0.5")
    b = backtest_json(FUTURES, *SUSHI_MM, "--seed", "3", "--latency-ms", "1,2", "--jitter", "uniform:0.5")
    assert a == b
    s = a["summary"]
    assert s["fills"] > 0 and s["maker_fills"] == s["fills"] and s["rejected"] == 0
    assert D(s["max_inventory"]) > 0 and s["fills"] == len(a["result"]["fills"])
    # the latency settings reach the venue: every order arrives 1 ms + up to 0.5 ms after it was sent
    gaps = [o["arrival_ns"] - o["sent_ns"] for o in a["result"]["orders"]]
    assert min(gaps) >= 1_000_000 and max(gaps) <= 1_500_000 and len(set(gaps)) > 1
    taker = backtest_json(FUTURES, "--strategy", "examples/taker.py:Taker", "--symbols", "SUSHIUSDT",
                          "--param", "size=1")
    assert taker["summary"]["taker_fills"] > 0 and taker["result"]["final_positions"]


def test_fees_flag_in_bps_and_per_venue():
    plain = backtest_json(FUTURES, *SUSHI_MM)
    bps = backtest_json(FUTURES, *SUSHI_MM, "--fees", "2bps,4bps")
    venue = backtest_json(FUTURES, *SUSHI_MM, "--fees", "1,1", "--fees", "binance=0.0002,0.0004")
    assert plain["summary"]["fees"] == "0"
    fills = bps["result"]["fills"]
    want = sum(D(f["price"]) * D(f["qty"]) * (D("0.0002") if f["liquidity"] == "maker" else D("0.0004"))
               for f in fills)
    assert fills and D(bps["summary"]["fees"]) == want > 0
    assert D(bps["summary"]["pnl_net"]) == D(bps["summary"]["pnl_gross"]) - want
    assert venue["summary"]["fees"] == bps["summary"]["fees"]  # the venue's entry wins over the plain one


def test_the_summary_table_shows_the_numbers():
    js = backtest_json(FUTURES, *SUSHI_MM)["summary"]
    out = engine("backtest", FUTURES, *SUSHI_MM)
    assert out.returncode == 0, out.stderr
    rows = {}
    for line in out.stdout.splitlines()[1:]:
        label, _, value = line.strip().rpartition("  ")
        rows[label.strip()] = value.strip()
    for label, key in (("PnL gross", "pnl_gross"), ("PnL net", "pnl_net"), ("fees", "fees"), ("fills", "fills"),
                       ("maker share", "maker_share"), ("volume", "volume"), ("max inventory", "max_inventory"),
                       ("max drawdown", "max_drawdown"), ("PnL per hour", "pnl_per_hour")):
        assert rows[label] == str(js[key]), label
    span_h = D(js["end_ns"] - js["start_ns"]) / D(3_600_000_000_000)
    assert abs(D(js["pnl_per_hour"]) - D(js["pnl_net"]) / span_h) < D("1e-7")


@pytest.mark.parametrize("args, says", [
    (["/nonexistent/rec.jsonl.gz"], "no such file or directory"),
    ([str(ROOT / "README.md")], "README.md:1: not a JSON line"),
    ([str(DATA)], "is a directory without ws_session.jsonl"),
    ([FUTURES, "--latency-ms", "fast"], "is not a latency"),
    ([FUTURES, "--latency-ms", "1,2,3"], "is not ENTRY[,RESPONSE]"),
    ([FUTURES, "--latency-ms", "0.0000001"], "finer than 1 ns"),
    ([FUTURES, "--queue-model", "fifo"], "is not trades, prob or prob:POWER"),
    ([FUTURES, "--fees", "0.1"], "is not [VENUE=]MAKER,TAKER"),
    ([FUTURES, "--fees", "nowhere=0,0"], "unknown venue 'nowhere'"),
    ([FUTURES, "--jitter", "gauss:1"], "is not none, uniform:MS or exponential:MS"),
    ([FUTURES, "--seed", "x"], "invalid int value"),
    ([FUTURES, "--symbols", "DOGE-USDT"], "DOGE-USDT has no book in the recording (it has AKRO-USDT"),
    ([FUTURES, "--strategy", "none"], "a backtest needs a trading strategy"),
    ([FUTURES, "--strategy", "examples/nope.py:X"], "does not exist"),
    ([FUTURES, "--param", "nosuch=1"], "has no parameter 'nosuch'"),
    ([FUTURES, "--report-dir", str(ROOT / "README.md")], "exists and is not a directory"),
    ([FUTURES, "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_line_and_exit_2(args, says):
    out = engine("backtest", *args)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("engine: ") and says in lines[0], out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_the_report(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib import image

    rep = tmp_path / "report"
    out = engine("backtest", FUTURES, *SUSHI_MM, "--fees", "2bps,4bps", "--json", "--report-dir", str(rep))
    assert out.returncode == 0, out.stderr
    assert f"report: {rep / 'report.html'}" in out.stderr
    run = json.loads(out.stdout.strip().splitlines()[-1])
    res, summ = run["result"], run["summary"]
    assert res["fills"]
    # the CSV rows are the result's fills and orders, field for field
    with open(rep / "fills.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows == [{k: str(v) for k, v in fill.items()} for fill in res["fills"]]
    with open(rep / "orders.csv", newline="") as f:
        orders = list(csv.DictReader(f))
    assert [o["client_order_id"] for o in orders] == [o["client_order_id"] for o in res["orders"]]
    assert [o["status"] for o in orders] == [o["status"] for o in res["orders"]]
    assert json.loads((rep / "summary.json").read_text()) == summ
    # the PNGs decode, are not blank, and the HTML page embeds exactly them, with the summary numbers
    page = (rep / "report.html").read_text()
    for name in ("equity", "inventory", "quotes"):
        data = (rep / f"{name}.png").read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
        pixels = image.imread(str(rep / f"{name}.png"))
        assert pixels.shape[0] > 100 and pixels.shape[1] > 100 and pixels.std() > 0
        assert f"data:image/png;base64,{base64.b64encode(data).decode()}" in page
    for key in ("pnl_gross", "pnl_net", "fees", "maker_share", "volume", "max_inventory", "max_drawdown",
                "pnl_per_hour"):
        assert f"<td>{summ[key]}</td>" in page, key
    assert "src=\"http" not in page and "<script" not in page  # self-contained
    # the data the plots were drawn from
    series = json.loads((rep / "series.json").read_text())
    t0 = res["start_ns"]
    assert series["equity"][-1][1] == pytest.approx(float(summ["pnl_net"]))
    assert len(series["equity"]) == len(res["fills"]) + len(res["marks"])
    assert [p[1] for p in series["inventory"]["SUSHI-USDT"]] == [float(p[2]) for p in res["positions"]]
    assert [p[1] for p in series["mid"]["SUSHI-USDT"]] == [float(m[2]) for m in res["marks"]]
    assert series["mid"]["SUSHI-USDT"][-1][0] == pytest.approx((res["marks"][-1][0] - t0) / 1e9)
    # the mids are sampled about every second of the 30 s recording, besides one at each fill
    fill_times = {f["t_ns"] for f in res["fills"]}
    assert len([m for m in res["marks"] if m[0] not in fill_times]) >= 25
    priced = [o for o in res["orders"] if o["price"] is not None and o["status"] != "rejected"]
    assert [q[3] for q in series["quotes"]["SUSHI-USDT"]] == [float(o["price"]) for o in priced]
    assert [(f[1], f[2]) for f in series["fills"]["SUSHI-USDT"]] == [(f["side"], float(f["price"]))
                                                                      for f in res["fills"]]


def test_report_dir_without_matplotlib_is_one_line_naming_the_extra(tmp_path):
    code = ("import sys; sys.modules['matplotlib'] = None; from engine.cli import main; "
            "sys.exit(main(sys.argv[1:]))")
    rep = tmp_path / "report"
    out = subprocess.run([sys.executable, "-c", code, "backtest", FUTURES, *SUSHI_MM, "--report-dir", str(rep)],
                         capture_output=True, text=True, timeout=120, env=env(), cwd=ROOT)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs matplotlib" in lines[0] and "pip install 'engine[report]'" in lines[0]
    assert not rep.exists() and out.stdout == ""


def test_the_model_flags_parse_to_the_library_settings():
    from engine import cli
    from engine.backtest import Fees, QueueModel

    args = cli._parser().parse_args(["backtest", FUTURES, "--queue-model", "prob:3", "--latency-ms", "0.25",
                                     "--jitter", "exponential:1.5", "--feed-latency-ms", "2", "--fees=-1bps,5bps",
                                     "--fees", "binance=0.0001,0.0003"])
    assert args.queue_model == QueueModel.probabilistic(3)
    assert args.latency_ms == (250_000, 250_000) and args.jitter == ("exponential", 1_500_000)
    assert args.feed_latency_ms == 2_000_000
    assert args.fees == [(None, Fees(D("-0.0001"), D("0.0005"))), ("binance", Fees(D("0.0001"), D("0.0003")))]
    default = cli._parser().parse_args(["backtest", FUTURES])
    assert default.queue_model == QueueModel.trades_only() and default.feed_latency_ms == "recorded"
    assert default.latency_ms == (0, 0) and default.fees == [] and default.seed == 0


def test_a_config_file_names_the_strategy_its_params_and_the_risk_limits(tmp_path):
    cfg = tmp_path / "engine.toml"
    cfg.write_text('[risk]\nmax_order_qty = "1000"\nmax_position = "1000"\nmax_order_notional = "100000"\n'
                   'max_total_notional = "1000000"\n\n'
                   '[strategy]\nname = "examples/taker.py:Taker"\n\n[strategy.params]\nsize = "3"\nevery_s = 5\n')
    out = engine("backtest", FUTURES, "--symbols", "SUSHI-USDT", "--config", str(cfg), "--json",
                 environ={k: v for k, v in env().items() if not k.startswith("RISK_")})
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)["result"]
    assert res["orders"] and all(o["qty"] == "3" and o["type"] == "limit" for o in res["orders"])
    sent = [o["sent_ns"] for o in res["orders"]]
    assert all(b - a >= 5_000_000_000 for a, b in zip(sent, sent[1:]))  # every_s = 5 of virtual time
    assert res["fills"]  # qty 3 passed the file's risk limits (the default max_order_qty is 1)
    flag = engine("backtest", FUTURES, "--symbols", "SUSHI-USDT", "--config", str(cfg), "--param", "size=1",
                  "--json")
    assert all(o["qty"] == "1" for o in json.loads(flag.stdout)["result"]["orders"])  # a flag wins
