"""``python -m engine.sim.binance`` (also ``engine sim binance``): run the simulator until SIGINT/SIGTERM.

The first line on stdout is JSON: {"exchange","rest_url","ws_url","ws_api_url","api_key","api_secret"}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from .faults import Faults
from .server import BinanceSimulator


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="engine sim binance", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="REST + WS API port (0 = any free port)")
    p.add_argument("--ws-port", type=int, default=0, help="market streams port (0 = any free port)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--weight-limit", type=int, default=6000, help="REQUEST_WEIGHT per minute per IP")
    p.add_argument("--clock-skew-ms", type=int, default=0, help="fault: server clock offset")
    p.add_argument("--drop-diffs", type=int, default=0, help="fault: never send the next N depth diffs")
    p.add_argument("--order-5xx", type=int, default=0, help="fault: place the next N orders, answer 503")
    p.add_argument("--order-timeout", type=int, default=0, help="fault: place the next N orders, answer late")
    p.add_argument("--rate-limit-429", type=int, default=0, help="fault: answer the next N requests 429")
    p.add_argument("--slow-snapshot-s", type=float, default=0.0, help="fault: delay every depth snapshot")
    p.add_argument("--ping-interval-s", type=float, default=20.0)
    p.add_argument("--pong-timeout-s", type=float, default=60.0)
    p.add_argument("--max-connection-s", type=float, default=24 * 3600, help="stream lifetime (24 h)")
    p.add_argument("--replay", help="serve a recorded session (a capture directory or a .jsonl[.gz] file)")
    p.add_argument("--replay-pace", choices=["fast", "recorded"], default="fast")
    p.add_argument("--replay-speed", type=float, default=1.0, help="with --replay-pace recorded")
    return p


async def serve(args) -> int:
    faults = Faults(clock_skew_ms=args.clock_skew_ms, drop_diffs=args.drop_diffs, order_5xx=args.order_5xx,
                    order_timeout=args.order_timeout, rate_limit_429=args.rate_limit_429,
                    slow_snapshot_s=args.slow_snapshot_s)
    sim = BinanceSimulator(seed=args.seed, rest_port=args.port, ws_port=args.ws_port,
                           weight_limit=args.weight_limit, ping_interval_s=args.ping_interval_s,
                           pong_timeout_s=args.pong_timeout_s, max_connection_s=args.max_connection_s,
                           faults=faults, replay=args.replay, replay_pace=args.replay_pace,
                           replay_speed=args.replay_speed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        print(json.dumps(sim.info()), flush=True)
        await stop.wait()
    return 0


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
