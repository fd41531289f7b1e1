"""Lighter signed orders on one API key, from the call to the venue's "sequenced" answer, against the Lighter
simulator on loopback (one event loop, uvloop): ours vs the official SDK's own ``SignerClient``, same run.

Rows: ours with orders written to the stream socket in nonce order and answered in a pipeline (the
default); ours over HTTP sendTx, one at a time (separate HTTP connections do not keep order); the SDK's
``SignerClient.create_order``, awaited one after another as its docs do (it signs on the calling thread,
which is the interpreter's main thread here: docs/lighter.md, "The signer's thread"). Every row signs with the official
signer library; the simulator checks each transaction's shape, key and nonce (not the signature).
Needs the ``lighter`` extra; skipped with the reason elsewhere.
"""
import asyncio
import itertools
from decimal import Decimal

import pytest

pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")

BURST = 20  # orders per timed call


@pytest.fixture(scope="module")
def venue():
    import uvloop
    from lighter.signer_client import SignerClient

    from engine.connectors.lighter.client import LighterConnector
    from engine.connectors.lighter.urls import LighterEndpoints
    from engine.sim.lighter import LighterSimulator

    loop = uvloop.new_event_loop()
    sim = loop.run_until_complete(LighterSimulator(seed=3).start())
    sim.paused = True
    conns = {}
    for over_ws in (True, False):
        c = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url), account_index=sim.account_index,
                             api_key_index=sim.api_key_index, api_private_key=sim.api_private_key,
                             tx_over_ws=over_ws)
        loop.run_until_complete(c.connect())
        conns[over_ws] = c

    async def sdk_client():
        return SignerClient(sim.rest_url, sim.account_index, {sim.api_key_index: sim.api_private_key})

    sdk = loop.run_until_complete(sdk_client())
    yield loop, sim, conns, sdk
    for c in conns.values():
        loop.run_until_complete(c.disconnect())
    loop.run_until_complete(sdk.close())
    loop.run_until_complete(sim.stop())
    loop.close()


def _far_bid(sim):
    m = sim.markets[0]
    return m.mid - 5000  # price units: far below the market, so the orders rest and never trade


def _burst_ours(conn, sim, concurrent):
    px = Decimal(_far_bid(sim)).scaleb(-2)

    async def run():
        orders = [conn.create_order("ETH-USDC", "buy", "limit_maker", Decimal("0.01"), px) for _ in range(BURST)]
        if concurrent:
            return await asyncio.gather(*orders)
        return [await o for o in orders]
    return run


_SDK_COIS = itertools.count(1)  # the SDK takes client order indexes from its caller


def _burst_sdk(sdk, sim):
    px = _far_bid(sim)

    async def run():
        out = []
        for _ in range(BURST):
            coi = next(_SDK_COIS)
            _, resp, err = await sdk.create_order(market_index=0, client_order_index=coi, base_amount=100, price=px,
                                                  is_ask=False, order_type=0, time_in_force=2)
            # (no api_key_index/nonce: the SDK's own nonce manager numbers it, as its examples do)
            out.append((resp, err))
        return out
    return run


ROWS = {"engine create_order over the socket, pipelined (signer on a worker thread)": "ws",
        "engine create_order over HTTP, one at a time": "http",
        "lighter-sdk SignerClient.create_order, one at a time": "sdk"}


@pytest.mark.benchmark(group="lighter signed order -> sequenced (one key, per order)")
@pytest.mark.parametrize("name", list(ROWS))
def test_lighter_orders(benchmark, venue, name):
    loop, sim, conns, sdk = venue
    kind = ROWS[name]
    run = _burst_sdk(sdk, sim) if kind == "sdk" else _burst_ours(conns[kind == "ws"], sim, kind == "ws")
    key = (sim.account_index, sim.api_key_index)
    before = sim.nonces[key]
    got = loop.run_until_complete(run())  # correctness first: every order sequenced, one nonce each
    if kind == "sdk":
        assert all(err is None and resp.code == 200 for resp, err in got), got[:1]
    else:
        assert all(o.status.value == "submitted" for o in got)
        assert conns[kind == "ws"].lane.conflicts == 0
    assert sim.nonces[key] == before + BURST
    benchmark.extra_info["ops"] = BURST

    def resync():  # all rows share the key: each timed burst starts from the venue's count (not timed)
        if kind == "sdk":
            loop.run_until_complete(sdk.nonce_manager.async_hard_refresh_nonce(sim.api_key_index))
        else:
            loop.run_until_complete(conns[kind == "ws"].lane.refresh())

    benchmark.pedantic(lambda: loop.run_until_complete(run()), setup=resync, rounds=15, iterations=1,
                       warmup_rounds=1)
