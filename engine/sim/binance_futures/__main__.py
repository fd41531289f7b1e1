"""``python -m engine.sim.binance_futures``: run the Binance USD-M futures simulator until SIGINT/SIGTERM.

The first line on stdout is JSON: {"exchange","rest_url","ws_url","public_ws_url","market_ws_url",
"private_ws_url","ws_api_url","api_key","api_secret"}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from .faults import Faults
from .server import BinanceFuturesSimulator


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="engine sim binance-futures", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0, help="REST port (0 = any free port)")
    p.add_argument("--ws-port", type=int, default=0, help="streams port (0 = any free port)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--weight-limit", type=int, default=2400, help="REQUEST_WEIGHT per minute per IP")
    p.add_argument("--funding-interval-s", type=float, default=8 * 3600, help="funding settlement period")
    p.add_argument("--listen-key-ttl-s", type=float, default=3600, help="listenKey validity (60 min)")
    p.add_argument("--ping-interval-s", type=float, default=180.0, help="server pings (3 min)")
    p.add_argument("--wallet", default="100000", help="starting USDT wallet balance")
    p.add_argument("--clock-skew-ms", type=int, default=0, help="fault: server clock offset")
    p.add_argument("--drop-diffs", type=int, default=0, help="fault: never send the next N depth links")
    p.add_argument("--order-5xx", type=int, default=0, help="fault: place the next N orders, answer 503 -1007")
    p.add_argument("--order-timeout", type=int, default=0, help="fault: place the next N orders, answer late")
    p.add_argument("--rate-limit-429", type=int, default=0, help="fault: answer the next N requests 429 (then 418)")
    p.add_argument("--slow-snapshot-s", type=float, default=0.0, help="fault: delay every depth snapshot")
    p.add_argument("--throttle-1008", type=int, default=0, help="fault: the next N opening orders get -1008")
    return p


def _positive(args) -> str | None:
    if args.slow_snapshot_s < 0:
        return "--slow-snapshot-s must be >= 0"
    for name in ("funding_interval_s", "listen_key_ttl_s", "ping_interval_s"):
        if getattr(args, name) <= 0:
            return f"--{name.replace('_', '-')} must be > 0"
    try:
        from decimal import Decimal
        if not Decimal(args.wallet) >= 0:
            raise ValueError
    except Exception:
        return f"--wallet must be a non-negative decimal, got {args.wallet!r}"
    return None


async def serve(args) -> int:
    faults = Faults(clock_skew_ms=args.clock_skew_ms, drop_diffs=args.drop_diffs, order_5xx=args.order_5xx,
                    order_timeout=args.order_timeout, rate_limit_429=args.rate_limit_429,
                    throttle_1008=args.throttle_1008, slow_snapshot_s=args.slow_snapshot_s)
    sim = BinanceFuturesSimulator(seed=args.seed, rest_port=args.port, ws_port=args.ws_port,
                                  weight_limit=args.weight_limit, funding_interval_s=args.funding_interval_s,
                                  listen_key_ttl_s=args.listen_key_ttl_s, ping_interval_s=args.ping_interval_s,
                                  wallet=args.wallet, faults=faults)
    done = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, done.set)
    async with sim:
        print(json.dumps(sim.info()), flush=True)
        await done.wait()
    return 0


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    problem = _positive(args)
    if problem:
        print(f"engine sim binance-futures: {problem}", file=sys.stderr)
        return 2
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
