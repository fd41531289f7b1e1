"""REST depth snapshots land between the changes of a diff, as on the venue: the first @depth@100ms event after
a snapshot can straddle its lastUpdateId (U < lastUpdateId + 1 <= u). The documented sync rule (docs/binance.md,
"Local order book (spot)") applied to such a snapshot still gives the simulator's book, and so does our
connector, through forced resyncs.

``sim.streams.diff_split = "always"`` makes every tick with two or more new changes end its diff before the
book's update id, so the straddle does not depend on luck.
"""
import asyncio
import json
import sys
from decimal import Decimal
from pathlib import Path

import aiohttp

from engine.connectors.base import BookState
from engine.sim.binance import BinanceSimulator
from engine.sim.binance.market import DEFAULT_SYMBOLS

from helpers import wait_for

sys.path.insert(0, str(Path(__file__).parent.parent / "connectors"))
from binance_books import assert_equal_books, first_changes, settle  # noqa: E402
from binance_env import binance  # noqa: E402


class RefBook:
    """The documented spot rule, nothing more: drop events with u <= lastUpdateId, the first kept one must have
    U <= lastUpdateId + 1 <= u, each later one U == previous u + 1."""

    def __init__(self, snap: dict):
        self.last = snap["lastUpdateId"]
        self.sides = {"b": {p: q for p, q in snap["bids"]}, "a": {p: q for p, q in snap["asks"]}}
        self.first = True
        self.straddled = False  # the first applied event started at or before lastUpdateId

    def apply(self, ev: dict) -> None:
        if ev["u"] <= self.last:
            return
        if self.first:
            assert ev["U"] <= self.last + 1 <= ev["u"], (ev["U"], ev["u"], self.last)
            self.straddled = ev["U"] < self.last + 1
            self.first = False
        else:
            assert ev["U"] == self.last + 1, (ev["U"], self.last)
        for key in ("b", "a"):
            for p, q in ev[key]:
                if Decimal(q) == 0:
                    self.sides[key].pop(p, None)
                else:
                    self.sides[key][p] = q
        self.last = ev["u"]

    def levels(self):
        return (sorted(self.sides["b"].items(), key=lambda x: -Decimal(x[0])),
                sorted(self.sides["a"].items(), key=lambda x: Decimal(x[0])))


def snapshot_levels(snap):
    return [tuple(x) for x in snap["bids"]], [tuple(x) for x in snap["asks"]]


async def read_diffs(ws, into: list) -> None:
    async for msg in ws:
        if msg.type == aiohttp.WSMsgType.TEXT:
            d = json.loads(msg.data)
            if d.get("e") == "depthUpdate":
                into.append(d)


def first_after(events, last_update_id):
    return next(e for e in events if e["u"] > last_update_id)


async def test_snapshots_straddle_the_next_diff_and_the_documented_rule_gives_the_true_book():
    async with BinanceSimulator(seed=3) as sim, aiohttp.ClientSession() as s:
        sim.streams.diff_split = "always"
        events: list = []
        async with s.ws_connect(sim.ws_url + "/ws/btcusdt@depth@100ms") as ws:
            reader = asyncio.get_running_loop().create_task(read_diffs(ws, events))
            await wait_for(lambda: len(events) >= 2)
            snaps = []
            for _ in range(8):
                async with s.get(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000") as r:
                    snap = await r.json()
                snaps.append(snap)
                await wait_for(lambda: events[-1]["u"] > snap["lastUpdateId"])
            # the market freezes; the diffs catch up with the book; the simulator's book is the next snapshot
            sim.paused = True
            m = sim.exchange.markets["BTCUSDT"]
            await wait_for(lambda: events[-1]["u"] == m.update_id)
            async with s.get(sim.rest_url + "/api/v3/depth?symbol=BTCUSDT&limit=5000") as r:
                final = await r.json()
            reader.cancel()
        assert final["lastUpdateId"] == m.update_id
        for a, b in zip(events, events[1:]):
            assert b["U"] == a["u"] + 1  # one chain, no change skipped or repeated
        straddles = 0
        for snap in snaps:
            L = snap["lastUpdateId"]
            ev = first_after(events, L)
            straddles += ev["U"] < L + 1 <= ev["u"]
            ref = RefBook(snap)
            for e in events:
                ref.apply(e)
            assert ref.last == final["lastUpdateId"]
            assert ref.levels() == snapshot_levels(final)
            assert ref.straddled == (ev["U"] <= L)
        assert straddles >= 1, [(s["lastUpdateId"], first_after(events, s["lastUpdateId"])["U"]) for s in snaps]


async def test_the_connector_stays_live_and_exact_through_straddling_resyncs():
    # one symbol, so every dropped diff is BTCUSDT's
    async with binance(seed=7, connect=False, sim_kw={"symbols": DEFAULT_SYMBOLS[:1]}) as (sim, c), \
            aiohttp.ClientSession() as s:
        sim.streams.diff_split = "always"
        m = sim.exchange.markets["BTCUSDT"]
        taken: list = []  # lastUpdateId of every full snapshot (the partial @depth<n> streams take 5/10/20)
        plain = m.snapshot

        def recording(limit):
            snap = plain(limit)
            if limit > 20:
                taken.append(snap["lastUpdateId"])
            return snap

        m.snapshot = recording
        events: list = []
        async with s.ws_connect(sim.ws_url + "/ws/btcusdt@depth@100ms") as ws:
            reader = asyncio.get_running_loop().create_task(read_diffs(ws, events))
            await wait_for(lambda: len(events) >= 1)
            await c.connect()
            await first_changes(c, "BTC-USDT", 3)
            feed = c.market.books["BTCUSDT"]
            for _ in range(3):  # a dropped diff is a gap: the connector resyncs from a new snapshot
                gaps, n = feed.health.gaps, len(taken)
                sim.faults.drop_diffs = 1  # the only symbol's next diff
                await wait_for(lambda: feed.health.gaps > gaps and feed.health.state is BookState.LIVE
                               and len(taken) > n and feed.book.last_update_id > taken[-1], 30)
            feed = await settle(sim, c)
            assert_equal_books(sim, feed)
            await wait_for(lambda: events[-1]["u"] == m.update_id)
            reader.cancel()
        assert feed.health.resyncs >= 3 and len(taken) >= 4
        straddled = [L for L in taken if first_after(events, L)["U"] <= L]
        assert straddled, taken
