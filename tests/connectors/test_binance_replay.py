"""The real captured spot session, served by the simulator's replay mode and consumed by the connector over
real sockets, ends in exactly the oracle's books; NKNUSDT's top equals the capture's last bookTicker."""
import asyncio
import json
import pathlib
import sys

from engine.connectors.binance.client import BinanceConnector
from engine.connectors.binance.urls import BinanceEndpoints
from engine.sim.binance import BinanceSimulator

sys.path.insert(0, str(pathlib.Path(__file__).parents[1]))
from reference.book_ref import RefBook, unwrap  # noqa: E402

SESSION = pathlib.Path(__file__).parents[1] / "data/binance/spot/session_2021-10-12_cryptofeed"
SYMBOLS = ["NKNUSDT", "LRCBTC", "BLZETH", "RUNEEUR"]


def oracle(symbol):
    ref = RefBook()
    ref.snapshot((SESSION / f"rest_depth_snapshot_{symbol}.json").read_bytes())
    last_u = 0
    for line in (SESSION / f"ws_depth_{symbol}.jsonl").read_text().splitlines():
        if line.strip():
            ref.diff(line.encode())
            last_u = unwrap(line)["u"]
    return ref, last_u


async def test_replayed_capture_through_the_connector_matches_the_oracle():
    async with BinanceSimulator(replay=str(SESSION)) as sim:
        c = BinanceConnector(endpoints=BinanceEndpoints(sim.rest_url, sim.ws_url, sim.ws_api_url))
        await c.connect()
        try:
            assert "NKNUSDT" in c.rules  # exchangeInfo came from the recording
            # the first symbol opens the connection, the others join it by SUBSCRIBE
            feeds = {s: await c.market.add_book(s) for s in SYMBOLS}
            want = {s: oracle(s) for s in SYMBOLS}
            for _ in range(200):
                await asyncio.sleep(0.05)
                if all(feeds[s].book.last_update_id == want[s][1] for s in SYMBOLS):
                    break
            for s in SYMBOLS:
                ref, last_u = want[s]
                book = feeds[s].book
                assert book.last_update_id == last_u and book.gaps == 0, s
                assert (book.bids_scaled(), book.asks_scaled()) == ref.levels(), s
            ticker = [unwrap(json.loads(line)["raw"]) for line in (SESSION / "ws_session.jsonl").read_text().splitlines()
                      if "nknusdt@bookTicker" in line][-1]
            nkn = feeds["NKNUSDT"].book
            (bp, bq), (ap, aq) = nkn.top_exact(1)[0][0], nkn.top_exact(1)[1][0]
            assert (bp, bq, ap, aq) == (ticker["b"], ticker["B"], ticker["a"], ticker["A"])
        finally:
            await c.disconnect()
