"""Strategies as plug-ins through the real ``engine`` command: each example in examples/ loads, runs on the
embedded simulators and trades (its orders and cancels in the status JSON); every bad input (a path, an
import, a class, a parameter, a value, a secret in the config file) is one line on stderr and exit 2;
parameters and settings take CLI flags over environment variables over the TOML file over defaults."""
import importlib.util
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

from engine import app, cli

ROOT = pathlib.Path(__file__).resolve().parents[2]
HAS_LIGHTER = importlib.util.find_spec("lighter") is not None
_OURS = ("ENGINE_", "RISK_", "BINANCE_", "LIGHTER_", "ACTIVE_EXCHANGE", "MONITOR_EXCHANGES")


def _env(**extra) -> dict:
    """The environment without any engine setting of the caller's, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
    env.update(extra)
    return env


def engine(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "engine", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=_env(**(env or {})))


def run_until(args, until, *, env=None, timeout=90.0):
    """``engine run --json ARGS`` until ``until(status)`` holds for a status line, then SIGTERM (a clean stop);
    returns (exit code, that status, stderr). Fails with the last status if it never holds."""
    p = subprocess.Popen([sys.executable, "-m", "engine", "run", "--json", "--duration", str(timeout), *args],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env(**(env or {})))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in p.stdout] + [lines.put(None)], daemon=True).start()
    err: list = []
    threading.Thread(target=lambda: err.extend(p.stderr), daemon=True).start()
    last, hit = None, False
    try:
        while True:
            line = lines.get(timeout=timeout + 30)
            if line is None:
                break
            last = json.loads(line)
            if until(last):
                hit = True
                p.send_signal(signal.SIGTERM)
                break
        rc = p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert hit, f"condition never held; exit {p.returncode}; last status {json.dumps(last)}; stderr {''.join(err)}"
    return rc, last, "".join(err)


def one_line_exit_2(out, *needles, absent=()):
    lines = out.stderr.strip().splitlines()
    assert out.returncode == 2, out.stderr
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    for a in absent:
        assert a not in out.stderr and a not in out.stdout
    return lines[0]


def _instances(st):
    return st["strategy"]["instances"]


# -- the examples run on the simulators and trade
def test_taker_example_sends_ioc_orders_that_fill():
    def took(st):
        return st["orders"]["filled"] >= 2 and all(i["filled"] >= 1 for i in _instances(st))

    rc, st, err = run_until(["--strategy", "examples/taker.py:Taker", "--symbols", "BTC-USDT",
                             "--param", "every_s=0.5"], took)
    assert rc == 0, err
    assert st["strategy"]["class"].endswith(".Taker") and st["strategy"]["params"]["every_s"] == "0.5"
    assert st["orders"]["sent"] >= 2 and st["risk"]["positions"]  # it took liquidity: a position somewhere
    assert "examples/taker.py:Taker trades" in err


def test_market_maker_example_quotes_requotes_and_gets_filled():
    # requote_bps=0: any move of the mid cancels and replaces a quote, so cancels show up in a short run
    def traded(st):
        return st["orders"]["canceled"] >= 1 and st["orders"]["filled"] >= 1

    rc, st, err = run_until(["--strategy", "examples/market_maker.py:MarketMaker", "--symbols", "BTC-USDT",
                             "--param", "requote_bps=0"], traded)
    assert rc == 0, err
    params = st["strategy"]["params"]
    assert params["half_spread_bps"] == "0.05" and params["requote_bps"] == "0"  # its own default; the flag
    assert {i["name"] for i in _instances(st)} == {"example-market-maker"}
    assert sum(i["fills"] for i in _instances(st)) >= 1


@pytest.mark.skipif(not HAS_LIGHTER, reason="the hedger needs two trading venues: pip install 'engine[lighter]'")
def test_hedger_example_quotes_on_one_venue_and_hedges_fills_on_the_other():
    def hedged(st):
        (h,) = _instances(st)
        return h["quote_fills"] >= 1 and h["hedges_filled"] >= 1

    rc, st, err = run_until(["--strategy", "examples/hedger.py:Hedger", "--symbols", "BTC-USDT",
                             "--param", "quote_venue=binance", "--param", "hedge_venue=lighter"], hedged)
    assert rc == 0, err
    (h,) = _instances(st)
    assert (h["quote_venue"], h["hedge_venue"]) == ("binance", "lighter")
    assert h["hedges_sent"] >= h["hedges_filled"] >= 1


def _ends_with_exit_2(out, *needles):
    """A failure after connecting: the start-up lines, then one line saying what failed; no traceback."""
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("engine: ") and all(n in last for n in needles), last


def test_hedger_with_one_trading_venue_says_so_and_exits_2():
    out = engine("run", "--duration", "20", "--strategy", "examples/hedger.py:Hedger", "--symbols", "BTC-USDT",
                 env={"MONITOR_EXCHANGES": "binance", "ACTIVE_EXCHANGE": "binance"})
    _ends_with_exit_2(out, "create() failed", "the hedger needs two")


def test_a_strategy_whose_on_start_raises_ends_the_run_with_exit_2(tmp_path):
    path = tmp_path / "bad_start.py"
    path.write_text("from engine.strategy import Strategy\n"
                    "class S(Strategy):\n    async def on_start(self):\n        raise KeyError('no such thing')\n")
    out = engine("run", "--duration", "20", "--strategy", f"{path}:S", "--symbols", "BTC-USDT",
                 env={"MONITOR_EXCHANGES": "binance", "ACTIVE_EXCHANGE": "binance"})
    _ends_with_exit_2(out, f"strategy {path}:S: starting strategy failed: KeyError")


# -- bad input: one line, exit 2, before trading
@pytest.fixture
def plugin(tmp_path):
    def write(source: str, name: str = "plug.py") -> str:
        path = tmp_path / name
        path.write_text(source)
        return str(path)
    return write


def test_bad_path_is_one_line():
    one_line_exit_2(engine("run", "--strategy", "examples/no_such_file.py:Taker"), "no_such_file.py does not exist")


def test_module_that_fails_to_import_is_one_line(plugin):
    path = plugin("import engine\nraise RuntimeError('boom at import')\n")
    one_line_exit_2(engine("run", "--strategy", f"{path}:X"), "importing", "RuntimeError: boom at import")


def test_module_that_exits_while_importing_is_one_line(plugin):
    path = plugin("import sys\nsys.exit(7)\n")
    one_line_exit_2(engine("run", "--strategy", f"{path}:X"), "importing", "SystemExit")


def test_unknown_module_is_one_line():
    one_line_exit_2(engine("run", "--strategy", "nosuchpkg.strategies:Mine"), "no module named 'nosuchpkg'")


def test_missing_class_is_one_line():
    one_line_exit_2(engine("run", "--strategy", "examples/taker.py:NoSuchClass"), "has no class 'NoSuchClass'")


@pytest.mark.parametrize("spec", ["examples/taker.py:Decimal", "engine.models:Side"])
def test_class_that_is_not_a_strategy_is_one_line(spec):
    one_line_exit_2(engine("run", "--strategy", spec), "is not a Strategy subclass")


def test_spec_without_a_class_is_one_line():
    one_line_exit_2(engine("run", "--strategy", "examples/taker.py"), "is not mm, monitor, none")


def test_params_of_an_unparseable_type_are_one_line(plugin):
    path = plugin("import dataclasses\nfrom engine.strategy import Strategy\n"
                  "class S(Strategy):\n    @dataclasses.dataclass(frozen=True)\n    class Params:\n"
                  "        levels: list = dataclasses.field(default_factory=list)\n")
    one_line_exit_2(engine("run", "--strategy", f"{path}:S"), "Params.levels is declared list")


def test_unknown_parameter_is_one_line():
    line = one_line_exit_2(engine("run", "--strategy", "examples/taker.py:Taker", "--param", "sise=1"),
                           "--param sise", "has no parameter 'sise'")
    assert "size, every_s" in line  # what it does take


@pytest.mark.parametrize("param,needle", [("size=lots", "'lots' is not a decimal number"),
                                          ("every_s=inf", "'inf' is not a number"),
                                          ("every_s=", "is not a number"),
                                          ("size", "is not key=value")])
def test_bad_parameter_value_from_the_command_line_is_one_line(param, needle):
    one_line_exit_2(engine("run", "--strategy", "examples/taker.py:Taker", "--param", param), needle)


def test_bad_parameter_value_from_the_environment_names_the_variable_not_the_value():
    out = engine("run", "--strategy", "examples/taker.py:Taker", env={"ENGINE_PARAM_SIZE": "zz-not-a-number"})
    one_line_exit_2(out, "ENGINE_PARAM_SIZE", "is not a decimal number", absent=("zz-not-a-number",))


def test_bad_values_in_the_config_file_name_the_key_not_the_value(tmp_path):
    toml = tmp_path / "engine.toml"
    toml.write_text('[strategy]\nname = "examples/taker.py:Taker"\n[strategy.params]\nsize = "zz-not-a-number"\n')
    one_line_exit_2(engine("run", "--config", str(toml)), "[strategy.params] size", absent=("zz-not-a-number",))
    toml.write_text('[risk]\nmax_order_qty = "zz-not-a-number"\n')
    one_line_exit_2(engine("run", "--config", str(toml)), "[risk] max_order_qty", "is not a decimal number",
                    absent=("zz-not-a-number",))
    toml.write_text('[risk]\nmax_order_kty = "1"\n')
    one_line_exit_2(engine("run", "--config", str(toml)), "[risk] has no key 'max_order_kty'")
    toml.write_text('[engine\n')
    one_line_exit_2(engine("run", "--config", str(toml)), "is not TOML")
    one_line_exit_2(engine("run", "--config", str(tmp_path / "missing.toml")), "missing.toml")


@pytest.mark.parametrize("table,key", [("venues.binance", "api_secret"), ("venues.binance", "api_key"),
                                       ("venues.lighter", "api_private_key"), ("strategy.params", "api_secret"),
                                       ("engine", "BINANCE_API_SECRET")])
def test_a_secret_in_the_config_file_is_refused_without_echoing_it(tmp_path, table, key):
    value = "S3CRET-VALUE-0123456789abcdef"
    toml = tmp_path / "engine.toml"
    toml.write_text(f'[{table}]\n{key} = "{value}"\n')
    line = one_line_exit_2(engine("run", "--duration", "3", "--config", str(toml)), key, "is a secret",
                           absent=(value, value[:8]))
    assert "environment" in line


# -- precedence: CLI flags > environment > TOML > defaults (the CLI's own parse -> settings -> plan path)
@pytest.fixture
def clean_env(monkeypatch):
    for k in list(os.environ):
        if k.startswith(_OURS):
            monkeypatch.delenv(k)
    return monkeypatch


def _plan(argv):
    args = cli._parser().parse_args(argv)
    settings = cli._settings(args)
    return settings, app.plan_run(settings, cli._symbols(args, settings), strategy=args.strategy,
                                  params=args.param)


def test_parameter_precedence_cli_over_environment_over_toml_over_defaults(tmp_path, clean_env):
    toml = tmp_path / "engine.toml"
    toml.write_text('[strategy]\nname = "examples/taker.py:Taker"\n[strategy.params]\nsize = "0.03"\nevery_s = 3\n')
    _, plan = _plan(["run", "--config", str(toml)])
    assert plan.strategy == "examples/taker.py:Taker" and plan.strategy_class.__name__ == "Taker"
    assert (plan.params.size, plan.params.every_s) == (Decimal("0.03"), 3.0)  # the file over the defaults
    clean_env.setenv("ENGINE_PARAM_SIZE", "0.04")
    _, plan = _plan(["run", "--config", str(toml)])
    assert (plan.params.size, plan.params.every_s) == (Decimal("0.04"), 3.0)  # the environment over the file
    _, plan = _plan(["run", "--config", str(toml), "--param", "size=0.05", "--param", "every_s=0.5"])
    assert (plan.params.size, plan.params.every_s) == (Decimal("0.05"), 0.5)  # the flags over both
    _, plan = _plan(["run", "--strategy", "examples/taker.py:Taker"])
    assert (plan.params.size, plan.params.every_s) == (Decimal("0.04"), 2.0)  # no file: the defaults


def test_strategy_and_settings_precedence(tmp_path, clean_env):
    toml = tmp_path / "engine.toml"
    toml.write_text('[engine]\nsymbols = ["SOL-USDT"]\n[risk]\nmax_order_qty = "0.5"\nmax_orders_per_second = 40\n'
                    '[strategy]\nname = "examples/taker.py:Taker"\n')
    settings, plan = _plan(["run", "--config", str(toml)])
    assert plan.symbols == ("SOL-USDT",) and settings.risk.max_order_qty == Decimal("0.5")
    assert settings.risk.max_orders_per_second == 40.0
    clean_env.setenv("ENGINE_SYMBOLS", "ETH-USDT")
    clean_env.setenv("RISK_MAX_ORDER_QTY", "0.25")
    clean_env.setenv("ENGINE_STRATEGY", "examples/market_maker.py:MarketMaker")
    settings, plan = _plan(["run", "--config", str(toml)])
    assert plan.symbols == ("ETH-USDT",) and settings.risk.max_order_qty == Decimal("0.25")
    assert plan.strategy_class.__name__ == "MarketMaker" and settings.risk.max_orders_per_second == 40.0
    _, plan = _plan(["run", "--config", str(toml), "--symbols", "BTC-USDT", "--strategy", "mm"])
    assert plan.symbols == ("BTC-USDT",) and plan.strategy == "mm"
    assert plan.params.half_spread_bps == app.MM_HALF_SPREAD_BPS  # the built-in keeps its simulator default
    clean_env.setenv("ENGINE_PARAM_SIZE", "0.5")  # for the configured strategy: not in the way of 'none'
    _, plan = _plan(["run", "--config", str(toml), "--strategy", "none"])
    assert plan.strategy_class is None and plan.trading == ()
    one_line_exit_2(engine("run", "--strategy", "monitor", "--param", "size=1"), "--strategy monitor takes no")


def test_precedence_end_to_end_in_the_status(tmp_path):
    toml = tmp_path / "engine.toml"
    toml.write_text('[engine]\nsymbols = "BTC-USDT"\n[strategy]\nname = "examples/taker.py:Taker"\n'
                    '[strategy.params]\nsize = "0.03"\nevery_s = 9\n')
    rc, st, err = run_until(["--config", str(toml), "--param", "size=0.02"], lambda st: True,
                            env={"ENGINE_PARAM_EVERY_S": "0.5"})
    assert rc == 0, err
    assert st["strategy"]["name"] == "examples/taker.py:Taker"
    assert st["strategy"]["params"] == {"size": "0.02", "every_s": "0.5"}
    assert {b["symbol"].split("-")[0] for b in st["books"]} == {"BTC"}


def test_the_readme_strategy_runs_as_written(tmp_path):
    """The class in README.md's "Your own strategy" section, copied into a file, loads and trades."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Your own strategy", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "readme_strategy.py"
    path.write_text(code)
    rc, st, err = run_until(["--strategy", f"{path}:Taker", "--symbols", "BTC-USDT", "--param", "size=0.02",
                             "--interval", "0.5"], lambda st: st["orders"]["filled"] >= 1,
                            env={"MONITOR_EXCHANGES": "binance", "ACTIVE_EXCHANGE": "binance"})
    assert rc == 0, err
    assert st["strategy"]["params"] == {"size": "0.02"}
