"""The simulator's market-stream surface over real sockets (aiohttp client), as public clients use it:
bare connections filled by SUBSCRIBE (ccxt.pro's /ws/0), @trade, @kline_<interval>, @ticker, @miniTicker,
@avgPrice, @bookTicker and the 1000 ms @depth. Frame shapes: docs/binance.md, "Market streams served by the
simulator"."""
import asyncio
import json

import aiohttp

from engine.sim.binance import BinanceSimulator


async def frames(ws, want, n: int = 1, timeout: float = 20.0) -> list:
    """Read text frames until ``n`` satisfy ``want(msg)``; fail (not hang) after ``timeout`` seconds."""
    got = []
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while len(got) < n:
        left = end - loop.time()
        assert left > 0, f"only {len(got)} of {n} frames arrived"
        msg = await ws.receive(timeout=left)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        data = json.loads(msg.data)
        if want(data):
            got.append(data)
    return got


async def subscribe(ws, streams: list, mid: int = 1) -> None:
    await ws.send_json({"method": "SUBSCRIBE", "params": streams, "id": mid})
    await frames(ws, lambda m: m == {"result": None, "id": mid})


async def test_bare_connections_then_subscribe():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        for path, combined in (("/ws/0", False), ("/ws/1", False), ("/ws", False), ("/stream", True),
                               ("/ws/notastream", False)):
            async with s.ws_connect(sim.ws_url + path) as ws:
                await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 7})
                assert (await frames(ws, lambda m: m.get("id") == 7))[0] == {"result": [], "id": 7}
                await subscribe(ws, ["btcusdt@depth@100ms"])
                diff = (await frames(ws, lambda m: True))[0]
                if combined:
                    assert diff["stream"] == "btcusdt@depth@100ms"
                    diff = diff["data"]
                assert diff["e"] == "depthUpdate" and diff["s"] == "BTCUSDT", path
        # a path outside /ws and /stream is still refused
        try:
            async with s.ws_connect(sim.ws_url + "/nope"):
                raise AssertionError("connected to /nope")
        except aiohttp.WSServerHandshakeError:
            pass


async def test_trade_frames_one_per_simulated_trade():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/stream") as ws:
            await subscribe(ws, ["btcusdt@trade", "btcusdt@aggTrade"])
            got = await frames(ws, lambda m: m.get("stream") == "btcusdt@trade", n=3)
            trades = [m["data"] for m in got]
            for t in trades:
                assert set(t) == {"e", "E", "s", "t", "p", "q", "T", "m", "M"}
                assert t["e"] == "trade" and t["s"] == "BTCUSDT" and isinstance(t["t"], int)
                assert isinstance(t["p"], str) and isinstance(t["q"], str) and float(t["q"]) > 0
                assert isinstance(t["m"], bool) and t["T"] <= t["E"]
            ids = [t["t"] for t in trades]
            assert ids == sorted(ids) and len(set(ids)) == len(ids)
            # each trade is the one trade of an aggTrade printed by the simulator
            by_first = {a.first_id: a for a in sim.exchange.markets["BTCUSDT"].trades}
            for t in trades:
                a = by_first[t["t"]]
                assert t["T"] == a.time_ms and t["m"] == a.buyer_maker
