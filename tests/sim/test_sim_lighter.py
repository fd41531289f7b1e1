"""The Lighter simulator's frames and bodies have the captured shapes (same keys, same types)."""
import asyncio
import json
import pathlib
import signal
import subprocess
import sys
import time

import aiohttp

from engine.sim.lighter import LighterSimulator
from helpers import shape

DATA = pathlib.Path(__file__).parents[1] / "data/lighter"


async def test_rest_bodies_match_the_captured_shapes():
    async with LighterSimulator() as sim, aiohttp.ClientSession() as s:
        want = json.loads((DATA / "captured/rest_orderBooks_5rows_mainnet_20260731.json").read_text())
        async with s.get(sim.rest_url + "/api/v1/orderBooks?market_id=0") as r:
            got = await r.json()
        assert list(got["order_books"][0]) == list(want["order_books"][0])  # the newest capture's keys, in order
        assert shape(got["order_books"][0]) == shape(want["order_books"][0])
        async with s.get(sim.rest_url + "/api/v1/orderBookDetails?market_id=0") as r:
            got = await r.json()
        want = json.loads((DATA / "nautilus_trader/http_order_book_details.json").read_text())
        assert set(want["order_book_details"][0]) <= set(got["order_book_details"][0])
        async with s.get(sim.rest_url + f"/api/v1/nextNonce?account_index={sim.account_index}"
                                        f"&api_key_index={sim.api_key_index}") as r:
            assert shape(await r.json()) == shape(json.loads((DATA / "captured/rest_nextNonce_fresh_key_testnet.json")
                                                             .read_text()))


async def test_stream_protocol_frames_and_errors():
    async with LighterSimulator() as sim, aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        hello = json.loads(await ws.receive_str())
        assert hello["type"] == "connected" and "session_id" in hello
        await ws.send_json({"type": "subscribe", "channel": "order_book/36"})
        snap = json.loads(await ws.receive_str())
        captured = json.loads((DATA / "captured/ws_order_book_CRV36_mainnet_20260729.jsonl").read_text()
                              .splitlines()[0])
        assert list(snap) == list(captured) and list(snap["order_book"]) == list(captured["order_book"])
        assert snap["type"] == "subscribed/order_book" and snap["order_book"]["begin_nonce"] == 0
        upd = json.loads(await ws.receive_str())
        assert upd["type"] == "update/order_book" and upd["order_book"]["begin_nonce"] == snap["order_book"]["nonce"]
        await ws.send_json({"type": "subscribe", "channel": "order_book/36"})
        await ws.send_json({"type": "subscribe", "channel": "order_book/999"})
        await ws.send_json({"type": "ping"})
        await ws.send_json({"type": "unsubscribe", "channel": "order_book/36"})
        seen = []
        while len(seen) < 4:
            m = json.loads(await asyncio.wait_for(ws.receive_str(), 5))
            if m.get("type") in ("update/order_book", "update/trade"):
                continue
            seen.append(m)
        want = [json.loads((DATA / f"captured/{f}").read_text()) for f in
                ("ws_error_30003_already_subscribed_mainnet.json", "ws_error_30005_invalid_channel_mainnet.json",
                 "ws_pong_mainnet.json")]
        assert seen[0] == {"error": {"code": 30003, "message": "Already Subscribed to : order_book:36"}}
        assert seen[0].keys() == want[0].keys() and seen[1] == want[1] and seen[2] == want[2]
        assert seen[3] == {"type": "unsubscribed", "channel": "order_book:36"}


def test_command_line_mode():
    proc = subprocess.Popen([sys.executable, "-m", "engine.sim.lighter", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"exchange", "rest_url", "ws_url", "account_index", "api_key_index", "api_private_key"}
        assert info["exchange"] == "lighter" and len(info["api_private_key"]) == 80
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_send_tx_nonces_and_errors():
    vectors = json.loads((DATA / "sdk_signer_generated_txs.json").read_text())
    tx = json.loads(vectors["cases"]["create_order_limit_post_only"]["tx_info"])
    async with LighterSimulator() as sim, aiohttp.ClientSession() as s:
        tx.update({"AccountIndex": sim.account_index, "ApiKeyIndex": sim.api_key_index,
                   "ExpiredAt": int(time.time() * 1000) + 600_000})

        async def send(nonce):
            tx["Nonce"] = nonce
            async with s.post(sim.rest_url + "/api/v1/sendTx",
                              data={"tx_type": "14", "tx_info": json.dumps(tx)}) as r:
                return r.status, await r.json()

        status, body = await send(1)
        captured = json.loads((DATA / "captured/rest_sendTx_200_testnet_a.json").read_text())
        assert status == 200 and shape(body) == shape(captured)
        status, body = await send(1)  # reused nonce
        assert (status, body) == (400, json.loads((DATA / "captured/rest_sendTx_400_21104_invalid_nonce.json")
                                                  .read_text()))
        sim.faults["nonce_conflict"] = 1
        assert (await send(2))[1]["code"] == 21104
        assert sim.nonces[(sim.account_index, sim.api_key_index)] == 3  # someone else took 2
        assert (await send(3))[0] == 200 and len(sim.txs) == 2


async def test_account_and_candles_have_the_fixture_shapes():
    async with LighterSimulator() as sim, aiohttp.ClientSession() as s:
        async with s.get(sim.rest_url + f"/api/v1/account?by=index&value={sim.account_index}") as r:
            got = await r.json()
        want = json.loads((DATA / "nautilus_trader/http_account.json").read_text())
        assert set(got["accounts"][0]) == set(want["accounts"][0])
        assert set(got["accounts"][0]["positions"][0]) == set(want["accounts"][0]["positions"][0])
        assert shape(got["accounts"][0]["assets"]) == shape(want["accounts"][0]["assets"])
        end = int(time.time() * 1000)
        async with s.get(sim.rest_url + f"/api/v1/candles?market_id=0&resolution=1m&start_timestamp=0"
                                        f"&end_timestamp={end}&count_back=3") as r:
            got = await r.json()
        want = json.loads((DATA / "nautilus_trader/http_candles.json").read_text())
        assert set(got) == set(want) and set(got["c"][0]) == set(want["c"][0]) and len(got["c"]) == 3
        async with s.get(sim.rest_url + f"/api/v1/candlesticks?market_id=0&resolution=1m&start_timestamp=0"
                                        f"&end_timestamp={end}&count_back=3") as r:
            legacy = await r.json()
        want = json.loads((DATA / "ccxt_static/rest_candlesticks_LEGACY_endpoint_fetchOHLCV.json").read_text())
        assert shape(legacy) == shape(want)
        assert [(k["timestamp"], k["close"]) for k in legacy["candlesticks"]] == [(k["t"], k["c"]) for k in got["c"]]
