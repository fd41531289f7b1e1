"""binance-sdk-spot's WebSocket API and WebSocket Streams clients against the Binance simulator, stream_url
pointed at it. Each test runs once, on asyncio's own loop (asyncio.run): the stream waits make a second run on
uvloop costly, and the SDK's WebSocket code is the same on either loop."""
import asyncio
import time

import pytest

spot = pytest.importorskip("binance_sdk_spot.spot", reason="the fidelity extra (binance-sdk-spot) is not installed")

from engine.sim.binance import BinanceSimulator  # noqa: E402
from fidelity_env import CALL_TIMEOUT, shallow  # noqa: E402

FAR_BID = 30000.0  # far below the simulated BTCUSDT market (~60000): a BUY there rests


async def call(coro):
    try:
        return (await asyncio.wait_for(coro, CALL_TIMEOUT)).data()
    except Exception as e:
        raise shallow(e) from None


def test_ws_api_calls():
    async def main():
        async with BinanceSimulator(seed=1) as sim:
            client = spot.Spot(config_ws_api=spot.ConfigurationWebSocketAPI(
                api_key=sim.api_key, api_secret=sim.api_secret, stream_url=sim.ws_api_url))
            conn = await asyncio.wait_for(client.websocket_api.create_connection(), CALL_TIMEOUT)
            try:
                assert (await call(conn.ping())).status == 200
                assert (await call(conn.time())).result.server_time > 0
                book = (await call(conn.depth(symbol="BTCUSDT", limit=5))).result
                assert len(book.bids) == len(book.asks) == 5
                assert (await call(conn.account_status())).result.balances
                placed = (await call(conn.order_place(symbol="BTCUSDT", side="BUY", type="LIMIT", time_in_force="GTC",
                                                      quantity=0.001, price=FAR_BID))).result
                assert placed.status == "NEW"
                opened = (await call(conn.open_orders_status(symbol="BTCUSDT"))).result
                assert [o.order_id for o in opened] == [placed.order_id]
                counts = (await call(conn.account_rate_limits_orders())).result
                assert [c.interval for c in counts] == ["SECOND", "DAY"] and counts[1].count == 1
                assert counts[0].count in (0, 1)  # the 10 s window may have turned since the order
                amended = (await call(conn.order_amend_keep_priority(symbol="BTCUSDT", new_qty=0.0005,
                                                                     order_id=placed.order_id))).result
                assert (amended.amended_order.order_id, amended.amended_order.qty) == (placed.order_id, "0.00050000")
                replaced = (await call(conn.order_cancel_replace(
                    symbol="BTCUSDT", cancel_replace_mode="STOP_ON_FAILURE", side="BUY", type="LIMIT",
                    time_in_force="GTC", quantity=0.001, price=FAR_BID, cancel_order_id=placed.order_id))).result
                assert (replaced.cancel_result, replaced.new_order_result) == ("SUCCESS", "SUCCESS")
                new_id = replaced.new_order_response.order_id
                canceled = (await call(conn.order_cancel(symbol="BTCUSDT", order_id=new_id))).result
                assert canceled.status == "CANCELED"
            finally:
                await asyncio.wait_for(conn.close_connection(close_session=True), CALL_TIMEOUT)
    asyncio.run(main())


def first_event(subscribe, kind: str, wait: float = CALL_TIMEOUT):
    """Subscribe with ``subscribe(streams_connection)`` and wait up to ``wait`` s for an event whose ``e`` is
    ``kind``."""
    async def main():
        async with BinanceSimulator(seed=1) as sim:
            client = spot.Spot(config_ws_streams=spot.ConfigurationWebSocketStreams(stream_url=sim.ws_url))
            conn = await asyncio.wait_for(client.websocket_streams.create_connection(), CALL_TIMEOUT)
            got = []
            try:
                stream = await asyncio.wait_for(subscribe(conn), CALL_TIMEOUT)
                stream.on("message", got.append)
                end = time.monotonic() + wait
                while not any(getattr(m, "e", None) == kind for m in got):
                    assert time.monotonic() < end, f"no {kind!r} event in {wait} s"
                    await asyncio.sleep(0.05)
            finally:
                await asyncio.wait_for(conn.close_connection(close_session=True), CALL_TIMEOUT)
    asyncio.run(main())


def test_stream_diff_book_depth():
    first_event(lambda c: c.diff_book_depth(symbol="btcusdt", update_speed="100ms"), "depthUpdate")


def test_stream_trade():
    first_event(lambda c: c.trade(symbol="btcusdt"), "trade")


def test_stream_kline():
    first_event(lambda c: c.kline(symbol="btcusdt", interval="1m"), "kline")
