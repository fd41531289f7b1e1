"""Replay mode routes connections as the live mode does: ``/ws/<anything>`` (ccxt.pro's ``/ws/0``) and a bare
``/ws`` open a connection that SUBSCRIBE fills, ``/ws`` gets raw payloads and ``/stream`` combined frames, and
the control messages are answered like the live streams' (docs/binance.md, "Market streams served by the
simulator")."""
import gzip
import json
import pathlib

import aiohttp
import pytest

from engine.sim.binance import BinanceSimulator

SESSION = pathlib.Path(__file__).parents[1] / "data/binance/spot/session_2021-10-12_cryptofeed"
DEPTH = "nknusdt@depth@100ms"


def recorded(stream):
    """The recorded combined frames of one stream, as JSON, in order."""
    out = []
    for line in (SESSION / "ws_session.jsonl").read_text().splitlines():
        if line.strip():
            raw = json.loads(line)["raw"]
            if raw.startswith('{"stream":"' + stream + '"'):
                out.append(json.loads(raw))
    return out


async def receive(ws, n):
    return [json.loads((await ws.receive(timeout=10)).data) for _ in range(n)]


async def test_ws_0_then_subscribe_gets_the_recorded_stream_as_raw_payloads():
    want = recorded(DEPTH)
    assert len(want) == 150
    async with BinanceSimulator(replay=str(SESSION)) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/ws/0") as ws:
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 1})
            assert await receive(ws, 1) == [{"result": [], "id": 1}]  # "0" is no stream
            await ws.send_json({"method": "SUBSCRIBE", "params": [DEPTH], "id": 2})
            got = await receive(ws, 1 + len(want))
            assert got[0] == {"result": None, "id": 2}
            assert got[1:] == [w["data"] for w in want]  # raw payloads, every recorded frame, in order
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 3})
            # nothing else was sent: the next message is the answer
            assert await receive(ws, 1) == [{"result": [DEPTH], "id": 3}]
            await ws.send_json({"method": "SUBSCRIBE", "params": ["nosuchthing"], "id": 4})
            assert (await receive(ws, 1))[0]["code"] == 2
            await ws.send_str("{not json")
            assert (await receive(ws, 1))[0]["code"] == 3
            await ws.send_json({"method": "UNSUBSCRIBE", "params": [DEPTH], "id": 5})
            assert await receive(ws, 1) == [{"result": None, "id": 5}]
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 6})
            assert await receive(ws, 1) == [{"result": [], "id": 6}]


@pytest.mark.parametrize("path, combined", [("/ws", False), ("/ws/1", False), ("/stream", True)])
async def test_bare_connections_and_the_combined_property(path, combined):
    want = recorded("lrcbtc@bookTicker")
    async with BinanceSimulator(replay=str(SESSION)) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + path) as ws:
            await ws.send_json({"method": "GET_PROPERTY", "params": ["combined"], "id": 1})
            assert await receive(ws, 1) == [{"result": combined, "id": 1}]
            await ws.send_json({"method": "SET_PROPERTY", "params": ["combined", not combined], "id": 2})
            assert await receive(ws, 1) == [{"result": None, "id": 2}]
            await ws.send_json({"method": "SUBSCRIBE", "params": ["lrcbtc@bookTicker"], "id": 3})
            got = await receive(ws, 1 + len(want))
            assert got[1:] == (want if not combined else [w["data"] for w in want])


async def test_stream_urls_name_their_streams_and_other_paths_are_refused():
    want = recorded("blzeth@depth@100ms")
    async with BinanceSimulator(replay=str(SESSION)) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/stream?streams=blzeth@depth@100ms") as ws:
            assert await receive(ws, len(want)) == want  # combined, as recorded
        async with s.ws_connect(sim.ws_url + "/ws/blzeth@depth@100ms") as ws:
            assert await receive(ws, len(want)) == [w["data"] for w in want]
        with pytest.raises(aiohttp.WSServerHandshakeError):
            await s.ws_connect(sim.ws_url + "/elsewhere")


async def test_frames_recorded_without_a_stream_name_go_to_url_named_connections_only(tmp_path):
    snap = (SESSION / "rest_depth_snapshot_BLZETH.json").read_text()
    named = {"stream": "blzeth@bookTicker", "data": {"u": 7, "s": "BLZETH", "b": "1", "B": "2", "a": "3", "A": "4"}}
    plain = {"e": "depthUpdate", "E": 1, "s": "BLZETH", "U": 1, "u": 2, "b": [], "a": []}
    path = tmp_path / "rec.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"snapshot": "BLZETH", "raw": snap}) + "\n")
        f.write(json.dumps({"recv_ns": 1, "raw": json.dumps(plain)}) + "\n")
        f.write(json.dumps({"recv_ns": 2, "raw": json.dumps(named, separators=(",", ":"))}) + "\n")
    async with BinanceSimulator(replay=str(path)) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/ws/blzeth@bookTicker") as ws:
            assert await receive(ws, 2) == [plain, named["data"]]
        async with s.ws_connect(sim.ws_url + "/ws/0") as ws:
            await ws.send_json({"method": "SUBSCRIBE", "params": ["blzeth@bookTicker"], "id": 1})
            assert await receive(ws, 2) == [{"result": None, "id": 1}, named["data"]]
            await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 2})
            assert await receive(ws, 1) == [{"result": ["blzeth@bookTicker"], "id": 2}]
