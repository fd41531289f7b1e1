"""Binance spot order entry, client-side cost per order from the call to the handled ack: ours over the
WebSocket API, ours over REST, ccxt's async REST ``create_order``, same run.

The venue is a minimal canned-answer server in a separate process (aiohttp, loopback): ``/api/v3/time``,
``/api/v3/exchangeInfo`` and ``POST /api/v3/order`` answer fixed bytes, and ``/ws-api/v3`` answers every
request with the same order result under the request's ``id``. The bodies are the Binance simulator's own
(``engine/sim/binance``), captured once at start. The timer is ``time.process_time``: the CPU this process
spends per order (signing, encoding, the transport, parsing the answer into the caller's order), so the
server's work and the loopback wait are not counted. Orders are sent one at a time (each awaited to its ack).
"""
import asyncio
import base64
import multiprocessing
import time
from urllib.parse import urlsplit

import pytest

BURST = 50  # orders per timed call
ED_API_KEY = "bench" + "e" * 59


def _serve(port_q, exchange_info: bytes, order: bytes, order_result: bytes):
    """The canned venue (runs in its own process until killed)."""
    import orjson
    from aiohttp import WSMsgType, web

    headers = {"Content-Type": "application/json", "X-MBX-USED-WEIGHT-1M": "1", "X-MBX-ORDER-COUNT-10S": "1",
               "X-MBX-ORDER-COUNT-1D": "1"}
    tail = (b',"status":200,"result":' + order_result + b',"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT",'
            b'"interval":"MINUTE","intervalNum":1,"limit":6000,"count":1},{"rateLimitType":"ORDERS",'
            b'"interval":"SECOND","intervalNum":10,"limit":100,"count":1}]}')
    logon = b',"status":200,"result":{"apiKey":"' + ED_API_KEY.encode() + b'","authorizedSince":1}}'

    async def time_(request):
        return web.Response(body=orjson.dumps({"serverTime": int(time.time() * 1000)}), headers=headers)

    async def info(request):
        return web.Response(body=exchange_info, headers=headers)

    async def place(request):
        return web.Response(body=order, headers=headers)

    async def ws_api(request):
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        async for msg in ws:
            if msg.type is WSMsgType.TEXT:
                req = orjson.loads(msg.data)
                body = logon if req["method"] == "session.logon" else tail
                await ws.send_str((b'{"id":' + orjson.dumps(req["id"]) + body).decode())
        return ws

    async def other(request):
        return web.Response(body=b"{}", headers=headers)

    async def main():
        app = web.Application()
        app.router.add_get("/api/v3/time", time_)
        app.router.add_get("/api/v3/exchangeInfo", info)
        app.router.add_post("/api/v3/order", place)
        app.router.add_get("/ws-api/v3", ws_api)
        app.router.add_route("*", "/{tail:.*}", other)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port_q.put(site._server.sockets[0].getsockname()[1])
        await asyncio.Event().wait()

    asyncio.run(main())


async def _capture():
    """exchangeInfo, a FULL order answer and the same order as a WS API result, from the simulator."""
    import aiohttp

    from engine.connectors.binance.client import BinanceConnector
    from engine.sim.binance import BinanceSimulator

    async with BinanceSimulator(seed=5) as sim:
        async with aiohttp.ClientSession() as s:
            async with s.get(sim.rest_url + "/api/v3/exchangeInfo?symbol=BTCUSDT") as r:
                info = await r.read()
        c = BinanceConnector.for_simulator(sim)
        await c.connect()
        try:
            o = await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000")
        finally:
            await c.disconnect()
    import orjson

    raw = orjson.dumps(o.raw)
    # the venue's order limits (100 per 10 s) would pace the client to ~10 orders/s: raised, so that only
    # the client's own work is measured (the budget is still taken for every order)
    doc = orjson.loads(info)
    for row in doc["rateLimits"]:
        if row["rateLimitType"] in ("ORDERS", "REQUEST_WEIGHT", "RAW_REQUESTS"):
            row["limit"] = 1_000_000
    return orjson.dumps(doc), raw, raw


@pytest.fixture(scope="module")
def venue():
    import uvloop
    from cryptography.hazmat.primitives import serialization as ser
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from engine.connectors.binance.client import BinanceConnector
    from engine.connectors.binance.urls import BinanceEndpoints

    info, order, result = asyncio.run(_capture())
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(q, info, order, result), daemon=True)
    proc.start()
    port = q.get(timeout=30)
    base = f"http://127.0.0.1:{port}"
    ends = BinanceEndpoints(base, f"ws://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws-api/v3")
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    seed = base64.b64encode(Ed25519PrivateKey.generate().private_bytes(
        ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())).decode()
    keys = {"api_key": "bench" + "k" * 59, "api_secret": "s" * 64}
    conns = {
        "rest": BinanceConnector(endpoints=ends, **keys),
        "ws-logon": BinanceConnector(endpoints=ends, order_entry="ws", ed25519_api_key=ED_API_KEY,
                                     ed25519_private_key=seed, **keys),
        "ws-hmac": BinanceConnector(endpoints=ends, order_entry="ws", **keys),
    }
    for c in conns.values():
        loop.run_until_complete(c.connect())
    assert conns["ws-logon"].ws_api.logged_on and conns["ws-hmac"].ws_api.up

    async def make_ccxt():
        import ccxt.async_support as ccxt

        ex = ccxt.binance({"apiKey": keys["api_key"], "secret": keys["api_secret"], "enableRateLimit": False,
                           "options": {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False,
                                       "fetchMargins": False}})
        for k, url in list(ex.urls["api"].items()):  # every API pointed at the canned server
            if isinstance(url, str):
                ex.urls["api"][k] = base + urlsplit(url).path
        await ex.load_markets()
        return ex

    ex = loop.run_until_complete(make_ccxt())
    yield loop, conns, ex
    for c in conns.values():
        loop.run_until_complete(c.disconnect())
    loop.run_until_complete(ex.close())
    loop.close()
    asyncio.set_event_loop(None)
    proc.kill()
    proc.join(5)


ROWS = {"engine create_order over the WS API (session.logon, Ed25519)": "ws-logon",
        "engine create_order over the WS API (HMAC per request)": "ws-hmac",
        "engine create_order over REST": "rest",
        "ccxt async binance.create_order (REST)": "ccxt"}


def _burst(kind, conns, ex):
    async def run():
        out = []
        for _ in range(BURST):
            if kind == "ccxt":
                out.append(await ex.create_order("BTC/USDT", "limit", "buy", 0.01, 50000))
            else:
                out.append(await conns[kind].create_order("BTC-USDT", "buy", "limit", "0.01", "50000"))
        return out
    return run


@pytest.mark.benchmark(group="binance order call -> ack, client CPU (canned server)", timer=time.process_time)
@pytest.mark.parametrize("name", list(ROWS))
def test_order_entry(benchmark, venue, name):
    loop, conns, ex = venue
    kind = ROWS[name]
    run = _burst(kind, conns, ex)
    rest_before = None if kind == "ccxt" else conns[kind].http.requests
    got = loop.run_until_complete(run())  # correctness first: every order acked and parsed
    if kind == "ccxt":
        assert all(o["id"] and o["status"] == "open" for o in got), got[:1]
    else:
        assert all(o.order_id and o.status.value == "open" for o in got)
        if kind != "rest":
            assert conns[kind].ws_api.requests >= BURST and conns[kind].http.requests == rest_before
    benchmark.extra_info["ops"] = BURST
    benchmark.pedantic(lambda: loop.run_until_complete(run()), rounds=15, iterations=1, warmup_rounds=1)
