"""``python -m engine.sim.lighter`` (also ``engine sim lighter``): serve until SIGINT/SIGTERM.

The first line on stdout is JSON: {"exchange","rest_url","ws_url","account_index","api_key_index",
"api_private_key"}.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from .server import LighterSimulator


async def serve(args) -> int:
    sim = LighterSimulator(seed=args.seed, port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        sim.faults["gap"] = args.gap
        print(json.dumps(sim.info()), flush=True)
        await stop.wait()
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="engine sim lighter", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--gap", type=int, default=0, help="fault: never send the next N order-book updates")
    return asyncio.run(serve(p.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
