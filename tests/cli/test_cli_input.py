"""Every input error of the engine command is one line on stderr naming the problem (and the fix), exit code
2, no traceback, and nothing starts or connects before the input is checked."""
import gzip
import os
import shutil
import subprocess

import pytest

from engine.cli import main

ENV_VARS = ("ACTIVE_EXCHANGE", "MONITOR_EXCHANGES", "ENGINE_SYMBOLS", "ENGINE_LOG_LEVEL", "BINANCE_API_KEY",
            "BINANCE_API_SECRET", "LIGHTER_ACCOUNT_INDEX", "LIGHTER_API_KEY_INDEX", "LIGHTER_API_PRIVATE_KEY")


@pytest.fixture
def clean_env(monkeypatch):
    for var in [*ENV_VARS, *(k for k in os.environ if k.startswith("RISK_"))]:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


@pytest.fixture
def no_io(clean_env):
    """Fail the test if a simulator starts or a connector connects."""
    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.lighter.client import LighterConnector
    from engine.sim.binance import BinanceSimulator
    from engine.sim.lighter import LighterSimulator

    started = []

    def forbid(name):
        async def refuse(self, *a, **kw):
            started.append(name)
            raise AssertionError(f"{name} ran before the input was checked")
        return refuse

    for cls, method in ((BinanceSimulator, "start"), (LighterSimulator, "start"), (BinanceConnector, "connect"),
                        (LighterConnector, "connect")):
        clean_env.setattr(cls, method, forbid(f"{cls.__name__}.{method}"))
    yield started
    assert started == []


def fill(argv, files):
    """``{name}`` in an argument -> the path of that fixture file."""
    out = []
    for a in argv:
        for name, path in files.items():
            a = a.replace("{" + name + "}", path)
        out.append(a)
    return out


def one_line_error(capsys, argv, needle):
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("engine: ") and needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def files(tmp_path):
    f = {"dir": str(tmp_path)}
    (tmp_path / "garbage.jsonl").write_text("this is not json\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "other.jsonl").write_text('{"a": 1}\n{"b": 2}\n')
    (tmp_path / "list.jsonl").write_text("[1, 2]\n")
    (tmp_path / "torn.jsonl.gz").write_bytes(gzip.compress(b'{"recv_ns": 1, "raw": "x"}\n' * 50)[:40])
    (tmp_path / "binary.jsonl").write_bytes(bytes(range(128, 256)))
    (tmp_path / "no-session").mkdir()
    (tmp_path / "bad.env").write_text("A=1\nthis line has no equals sign\n")
    (tmp_path / "binary.env").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "a-file").write_text("x")
    for name in ("garbage.jsonl", "empty.jsonl", "other.jsonl", "list.jsonl", "torn.jsonl.gz", "binary.jsonl",
                 "no-session", "bad.env", "binary.env", "a-file"):
        f[name] = str(tmp_path / name)
    f["missing"] = str(tmp_path / "missing.jsonl.gz")
    return f


@pytest.mark.parametrize("argv,needle", [
    (["--env-file", "{missing}", "doctor"], "No such file"),
    (["--env-file", "{bad.env}", "run"], "line 2: expected KEY=VALUE"),
    (["--env-file", "{binary.env}", "run"], "not UTF-8 text"),
    (["--env-file", "{dir}", "run"], "--env-file"),
    (["replay", "{missing}"], "no such file or directory; give a file written by engine record"),
    (["replay", "{garbage.jsonl}"], "is not JSON lines"),
    (["replay", "{empty.jsonl}"], "no depth snapshot"),
    (["replay", "{other.jsonl}"], "not recorded frames"),
    (["replay", "{list.jsonl}"], "not recorded frames"),
    (["replay", "{torn.jsonl.gz}"], "not a complete gzip file"),
    (["replay", "{binary.jsonl}"], "not UTF-8"),
    (["replay", "{no-session}"], "without ws_session.jsonl"),
    (["replay", "{garbage.jsonl}", "--timeout", "-1"], "--timeout"),
    (["replay", "{garbage.jsonl}", "--timeout", "nan"], "--timeout"),
    (["replay", "{garbage.jsonl}", "--pace", "slow"], "--pace"),
    (["sim", "binance", "--replay", "garbage"], "sim binance --replay: garbage: no such file"),
    (["sim", "binance", "--replay", "{garbage.jsonl}"], "is not JSON lines"),
    (["sim", "binance", "--port", "abc"], "see 'engine sim binance --help'"),
    (["sim", "kraken"], "invalid choice: 'kraken'"),
    (["run", "--symbols", "FOO"], "'FOO' is not a BASE-QUOTE symbol"),
    (["run", "--symbols", "BTC-USDT,ETH-"], "'ETH-' is not a BASE-QUOTE symbol"),
    (["run", "--symbols", "BTC-US DT"], "is not a BASE-QUOTE symbol"),
    (["run", "--symbols", ","], "no symbol given"),
    (["monitor", "--symbols", "FOO"], "BASE-QUOTE"),
    (["record", "--out", "{dir}/x.jsonl.gz", "--symbols", "FOO"], "BASE-QUOTE"),
    (["run", "--interval", "0"], "--interval: '0' is not an interval"),
    (["run", "--interval", "-1"], "--interval"),
    (["run", "--interval", "nan"], "--interval"),
    (["monitor", "--interval", "0"], "--interval"),
    (["run", "--duration", "-5"], "omit --duration to run until ^C"),
    (["run", "--duration", "nan"], "--duration"),
    (["run", "--duration", "inf"], "--duration"),
    (["run", "--duration", "0"], "--duration"),
    (["run", "--duration", "soon"], "--duration: 'soon' is not a duration"),
    (["monitor", "--duration", "-1"], "--duration"),
    (["record", "--out", "{dir}/x.jsonl.gz", "--duration", "0"], "--duration"),
    (["record", "--out", "{dir}/no/such/dir/x.jsonl.gz"], "does not exist: create the directory"),
    (["record", "--out", "{dir}"], "is a directory: give a file name"),
    (["record", "--out", "{a-file}/x.jsonl.gz"], "is not a directory"),
    (["record", "--out", "{dir}/x.jsonl"], "must end in .gz"),
    (["record"], "--out"),
    (["--log-level", "LOUD", "run"], "'LOUD' is not a log level: use DEBUG, INFO, WARNING, ERROR"),
    (["run", "--strategy", "yolo"], "--strategy"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
    ([], "required: cmd"),
    (["run", "--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_argument_is_one_line_exit_2_before_anything_starts(capsys, no_io, files, argv, needle):
    one_line_error(capsys, fill(argv, files), needle)


@pytest.mark.parametrize("var,value,needle", [
    ("ENGINE_LOG_LEVEL", "LOUD", "ENGINE_LOG_LEVEL is not a log level; valid: DEBUG, INFO, WARNING, ERROR"),
    ("ENGINE_SYMBOLS", "BTC-USDT,FOO", "ENGINE_SYMBOLS entry 2 is not a BASE-QUOTE symbol"),
    ("RISK_MAX_ORDER_QTY", "abc", "RISK_MAX_ORDER_QTY"),
    ("RISK_MAX_ORDERS_PER_SECOND", "nan", "RISK_MAX_ORDERS_PER_SECOND"),
    ("RISK_MAX_OPEN_ORDERS", "1.5", "RISK_MAX_OPEN_ORDERS"),
    ("RISK_MAX_POSITION", "-1", "RISK_MAX_POSITION"),
    ("RISK_CANCEL_ON_SHUTDOWN", "maybe", "RISK_CANCEL_ON_SHUTDOWN"),
    ("ACTIVE_EXCHANGE", "kraken", "ACTIVE_EXCHANGE"),
    ("MONITOR_EXCHANGES", "binance,ftx", "MONITOR_EXCHANGES entry 2"),  # named by place: values are never echoed
])
def test_bad_environment_is_one_line_exit_2(capsys, clean_env, no_io, var, value, needle):
    clean_env.setenv(var, value)
    one_line_error(capsys, ["run", "--duration", "1"], needle)


def test_live_trading_without_keys_is_one_line_before_connecting(capsys, clean_env, no_io):
    clean_env.setenv("ACTIVE_EXCHANGE", "binance")
    clean_env.setenv("MONITOR_EXCHANGES", "binance")
    one_line_error(capsys, ["run", "--live", "--strategy", "mm"], "needs BINANCE_API_KEY, BINANCE_API_SECRET")


def test_bad_simulator_flag_is_one_line(capsys, no_io):
    one_line_error(capsys, ["sim", "binance", "--drop-diffs", "many"], "--drop-diffs")


def test_bad_lighter_simulator_flag_exits_2_without_traceback(capsys, no_io):
    code = main(["sim", "lighter", "--bogus"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and "--bogus" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("argv,venue", [
    (["run", "--symbols", "SOL-USDT", "--duration", "2"], "lighter"),  # Binance lists SOL, Lighter does not
    (["record", "--symbols", "DOGE-USDT", "--duration", "1", "--out", "{dir}/x.jsonl.gz"], "binance"),
])
def test_unknown_symbol_at_the_venue_is_one_line_exit_2(capsys, clean_env, files, argv, venue):
    code = main(fill(argv, files))
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    errors = [x for x in err.splitlines() if x.startswith("engine:")]
    assert len(errors) == 1 and f"on {venue}" in errors[0] and "--symbols or ENGINE_SYMBOLS" in errors[0], err
    assert err.strip().splitlines()[-1] == errors[0]  # progress lines before it, nothing after
    assert not os.path.exists(os.path.join(files["dir"], "x.jsonl.gz"))  # no recording begun


@pytest.mark.parametrize("args,needle", [
    (["frobnicate"], "invalid choice"),
    (["run", "--interval", "0"], "--interval"),
    (["replay", "{garbage.jsonl}"], "not JSON lines"),
    (["--env-file", "{missing}", "run"], "No such file"),
    (["sim", "binance", "--replay", "garbage"], "no such file"),
])
def test_installed_binary_prints_one_line_and_exits_2(files, args, needle):
    exe = shutil.which("engine")
    if exe is None:
        pytest.skip("the engine console script is not on PATH (package not installed)")
    out = subprocess.run([exe, *fill(args, files)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in out.stderr, out.stderr
    assert out.stdout == ""
