"""Make-before-break rotation of Binance stream connections, over real sockets against the simulator.

While a connection is replaced (our own rotation, or the venue's serverShutdown) the live books must stay
usable on every event-loop turn and every book callback: the same objects, synced, LIVE, both sides
present, the update id never going back. Afterwards the old socket is closed, and the books equal the
simulator's true book level for level. Trades arrive on both sockets meanwhile and are delivered once.
"""
import asyncio
from decimal import Decimal

from engine.models import Trade

from binance_books import BookWatch, assert_equal_books, first_changes, settle
from binance_env import binance
from helpers import wait_for

SYMBOLS = ("BTCUSDT", "ETHUSDT")


async def live_books(c):
    for s in SYMBOLS:
        await first_changes(c, s, 2)
    await wait_for(lambda: all(f.health.state.value == "live" for f in c.market.books.values()))
    return [c.market.books[s] for s in SYMBOLS]


async def check_rotation(sim, c, old, rotate):
    """Run ``rotate()`` while watching every book; then check the connection really was replaced."""
    feeds = [c.market.books[s] for s in SYMBOLS]
    watches = [BookWatch(f) for f in feeds]
    for w in watches:
        w.__enter__()
    try:
        await rotate()
        await wait_for(lambda: c.market.rotations == 1, 20)
        # still watched: the new socket now moves the same live books on
        after = [f.book.last_update_id for f in feeds]
        await wait_for(lambda: all(f.book.last_update_id > u for f, u in zip(feeds, after)))
    finally:
        for w in watches:
            w.__exit__()
    assert [w.problems for w in watches] == [[] for _ in watches]
    assert all(w.samples > 10 for w in watches)
    new = c.market.connections[0]
    assert c.market.connections == [new] and new.id != old.id
    assert all(f.conn is new for f in feeds)
    assert old.closed_by_us and old.transport.is_disconnected
    assert c.market.rotation_fallbacks == 0 and c.market.disconnects == 0
    assert all(f.health.resyncs == 0 and f.health.gaps == 0 for f in feeds)
    await wait_for(lambda: len(sim.streams.conns) == 1)  # the simulator saw the old socket go
    for s in SYMBOLS:
        assert_equal_books(sim, await settle(sim, c, s), s)


async def test_forced_rotation_keeps_every_book_live():
    async with binance() as (sim, c):
        await live_books(c)
        old = c.market.connections[0]
        returned = []

        async def rotate():
            returned.append(await c.market.rotate(old))

        await check_rotation(sim, c, old, rotate)
        assert returned == [c.market.connections[0]]


async def test_server_shutdown_rotates_make_before_break():
    async with binance() as (sim, c):
        await live_books(c)
        old = c.market.connections[0]

        async def shutdown():
            sim.streams.server_shutdown()

        await check_rotation(sim, c, old, shutdown)


async def test_rotation_timer_replaces_connections_again_and_again():
    async with binance() as (sim, c):
        c.market.rotate_after_s = 0.5  # read at each connect: every socket is replaced half a second after
        feeds = await live_books(c)
        first = c.market.connections[0]
        watches = [BookWatch(f) for f in feeds]
        for w in watches:
            w.__enter__()
        try:
            await wait_for(lambda: c.market.rotations >= 3, 30)
        finally:
            for w in watches:
                w.__exit__()
        assert [w.problems for w in watches] == [[], []]
        assert first.closed_by_us and c.market.disconnects == 0 and c.market.rotation_fallbacks == 0
        for s in SYMBOLS:
            assert_equal_books(sim, await settle(sim, c, s), s)


async def test_trades_arrive_once_across_a_rotation_as_unified_trades():
    async with binance() as (sim, c):
        got, streamed = [], []
        await c.add_trades("BTC-USDT", got.append)

        async def consume():
            async for t in c.stream_trades("BTC-USDT"):
                streamed.append(t)

        consumer = asyncio.create_task(consume())
        await wait_for(lambda: len(c.market.trade_callbacks["BTCUSDT"]) == 2)
        await live_books(c)
        old = c.market.connections[0]
        # the new socket's shadow snapshots take a while: both sockets carry the trades meanwhile
        sim.faults.slow_snapshot_s = 2.0
        rotation = asyncio.create_task(c.market.rotate(old))
        await wait_for(lambda: len(c.market.connections) == 2 and c.market.connections[1].connected.is_set())
        await c.create_order("BTC-USDT", "buy", "market", Decimal("0.01"))  # a print now, on both sockets
        # the second copy has come (dropped and counted, or, were it delivered, a repeated id in ``got``)
        await wait_for(lambda: c.market.duplicate_trades > 0 or len({t.trade_id for t in got}) < len(got))
        assert old in c.market.connections  # the duplicates came while both sockets were open
        sim.faults.slow_snapshot_s = 0.0
        new = await asyncio.wait_for(rotation, 20)
        assert new is not None and c.market.rotations == 1
        await c.create_order("BTC-USDT", "sell", "market", Decimal("0.01"))  # and one on the new socket alone
        n = len(got)
        await wait_for(lambda: len(got) > n)
        await wait_for(lambda: len(streamed) == len(got))
        consumer.cancel()

        ids = [t.trade_id for t in got]
        assert ids == sorted(set(ids)) and c.market.duplicate_trades > 0  # each aggregate trade once, in order
        m = sim.exchange.markets["BTCUSDT"]
        assert ids == [t.agg_id for t in m.trades if ids[0] <= t.agg_id <= ids[-1]]  # and none lost
        for t in got:
            assert isinstance(t, Trade) and (t.exchange, t.symbol) == ("binance", "BTC-USDT")
        assert streamed == got


async def test_a_lagging_old_socket_switches_only_once_the_live_book_caught_up():
    async with binance() as (sim, c):
        await live_books(c)
        old = c.market.connections[0]
        assert sim.streams.hold() == 1  # the old socket lags: its frames are kept back
        markets = [sim.exchange.markets[s] for s in SYMBOLS]
        await wait_for(lambda: all(m.update_id > c.market.books[s].book.last_update_id
                                   for s, m in zip(SYMBOLS, markets)))  # the venue has moved past it
        rotation = asyncio.create_task(c.market.rotate(old))
        await wait_for(lambda: len(c.market.connections) == 2)
        new = c.market.connections[1]
        # the new socket's shadows are synced and ahead of the live books, which the old socket feeds
        await wait_for(lambda: len(new.shadows) == len(SYMBOLS) and all(
            not sh.sync.needs_snapshot and sh.book.last_update_id > sh.feed.book.last_update_id
            for sh in new.shadows.values()))
        assert all(c.market.books[s].conn is old for s in SYMBOLS)  # not switched while behind
        watches = [BookWatch(c.market.books[s]) for s in SYMBOLS]
        for w in watches:
            w.__enter__()
        try:
            sim.streams.release()
            assert await asyncio.wait_for(rotation, 20) is new
            after = [w.feed.book.last_update_id for w in watches]
            await wait_for(lambda: all(w.feed.book.last_update_id > u for w, u in zip(watches, after)))
        finally:
            for w in watches:
                w.__exit__()
        assert [w.problems for w in watches] == [[] for _ in watches]
        assert c.market.rotation_fallbacks == 0 and all(c.market.books[s].health.resyncs == 0 for s in SYMBOLS)
        for s in SYMBOLS:
            assert_equal_books(sim, await settle(sim, c, s), s)


async def start_behind_rotation(sim, c):
    """Hold the old socket's frames until the venue has moved past the live books, then start a rotation;
    returns (old, rotation task) once the new socket's shadows exist."""
    old = c.market.connections[0]
    assert sim.streams.hold() == 1
    await wait_for(lambda: all(sim.exchange.markets[s].update_id > c.market.books[s].book.last_update_id
                               for s in SYMBOLS))
    rotation = asyncio.create_task(c.market.rotate(old))
    await wait_for(lambda: len(c.market.connections) == 2 and len(c.market.connections[1].shadows) == 2)
    return old, rotation


async def check_resynced_on(sim, c, new):
    assert c.market.rotations == 1 and c.market.rotation_fallbacks == len(SYMBOLS)
    assert c.market.connections == [new]
    for s in SYMBOLS:
        feed = c.market.books[s]
        assert feed.conn is new and feed.health.resyncs == 1
        assert_equal_books(sim, await settle(sim, c, s), s)


async def test_old_socket_lost_mid_rotation_resyncs_its_symbols_on_the_new_one():
    async with binance() as (sim, c):
        await live_books(c)
        old, rotation = await start_behind_rotation(sim, c)
        lagging = [x for x in sim.streams.conns if x.held is not None]
        assert len(lagging) == 1
        lagging[0].close(1011, b"lost")
        new = await asyncio.wait_for(rotation, 20)
        assert c.market.disconnects == 1 and c.market.last_disconnect.close_code == 1011
        await check_resynced_on(sim, c, new)


async def test_symbols_not_switched_in_time_fall_back_to_a_resync():
    async with binance() as (sim, c):
        await live_books(c)
        c.market.rotation_timeout_s = 1.0
        old, rotation = await start_behind_rotation(sim, c)  # held for good: the live books never catch up
        new = await asyncio.wait_for(rotation, 20)
        assert old.closed_by_us and c.market.disconnects == 0
        await check_resynced_on(sim, c, new)
