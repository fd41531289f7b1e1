"""REST and the WS API of the Binance simulator draw on one request-weight budget per IP, as on the venue.

The budget is a fixed one-minute window: a check whose calls straddle a minute boundary proves nothing,
so it is tried again (the window index is read before and after).
"""
import json
import time

import aiohttp

from engine.sim.binance import BinanceSimulator


def minute() -> int:
    return int(time.time() // 60)


def weight_of(answer: dict) -> int:
    return next(r["count"] for r in answer["rateLimits"] if r["rateLimitType"] == "REQUEST_WEIGHT")


async def ws_call(ws, rid: int, method: str) -> dict:
    await ws.send_str(json.dumps({"id": rid, "method": method}))
    msg = json.loads((await ws.receive(timeout=20)).data)
    assert msg["id"] == rid
    return msg


async def test_rest_and_wsapi_count_one_weight_budget():
    async with BinanceSimulator(seed=1) as sim, aiohttp.ClientSession() as http:
        ws = await http.ws_connect(sim.ws_api_url)
        try:
            for attempt in range(3):
                start = minute()
                before = weight_of(await ws_call(ws, 10 * attempt + 1, "ping"))
                async with http.get(sim.rest_url + "/api/v3/depth", params={"symbol": "BTCUSDT", "limit": "1000"},
                                    timeout=aiohttp.ClientTimeout(total=20)) as r:
                    assert r.status == 200
                    rest_used = int(r.headers["X-MBX-USED-WEIGHT-1M"])
                after = weight_of(await ws_call(ws, 10 * attempt + 2, "ping"))
                if minute() != start:
                    continue  # the window rolled over between the calls
                assert rest_used == before + 50  # REST sees the WS API's weight
                assert after == rest_used + 1  # and the WS API sees REST's
                return
            raise AssertionError("every attempt straddled a minute boundary")
        finally:
            await ws.close()


async def test_rest_weight_exhausts_the_wsapi_budget():
    for _ in range(3):  # a fresh simulator each attempt: a fresh budget
        async with BinanceSimulator(seed=1, weight_limit=60) as sim, aiohttp.ClientSession() as http:
            ws = await http.ws_connect(sim.ws_api_url)
            try:
                start = minute()
                for _ in range(2):  # 2 x 50 > 60: the REST budget is spent
                    async with http.get(sim.rest_url + "/api/v3/depth",
                                        params={"symbol": "BTCUSDT", "limit": "1000"},
                                        timeout=aiohttp.ClientTimeout(total=20)) as r:
                        await r.read()
                refused = await ws_call(ws, 1, "ping")
                if minute() != start:
                    continue  # the window rolled over between the calls
                assert refused["status"] == 429, refused
                assert refused["error"]["code"] == -1003
                return
            finally:
                await ws.close()
    raise AssertionError("every attempt straddled a minute boundary")
