"""Checks of a connector's live Binance books against the simulator's true book, for the socket tests."""
import asyncio

from engine.connectors.base import BookState

from binance_env import true_top


async def settle(sim, conn, symbol="BTCUSDT", timeout=10.0):
    """Freeze the market, let the last diffs arrive, and wait until our book is live and caught up."""
    sim.paused = True
    feed = conn.market.books[symbol]
    m = sim.exchange.markets[symbol]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await asyncio.sleep(0.15)
        if (feed.book.synced and not feed.sync.needs_snapshot and feed.health.state.value == "live"
                and feed.book.last_update_id == m.update_id and conn.market.connections
                and all(c.connected.is_set() for c in conn.market.connections)):
            return feed
    raise AssertionError(f"book never caught up: ours {feed.book.last_update_id} vs true {m.update_id}, "
                         f"health {feed.health.as_dict()}")


def assert_equal_books(sim, feed, symbol="BTCUSDT"):
    """Every level of our book equals the simulator's, exactly (both sides, all depths)."""
    bids, asks = true_top(sim, symbol, 10**6)
    ours_b, ours_a = feed.book.top(10**6)
    assert (ours_b, ours_a) == (bids, asks)
    assert not feed.book.crossed


async def first_changes(conn, symbol, n):
    it = conn.stream_orderbook(symbol).__aiter__()
    for _ in range(n):
        book = await asyncio.wait_for(it.__anext__(), 10)
    return book


class BookWatch:
    """Samples one live book on every event-loop turn and on every book callback, and records each moment
    it was not usable: replaced objects, unsynced, not LIVE, an empty side, or an update id going back."""

    def __init__(self, feed):
        self.feed = feed
        self.book, self.sync = feed.book, feed.sync
        self.first_update_id = self.last_update_id = feed.book.last_update_id
        self.samples = 0
        self.problems: list[str] = []
        self._task = None

    def check(self, *_):
        f, self.samples = self.feed, self.samples + 1
        uid = f.book.last_update_id
        bad = []
        if f.book is not self.book or f.sync is not self.sync:
            bad.append("book or sync object replaced")
        if not f.book.synced or f.sync.needs_snapshot:
            bad.append("unsynced")
        if f.health.state is not BookState.LIVE:
            bad.append(f"state {f.health.state.value}")
        if not f.book.bid_count or not f.book.ask_count:
            bad.append("an empty side")
        if uid < self.last_update_id:
            bad.append(f"update id back from {self.last_update_id} to {uid}")
        self.last_update_id = max(uid, self.last_update_id)
        if bad and len(self.problems) < 20:
            self.problems.append(f"{f.symbol} sample {self.samples}: " + ", ".join(bad))

    async def _spin(self):
        while True:
            self.check()
            await asyncio.sleep(0)  # one sample per loop turn

    def __enter__(self):
        self.feed.callbacks.append(self.check)
        self._task = asyncio.get_running_loop().create_task(self._spin())
        return self

    def __exit__(self, *exc):
        self._task.cancel()
        self.feed.callbacks.remove(self.check)
