"""The Lighter simulator serving a recording (replay=<path>): each subscribed channel gets its recorded frames
from its first snapshot on, in order, byte for byte; the socket answers as the live /stream does."""
import asyncio
import gzip
import json

import aiohttp
import pytest

from engine.sim.lighter import LighterSimulator
from engine.sim.lighter.replay import load_session


def book(kind, begin, nonce, bids, asks, ts):
    return json.dumps({"channel": "order_book:0", "offset": 1, "order_book": {
        "code": 0, "asks": [{"price": p, "size": s} for p, s in asks], "bids": [{"price": p, "size": s} for p, s in bids],
        "offset": 1, "nonce": nonce, "begin_nonce": begin}, "timestamp": ts, "type": kind}, separators=(",", ":"))


FRAMES = [
    json.dumps({"session_id": "x", "type": "connected"}),
    book("update/order_book", 5, 6, [("1.00", "1")], [], 1),  # before any snapshot: not served
    book("subscribed/order_book", 0, 10, [("2999.00", "1.0000")], [("3001.00", "2.0000")], 2),
    json.dumps({"channel": "trade:0", "type": "subscribed/trade", "trades": []}),
    book("update/order_book", 10, 11, [("3000.00", "0.5000")], [], 3),
    json.dumps({"type": "ping"}),
    book("update/order_book", 11, 12, [("2999.00", "0")], [("3001.00", "1.0000")], 4),
]


@pytest.fixture
def recording(tmp_path):
    path = tmp_path / "l.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write(json.dumps({"recv_ns": 1, "exchange_info": True,
                            "raw": json.dumps({"order_book_details": [{"market_id": 0, "symbol": "ETH"}]})}) + "\n")
        for n, raw in enumerate(FRAMES):
            f.write(json.dumps({"recv_ns": 10 ** 9 + n * 1000, "mono_ns": n, "exch_ns": None, "conn": "lighter",
                                "raw": raw}) + "\n")
        f.write(json.dumps({"recv_ns": 5, "event": "fill", "raw": "{}"}) + "\n")
    return str(path)


def test_load_session_keeps_each_channel_from_its_first_snapshot(recording):
    s = load_session(recording)
    assert s.markets == {"0": "ETH"} and s.seeded == {"0"}
    assert [raw.decode() for _, raw in s.frames["order_book:0"]] == [FRAMES[2], FRAMES[4], FRAMES[6]]
    assert [raw.decode() for _, raw in s.frames["trade:0"]] == [FRAMES[3]]


async def _recv(ws):
    msg = await asyncio.wait_for(ws.receive(), 10)
    return msg.data


@pytest.mark.parametrize("pace", ["fast", "recorded"])
async def test_replay_serves_the_recorded_frames_in_order(recording, pace):
    async with LighterSimulator(replay=recording, replay_pace=pace) as sim, aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.ws_url) as ws:
            assert json.loads(await _recv(ws))["type"] == "connected"
            await ws.send_str(json.dumps({"type": "subscribe", "channel": "order_book/0"}))
            got = [await _recv(ws) for _ in range(3)]
            assert got == [FRAMES[2], FRAMES[4], FRAMES[6]]
            await ws.send_str(json.dumps({"type": "subscribe", "channel": "trade/0"}))
            assert await _recv(ws) == FRAMES[3]
            await ws.send_str(json.dumps({"type": "subscribe", "channel": "trade/0"}))
            assert json.loads(await _recv(ws))["error"]["code"] == 30003
            await ws.send_str(json.dumps({"type": "subscribe", "channel": "order_book/1"}))
            assert json.loads(await _recv(ws))["error"]["code"] == 30005
            await ws.send_str(json.dumps({"type": "unsubscribe", "channel": "order_book/0"}))
            assert json.loads(await _recv(ws)) == {"type": "unsubscribed", "channel": "order_book:0"}
            await ws.send_str(json.dumps({"type": "ping"}))
            assert json.loads(await _recv(ws)) == {"type": "pong"}
            await ws.send_str(json.dumps({"type": "jsonapi/sendtx", "data": {}}))
            assert json.loads(await _recv(ws))["error"]["code"] == 30001


def test_a_bad_pace_is_refused(recording):
    with pytest.raises(ValueError, match="replay_pace"):
        LighterSimulator(replay=recording, replay_pace="slow")
