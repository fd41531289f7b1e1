"""The Binance simulator speaks the real protocol: checked with plain clients and a third-party library."""
import asyncio
import hashlib
import hmac
import json
import signal
import subprocess
import sys
import time

import aiohttp
import pytest

from engine.sim.binance import BinanceSimulator


def signed(sim, query: str) -> str:
    q = f"{query}&timestamp={int(time.time() * 1000)}"
    return q + "&signature=" + hmac.new(sim.api_secret.encode(), q.encode(), hashlib.sha256).hexdigest()


async def test_rest_shapes_weights_and_signature_errors():
    async with BinanceSimulator(seed=2) as sim, aiohttp.ClientSession() as s:
        async with s.get(sim.rest_url + "/api/v3/exchangeInfo") as r:
            info = await r.json()
            assert r.headers["X-MBX-USED-WEIGHT-1M"] == "20"
        sym = info["symbols"][0]
        assert {f["filterType"] for f in sym["filters"]} >= {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"}
        assert info["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        async with s.get(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=1000") as r:
            snap = await r.json()
            assert r.headers["X-MBX-USED-WEIGHT-1M"] == "70"  # 20 + 50 (limit 1000)
        assert snap["lastUpdateId"] > 0 and snap["bids"][0][0] < snap["asks"][0][0]
        hdr = {"X-MBX-APIKEY": sim.api_key}
        async with s.get(sim.rest_url + "/api/v3/account?" + signed(sim, "recvWindow=5000"), headers=hdr) as r:
            assert r.status == 200 and "balances" in await r.json()
        good = signed(sim, "recvWindow=5000")
        bad = good[:-1] + ("1" if good[-1] == "0" else "0")  # one hex digit of the signature changed
        async with s.get(sim.rest_url + "/api/v3/account?" + bad, headers=hdr) as r:
            assert r.status == 400 and (await r.json())["code"] == -1022
        async with s.get(sim.rest_url + "/api/v3/account?" + signed(sim, "recvWindow=5000")) as r:
            assert r.status == 401 and (await r.json())["code"] == -2014
        sim.faults.clock_skew_ms = -5000
        async with s.get(sim.rest_url + "/api/v3/account?" + signed(sim, "recvWindow=5000"), headers=hdr) as r:
            assert (await r.json())["code"] == -1021
        async with s.get(sim.rest_url + "/api/v3/klines?symbol=BTCUSDT&interval=7m") as r:
            assert (await r.json())["code"] == -1120


async def test_weight_limit_429_then_418_with_retry_after():
    async with BinanceSimulator(seed=2, weight_limit=30) as sim, aiohttp.ClientSession() as s:
        statuses = []
        for _ in range(8):
            async with s.get(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=100") as r:
                statuses.append((r.status, r.headers.get("Retry-After")))
        assert statuses[0][0] == 200 and (429, statuses[6][1]) in statuses
        codes = [st for st, _ in statuses]
        assert codes.index(429) < codes.index(418)
        assert all(ra is not None for st, ra in statuses if st in (429, 418))


async def test_diff_stream_is_contiguous_and_rebuilds_the_true_book():
    async with BinanceSimulator(seed=4) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/ws/ethusdt@depth@100ms") as ws:
            first = json.loads((await ws.receive()).data)
            async with s.get(sim.rest_url + "/api/v3/depth?symbol=ETHUSDT&limit=5000") as r:
                snap = await r.json()
            book = {"b": {p: q for p, q in snap["bids"]}, "a": {p: q for p, q in snap["asks"]}}
            last = snap["lastUpdateId"]
            prev_u = first["u"]
            for _ in range(15):
                ev = json.loads((await ws.receive()).data)
                assert ev["U"] == prev_u + 1  # contiguous
                prev_u = ev["u"]
                if ev["u"] <= last:
                    continue
                for side in ("b", "a"):
                    for p, q in ev[side]:
                        if float(q) == 0:
                            book[side].pop(p, None)
                        else:
                            book[side][p] = q
                last = ev["u"]
            sim.paused = True
            m = sim.exchange.markets["ETHUSDT"]
            while last < m.update_id:
                ev = json.loads((await ws.receive()).data)
                for side in ("b", "a"):
                    for p, q in ev[side]:
                        if float(q) == 0:
                            book[side].pop(p, None)
                        else:
                            book[side][p] = q
                last = ev["u"]
            want_b = {m.spec.px(p): m.spec.qty(q) for p, q in m.bids.items()}
            assert book["b"] == want_b


async def test_control_messages_and_the_inbound_rate_limit():
    async with BinanceSimulator(seed=5) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/stream?streams=btcusdt@aggTrade") as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 1}))
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            await ws.send_str("not json")
            got = {}
            while len(got) < 3:
                msg = json.loads((await ws.receive()).data)
                if "id" in msg or "code" in msg:
                    got[msg.get("id", "err")] = msg
            assert got[1] == {"result": None, "id": 1}
            assert got[2]["result"] == ["btcusdt@aggTrade", "ethusdt@bookTicker"]
            assert got["err"]["code"] == 3
            for i in range(6):  # 3 + 6 > 5 messages in one second
                await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 10 + i}))
            while True:
                msg = await ws.receive()
                if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    break
            assert ws.close_code == 1008 and sim.streams.policy_closes == 1


async def test_pong_timeout_closes_a_silent_client():
    async with BinanceSimulator(seed=5, ping_interval_s=0.2, pong_timeout_s=0.5) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/ws/btcusdt@depth@100ms", autoping=False) as ws:
            seen = []

            async def until_closed():
                while not seen or seen[-1] not in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                    seen.append((await ws.receive()).type)

            await asyncio.wait_for(until_closed(), 10)  # ends on the close, not on a wall-clock budget
            assert aiohttp.WSMsgType.PING in seen and ws.close_code == 1008


async def test_user_data_over_ws_api():
    async with BinanceSimulator(seed=6) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_api_url) as ws:
            params = {"apiKey": sim.api_key, "timestamp": int(time.time() * 1000)}
            payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
            params["signature"] = hmac.new(sim.api_secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
            await ws.send_json({"id": "a", "method": "userDataStream.subscribe.signature", "params": params})
            ans = await ws.receive_json()
            assert ans["status"] == 200 and ans["result"] == {"subscriptionId": 0}
            q = signed(sim, "symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.00100&newClientOrderId=u1")
            async with s.post(sim.rest_url + "/api/v3/order?" + q, headers={"X-MBX-APIKEY": sim.api_key}) as r:
                assert (await r.json())["status"] == "FILLED"
            kinds = []
            while "TRADE" not in kinds:
                ev = await asyncio.wait_for(ws.receive_json(), 5)
                assert ev["subscriptionId"] == 0
                if ev["event"]["e"] == "executionReport":
                    kinds.append(ev["event"]["x"])
            assert kinds[0] == "NEW"


def test_command_line_mode_prints_one_json_line_and_stops_on_sigterm():
    proc = subprocess.Popen([sys.executable, "-m", "engine.sim.binance", "--port", "0", "--seed", "3"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert set(info) == {"exchange", "rest_url", "ws_url", "ws_api_url", "api_key", "api_secret"}
        assert info["exchange"] == "binance" and info["rest_url"].startswith("http://127.0.0.1:")

        async def ping():
            async with aiohttp.ClientSession() as s, s.get(info["rest_url"] + "/api/v3/ping") as r:
                return r.status

        assert asyncio.run(ping()) == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_third_party_client_python_binance_works_unchanged():
    binance_client = pytest.importorskip("binance.client", reason="python-binance (test extra) not installed")
    async with BinanceSimulator(seed=8) as sim:
        def use():
            c = binance_client.Client(sim.api_key, sim.api_secret, ping=False)
            c.API_URL = sim.rest_url + "/api"  # configuration only: the client's code is untouched
            depth = c.get_order_book(symbol="BTCUSDT", limit=10)
            kl = c.get_klines(symbol="BTCUSDT", interval="1m", limit=3)
            px = c.get_symbol_ticker(symbol="BTCUSDT")
            o = c.create_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                               quantity="0.00100", price="50000.00")
            canceled = c.cancel_order(symbol="BTCUSDT", orderId=o["orderId"])
            c.close_connection()
            return depth, kl, px, o, canceled

        depth, kl, px, o, canceled = await asyncio.to_thread(use)
        assert len(depth["bids"]) == 10 and len(kl) == 3 and float(px["price"]) > 0
        assert o["status"] == "NEW" and canceled["status"] == "CANCELED"
