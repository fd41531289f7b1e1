"""The market streams within the venue's published limits and our own bounds (engine/connectors/binance/
ws_streams.py): streams a connection, symbols a connector, connection attempts through the pacer, snapshot
bodies over max_frame_bytes refused unread with a backoff, WebSocket frames over twice that a counted
disconnect, frames between the two refused by the book."""
import asyncio
import contextlib
import logging

import pytest

from engine.connectors.binance import ws_streams
from engine.connectors.binance.http import READ_CHUNK, ResponseTooLargeError
from engine.connectors.binance.limits import ConnectionPacer
from engine.connectors.binance.urls import BinanceEndpoints
from engine.connectors.binance.ws_streams import BinanceMarketData

from binance_env import binance
from helpers import wait_for

KB = 1024
FRAME = 64 * KB  # max_frame_bytes in these tests: the simulator's snapshots of 1000 levels are ~16 KB
ENDPOINTS = BinanceEndpoints("http://127.0.0.1:1", "ws://127.0.0.1:1", "ws://127.0.0.1:1")


@contextlib.asynccontextmanager
async def with_market(sim_kw=None, **market_kw):
    """A connector whose market data is built with ``market_kw`` (BinanceConnector does not take them)."""
    async with binance(connect=False, sim_kw=sim_kw) as (sim, c):
        c.market = BinanceMarketData(c.endpoints, c.http, **market_kw)
        await c.connect()
        yield sim, c


def live(c, symbol):
    f = c.market.books[symbol]
    return f.health.state.value == "live" and f.book.synced and not f.sync.needs_snapshot


def all_connected(c):
    return c.market.connections and all(x.connected.is_set() for x in c.market.connections)


# -- streams a connection, symbols a connector, connection attempts


@pytest.mark.parametrize("n", [0, -1, 1025, 10_000])
def test_streams_per_connection_outside_1_to_1024_is_refused(n):
    with pytest.raises(ValueError, match="1 to 1024 streams"):
        BinanceMarketData(ENDPOINTS, None, streams_per_connection=n)


@pytest.mark.parametrize("n", [1, 1024])
def test_streams_per_connection_at_the_bounds_is_accepted(n):
    assert BinanceMarketData(ENDPOINTS, None, streams_per_connection=n).streams_per_connection == n


async def test_max_symbols_refuses_a_book_before_any_socket_or_book_is_made():
    async with with_market(max_symbols=2, streams_per_connection=1) as (sim, c):
        await c.add_book("BTC-USDT")  # the connector's public path
        await c.market.add_book("ETHUSDT")
        await wait_for(lambda: len(sim.streams.conns) == 2)
        attempts = c.market.pacer.attempts
        with pytest.raises(ValueError, match="max_symbols=2") as info:
            await c.add_book("SOL-USDT")
        assert "3 symbols" in str(info.value) and "nothing was subscribed" in str(info.value)
        with pytest.raises(ValueError, match="max_symbols=2"):
            await c.market.add_book("SOLUSDT")
        assert "SOLUSDT" not in c.market.books
        assert len(c.market.connections) == 2 and c.market.pacer.attempts == attempts
        assert len(sim.streams.conns) == 2 and c.market.status()["symbols"] == 2
        await c.add_book("BTC-USDT")  # a symbol already held needs no room


async def test_max_symbols_refuses_a_trades_subscription_before_any_socket():
    async with with_market(max_symbols=1, streams_per_connection=2) as (sim, c):
        await c.add_trades("BTC-USDT", lambda t: None)
        await c.add_book("BTC-USDT")  # the same symbol: its book fits
        with pytest.raises(ValueError, match="max_symbols=1"):
            await c.add_trades("ETH-USDT", lambda t: None)
        with pytest.raises(ValueError, match="max_symbols=1"):
            await c.market.add_trades("SOLUSDT", lambda t: None)
        assert set(c.market.trade_callbacks) == {"BTCUSDT"} and set(c.market.books) == {"BTCUSDT"}
        assert len(c.market.connections) == 1 and c.market.pacer.attempts == 1


async def test_the_default_max_symbols_is_refused_at_its_limit():
    m = BinanceMarketData(ENDPOINTS, None, streams_per_connection=4)
    assert m.max_symbols == ws_streams.default_max_symbols(4) == 145 * 4 // 2
    m.trade_callbacks = {f"S{i}USDT": [] for i in range(m.max_symbols)}
    with pytest.raises(ValueError, match=f"max_symbols={m.max_symbols}"):
        await m.add_book("NEWUSDT")
    assert m.books == {} and m.connections == []


async def test_every_connection_attempt_goes_through_the_pacer():
    pacer = ConnectionPacer()
    async with with_market(streams_per_connection=1, pacer=pacer) as (sim, c):
        await c.add_book("BTC-USDT")
        await c.add_book("ETH-USDT")  # a second socket
        await wait_for(lambda: live(c, "BTCUSDT") and live(c, "ETHUSDT"), 20)
        assert pacer.attempts == 2
        assert sim.streams.close_all(1011, "simulated failure") == 2
        await wait_for(lambda: c.market.disconnects == 2 and all_connected(c) and len(sim.streams.conns) == 2, 20)
        assert pacer.attempts == 4  # both reconnects were booked with the pacer
        await wait_for(lambda: live(c, "BTCUSDT") and live(c, "ETHUSDT"), 20)


async def test_a_slow_pacer_holds_the_second_socket_and_a_reconnect():
    pacer = ConnectionPacer(burst=1, per_window=1, window_s=3600.0)  # after the first: one an hour
    async with with_market(streams_per_connection=1, pacer=pacer) as (sim, c):
        await c.add_book("BTC-USDT")
        assert pacer.status() == {"attempts": 1, "delayed": 0, "waiting": 0}
        second = asyncio.create_task(c.add_book("ETH-USDT"))
        await wait_for(lambda: pacer.waiting == 1)
        assert pacer.delayed == 1 and len(sim.streams.conns) == 1 and not second.done()
        assert not c.market.connections[1].connected.is_set()
        # a reconnect of the first socket waits its turn too
        assert sim.streams.close_all(1011, "simulated failure") == 1
        await wait_for(lambda: pacer.waiting == 2, 20)
        assert pacer.attempts == 3 and pacer.delayed == 2 and len(sim.streams.conns) == 0
        assert c.market.status()["pacer"] == {"attempts": 3, "delayed": 2, "waiting": 2}
        second.cancel()


# -- a snapshot body over max_frame_bytes


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
async def test_an_oversized_snapshot_is_refused_unread(chunked):
    async with binance(max_frame_bytes=FRAME) as (sim, c):
        sim.faults.pad_snapshot["ETHUSDT"] = 4 * FRAME
        sim.faults.snapshot_no_length = chunked
        with pytest.raises(ResponseTooLargeError) as info:
            await c.http.request_raw("GET", "/api/v3/depth", [("symbol", "ETHUSDT"), ("limit", 1000)],
                                     max_bytes=FRAME)
        e = info.value
        assert e.max_bytes == FRAME
        if chunked:
            # read while it streamed, and stopped at most a chunk past max_bytes
            assert "still sending" in str(e) and FRAME < e.size <= FRAME + READ_CHUNK < 4 * FRAME
        else:
            assert e.size == 4 * FRAME and "a body of" in str(e)  # by Content-Length, before a byte is read
        # the same request without the bound reads it whole: the answer is a well-formed padded body
        body = await c.http.request_raw("GET", "/api/v3/depth", [("symbol", "ETHUSDT"), ("limit", 1000)])
        assert len(body) == 4 * FRAME


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "streamed"])
async def test_an_oversized_snapshot_is_counted_and_asked_again_only_after_the_backoff(monkeypatch, caplog,
                                                                                        chunked):
    monkeypatch.setattr(ws_streams, "SNAPSHOT_BACKOFF_S", 3600.0)
    async with binance(max_frame_bytes=FRAME) as (sim, c):
        sim.faults.pad_snapshot["ETHUSDT"] = 2 * FRAME
        sim.faults.snapshot_no_length = chunked
        with caplog.at_level(logging.WARNING, "engine.binance.ws"):
            await c.add_book("ETH-USDT")
            await c.add_book("BTC-USDT")
            await wait_for(lambda: c.market.snapshots_refused == 1 and live(c, "BTCUSDT"), 20)
            eth, btc = c.market.books["ETHUSDT"], c.market.books["BTCUSDT"]
            # the other symbol goes on: BTC applies many diffs while ETH waits out its backoff
            seen = btc.book.applied
            await wait_for(lambda: btc.book.applied >= seen + 20, 20)
        assert sim.rest.depth_requests["ETHUSDT"] == 1  # not asked again within the backoff
        assert c.market.snapshots_refused == 1 and eth.health.snapshots_refused == 1
        assert eth.health.state.value != "live" and not eth.book.synced and eth.book.last_update_id == 0
        assert c.market.status()["snapshots_refused"] == 1
        rows = {b["native"]: b for b in c.health()["books"]}
        assert rows["ETHUSDT"]["snapshots_refused"] == 1 and rows["BTCUSDT"]["snapshots_refused"] == 0
        assert c.health()["market"]["snapshots_refused"] == 1
        assert ("(still sending)" if chunked else "a body of") in caplog.text and "snapshot refused" in caplog.text


async def test_a_refused_snapshot_is_asked_again_after_the_backoff_and_the_book_then_goes_live(monkeypatch):
    monkeypatch.setattr(ws_streams, "SNAPSHOT_BACKOFF_S", 0.2)
    async with binance(max_frame_bytes=FRAME) as (sim, c):
        sim.faults.pad_snapshot["ETHUSDT"] = 2 * FRAME
        await c.add_book("ETH-USDT")
        await wait_for(lambda: c.market.snapshots_refused >= 2, 20)  # refused, waited, asked again, refused
        eth = c.market.books["ETHUSDT"]
        assert sim.rest.depth_requests["ETHUSDT"] >= 2 and not eth.book.synced
        assert eth.health.state.value != "live"
        del sim.faults.pad_snapshot["ETHUSDT"]
        await wait_for(lambda: live(c, "ETHUSDT"), 20)
        assert eth.health.snapshots_refused == c.market.snapshots_refused >= 2


# -- WebSocket frames over max_frame_bytes


async def test_a_frame_over_twice_max_frame_bytes_is_a_counted_disconnect_then_live_again():
    async with binance(max_frame_bytes=FRAME) as (sim, c):
        assert c.market.max_ws_frame_bytes == 2 * FRAME
        await c.add_book("BTC-USDT")
        await c.add_book("ETH-USDT")
        await wait_for(lambda: live(c, "BTCUSDT") and live(c, "ETHUSDT"), 20)
        sim.faults.big_frame_symbol, sim.faults.big_frame_bytes = "BTCUSDT", 3 * FRAME
        await wait_for(lambda: c.market.disconnects == 1, 20)
        assert sim.streams.big_frames == 1
        st = c.market.status()
        assert st["oversized_frames"] == 1 and st["disconnects"] == 1
        err = c.market.last_disconnect
        assert err.close_code == 1009 and "frame too large" in err.reason
        assert "frame too large" in st["last_disconnect"]
        await wait_for(lambda: all_connected(c) and live(c, "BTCUSDT") and live(c, "ETHUSDT"), 20)
        assert all(c.market.books[s].health.resyncs == 1 for s in ("BTCUSDT", "ETHUSDT"))
        assert c.market.pacer.attempts == 2 and len(sim.streams.conns) == 1


async def test_a_frame_between_max_frame_bytes_and_twice_it_is_refused_by_the_book_and_the_socket_stays():
    async with binance(max_frame_bytes=FRAME) as (sim, c):
        await c.add_book("BTC-USDT")
        await c.add_book("ETH-USDT")
        await wait_for(lambda: live(c, "BTCUSDT") and live(c, "ETHUSDT"), 20)
        btc, eth = c.market.books["BTCUSDT"], c.market.books["ETHUSDT"]
        sim.faults.big_frame_symbol, sim.faults.big_frame_bytes = "BTCUSDT", FRAME + FRAME // 2
        await wait_for(lambda: btc.health.resyncs == 1, 20)  # the refused diff was a link: the next one gaps
        assert sim.streams.big_frames == 1 and btc.book.oversized == 1 and btc.health.gaps == 1
        await wait_for(lambda: live(c, "BTCUSDT"), 20)
        st = c.market.status()
        assert st["disconnects"] == 0 and st["oversized_frames"] == 0 and c.market.pacer.attempts == 1
        assert eth.health.resyncs == 0 and eth.book.oversized == 0 and live(c, "ETHUSDT")


# -- the weight budget against the venue's fixed one-minute window


def test_a_weight_budget_reported_spent_is_not_spent_again_within_the_same_minute():
    from engine.connectors.binance.limits import binance_rate_limits

    t = [0]
    rl = binance_rate_limits([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                               "limit": 240}], clock_ns=lambda: t[0])
    used = 0  # the server's count in its fixed minute, reported on every answer as the simulator does
    for _ in range(40):  # 20 s, all within one minute: snapshots of weight 5 as fast as the budget lets them
        while rl.try_acquire(5):
            used += 5
            rl.update_from_headers({"X-MBX-USED-WEIGHT-1M": str(used)})
        t[0] += 500_000_000
    assert 200 < used <= 240


def test_a_weight_budget_reported_spent_comes_back_when_the_venue_window_ends():
    from engine.connectors.binance.limits import binance_rate_limits

    t = [30 * 10**9]  # half way through a UTC minute
    rl = binance_rate_limits([{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                               "limit": 240}], clock_ns=lambda: t[0])
    rl.update_from_headers({"X-MBX-USED-WEIGHT-1M": "240"})  # another process on the IP spent it all
    t[0] = 59 * 10**9  # the bucket alone would have refilled half its capacity by now
    assert not rl.try_acquire(5) and rl.status()["REQUEST_WEIGHT/1M"]["used"] == 240
    assert rl.wait_time(5) == pytest.approx(2.0)  # the window ends at 60 s, held 1 s more (window_margin_s)
    t[0] = 61 * 10**9
    assert rl.try_acquire(5)  # a new window: the server counts from zero again


def test_orders_taken_in_a_windows_first_second_still_count_when_our_late_view_of_it_begins():
    from engine.connectors.binance.limits import binance_rate_limits

    t = [10_300_000_000]  # 0.3 s into the venue's 10 s window [10 s, 20 s)
    rl = binance_rate_limits([{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                               "limit": 10}], clock_ns=lambda: t[0])
    taken = 0
    while rl.try_acquire(0, orders=1):  # no answer seen yet: nothing reported by the venue
        taken += 1
    assert taken == 9  # 10 * safety 0.95
    t[0] = 13_600_000_000  # the bucket alone has refilled 3 orders; the venue still counts 9 in [10 s, 20 s)
    assert not rl.try_acquire(0, orders=1)
    assert rl.wait_time(0, orders=1) == pytest.approx(7.4)  # until 20 s + the 1 s margin
    t[0] = 21_000_000_000
    assert rl.try_acquire(0, orders=1)


async def test_an_orders_venue_deadline_counts_from_when_it_is_signed_not_from_when_it_queued(monkeypatch):
    # the venue refuses a request once its timestamp is recvWindow old: an order that waited in our limiter's
    # queue is signed later, so it can still be placed later, and its deadline must say so
    from engine.connectors.binance import client as client_mod

    shift = [0.0]
    real = client_mod.time.time
    monkeypatch.setattr(client_mod.time, "time", lambda: real() + shift[0])
    async with binance() as (sim, c):
        acquire = c.http.limits.acquire

        async def queued(*a, **kw):  # the budget frees up 30 s later (on the wall clock the deadline reads)
            await acquire(*a, **kw)
            shift[0] = 30.0

        monkeypatch.setattr(c.http.limits, "acquire", queued)
        before_ms = real() * 1000
        m = sim.exchange.markets["BTCUSDT"]
        bid = m.spec.px(max(m.bids))  # rests at the best bid: no fill, within every price filter
        u = await c.create_order("BTCUSDT", "BUY", "LIMIT", "0.01", str(bid), client_order_id="queued-1")
        assert u.client_order_id == "queued-1"
        window = c.auth.recv_window or client_mod.RECV_WINDOW_MAX_MS
        assert c.order_deadline_ms("queued-1") >= before_ms + 30_000 + window
