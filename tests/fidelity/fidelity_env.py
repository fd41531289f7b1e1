"""Plumbing for tests/fidelity/: a simulator on a loop of its own thread (for the synchronous clients), and the
venue's base URLs rewritten to a simulator's (the only change a client gets)."""
import asyncio
import threading
import time

import pytest

CALL_TIMEOUT = 20.0  # seconds for one client call; generous, for a busy machine


class ClientError(AssertionError):
    """A client call failed: its exception's type and message, without the client's frames (pytest formats every
    frame's source for a report, and those of a client's 10,000-line modules take seconds per failure)."""


def shallow(e: BaseException) -> ClientError:
    return ClientError(f"{type(e).__name__}: {e}")


async def call(coro, timeout: float = CALL_TIMEOUT):
    """Await one async client call within ``timeout``; a failure is a ``ClientError`` (type and message)."""
    try:
        return await asyncio.wait_for(coro, timeout)
    except Exception as e:
        raise shallow(e) from None


def lacks(what: str):
    """A strict xfail: the call fails because the simulator lacks ``what``, and passes (failing the test) once built."""
    return pytest.mark.xfail(strict=True, reason=f"the simulator lacks {what}")


def bug(where: str, what: str):
    """A strict xfail for a simulator bug in ``where`` (a file of engine/sim/)."""
    return pytest.mark.xfail(strict=True, reason=f"simulator bug ({where}): {what}")


def gap(test_id: str, call, marks):
    """One row of a module's table of calls the simulator cannot serve: ``call(client)`` under ``marks``."""
    return pytest.param(call, id=test_id, marks=marks)


class SimThread:
    """``with SimThread(BinanceSimulator(seed=1)) as sim:`` runs the simulator on its own event loop in a daemon
    thread, so a blocking client in the test's thread can reach it; leaving the block stops it."""

    def __init__(self, sim):
        self.sim = sim
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="fidelity-sim", daemon=True)

    def run(self, coro, timeout: float = CALL_TIMEOUT):
        """Run ``coro`` on the simulator's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def __enter__(self):
        self.thread.start()
        self.run(self.sim.start())
        return self.sim

    def __exit__(self, *exc):
        try:
            self.run(self.sim.stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=CALL_TIMEOUT)
            if not self.thread.is_alive():
                self.loop.close()


def rewrite_urls(node, sim):
    """``node`` (a client's URL or nested dict of URLs) with every host replaced by the Binance simulator's: HTTP
    to ``sim.rest_url``, the WebSocket API (a path with ``ws-api``) to ``sim.ws_api_url``, other WebSocket URLs to
    ``sim.ws_url``; the paths are kept."""
    if isinstance(node, dict):
        return {k: rewrite_urls(v, sim) for k, v in node.items()}
    if not isinstance(node, str) or "://" not in node:
        return node
    scheme, rest = node.split("://", 1)
    path = "/" + rest.split("/", 1)[1] if "/" in rest else ""
    if scheme.startswith("ws"):
        return sim.ws_api_url if "/ws-api/" in path + "/" else sim.ws_url + path
    return sim.rest_url + path


def with_trades(sim, timeout: float = 30.0):
    """``sim`` once its simulated BTCUSDT market has traded (so a client's trade lists are not empty)."""
    deadline = time.monotonic() + timeout
    while not sim.exchange.markets["BTCUSDT"].trades and time.monotonic() < deadline:
        time.sleep(0.1)
    return sim
