"""The ``engine`` command (also ``python -m engine``).

    engine run [--duration S] [--json]   stream books from the venues and print a status line per second
                                         (against the embedded simulators unless --live)
    engine monitor [--duration S]        the same books and cross-venue gap, without trading
    engine sim binance|lighter [...]     run a simulator (prints one JSON line, serves until ^C)
    engine record --out F / replay F     raw frames to JSONL.gz / a recording through the simulator
    engine doctor                        build flags, versions, event loop, clock offset, config (masked)

Exit codes: 0 ok, 2 usage or configuration error (one line, no traceback), 3 connection failure.
uvloop is chosen here, never by importing the library.
"""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import logging
import platform
import signal
import sys
import time
from decimal import Decimal

EXIT_OK, EXIT_USAGE, EXIT_CONNECTION, EXIT_RISK = 0, 2, 3, 4
log = logging.getLogger("engine")


class UsageError(Exception):
    pass


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="engine", description="Low-latency crypto trading engine.")
    p.add_argument("--env-file", help="read KEY=VALUE settings from this file (never read implicitly)")
    p.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING, ERROR")
    p.add_argument("--log-json", action="store_true", help="log as JSON lines (also ENGINE_LOG_JSON=1)")
    sub = p.add_subparsers(dest="cmd", required=True)

    run = sub.add_parser("run", help="stream books and print live status (simulators by default)")
    run.add_argument("--duration", type=float, default=None, help="stop by itself after this many seconds")
    run.add_argument("--symbols", default=None, help="comma-separated, e.g. BTC-USDT,ETH-USDT")
    run.add_argument("--json", action="store_true", help="print status as JSON lines")
    run.add_argument("--live", action="store_true", help="connect to the real venues instead of the simulators")
    run.add_argument("--interval", type=float, default=1.0, help="status refresh in seconds")
    run.add_argument("--strategy", choices=["mm", "monitor", "none"], default=None,
                     help="mm: the example inventory-aware market maker (default on the simulator); "
                          "monitor: books only (default with --live)")

    mon = sub.add_parser("monitor", help="stream and compare books on every monitored venue; no trading")
    mon.add_argument("--duration", type=float, default=None)
    mon.add_argument("--symbols", default=None)
    mon.add_argument("--json", action="store_true")
    mon.add_argument("--live", action="store_true")
    mon.add_argument("--interval", type=float, default=1.0)

    sim = sub.add_parser("sim", help="run an embedded exchange simulator")
    sim.add_argument("exchange", choices=["binance", "lighter"])
    sim.add_argument("args", nargs=argparse.REMAINDER, help="simulator options (see engine sim binance -h)")

    rec = sub.add_parser("record", help="record raw Binance frames + snapshots to JSONL.gz")
    rec.add_argument("--out", required=True, help="output file (.jsonl.gz)")
    rec.add_argument("--duration", type=float, default=60.0)
    rec.add_argument("--symbols", default=None, help="comma-separated, e.g. BTC-USDT,ETH-USDT")
    rec.add_argument("--live", action="store_true", help="record the real venue instead of the simulator")

    rep = sub.add_parser("replay", help="replay a recording through the Binance simulator into the engine")
    rep.add_argument("file", help="a recording (engine record) or a capture directory")
    rep.add_argument("--pace", choices=["fast", "recorded"], default="fast")
    rep.add_argument("--json", action="store_true", help="print status as JSON lines")
    rep.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds")

    sub.add_parser("doctor", help="build flags, versions, event loop, clock offset, config summary")
    return p


def _settings(args):
    from engine.config import ConfigError, Settings, read_env_file

    import os

    env = dict(os.environ)
    if args.env_file:
        env.update(read_env_file(args.env_file))
    try:
        return Settings.from_env(env)
    except ConfigError as e:
        raise UsageError(str(e)) from None


def _setup_logging(args, settings) -> None:
    from engine.logs import setup_logging

    secrets = [s.value for s in (settings.binance_api_key, settings.binance_api_secret,
                                 settings.lighter_api_private_key) if s]
    setup_logging(args.log_level or settings.log_level, args.log_json or settings.log_json, secrets)


def main(argv=None) -> int:
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return EXIT_USAGE if e.code not in (0, None) else EXIT_OK
    try:
        settings = _settings(args)
        _setup_logging(args, settings)
        if args.cmd == "doctor":
            return _run_loop(_doctor(settings))
        if args.cmd == "sim":
            if args.exchange == "lighter":
                from engine.sim.lighter.__main__ import main as sim_main
            else:
                from engine.sim.binance.__main__ import main as sim_main
            return sim_main(args.args)
        if args.cmd == "run":
            return _run_loop(_run(args, settings))
        if args.cmd == "monitor":
            args.strategy = "monitor"
            return _run_loop(_run(args, settings))
        if args.cmd == "record":
            return _run_loop(_record(args, settings))
        if args.cmd == "replay":
            return _run_loop(_replay(args))
    except UsageError as e:
        print(f"engine: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        from engine.logs import stop_logging

        stop_logging()
    return EXIT_USAGE


def _run_loop(coro) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - non-POSIX platforms
        return asyncio.run(coro)
    return uvloop.run(coro)


async def _doctor(settings) -> int:
    from engine import __version__, _build

    info = {"engine": __version__, "python": platform.python_version(), "platform": platform.platform(),
            "event_loop": type(asyncio.get_running_loop()).__module__, "compiled": _build.build_info()}
    versions = {}
    for mod in ("picows", "aiohttp", "orjson", "uvloop", "Cython"):
        try:
            m = __import__(mod)
            versions[mod] = getattr(m, "__version__", "?")
        except ImportError:
            versions[mod] = "not installed"
    info["versions"] = versions
    try:
        from engine.sign import accelerated

        info["sha256"] = "SHA extensions" if accelerated() else "portable C"
    except ImportError as e:
        info["sha256"] = f"unavailable: {e}"
    # clock offset against the embedded simulator's clock (a live venue when keys and network exist)
    try:
        from engine.connectors.binance.auth import BinanceAuth
        from engine.connectors.binance.http import BinanceHttp
        from engine.connectors.binance.urls import BinanceEndpoints
        from engine.ratelimit import RateLimits
        from engine.sim.binance import BinanceSimulator

        async with BinanceSimulator() as sim:
            auth = BinanceAuth(sim.api_key, sim.api_secret)
            http = BinanceHttp(BinanceEndpoints(sim.rest_url, sim.ws_url, sim.ws_api_url),
                               RateLimits([]), auth)
            await http.open()
            try:
                await http.sync_time(3)
            finally:
                await http.close()
            info["clock_offset_ms_vs_simulator"] = round(auth.offset_ms, 2)
    except Exception as e:  # doctor reports, it does not fail on a probe
        info["clock_offset_ms_vs_simulator"] = f"unavailable: {e}"
    info["config"] = settings.summary()
    missing = [k for k, v in info["compiled"].items() if v not in ("release", "debug")]
    print(json.dumps(info, indent=2))
    return EXIT_USAGE if missing else EXIT_OK


async def _run(args, settings) -> int:
    from decimal import Decimal

    from engine.execution import ExecutionEngine
    from engine.risk import RiskManager
    from engine.strategy import StrategyRunner
    from engine.strategy.cross_venue import CrossVenueMonitor
    from engine.strategy.market_maker import InventoryMarketMaker

    symbols = [s.strip() for s in (args.symbols or "BTC-USDT,ETH-USDT").split(",") if s.strip()]
    strategy = args.strategy or ("monitor" if args.live else "mm")
    venues = list(dict.fromkeys([*settings.monitor_exchanges, settings.active_exchange]))
    lighter_ok = importlib.util.find_spec("lighter") is not None
    # on the simulators the market maker paper-trades every venue; live, only ACTIVE_EXCHANGE
    trading = [v for v in venues if strategy == "mm" and (args.live is False or v == settings.active_exchange)
               and (v != "lighter" or lighter_ok)]
    if strategy == "mm" and "lighter" in venues and not lighter_ok:
        print("engine run: lighter is monitored only: trading there needs the lighter extra "
              "(pip install 'engine[lighter]')", file=sys.stderr)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        conns = {}
        for venue in venues:
            conns[venue], where = await _venue(stack, venue, args, settings, venue in trading)
            print(f"engine run: {venue}: {where}", file=sys.stderr, flush=True)
        for venue, conn in conns.items():
            try:
                await conn.connect()
            except Exception as e:
                print(f"engine: cannot connect to {venue}: {e}", file=sys.stderr)
                return EXIT_CONNECTION
            stack.push_async_callback(conn.disconnect)
        risk = RiskManager(limits=settings.risk)
        feeds = [(v, await conns[v].add_book(s)) for v in venues for s in symbols]
        by_key = {(v, s): f for (v, f), s in zip(feeds, [s for _ in venues for s in symbols])}

        def market(venue, symbol):
            feed = by_key.get((venue, symbol))
            if feed is None or not feed.book.synced:
                return None, 0.0
            return Decimal(str(feed.book.mid)), feed.health.age_s

        ex = ExecutionEngine({v: conns[v] for v in trading}, risk, market=market,
                             cancel_on_shutdown=settings.risk.cancel_on_shutdown)
        if trading:
            await ex.start()
            stack.push_async_callback(ex.stop)
        runners = [StrategyRunner(CrossVenueMonitor(ex, {v: symbols for v in venues}), conns)]
        for v in trading:
            runners.append(StrategyRunner(InventoryMarketMaker(ex, v, symbols[-1], half_spread_bps=Decimal("0.05")),
                                          {v: conns[v]}))
        for r in runners:
            await r.start()
            stack.push_async_callback(r.stop)
        print(f"engine run: {strategy} on {', '.join(symbols)}; monitoring {', '.join(venues)}; "
              f"trading on {', '.join(trading) or 'none'}", file=sys.stderr, flush=True)
        t_end = None if args.duration is None else loop.time() + args.duration
        last_msgs = {}
        while not stop.is_set() and (t_end is None or loop.time() < t_end):
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), args.interval)
            status = _status(conns, feeds, last_msgs, args.interval, ex, risk, runners[0].strategy)
            if args.json:
                print(json.dumps(status), flush=True)
            else:
                _print_status(status)
        if risk.killed:
            print(f"engine: halted by risk: {risk.kill_reason}", file=sys.stderr)
            return EXIT_RISK
    return EXIT_OK


async def _venue(stack, venue, args, settings, trades: bool):
    """(connector, description) for a venue: its embedded simulator unless --live."""
    if venue == "binance":
        from engine.connectors.binance.client import BinanceConnector
        from engine.connectors.binance.urls import BinanceEndpoints

        if args.live:
            if trades:
                try:
                    settings.require_trading_keys("binance")
                except ValueError as e:
                    raise UsageError(str(e)) from None
            return BinanceConnector(settings), "live Binance" + (" testnet" if settings.binance_testnet else "")
        from engine.sim.binance import BinanceSimulator

        sim = await stack.enter_async_context(BinanceSimulator())
        return (BinanceConnector(endpoints=BinanceEndpoints(sim.rest_url, sim.ws_url, sim.ws_api_url),
                                 api_key=sim.api_key, api_secret=sim.api_secret),
                f"the embedded Binance simulator at {sim.rest_url} (no keys or network needed; --live for real)")
    from engine.connectors.lighter.client import LighterConnector
    from engine.connectors.lighter.urls import LighterEndpoints

    if args.live:
        if trades:
            try:
                settings.require_trading_keys("lighter")
            except ValueError as e:
                raise UsageError(str(e)) from None
        return LighterConnector(settings), "live Lighter" + (" testnet" if settings.lighter_testnet else "")
    from engine.sim.lighter import LighterSimulator

    sim = await stack.enter_async_context(LighterSimulator())
    return (LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url), account_index=sim.account_index,
                             api_key_index=sim.api_key_index, api_private_key=sim.api_private_key),
            f"the embedded Lighter simulator at {sim.rest_url}")


def _status(conns, feeds, last_msgs, interval, ex, risk, monitor) -> dict:
    rows = []
    for venue, f in feeds:
        b, h = f.book, f.health
        bid, bq, ask, aq = b.bbo()
        key = (venue, h.symbol)
        rows.append({"venue": venue, "symbol": h.symbol, "state": h.state.value, "bid": bid, "ask": ask,
                     "spread": round(ask - bid, 8) if bid == bid and ask == ask else None,
                     "last_update_id": b.last_update_id, "gaps": h.gaps, "resyncs": h.resyncs,
                     "age_s": h.as_dict()["age_s"], "msgs_s": round((h.messages - last_msgs.get(key, 0)) / interval, 1)})
        last_msgs[key] = h.messages
    orders = list(ex.orders.values())
    return {"ts": round(time.time(), 3), "books": rows,
            "book_path_ns": {v: {k: (c.book_latency() or {}).get(k) for k in ("p50", "p99", "p99.9")}
                             for v, c in conns.items()},
            "cross_venue_gap_bps": {k: round(v, 2) for k, v in monitor.snapshot()["gap_bps"].items()},
            "public_trades": dict(monitor.trades),
            "rest_weight": {v: _rest_budget(c.http.limits.status()) for v, c in conns.items()},
            "venues": {v: {k: x for k, x in c.health().items() if k not in ("books", "exchange")}
                       for v, c in conns.items()},
            "orders": {"sent": len(orders), "open": len(ex.open_orders()),
                       "filled": sum(1 for o in orders if o.filled > 0)},
            "risk": risk.status()}


async def _record(args, settings) -> int:
    from engine.record import FrameRecorder

    symbols = [s.strip() for s in (args.symbols or "BTC-USDT,ETH-USDT").split(",") if s.strip()]
    async with contextlib.AsyncExitStack() as stack:
        conn, where = await _venue(stack, "binance", args, settings, False)
        try:
            await conn.connect()
        except Exception as e:
            print(f"engine: cannot connect to binance: {e}", file=sys.stderr)
            return EXIT_CONNECTION
        stack.push_async_callback(conn.disconnect)
        rec = FrameRecorder(args.out)
        stack.callback(rec.close)
        rec.exchange_info(await conn.http.request_raw("GET", "/api/v3/exchangeInfo"))
        conn.market.recorder = rec
        for s in symbols:
            await conn.add_book(s)
        print(f"engine record: {', '.join(symbols)} from {where} -> {args.out}", file=sys.stderr, flush=True)
        await asyncio.sleep(args.duration)
    print(json.dumps({"path": args.out, "frames": rec.frames, "snapshots": rec.snapshots}), flush=True)
    return EXIT_OK


async def _replay(args) -> int:
    import os

    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.binance.urls import BinanceEndpoints
    from engine.sim.binance import BinanceSimulator
    from engine.sim.binance.replay import load_session

    if not os.path.exists(args.file):
        raise UsageError(f"replay: no such file or directory: {args.file}")
    symbols = sorted(load_session(args.file).snapshots)
    if not symbols:
        raise UsageError(f"replay: {args.file} holds no depth snapshot to seed a book from")
    loop = asyncio.get_running_loop()
    async with BinanceSimulator(replay=args.file, replay_pace=args.pace) as sim:
        conn = BinanceConnector(endpoints=BinanceEndpoints(sim.rest_url, sim.ws_url, sim.ws_api_url))
        await conn.connect()
        try:
            feeds = [await conn.add_book(s) for s in symbols]
            end = loop.time() + args.timeout
            last_sent, quiet = -1, 0
            while loop.time() < end and quiet < 3:
                await asyncio.sleep(0.5)
                quiet = quiet + 1 if sim.streams.sent == last_sent else 0
                last_sent = sim.streams.sent
            rows = [{"symbol": f.symbol, "state": f.health.state.value, "last_update_id": f.book.last_update_id,
                     "gaps": f.health.gaps, "bbo": f.book.bbo()} for f in feeds]
        finally:
            await conn.disconnect()
    for r in rows:
        print(json.dumps(r) if args.json else
              f"{r['symbol']:10} {r['state']:9} u={r['last_update_id']} gaps={r['gaps']} bbo={r['bbo']}", flush=True)
    return EXIT_OK if all(r["gaps"] == 0 for r in rows) else EXIT_CONNECTION


def _rest_budget(status: dict):
    """The per-minute REST budget row: weighted (Binance, Lighter's paid tiers) or a plain count (Standard)."""
    return status.get("REQUEST_WEIGHT/1M") or status.get("RAW_REQUESTS/1M")


def _money(text: str) -> str:
    """PnL for a human: 6 decimals (the JSON status keeps the exact Decimal string)."""
    try:
        return f"{Decimal(text):.6f}"
    except (ArithmeticError, ValueError, TypeError):
        return str(text)


def _print_status(st: dict) -> None:
    for r in st["books"]:
        print(f"{r['venue']:8} {r['symbol']:9} {r['state']:9} bid {r['bid']:<14.8g} ask {r['ask']:<14.8g} "
              f"u={r['last_update_id']} gaps={r['gaps']} resyncs={r['resyncs']} "
              f"{r['msgs_s']:>5}/s age={r['age_s']}s", flush=True)
    o, rk = st["orders"], st["risk"]
    for venue, lat in st["book_path_ns"].items():
        print(f"  {venue} book path p50={lat['p50']}ns p99={lat['p99']}ns p99.9={lat['p99.9']}ns", flush=True)
    print("  public trades seen: " + ", ".join(f"{v} {n}" for v, n in st["public_trades"].items())
          + "  REST weight: " + ", ".join(f"{v} {w['used']}/{w['limit']}" for v, w in st["rest_weight"].items() if w),
          flush=True)
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
        if h.get("rate_limited"):
            parts.append(f"429s={h['rate_limited']}")
        if "limits" in h:
            parts.append(f"tier={h['limits']['tier']}")
        print("  " + "  ".join(parts), flush=True)
    if st["cross_venue_gap_bps"]:
        print("  cross-venue mid gap (bps): " + ", ".join(f"{k} {v}" for k, v in st["cross_venue_gap_bps"].items()),
              flush=True)
    print(f"  orders sent={o['sent']} open={o['open']} filled={o['filled']}  positions={rk['positions']} "
          f"realized={_money(rk['realized_pnl'])} unrealized={_money(rk['unrealized_pnl'])}"
          + (f"  KILLED: {rk['kill_reason']}" if rk["killed"] else ""), flush=True)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
