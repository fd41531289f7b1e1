"""The simulator's market-stream surface over real sockets (aiohttp client), as public clients use it:
bare connections filled by SUBSCRIBE (ccxt.pro's /ws/0), @trade, @kline_<interval>, @ticker, @miniTicker,
@avgPrice, @bookTicker and the 1000 ms @depth. Frame shapes: docs/binance.md, "Market streams served by the
simulator"."""
import asyncio
import json
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import aiohttp
import pytest
from helpers import shape

from engine.sim.binance import BinanceSimulator
from engine.sim.binance.streams import kline_close, kline_open

CAPTURED = Path(__file__).resolve().parents[1] / "data" / "binance" / "spot"


def captured(name: str) -> dict:
    """The first frame of a captured binance.com session file (tests/data/binance/SOURCES.md), unwrapped."""
    frame = json.loads((CAPTURED / name).read_text().splitlines()[0])
    return frame.get("data", frame)


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


async def test_kline_candles_from_the_simulated_trades():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/stream") as ws:
            await subscribe(ws, ["btcusdt@trade", "btcusdt@kline_1s", "btcusdt@kline_1m"])
            subscribed = max((t.time_ms for t in sim.exchange.markets["BTCUSDT"].trades), default=0)
            trades, closed, open_1m = [], None, None
            loop = asyncio.get_running_loop()
            end = loop.time() + 60
            while closed is None or open_1m is None:
                assert loop.time() < end, "no closed 1s candle with trades after the subscription"
                m = (await frames(ws, lambda m: "stream" in m))[0]
                d = m["data"]
                if m["stream"] == "btcusdt@trade":
                    trades.append(d)
                elif m["stream"] == "btcusdt@kline_1m" and not d["k"]["x"]:
                    open_1m = d
                elif m["stream"] == "btcusdt@kline_1s" and d["k"]["x"] and d["k"]["n"] and d["k"]["t"] > subscribed:
                    closed = d
            assert shape(closed) == shape(captured("ws_kline_1m_2021-10-12_cryptofeed.jsonl"))
            k = closed["k"]
            assert set(closed) == {"e", "E", "s", "k"} and closed["e"] == "kline" and closed["s"] == "BTCUSDT"
            assert set(k) == {"t", "T", "s", "i", "f", "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"}
            assert k["i"] == "1s" and k["T"] == k["t"] + 999 and k["t"] % 1000 == 0
            mine = [t for t in trades if k["t"] <= t["T"] <= k["T"]]
            assert mine and k["n"] == len(mine)
            assert (k["f"], k["L"]) == (mine[0]["t"], mine[-1]["t"])
            px = [float(t["p"]) for t in mine]
            assert (float(k["o"]), float(k["c"]), float(k["h"]), float(k["l"])) == (px[0], px[-1], max(px), min(px))
            assert abs(float(k["v"]) - sum(float(t["q"]) for t in mine)) < 1e-9
            bought = sum(float(t["q"]) for t in mine if not t["m"])
            assert abs(float(k["V"]) - bought) < 1e-9
            k1 = open_1m["k"]
            assert k1["i"] == "1m" and k1["T"] == k1["t"] + 59_999 and k1["t"] % 60_000 == 0 and not k1["x"]
            await ws.send_json({"method": "SUBSCRIBE", "params": ["btcusdt@kline_7m"], "id": 9})
            assert (await frames(ws, lambda m: m.get("id") == 9))[0]["code"] == 2


async def test_ticker_mini_ticker_and_avg_price():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/ws/0") as ws:
            await subscribe(ws, ["btcusdt@ticker", "btcusdt@miniTicker", "btcusdt@avgPrice"])
            got = {}
            while len(got) < 3:
                m = (await frames(ws, lambda m: "e" in m))[0]
                got.setdefault(m["e"], m)
            t, mini, avg = got["24hrTicker"], got["24hrMiniTicker"], got["avgPrice"]
            assert set(t) == {"e", "E", "s", "p", "P", "w", "x", "c", "Q", "b", "B", "a", "A", "o", "h", "l",
                              "v", "q", "O", "C", "F", "L", "n"}
            assert t["s"] == "BTCUSDT" and t["C"] - t["O"] == 86_400_000 and t["C"] == t["E"]
            assert float(t["l"]) <= float(t["c"]) <= float(t["h"]) and float(t["b"]) < float(t["a"])
            assert abs(float(t["p"]) - (float(t["c"]) - float(t["o"]))) < 1e-9
            if t["n"]:
                assert t["L"] - t["F"] + 1 == t["n"]
            assert set(mini) == {"e", "E", "s", "c", "o", "h", "l", "v", "q"} and mini["s"] == "BTCUSDT"
            assert set(avg) == {"e", "E", "s", "i", "w", "T"} and avg["i"] == "5m" and avg["s"] == "BTCUSDT"
            # the 24 h figures are the simulator's own trades
            m = sim.exchange.markets["BTCUSDT"]
            held = {tr.first_id: tr for tr in m.trades}
            if t["n"]:
                assert held[t["F"]].price * m.spec.tick == Decimal(t["o"])


async def test_book_ticker_and_depth_1000ms_beside_100ms():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/stream?streams=btcusdt@bookTicker") as ws:
            await subscribe(ws, ["btcusdt@depth", "btcusdt@depth@100ms"])
            fast, slow, tops = [], [], []
            while len(slow) < 4 or len(tops) < 2:
                m = (await frames(ws, lambda m: "stream" in m))[0]
                {"btcusdt@depth@100ms": fast, "btcusdt@depth": slow, "btcusdt@bookTicker": tops}[m["stream"]].append(
                    m["data"])
            assert shape(tops[0]) == shape(captured("ws_bookTicker_2021-10-12_cryptofeed.jsonl"))
            for b in tops:
                assert set(b) == {"u", "s", "b", "B", "a", "A"} and b["s"] == "BTCUSDT"
                assert float(b["b"]) < float(b["a"])
            assert tops[0]["u"] < tops[1]["u"]
            # each 1000 ms diff is exactly the 100 ms diffs since the previous one: same U..u, no gap (the 100 ms
            # diff of a tick may come after that tick's 1000 ms one, so the last 1000 ms diff is left out)
            for prev, cur in zip(slow[:3], slow[1:3]):
                assert cur["e"] == "depthUpdate" and cur["U"] == prev["u"] + 1
                inside = [d for d in fast if prev["u"] < d["u"] <= cur["u"]]
                assert inside and inside[0]["U"] == cur["U"] and inside[-1]["u"] == cur["u"]
                # the 1000 ms diff carries each level's last quantity among them
                last = {}
                for d in inside:
                    for side in ("b", "a"):
                        for p, q in d[side]:
                            last[(side, p)] = q
                assert {(side, p): q for side in ("b", "a") for p, q in cur[side]} == last


async def test_kline_closes_on_the_clock_without_trades():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/ws/btcusdt@kline_1s") as ws:
            sim.paused = True  # no more trades: only the clock can close a candle
            m = sim.exchange.markets["BTCUSDT"]
            paused_ms = max((t.time_ms for t in m.trades), default=0)
            last = m.spec.px(m.trades[-1].price if m.trades else m.mid)
            k = (await frames(ws, lambda d: d["k"]["x"] and d["k"]["t"] > paused_ms + 1000))[0]["k"]
            assert (k["n"], k["f"], k["L"], k["v"]) == (0, -1, -1, "0.00000000")
            assert k["o"] == k["h"] == k["l"] == k["c"] == last


async def test_python_binance_trade_and_kline_sockets_unchanged():
    pytest.importorskip("binance.ws.streams", reason="python-binance (test extra) not installed")
    from binance import AsyncClient, BinanceSocketManager

    async with BinanceSimulator(seed=3) as sim:
        client = AsyncClient(sim.api_key, sim.api_secret)
        try:
            bm = BinanceSocketManager(client)
            bm.STREAM_URL = sim.ws_url + "/"  # configuration only: the client's code is untouched
            async with bm.trade_socket("BTCUSDT") as ts:
                trade = await asyncio.wait_for(ts.recv(), 20)
            async with bm.kline_socket("BTCUSDT", interval="1m") as ks:
                kline = await asyncio.wait_for(ks.recv(), 20)
        finally:
            await client.close_connection()
        assert trade["e"] == "trade" and trade["s"] == "BTCUSDT"
        assert kline["e"] == "kline" and kline["k"]["i"] == "1m"


def utc_ms(*ymd_hms) -> int:
    return int(datetime(*ymd_hms, tzinfo=timezone.utc).timestamp()) * 1000


@pytest.mark.parametrize("at, interval, open_at, next_open", [
    # 2024-02-29 (a leap day) was a Thursday: its week opened on Monday 2024-02-26
    ((2024, 2, 29, 12, 30), "1w", (2024, 2, 26), (2024, 3, 4)),
    ((2024, 2, 29, 12, 30), "1M", (2024, 2, 1), (2024, 3, 1)),
    ((2025, 12, 31, 23, 59, 59), "1M", (2025, 12, 1), (2026, 1, 1)),  # the year rolls over
    ((2026, 3, 1), "1M", (2026, 3, 1), (2026, 4, 1)),  # the first millisecond of a month opens it
    ((2026, 3, 1), "1w", (2026, 2, 23), (2026, 3, 2)),  # a Sunday is the last day of the week
    ((2026, 3, 2), "1w", (2026, 3, 2), (2026, 3, 9)),  # a Monday opens one
    ((2026, 3, 2, 7, 5), "1d", (2026, 3, 2), (2026, 3, 3)),
])
def test_weekly_and_monthly_candles_open_on_the_venue_calendar(at, interval, open_at, next_open):
    o = kline_open(interval, utc_ms(*at))
    assert o == utc_ms(*open_at) and kline_close(interval, o) == utc_ms(*next_open) - 1
    assert kline_open(interval, utc_ms(*next_open) - 1) == o and kline_open(interval, utc_ms(*next_open)) != o


async def test_rest_klines_and_the_kline_stream_agree_on_open_and_close_times():
    ivs = ("1m", "1h", "1d", "3d", "1w", "1M")
    async with BinanceSimulator(seed=5) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url + "/stream?streams=" + "/".join(f"btcusdt@kline_{i}" for i in ivs)) as ws:
            got = await frames(ws, lambda m: True, n=3 * len(ivs))
        streamed = {f["data"]["k"]["i"]: (f["data"]["k"]["t"], f["data"]["k"]["T"]) for f in got}
        assert set(streamed) == set(ivs)
        for iv in ivs:
            async with s.get(sim.rest_url + f"/api/v3/klines?symbol=BTCUSDT&interval={iv}&limit=3") as r:
                rows = await r.json()
            # the stream's latest candle is one of REST's last three (a 1m candle may have closed since)
            assert streamed[iv] in [(x[0], x[6]) for x in rows], iv
            for a, b in zip(rows, rows[1:]):
                assert b[0] == a[6] + 1  # each candle opens the millisecond after the previous one closed
        # a range over months and weeks: every row opens on the calendar
        start, end = utc_ms(2025, 11, 15), utc_ms(2026, 2, 10)
        async with s.get(sim.rest_url + f"/api/v3/klines?symbol=BTCUSDT&interval=1M&startTime={start}"
                                        f"&endTime={end}") as r:
            months = [(datetime.fromtimestamp(x[0] // 1000, timezone.utc), x[6]) for x in await r.json()]
        assert [(d.year, d.month, d.day, d.hour) for d, _ in months] == \
            [(2025, 11, 1, 0), (2025, 12, 1, 0), (2026, 1, 1, 0), (2026, 2, 1, 0)]
        assert [c for _, c in months] == [utc_ms(2025, 12, 1) - 1, utc_ms(2026, 1, 1) - 1, utc_ms(2026, 2, 1) - 1,
                                          utc_ms(2026, 3, 1) - 1]
        async with s.get(sim.rest_url + f"/api/v3/klines?symbol=BTCUSDT&interval=1w&endTime={end}&limit=10") as r:
            weeks = await r.json()
        assert len(weeks) == 10 and all(datetime.fromtimestamp(x[0] // 1000, timezone.utc).weekday() == 0
                                        and x[0] % 86_400_000 == 0 and x[6] - x[0] == 7 * 86_400_000 - 1
                                        for x in weeks)
        assert weeks[-1][0] <= end <= weeks[-1][6]
