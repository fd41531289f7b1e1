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
    sim = LighterSimulator(seed=args.seed, port=args.port, verify_signatures=args.verify_signatures,
                           api_key_index=args.api_key_index)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with sim:
        sim.faults.update({"gap": args.gap, "nonce_conflict": args.nonce_conflict, "rate_limit": args.rate_limit,
                           "auth_ttl_s": args.auth_ttl, "disconnect_every_s": args.disconnect_every,
                           "drop_order": args.drop_order})
        print(json.dumps(sim.info()), flush=True)
        await stop.wait()
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="engine sim lighter", description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--api-key-index", type=_key_index, default=3, metavar="N",
                   help="the throwaway account's API key index, 0..254 (default 3; ccxt's lighter takes only 4..254)")
    p.add_argument("--gap", type=int, default=0, help="fault: never send the next N order-book updates")
    p.add_argument("--nonce-conflict", type=int, default=0, metavar="N",
                   help="fault: the next N sendTx get 21104 and the key's nonce moves on (another client used it)")
    p.add_argument("--rate-limit", type=int, default=0, metavar="N",
                   help="fault: the next N REST requests get HTTP 429 / 23000")
    p.add_argument("--auth-ttl", type=float, default=0, metavar="S",
                   help="fault: auth tokens stop being accepted S seconds after first use (private channels end "
                        "with 20013)")
    p.add_argument("--disconnect-every", type=float, default=0, metavar="S",
                   help="fault: close every stream socket every S seconds")
    p.add_argument("--drop-order", type=int, default=0, metavar="N",
                   help="fault: the next N sequenced orders vanish without any report (sendTx still 200)")
    p.add_argument("--verify-signatures", action="store_true",
                   help="check every transaction's and auth token's Schnorr signature against the registered key "
                        "(else 21120 invalid signature, a token 20013; ~30 ms each)")
    return p


def _key_index(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 254:
        raise argparse.ArgumentTypeError(f"not an API key index 0..254: {text!r}")
    return int(text)


def main(argv=None) -> int:
    return asyncio.run(serve(parser().parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
