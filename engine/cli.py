"""The ``engine`` command (also ``python -m engine``): argument parsing, input checks and presentation.

    engine run [--duration S] [--json]   stream books from the venues and print a status line per second
                                         (against the embedded simulators unless --live)
    engine run --strategy SPEC [--param k=v ...] [--config F.toml]
                                         run a strategy: mm, monitor, none, pkg.module:Class or
                                         path/to/file.py:Class (engine/strategy/loader.py, docs/strategy.md)
    engine run --live --paper --strategy SPEC
                                         paper trading: live books, orders matched locally, none sent
                                         (engine/backtest/paper.py; without --live: on the simulators)
    engine monitor [--duration S]        the same books and cross-venue gap, without trading
    engine sim VENUE [...]               run a venue's simulator (prints one JSON line, serves until ^C)
    engine record --out F / replay F     raw frames to JSONL.gz / a recording through the simulator
                                         (venues whose registration has a recorder; record --venue all
                                         takes them all at once; rotation: --rotate-mb/--rotate-s)
    engine backtest REC... --strategy SPEC [--param k=v] [--seed N] [--latency-ms E[,R]] [--queue-model
                   trades|prob] [--fees [VENUE=]MAKER,TAKER] [--json] [--report-dir DIR]
                                         a strategy on recordings, in virtual time (engine/backtest/,
                                         docs/backtest.md): a summary table, optionally a report
    engine run ... --metrics-port PORT   Prometheus metrics at http://127.0.0.1:PORT/metrics (also monitor)
    engine run ... --journal-dir DIR [--on-start-orders adopt|cancel]
                                         the order and fill journal; live, the orders found open at start
                                         are adopted or cancelled (docs/operations.md)
    engine history / engine report [--since WHEN] [--by day|symbol] [--csv]
                                         the journal's fills / fills, fees and PnL by day or symbol
    engine doctor                        build flags, versions, event loop, clock offset, config (masked)
    engine --version

On a terminal, run/monitor redraw a live screen (rich); otherwise plain status lines; --json: JSON lines.
Every run ends with a summary (orders, fills, volume, PnL, fees, gaps, rejections), signals included.

The wiring (venues, risk, execution, strategies, status dicts) is ``engine/app.py``. Every input is checked
here before anything starts or connects; an input error is one line on stderr and exit code 2.
Exit codes: 0 ok, 2 usage or configuration error (one line, no traceback), 3 connection failure,
4 halted by the risk kill switch. uvloop is chosen here, never by importing the library.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import sys
import types
from decimal import Decimal

from engine.config import LOG_LEVELS, SYMBOLS_FORM, SymbolListError, parse_symbols
from engine.connectors.factory import ConnectorFactory

EXIT_OK, EXIT_USAGE, EXIT_CONNECTION, EXIT_RISK = 0, 2, 3, 4
log = logging.getLogger("engine")


class UsageError(Exception):
    """Bad input: printed as one ``engine: ...`` line on stderr, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing its usage block and exiting, so a bad flag is
    one line like every other input error (subcommand parsers inherit the class)."""

    def error(self, message):
        raise UsageError(f"{message} (see '{self.prog} --help')")


# -- argument types: each rejects a bad value at parse time, before anything starts
def _seconds(what: str, hint: str = ""):
    def parse(text: str) -> float:
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not (math.isfinite(v) and v > 0):
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}: give a finite number of seconds above 0"
                                             + hint)
        return v
    return parse


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a log level: use {', '.join(LOG_LEVELS)}")
    return level


def _symbol_list(text: str) -> tuple:
    """--symbols: ``engine.config.parse_symbols``; a flag's own text may be shown (an environment value may
    not: ENGINE_SYMBOLS is checked by engine/config.py without echoing it)."""
    try:
        return parse_symbols(text)
    except SymbolListError as e:
        what = f"{e.text!r} is not a BASE-QUOTE symbol" if e.entry else "no symbol given"
        raise argparse.ArgumentTypeError(f"{what} ({SYMBOLS_FORM})") from None


def _recording_path(text: str) -> str:
    """Where ``engine record`` may write: a new or writable ``.gz`` file in an existing directory."""
    if os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} is a directory: give a file name, e.g. "
                                         f"{os.path.join(text, 'session.jsonl.gz')}")
    if not text.endswith(".gz"):
        raise argparse.ArgumentTypeError(f"{text!r} must end in .gz (the recording is gzip-compressed and "
                                         "replay reads it by that name), e.g. session.jsonl.gz")
    folder = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(folder):
        what = "is not a directory" if os.path.exists(folder) else "does not exist"
        raise argparse.ArgumentTypeError(f"{folder} {what}: create the directory or write elsewhere")
    if not os.access(folder, os.W_OK | os.X_OK) or (os.path.exists(text) and not os.access(text, os.W_OK)):
        raise argparse.ArgumentTypeError(f"{text} is not writable by this user: write elsewhere")
    return text


def _recording_in(text: str) -> str:
    """A recording to read: an existing file or directory (what is in it is checked by the loader)."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"{text}: no such file or directory; give a file written by engine "
                                         "record --out, or a capture directory")
    return text


def _ns(text: str, what: str) -> int:
    """Milliseconds as text to whole nanoseconds (exact: ``Decimal``); ArgumentTypeError otherwise."""
    from decimal import InvalidOperation

    try:
        ms = Decimal(text.strip())
    except InvalidOperation:
        ms = Decimal("NaN")
    if not ms.is_finite() or ms < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}: give milliseconds >= 0, e.g. 1 or 0.25")
    ns = ms * 1_000_000
    if ns != ns.to_integral_value():
        raise argparse.ArgumentTypeError(f"{text!r} is finer than 1 ns: give at most 6 decimals of a millisecond")
    return int(ns)


def _latency(text: str) -> tuple:
    """--latency-ms ENTRY[,RESPONSE] (RESPONSE defaults to ENTRY) as (entry_ns, response_ns)."""
    parts = text.split(",")
    if len(parts) > 2:
        raise argparse.ArgumentTypeError(f"{text!r} is not ENTRY[,RESPONSE] in ms, e.g. 1 or 1,2")
    vals = [_ns(x, "a latency") for x in parts]
    return vals[0], vals[-1]


def _jitter(text: str) -> tuple:
    """--jitter none | uniform:MS | exponential:MS as (kind, ns)."""
    kind, _, ms = text.partition(":")
    kind = kind.strip().lower()
    if kind == "none" and not ms:
        return "none", 0
    if kind not in ("uniform", "exponential") or not ms:
        raise argparse.ArgumentTypeError(f"{text!r} is not none, uniform:MS or exponential:MS")
    return kind, _ns(ms, "a jitter")


def _feed_latency(text: str):
    return "recorded" if text.strip().lower() == "recorded" else _ns(text, "a feed latency")


def _queue_model(text: str):
    """--queue-model trades | prob[:POWER] as an engine.backtest.QueueModel."""
    from engine.backtest import QueueModel

    kind, _, power = text.strip().lower().partition(":")
    if kind == "trades" and not power:
        return QueueModel.trades_only()
    if kind == "prob":
        try:
            return QueueModel.probabilistic(int(power) if power else 2)
        except ValueError:
            pass
    raise argparse.ArgumentTypeError(f"{text!r} is not trades, prob or prob:POWER (POWER an integer 1..8)")


def _fee_rate(text: str) -> Decimal:
    from decimal import InvalidOperation

    t = text.strip().lower()
    bps = t.endswith("bps")
    try:
        v = Decimal(t[:-3] if bps else t)
    except InvalidOperation:
        v = Decimal("NaN")
    if not v.is_finite():
        raise ValueError
    return v / 10_000 if bps else v


def _fees(text: str) -> tuple:
    """--fees [VENUE=]MAKER,TAKER: fractions of notional (0.0002) or basis points (2bps); negative is a
    rebate. (venue or None, Fees)."""
    from engine.backtest import Fees

    venue, eq, rates = text.partition("=")
    if not eq:
        venue, rates = "", text
    venue = venue.strip().lower()
    if venue and venue not in ConnectorFactory.available():
        raise argparse.ArgumentTypeError(f"{text!r}: unknown venue {venue!r} (registered: "
                                         f"{', '.join(ConnectorFactory.available())})")
    parts = rates.split(",")
    try:
        if len(parts) != 2:
            raise ValueError
        maker, taker = (_fee_rate(x) for x in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not [VENUE=]MAKER,TAKER, e.g. 0.0002,0.0004 or 2bps,4bps")\
            from None
    return venue or None, Fees(maker=maker, taker=taker)


def _report_dir(text: str) -> str:
    if os.path.exists(text) and not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"{text} exists and is not a directory")
    parent = os.path.dirname(os.path.abspath(text))
    if not os.path.isdir(parent):
        raise argparse.ArgumentTypeError(f"{parent} does not exist: create it or write the report elsewhere")
    return text


DEFAULT_JOURNAL_DIR = os.path.join(os.environ.get("XDG_DATA_HOME") or os.path.join("~", ".local", "share"),
                                   "engine", "journal")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("engine")
    except Exception:  # not installed as a distribution
        return "unknown"


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: give 0..65535 (0: any free port)")
    return port


def _journal_dir(text: str) -> str:
    path = os.path.expanduser(text)
    if os.path.exists(path) and not os.path.isdir(path):
        raise argparse.ArgumentTypeError(f"{text!r} is not a directory")
    return path


def _since(text: str) -> int:
    from engine.journal import JournalError, parse_since

    try:
        return parse_since(text)
    except (JournalError, ValueError) as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _metrics_flags(p) -> None:
    p.add_argument("--metrics-port", type=_port, default=None, metavar="PORT",
                   help="serve Prometheus metrics at http://HOST:PORT/metrics (docs/operations.md)")
    p.add_argument("--metrics-host", default="127.0.0.1", metavar="HOST",
                   help="the address the metrics endpoint listens on (default 127.0.0.1)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="engine", description="Low-latency crypto trading engine.")
    p.add_argument("--env-file", help="read KEY=VALUE settings from this file (never read implicitly)")
    config_help = ("a TOML file of settings (engine, risk, venues, strategy; see engine/config.py); the "
                   "environment overrides it, flags override both; secrets only from the environment")
    p.add_argument("--config", default=None, help=config_help)
    p.add_argument("--log-level", type=_log_level, default=None, help="DEBUG, INFO (default), WARNING, ERROR")
    p.add_argument("--log-json", action="store_true", help="log as JSON lines (also ENGINE_LOG_JSON=1)")
    p.add_argument("--version", action="version", version=f"engine {_version()}")
    sub = p.add_subparsers(dest="cmd", required=True)
    symbols_help = ("comma-separated BASE-QUOTE, e.g. BTC-USDT,ETH-USDT (default: ENGINE_SYMBOLS, else the config "
                    "file's [engine] symbols, else those two)")
    recordable = ConnectorFactory.recordable()
    venue_help = (f"the venue (default: the first of {', '.join(recordable)} whose reader finds a book to seed in "
                  "the recording)") if recordable else None
    until = " (omit --duration to run until ^C)"

    run = sub.add_parser("run", help="stream books and print live status (simulators by default)")
    run.add_argument("--duration", type=_seconds("a duration", until), default=None,
                     help="stop by itself after this many seconds")
    run.add_argument("--symbols", type=_symbol_list, default=None, help=symbols_help)
    run.add_argument("--json", action="store_true", help="print status as JSON lines")
    run.add_argument("--live", action="store_true", help="connect to the real venues instead of the simulators")
    run.add_argument("--interval", type=_seconds("an interval"), default=1.0, help="status refresh in seconds")
    run.add_argument("--paper", action="store_true",
                     help="paper trading: orders matched locally by the backtest fill model against the book "
                          "(live with --live, no keys needed; nothing is sent to a venue)")
    run.add_argument("--strategy", default=None, metavar="SPEC",
                     help="mm: the example inventory-aware market maker, one per venue and symbol (default on "
                          "the simulator); monitor: books only (default with --live); none; or your own: "
                          "pkg.module:Class or path/to/file.py:Class (default: ENGINE_STRATEGY, else the "
                          "config file's [strategy] name)")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                     help="a strategy parameter, parsed to the type the strategy declares (repeatable; "
                          "overrides ENGINE_PARAM_<KEY> and the config file's [strategy.params])")
    run.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    _metrics_flags(run)
    run.add_argument("--journal-dir", type=_journal_dir, default=None, metavar="DIR",
                     help="keep the order and fill journal (SQLite, one file per account) in DIR; default: off "
                          f"(the usual place: {DEFAULT_JOURNAL_DIR})")
    run.add_argument("--on-start-orders", choices=["adopt", "cancel"], default="adopt",
                     help="with --journal-dir and --live: what to do with the orders found open at start "
                          "(default adopt)")

    mon = sub.add_parser("monitor", help="stream and compare books on every monitored venue; no trading")
    mon.add_argument("--duration", type=_seconds("a duration", until), default=None)
    mon.add_argument("--symbols", type=_symbol_list, default=None, help=symbols_help)
    mon.add_argument("--json", action="store_true")
    mon.add_argument("--live", action="store_true")
    mon.add_argument("--interval", type=_seconds("an interval"), default=1.0)
    mon.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    _metrics_flags(mon)

    journal_help = f"the journal directory (as given to engine run --journal-dir; default {DEFAULT_JOURNAL_DIR})"
    hist = sub.add_parser("history", help="the fills recorded in the journal (engine run --journal-dir)")
    hist.add_argument("--journal-dir", type=_journal_dir, default=None, metavar="DIR", help=journal_help)
    hist.add_argument("--account", default=None, help="the journal's account (default: the only one in DIR)")
    hist.add_argument("--since", type=_since, default=None, metavar="WHEN",
                      help="only fills since WHEN (e.g. 1d, 12h, 2026-01-31, an ISO time)")
    hist.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    rpt = sub.add_parser("report", help="fills, volume, fees and realized PnL from the journal, by day or symbol")
    rpt.add_argument("--journal-dir", type=_journal_dir, default=None, metavar="DIR", help=journal_help)
    rpt.add_argument("--account", default=None, help="the journal's account (default: the only one in DIR)")
    rpt.add_argument("--since", type=_since, default=None, metavar="WHEN", help="only fills since WHEN")
    rpt.add_argument("--by", choices=["day", "symbol"], default="day")
    rpt.add_argument("--csv", action="store_true", help="print CSV instead of a table")

    sim = sub.add_parser("sim", help="run an embedded exchange simulator")
    sim.add_argument("exchange", choices=ConnectorFactory.available())
    sim.add_argument("args", nargs=argparse.REMAINDER, help="simulator options (see engine sim VENUE -h)")

    rec = sub.add_parser("record", help="record a venue's raw frames + snapshots to JSONL.gz")
    rec.add_argument("--venue", type=_venue_list, default=None,
                     help=f"comma-separated venues, or all ({', '.join(recordable)}); default: the first one whose "
                          "recordings engine backtest runs on; with several, each goes to OUT's stem + "
                          ".<venue>.jsonl.gz")
    rec.add_argument("--out", required=True, type=_recording_path, help="output file (.jsonl.gz)")
    rec.add_argument("--rotate-mb", type=_seconds("a size"), default=None, metavar="MB",
                     help="write numbered files (<stem>.0000.jsonl.gz, .0001, ...), the next after this many MB of lines "
                          "(before compression); each file is readable alone")
    rec.add_argument("--account", action="store_true",
                     help="also record your own order and fill events (live: needs the venue's API keys)")
    rec.add_argument("--rotate-s", type=_seconds("a rotation period"), default=None, metavar="S",
                     help="start a new numbered file every S seconds")
    rec.add_argument("--duration", type=_seconds("a duration"), default=60.0)
    rec.add_argument("--symbols", type=_symbol_list, default=None, help=symbols_help)
    rec.add_argument("--live", action="store_true", help="record the real venue instead of the simulator")

    rep = sub.add_parser("replay", help="replay a recording through the venue's simulator into the engine")
    rep.add_argument("file", help="a recording (engine record) or a capture directory")
    rep.add_argument("--venue", choices=ConnectorFactory.available(), default=None, help=venue_help)
    rep.add_argument("--pace", choices=["fast", "recorded"], default="fast")
    rep.add_argument("--json", action="store_true", help="print status as JSON lines")
    rep.add_argument("--timeout", "--duration", dest="timeout", type=_seconds("a timeout"), default=60.0,
                     help="give up after this many seconds (the replay ends sooner when the books stop moving)")

    bt = sub.add_parser("backtest", help="run a strategy on recordings in virtual time (docs/backtest.md)")
    bt.add_argument("recordings", nargs="+", type=_recording_in, metavar="RECORDING",
                    help="engine record files or capture directories, played one after the other")
    bt.add_argument("--strategy", default=None, metavar="SPEC",
                    help="mm, pkg.module:Class or path/to/file.py:Class (default: ENGINE_STRATEGY, else the config "
                         "file's [strategy] name, else mm)")
    bt.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="a strategy parameter (repeatable; overrides ENGINE_PARAM_<KEY> and [strategy.params])")
    bt.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    bt.add_argument("--symbols", default=None,
                    help="comma-separated symbols to trade, unified (SUSHI-USDT) or as recorded (SUSHIUSDT) "
                         "(default: every recorded book, as many as RISK_MAX_ORDERS_PER_SECOND lets trade)")
    backtestable = ConnectorFactory.backtestable()
    bt.add_argument("--venue", choices=backtestable, default=None,
                    help=f"the recorded venue (default: {backtestable[0] if len(backtestable) == 1 else 'required'})")
    bt.add_argument("--seed", type=int, default=0, help="seed of the latency draws (default 0)")
    bt.add_argument("--latency-ms", type=_latency, default=(0, 0), metavar="ENTRY[,RESPONSE]",
                    help="order entry and response latency in ms (default 0; RESPONSE defaults to ENTRY)")
    bt.add_argument("--jitter", type=_jitter, default=("none", 0), metavar="KIND:MS",
                    help="none (default), uniform:MS or exponential:MS added to each latency")
    bt.add_argument("--feed-latency-ms", type=_feed_latency, default="recorded", metavar="MS|recorded",
                    help="market data latency: recorded (default: from the frames' event times) or fixed ms")
    bt.add_argument("--queue-model", type=_queue_model, default="trades", metavar="trades|prob[:POWER]",
                    help="queue position of resting orders: trades (default) or prob (probabilistic, power 2)")
    bt.add_argument("--fees", type=_fees, action="append", default=[], metavar="[VENUE=]MAKER,TAKER",
                    help="fee rates as fractions (0.0002,0.0004) or bps (2bps,4bps); VENUE= for one venue "
                         "(repeatable); default 0,0")
    bt.add_argument("--json", action="store_true", help="print one JSON line: summary and the full result")
    bt.add_argument("--report-dir", type=_report_dir, default=None, metavar="DIR",
                    help="write fills.csv, orders.csv, summary.json, PNGs and report.html here "
                         "(needs the report extra)")

    sub.add_parser("doctor", help="build flags, versions, event loop, clock offset, config summary")
    return p


def _settings(args):
    """The Settings from --config, the environment and --env-file (in rising precedence); any malformed value,
    env file or config file is a UsageError."""
    from engine.config import ConfigError, load_settings, read_config_file, read_env_file

    try:
        config = read_config_file(args.config) if args.config else None
        env_file = read_env_file(args.env_file) if args.env_file else None
        settings = load_settings(os.environ, env_file=env_file, config=config)
    except UnicodeDecodeError:
        raise UsageError(f"--env-file {args.env_file} is not UTF-8 text: give a file of KEY=VALUE lines") from None
    except ConfigError as e:
        raise UsageError(str(e)) from None
    return settings


def _symbols(args, settings) -> tuple:
    """--symbols, else ENGINE_SYMBOLS (parsed by engine/config.py, which also holds the default)."""
    return args.symbols if args.symbols is not None else settings.symbols


def _setup_logging(args, settings) -> None:
    from engine.logs import setup_logging

    # every registered venue's secret values, redacted from every log line
    secrets = [s for venue in settings.venues.values() for s in venue.secrets()]
    setup_logging(args.log_level or settings.log_level, args.log_json or settings.log_json, secrets)


def main(argv=None) -> int:
    try:
        args = _parser().parse_args(argv)
    except UsageError as e:
        print(f"engine: {e}", file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as e:  # --help
        return EXIT_USAGE if e.code not in (0, None) else EXIT_OK
    try:
        settings = _settings(args)
        _setup_logging(args, settings)
        return _command(args, settings)
    except UsageError as e:
        print(f"engine: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        from engine.logs import stop_logging

        stop_logging()


def _command(args, settings) -> int:
    """Check what is left to check (symbols, keys, the recording), then start the command."""
    from engine import app
    from engine.config import ConfigError

    if args.cmd == "doctor":
        return _run_loop(_doctor(settings))
    if args.cmd == "sim":
        return _sim(args.exchange, args.args)
    if args.cmd in ("run", "monitor"):
        try:
            plan = app.plan_run(settings, _symbols(args, settings), live=args.live, paper=getattr(args, "paper", False),
                                strategy="monitor" if args.cmd == "monitor" else args.strategy,
                                params=getattr(args, "param", None))
        except ConfigError as e:
            raise UsageError(str(e)) from None
        import dataclasses

        plan = dataclasses.replace(plan, journal_dir=getattr(args, "journal_dir", None),
                                   on_start_orders=getattr(args, "on_start_orders", "adopt"))
        for note in plan.notes:
            _say(args.cmd, note)
        return _run_loop(_run(args, settings, plan))
    if args.cmd == "record":
        try:
            venue = [app.recording_venue(v) for v in (args.venue or [app.default_recording_venue()])]
        except app.RecordingError as e:
            raise UsageError(f"record: {e}") from None
        return _run_loop(_record(args, settings, venue, _symbols(args, settings)))
    if args.cmd == "backtest":
        return _backtest(args, settings)
    if args.cmd in ("history", "report"):
        return _journal_command(args)
    if args.cmd == "replay":
        try:
            recording = app.load_recording(args.file, args.venue)
        except app.RecordingError as e:
            raise UsageError(f"replay: {e}") from None
        return _run_loop(_replay(args, recording))
    raise UsageError(f"unknown command {args.cmd!r} (see 'engine --help')")


def _run_loop(coro) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - non-POSIX platforms
        return asyncio.run(coro)
    return uvloop.run(coro)


async def _doctor(settings) -> int:
    from engine import app

    info = await app.doctor(settings)
    print(json.dumps(info, indent=2))
    missing = [k for k, v in info["compiled"].items() if v not in ("release", "debug")]
    return EXIT_USAGE if missing else EXIT_OK


def _say(cmd: str, line: str) -> None:
    print(f"engine {cmd}: {line}", file=sys.stderr, flush=True)


def _sim(exchange: str, argv: list) -> int:
    """A simulator as a server. Its flags are checked with its own parser first (when the module offers
    ``parser()``), so a bad flag or a ``--replay`` that is not a recording is one line, before it listens."""
    from engine import app

    sim_main, make_parser = app.simulator_cli(exchange)
    if make_parser is not None:
        p = make_parser()
        p.error = types.MethodType(_Parser.error, p)
        try:
            opts = p.parse_args(argv)
        except SystemExit as e:  # --help
            return EXIT_USAGE if e.code not in (0, None) else EXIT_OK
        if getattr(opts, "replay", None):
            try:
                app.load_recording(opts.replay, exchange)
            except app.RecordingError as e:
                raise UsageError(f"sim {exchange} --replay: {e}") from None
    try:
        return sim_main(argv)
    except SystemExit as e:  # a simulator without parser(): argparse printed its own error (or --help)
        return EXIT_USAGE if e.code not in (0, None) else EXIT_OK


def _stop_on_signals() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _run(args, settings, plan) -> int:
    from engine import app
    from engine.journal import JournalError

    sessions: list = []
    screen = None
    if args.json:
        show = lambda st: print(json.dumps(st), flush=True)  # noqa: E731
    elif sys.stdout.isatty():
        screen = LiveScreen(sessions)
        show = screen.update
    else:
        show = _print_status
    metrics = None if args.metrics_port is None else (args.metrics_host, args.metrics_port)
    code, killed = EXIT_OK, None
    try:
        killed = await app.run(settings, plan, duration=args.duration, interval=args.interval,
                               stop=_stop_on_signals(), on_status=show, metrics=metrics, session_out=sessions,
                               announce=lambda line: _say(args.cmd, line),
                               on_started=lambda described: _say(args.cmd, _banner(described, plan)))
    except (app.UnknownSymbol, app.StrategyFailed, app.MetricsUnavailable, JournalError) as e:
        raise UsageError(str(e)) from None
    except app.VenueUnavailable as e:
        print(f"engine: {e}", file=sys.stderr)
        code = EXIT_CONNECTION
    finally:
        if screen is not None:
            screen.stop()
        if sessions and sessions[0].execution is not None:
            _print_summary(sessions[0], args.json)
    if code != EXIT_OK:
        return code
    if killed:
        print(f"engine: halted by risk: {killed}", file=sys.stderr)
        return EXIT_RISK
    return EXIT_OK


class LiveScreen:
    """The status redrawn in place when stdout is a terminal (rich ``Live``): one panel per venue with its
    books' top, the strategy's own resting orders, positions, PnL, health and book-path latency with the
    sample count; log lines (and anything else written to stdout/stderr) print above the panels, in their own
    area. Width: the terminal's, laid out for 100 columns."""

    def __init__(self, sessions: list):
        from rich.console import Console
        from rich.live import Live

        self.sessions = sessions  # app.run appends the session before it starts
        self.console = Console()
        self.live = Live(console=self.console, auto_refresh=False, redirect_stdout=True, redirect_stderr=True,
                         transient=False)
        self.live.start()
        # the log handlers wrote to the real stderr: through Live's stderr proxy their lines print above the
        # panels instead of through them (engine/logs.py: a QueueListener feeding StreamHandlers)
        from engine import logs

        self._streams = []
        listener = getattr(logs, "_listener", None)
        for h in getattr(listener, "handlers", ()):
            if isinstance(h, logging.StreamHandler) and h.stream is sys.__stderr__:
                self._streams.append((h, h.setStream(sys.stderr)))

    def update(self, st: dict) -> None:
        self.live.update(self.render(st), refresh=True)

    def stop(self) -> None:
        for h, stream in self._streams:
            h.setStream(stream)
        self.live.stop()

    def render(self, st: dict):
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        session = self.sessions[0] if self.sessions else None
        own: dict = {}
        if session is not None and session.execution is not None:
            for o in session.execution.open_orders():
                own.setdefault(o.venue, []).append(o)
        rk = st["risk"]
        panels = []
        for venue, h in st["venues"].items():
            books = Table(box=None, pad_edge=False, expand=False)
            for col in ("symbol", "state", "bid", "ask", "spread", "gaps", "msgs/s", "age s"):
                books.add_column(col, justify="left" if col in ("symbol", "state") else "right")
            for r in st["books"]:
                if r["venue"] == venue:
                    books.add_row(r["symbol"], r["state"], _px(r["bid"]).strip(), _px(r["ask"]).strip(),
                                  "-" if r["spread"] is None else f"{r['spread']:.8g}", str(r["gaps"]),
                                  "-" if r["msgs_s"] is None else str(r["msgs_s"]), str(r["age_s"]))
            quotes = [f"{o.request.side.value} {o.request.quantity} {o.symbol} @ {o.request.price}"
                      for o in own.get(venue, [])[:6]]
            positions = [f"{k.split(':', 1)[1]} {q}" for k, q in rk["positions"].items() if k.startswith(venue + ":")]
            lat = {}
            if session is not None:
                conn = session.connectors.get(venue)
                lat = (conn.book_latency() if conn is not None else None) or {}
            rej = st["orders"]["rejections"].get(venue, {}).get("count", 0)
            lines = [
                f"health {h.get('state')}  ws disconnects={h.get('ws_disconnects', 0)}  rejected={rej}",
                f"book path p50={lat.get('p50', '-')}ns p99={lat.get('p99', '-')}ns max={lat.get('max', '-')}ns "
                f"(n={lat.get('count', 0)})",
                "own quotes: " + ("; ".join(quotes) if quotes else "none"),
                "positions: " + (", ".join(positions) if positions else "flat"),
            ]
            panels.append(Panel(Group(books, *lines), title=venue, width=min(100, self.console.width)))
        o = st["orders"]
        panels.append(Panel(f"orders sent={o['sent']} open={o['open']} filled={o['filled']} "
                            f"rejected={o['rejected']}  realized PnL={_money(rk['realized_pnl'])} "
                            f"unrealized={_money(rk['unrealized_pnl'])}"
                            + (f"  KILLED: {rk['kill_reason']}" if rk["killed"] else ""),
                            title="account", width=min(100, self.console.width)))
        return Group(*panels)


def _print_summary(session, as_json: bool) -> None:
    """The end-of-run summary: with --json, the last status line again with a ``summary`` key added (so the
    last line is still a status line); else a short block of lines."""
    from engine import app

    o = app.summary(session)
    if as_json:
        # the last status line as it was printed (taken before the venues disconnected), plus the summary
        print(json.dumps({**session.last_status, "summary": o}), flush=True)
        return
    print("\n".join([
        "run summary:",
        f"  orders sent={o['orders']} open at exit={o['open']} filled={o['filled_orders']} "
        f"canceled={o['canceled']} rejected={o['rejected']}",
        f"  fills={o['fills']} volume={o['volume']}",
        f"  realized PnL={o['realized_pnl']} unrealized PnL={o['unrealized_pnl']} fees={o['fees']}",
        f"  book gaps={o['gaps']} resyncs={o['resyncs']}"]), flush=True)


def _journal_command(args) -> int:
    """engine history / engine report: the journal as a table or CSV; a missing or foreign file is one line."""
    from engine.journal import JournalError, JournalReader, to_csv

    directory = args.journal_dir or os.path.expanduser(DEFAULT_JOURNAL_DIR)
    try:
        path = _journal_file(directory, args.account)
        with JournalReader(path) as r:
            if args.cmd == "history":
                rows = r.fills(since_ms=args.since)
                cols = ["ts", "venue", "symbol", "side", "quantity", "price", "fee", "fee_asset",
                        "client_order_id", "order_id"]
                for row in rows:
                    row["ts"] = _iso(row["ts_ms"])
            else:
                rows = r.report(args.since, by=args.by)
                cols = list(rows[0]) if rows else ([args.by] if args.by == "day" else []) + [
                    "venue", "symbol", "fills", "buy_qty", "sell_qty", "notional", "fees", "fee_assets",
                    "realized_pnl", "net_pnl"]
    except JournalError as e:
        raise UsageError(f"{args.cmd}: {e}") from None
    if args.csv:
        sys.stdout.write(to_csv(rows, cols))
    else:
        print(_table(rows, cols))
    return EXIT_OK


def _journal_file(directory: str, account) -> str:
    from engine.journal import JournalError, journal_path

    if account:
        path = journal_path(directory, account)
        if not os.path.isfile(path):
            raise JournalError(f"{path}: no such journal")
        return path
    found = sorted(f for f in os.listdir(directory) if f.endswith(".journal.sqlite")) \
        if os.path.isdir(directory) else []
    if len(found) != 1:
        what = "no journal" if not found else f"{len(found)} journals ({', '.join(found)}): choose one with --account"
        raise JournalError(f"{directory}: {what}")
    return os.path.join(directory, found[0])


def _iso(ms) -> str:
    from datetime import datetime, timezone

    return datetime.fromtimestamp(int(ms) / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"


def _table(rows: list, cols: list) -> str:
    cells = [[str(r.get(c, "") if r.get(c) is not None else "") for c in cols] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths)).rstrip() for row in cells]
    if not rows:
        lines.append("(no fills)")
    return "\n".join(lines)


def _banner(described: dict, plan) -> str:
    """Exactly what runs: which symbols the market maker quotes on which venue, what the monitor compares."""
    watched = f"cross-venue monitor on {', '.join(plan.symbols)} across {', '.join(plan.venues)}"
    quotes = described["market_maker"]
    if plan.strategy not in ("mm", "monitor", "none") and described.get("trading"):
        per_venue = "; ".join(f"{v}: {', '.join(s)}" for v, s in described["trading"].items())
        return f"{described['strategy']} trades {per_venue}; {watched}"
    if not quotes:
        return f"{described['strategy']}: {watched}; no trading"
    per_venue = {tuple(s) for s in quotes.values()}
    if len(per_venue) == 1:
        mm = f"market maker quotes {', '.join(next(iter(per_venue)))} on {', '.join(quotes)}"
    else:
        mm = "market maker quotes " + "; ".join(f"{v}: {', '.join(s)}" for v, s in quotes.items())
    return f"{mm}; {watched}"


async def _record(args, settings, venue, symbols) -> int:
    from engine import app
    from engine.config import ConfigError

    try:
        summaries = await app.record(settings, symbols, args.out, duration=args.duration, live=args.live,
                                     venues=venue, rotate_bytes=int((args.rotate_mb or 0) * 1e6),
                                     rotate_s=args.rotate_s or 0.0, account=args.account, announce=lambda line: _say("record", line),
                                     progress=_progress_line if sys.stderr.isatty() else None)
    except (app.UnknownSymbol, app.RecordingError, ConfigError) as e:
        raise UsageError(f"record: {e}") from None
    except app.VenueUnavailable as e:
        print(f"engine: {e}", file=sys.stderr)
        return EXIT_CONNECTION
    if sys.stderr.isatty():
        print(file=sys.stderr)  # end the progress line
    for summary in summaries:
        print(json.dumps(summary), flush=True)
    return EXIT_OK


def _progress_line(p: dict) -> None:
    """``engine record``'s one progress line on a terminal, rewritten in place."""
    print(f"\rrecord: {p['frames']} frames, {p['mb']:.2f} MB, {p['rate']:.0f} frames/s", end="", file=sys.stderr,
          flush=True)


def _venue_list(text: str) -> list:
    """--venue for record: comma-separated registered recordable venues."""
    names = [t.strip().lower() for t in text.split(",") if t.strip()]
    if names == ["all"]:
        return ConnectorFactory.recordable()
    bad = [n for n in names if n not in ConnectorFactory.recordable()]
    if not names or bad:
        raise argparse.ArgumentTypeError(f"{(bad or [text])[0]!r} is not a recordable venue "
                                         f"(recordable: {', '.join(ConnectorFactory.recordable())})")
    return list(dict.fromkeys(names))


def _backtest(args, settings) -> int:
    """engine backtest: plan (every input checked), run in virtual time (``run`` drives its own loop, so no
    asyncio loop here), print the summary table or one JSON line, write the report."""
    from engine import app
    from engine.backtest import Latency
    from engine.backtest import report as rpt
    from engine.config import ConfigError

    if args.report_dir is not None and rpt.missing():
        raise UsageError(f"backtest --report-dir needs matplotlib: install {rpt.missing()}")
    queue = args.queue_model if not isinstance(args.queue_model, str) else _queue_model(args.queue_model)
    kind, jitter_ns = args.jitter
    symbols = [x for x in args.symbols.split(",") if x.strip()] if args.symbols else None
    try:
        plan = app.plan_backtest(settings, args.recordings, strategy=args.strategy, params=args.param,
                                 symbols=symbols, venue=args.venue, seed=args.seed,
                                 latency=Latency(args.latency_ms[0], args.latency_ms[1], kind, jitter_ns),
                                 queue_model=queue, fees=dict(args.fees), feed_latency=args.feed_latency_ms)
        for note in plan.notes:
            _say("backtest", note)
        result = app.backtest(plan)
    except (ConfigError, app.RecordingError, app.StrategyFailed) as e:
        raise UsageError(f"backtest: {e}") from None
    summary = rpt.summary(result)
    if args.json:
        print(json.dumps({"summary": summary, "result": json.loads(result.to_json())}), flush=True)
    else:
        print("\n".join(backtest_lines(plan, result, summary)), flush=True)
    if args.report_dir is not None:
        try:
            paths = rpt.write_report(result, args.report_dir, title=f"Backtest: {plan.strategy} on "
                                     f"{', '.join(plan.symbols)} ({plan.venue})")
        except OSError as e:
            raise UsageError(f"backtest --report-dir {args.report_dir}: {e.strerror or e}") from None
        _say("backtest", f"report: {paths['report.html']}")
    return EXIT_OK


def backtest_lines(plan, result, summary: dict) -> list:
    """The text summary of a backtest: what ran, the table, positions, the last refusal per venue."""
    from engine.backtest import report as rpt

    fees = plan.fees
    out = [f"backtest {plan.strategy} on {plan.venue} {', '.join(plan.symbols)}: {result.frames} frames, "
           f"{summary['span_s']} s, seed {plan.seed}, fees maker={fees.maker} taker={fees.taker}"]
    rows = rpt.summary_rows(summary)
    width = max(len(k) for k, _ in rows)
    out += [f"  {k:<{width}}  {v}" for k, v in rows]
    if result.final_positions:
        out.append("  final positions: " + ", ".join(f"{s} {q}" for s, q in result.final_positions.items()))
    for venue, r in result.rejections.items():
        if r.get("count"):
            out.append(f"  rejected by {venue}: {r['count']} (last: {r.get('last_reason')})")
    if result.risk_refusals:
        out.append("  refused by risk: " + ", ".join(f"{k} {v}" for k, v in result.risk_refusals.items()))
    return out


async def _replay(args, recording) -> int:
    from engine import app

    try:
        rows = await app.replay(recording, pace=args.pace, timeout=args.timeout)
    except app.VenueUnavailable as e:
        print(f"engine: replay: {e}", file=sys.stderr)
        return EXIT_CONNECTION
    for r in rows:
        print(json.dumps(r) if args.json else
              f"{r['symbol']:10} {r['state']:9} u={r['last_update_id']} gaps={r['gaps']} bbo={r['bbo']}", flush=True)
    return EXIT_OK if all(r["gaps"] == 0 for r in rows) else EXIT_CONNECTION


# -- presentation of the status dict (engine/app.py EngineSession.status)
def _money(text: str) -> str:
    """PnL for a human: 6 decimals (the JSON status keeps the exact Decimal string)."""
    try:
        return f"{Decimal(text):.6f}"
    except (ArithmeticError, ValueError, TypeError):
        return str(text)


def _px(x) -> str:
    return f"{x:<14.8g}" if x is not None else f"{'-':<14}"


def _rejected(orders: dict) -> str:
    """``rejected=N (last: venue: reason; ...)``: at 3 a.m. the reason matters more than the count."""
    text = f"rejected={orders.get('rejected', 0)}"
    last = [f"{v}: {r['last_reason']}" for v, r in orders.get("rejections", {}).items() if r["count"]]
    return text + (f" (last: {'; '.join(last)})" if last else "")


def status_lines(st: dict) -> list:
    """The text status: one line per book, then per-venue and order lines."""
    out = []
    for r in st["books"]:
        rate = "-" if r["msgs_s"] is None else r["msgs_s"]
        out.append(f"{r['venue']:8} {r['symbol']:9} {r['state']:9} bid {_px(r['bid'])} ask {_px(r['ask'])} "
                   f"u={r['last_update_id']} gaps={r['gaps']} resyncs={r['resyncs']} {rate:>5}/s age={r['age_s']}s")
    for venue, lat in st["book_path_ns"].items():
        out.append(f"  {venue} book path p50={lat['p50']}ns p99={lat['p99']}ns p99.9={lat['p99.9']}ns")
    out.append("  public trades seen: " + ", ".join(f"{v} {n}" for v, n in st["public_trades"].items())
               + "  REST budget: " + ", ".join(f"{v} {b['used']}/{b['limit']} {b['kind']}"
                                               for v, b in st["rest_budget"].items() if b))
    for venue, h in st["venues"].items():
        parts = [f"{venue}: {h.get('state')}", f"ws disconnects={h.get('ws_disconnects', 0)}"]
        acct = h.get("account_stream")
        if acct:
            parts.append(f"account stream {'up' if acct['subscribed'] else 'DOWN'} epoch={acct['epoch']} "
                         f"token renewals={acct['renewals']} auth errors={acct['auth_errors']}")
        if "auth_token_expires_in_s" in h:
            parts.append(f"token expires in {h['auth_token_expires_in_s'] // 60} min")
        if "nonce" in h:
            parts.append(f"nonce conflicts={h['nonce']['conflicts']}")
        if "paper" in h:
            pp = h["paper"]
            parts.append(f"paper orders={pp['orders']} fills={pp['fills']} open={pp['open']}")
        if h.get("rate_limited"):
            parts.append(f"429s={h['rate_limited']}")
        if "limits" in h:
            parts.append(f"tier={h['limits']['tier']}")
        out.append("  " + "  ".join(parts))
    if st["cross_venue_gap_bps"]:
        out.append("  cross-venue mid gap (bps): " + ", ".join(f"{k} {v}" for k, v in st["cross_venue_gap_bps"].items()))
    o, rk = st["orders"], st["risk"]
    out.append(f"  orders sent={o['sent']} open={o['open']} filled={o['filled']} {_rejected(o)}  "
               f"positions={rk['positions']} realized={_money(rk['realized_pnl'])} "
               f"unrealized={_money(rk['unrealized_pnl'])}" + (f"  KILLED: {rk['kill_reason']}" if rk["killed"] else ""))
    return out


def _print_status(st: dict) -> None:
    print("\n".join(status_lines(st)), flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
