"""The seed's Lighter API test: every LighterConnector method against the Lighter simulator over real sockets.

Market data: books equal the true book, a broken nonce chain resyncs that market only, reconnects re-seed from
fresh snapshots, trades are deduplicated. Trading (where the lighter extra is installed, as in CI): orders
signed, numbered and sequenced; looked up over REST with an auth token; modified; stop orders triggered; a
nonce conflict healed with exactly one order; 429 backoff; the account stream with its token re-sent on
reconnect, rotated on a short period and renewed when the venue expires it.
"""
import asyncio
import contextlib
import time
from decimal import Decimal

import pytest

from engine.connectors.lighter.client import LighterConnector
from engine.connectors.lighter.urls import LighterEndpoints
from engine.sim.lighter import LighterSimulator
from helpers import wait_for


@contextlib.asynccontextmanager
async def lighter(seed=5):
    async with LighterSimulator(seed=seed) as sim:
        c = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url))
        await c.connect()
        try:
            yield sim, c
        finally:
            await c.disconnect()


async def settled(sim, c, market_id, timeout=10.0):
    sim.paused = True
    lb = c.market.books[market_id]
    m = sim.markets[market_id]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        await asyncio.sleep(0.15)
        if lb.book.synced and lb.health.state.value == "live" and lb.book.last_update_id == m.nonce:
            return lb, m
    raise AssertionError(f"not caught up: {lb.health.as_dict()} vs nonce {m.nonce}")


def assert_same(lb, m):
    assert lb.book.bids_scaled() == m.levels("b") and lb.book.asks_scaled() == m.levels("a")


async def test_markets_symbols_and_rest_reads():
    async with lighter() as (sim, c):
        assert c.native("ETH-USDC") == c.native("ETH-USDT") == "ETH"
        assert c.market_info("CRV-USDC")["price_decimals"] == 5
        ob = await c.get_orderbook("BTC-USDC", 5)
        assert ob.symbol == "BTC-USDC" and ob.best_bid < ob.best_ask and len(ob.bids) <= 5
        assert await c.get_ticker_price("ETH-USDC") > 0
        candles = await c.get_candlesticks("ETH-USDC", "1m", limit=5)
        assert len(candles) == 5 and all(a.open_time_ms < b.open_time_ms for a, b in zip(candles, candles[1:]))
        assert all(k.low <= min(k.open, k.close) and k.high >= max(k.open, k.close) for k in candles)
        with pytest.raises(Exception, match="LIGHTER_ACCOUNT_INDEX"):
            await c.get_account()  # no account configured
        c.account_index = sim.account_index
        acct = await c.get_account()
        assert acct["USDC"].free == Decimal("100000")
        assert (await c.get_positions())["ETH"] == 0


async def test_streamed_books_equal_the_true_books():
    async with lighter() as (sim, c):
        it = c.stream_orderbook("ETH-USDC").__aiter__()
        for _ in range(5):
            book = await asyncio.wait_for(it.__anext__(), 10)
        assert book.best_bid < book.best_ask
        await c.add_book("CRV-USDC")
        await asyncio.sleep(0.5)
        for mid in (0, 36):
            lb, m = await settled(sim, c, mid)
            assert_same(lb, m)


async def test_a_broken_chain_resyncs_that_market_only():
    async with lighter() as (sim, c):
        books = [await c.add_book("ETH-USDC"), await c.add_book("BTC-USDC")]
        await wait_for(lambda: all(lb.book.synced for lb in books))  # a gap before a snapshot is no gap
        sim.faults["gap"] = 1
        await wait_for(lambda: sum(lb.health.gaps for lb in c.market.books.values()))
        gapped = [mid for mid, lb in c.market.books.items() if lb.health.gaps]
        assert len(gapped) == 1
        for mid in (0, 1):
            lb, m = await settled(sim, c, mid)
            assert_same(lb, m)
        assert c.market.errors == []  # no 30003: the resync waited for the unsubscribe ack


async def test_reconnect_reseeds_every_book():
    async with lighter() as (sim, c):
        lb = await c.add_book("ETH-USDC")
        await wait_for(lambda: lb.book.synced)
        assert await sim.stream.close_all() == 1
        await wait_for(lambda: c.market.disconnects)
        assert c.market.last_disconnect.close_code == 1001
        lb, m = await settled(sim, c, 0)
        assert_same(lb, m)


async def test_trades_stream_is_new_prints_only_and_never_repeats_one_after_a_reconnect():
    async with lighter() as (sim, c):
        it = c.stream_trades("ETH-USDC").__aiter__()
        first = await asyncio.wait_for(it.__anext__(), 20)
        m = sim.markets[0]
        assert first.symbol == "ETH-USDC" and first.side.value in ("buy", "sell") and first.price > 0
        assert Decimal(first.price_str) == Decimal(first.price_str).quantize(Decimal(1).scaleb(-m.spec.price_decimals))
        # the subscription's replay of older prints was history, not news: nothing older than the first new one
        assert first.trade_id > min(t[0] for t in m.trades[-50:]) or len(m.trades) == 1
        await sim.stream.close_all()  # the resubscription replays the last 50 prints again
        seen = [first.trade_id]
        for _ in range(3):
            seen.append((await asyncio.wait_for(it.__anext__(), 20)).trade_id)
        assert c.market.disconnects == 1 and seen == sorted(set(seen))  # strictly increasing: no repeats


def far_bid(sim, market_id=0, ticks_away=50) -> Decimal:
    m = sim.markets[market_id]
    return Decimal(m.spec.px(m.mid)) - ticks_away


@contextlib.asynccontextmanager
async def trading(seed=5, **kw):
    pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")
    from engine.connectors.lighter.signer import new_api_key

    async with LighterSimulator(seed=seed) as sim:
        priv, _ = new_api_key()  # the simulator checks shape and nonces, not the Schnorr signature
        c = LighterConnector(endpoints=LighterEndpoints(sim.rest_url, sim.ws_url), account_index=sim.account_index,
                             api_key_index=sim.api_key_index, api_private_key=priv, **kw)
        await c.connect()
        try:
            yield sim, c
        finally:
            await c.disconnect()


async def test_orders_are_signed_numbered_and_sequenced():
    from engine.ratelimit import RateLimits, monotonic_ns

    async with trading() as (sim, c):
        still = monotonic_ns()
        # the transaction budget on a clock that does not move: nothing refills, so what is used is exactly
        # what was taken, however slow the machine (the tier, learnt at the first order, reconfigures it)
        c.http.budget.tx = RateLimits([], clock_ns=lambda: still)
        o = await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.05"), Decimal("2999.99"), client_order_id="77")
        assert o.status.value == "submitted" and o.client_order_id == "77"  # sequenced, not yet accepted
        tx_type, info = sim.txs[-1]
        assert tx_type == 14 and (info["BaseAmount"], info["Price"], info["IsAsk"], info["ClientOrderIndex"]) == (
            500, 299999, 0, 77)
        assert info["TimeInForce"] == 1 and info["Nonce"] == 1
        await c.cancel_order("ETH-USDC", client_order_id="77")
        assert sim.txs[-1][0] == 15 and sim.txs[-1][1]["Index"] == 77 and sim.txs[-1][1]["Nonce"] == 2
        await c.cancel_all_orders("ETH-USDC")
        assert sim.txs[-1][0] == 16
        # the account's tier (accountLimits) sets the budgets; 3 transactions spent from the tx budget
        assert c.http.budget.tier == sim.user_tier == "premium"
        assert c.health()["limits"]["tx"]["ORDERS/1M"] == {"used": 3, "limit": 4000}


async def test_a_nonce_conflict_is_healed_with_one_retry_and_no_duplicate():
    async with trading() as (sim, c):
        await c.create_order("BTC-USDC", "sell", "limit_maker", Decimal("0.001"), Decimal("70000"))
        sim.faults["nonce_conflict"] = 1  # another process used the key: the venue is one nonce ahead
        o = await c.create_order("BTC-USDC", "sell", "limit_maker", Decimal("0.001"), Decimal("70001"),
                                 client_order_id="900")
        creates = [info for t, info in sim.txs if t == 14 and info["ClientOrderIndex"] == 900]
        assert len(creates) == 1 and creates[0]["Nonce"] == 3 and creates[0]["TimeInForce"] == 2
        assert c.lane.conflicts == 1 and o.status.value == "submitted"


async def test_trading_without_keys_is_a_clear_error():
    async with lighter() as (sim, c):
        with pytest.raises(Exception, match="LIGHTER_API_PRIVATE_KEY"):
            await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), Decimal("3000"))


async def test_account_stream_reports_each_order_fate():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        await us.start()
        assert us.epoch == 1 and us.tokens_minted == 1
        updates = us.stream_order_updates().__aiter__()
        sim.paused = True  # a still market, so "crosses" and "rests" are certain
        m = sim.markets[0]
        best_ask = m.spec.px(min(m.asks))
        far = Decimal(m.spec.px(m.mid)) - 50
        rest = await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far, client_order_id="11")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("11", "open") and rest.status.value == "submitted"
        await c.create_order("ETH-USDC", "buy", "limit_maker", Decimal("0.01"), Decimal(best_ask),
                             client_order_id="12")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value, u.reason) == ("12", "rejected", "canceled-post-only")
        await c.create_order("ETH-USDC", "buy", "market", Decimal("0.01"), Decimal(best_ask) + 20,
                             client_order_id="13")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("13", "filled") and u.filled_quantity == Decimal("0.01")
        await c.cancel_order("ETH-USDC", client_order_id="11")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("11", "canceled")
        await us.stop()


def account_subscribes(sim, c):
    return [auth for ch, auth in sim.stream.subscribes if ch == f"account_all_orders/{c.account_index}"]


async def test_account_stream_resends_its_token_after_a_reconnect():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        epochs = []
        us.on_resubscribed.append(epochs.append)
        await us.start()
        await sim.stream.close_all()
        await wait_for(lambda: us.epoch == 2)
        tokens = account_subscribes(sim, c)
        assert epochs == [1, 2] and len(tokens) == 2 and all(tokens)
        assert tokens[0] == tokens[1] and us.tokens_minted == 1  # still valid: the current token is re-sent
        assert f"account_all_positions/{c.account_index}" in [ch for ch, _ in sim.stream.subscribes[-2:]]


async def test_tokens_rotate_on_a_short_period_and_the_stream_never_lapses():
    async with trading(token_lifetime_s=4) as (sim, c):
        us = c.get_user_data_stream()
        us.rotate_s = 1.0
        await us.start()
        await wait_for(lambda: len(account_subscribes(sim, c)) >= 4, timeout=15)
        tokens = account_subscribes(sim, c)
        assert len(set(tokens)) == len(tokens) >= 4  # every renewal minted a new token
        deadlines = [int(t.split(":")[0]) for t in tokens]
        assert all(d <= time.time() + 4 + 1 for d in deadlines)  # the lifetime asked for, never more
        assert sim.stream.auth_expired == 0 and us.auth_errors == 0
        await wait_for(lambda: us.subscribed.is_set())
        updates = us.stream_order_updates().__aiter__()
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="31")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("31", "open")


async def test_a_token_the_venue_expires_is_renewed_and_updates_keep_coming():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        await us.start()
        sim.faults["auth_ttl_s"] = 1.0  # the venue stops honouring tokens a second after first seeing them
        await wait_for(lambda: us.auth_errors >= 1 and us.subscribed.is_set(), timeout=10)
        sim.faults["auth_ttl_s"] = 0
        assert sim.stream.auth_expired >= 1 and us.tokens_minted >= 2
        updates = us.stream_order_updates().__aiter__()
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="32")
        u = await asyncio.wait_for(updates.__anext__(), 5)
        assert (u.client_order_id, u.status.value) == ("32", "open")


async def test_account_channel_needs_a_valid_token():
    import time as _t

    import aiohttp

    async with LighterSimulator() as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url) as ws:
            await ws.receive_str()
            await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{sim.account_index}"})
            err = await ws.receive_json()
            assert err["error"]["code"] == 20001 and "auth field is required" in err["error"]["message"]
            too_long = f"{int(_t.time()) + 9 * 3600}:{sim.account_index}:{sim.api_key_index}:{'0' * 160}"
            await ws.send_json({"type": "subscribe", "channel": f"account_all_orders/{sim.account_index}",
                                "auth": too_long})
            err = await ws.receive_json()
            assert err == {"error": {"code": 20013, "message": "invalid auth: invalid deadline"}}


async def settle(c, symbol, coi, status, timeout=10.0):
    """Poll the REST lookup until the venue shows ``coi`` in ``status`` (orders execute a block later)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while loop.time() < end:
        o = await c.get_order(symbol, client_order_id=coi)
        if o is not None and o.status.value == status:
            return o
        await asyncio.sleep(0.1)
    raise AssertionError(f"order {coi} never {status}: last seen {o}")


async def test_orders_are_looked_up_over_rest_with_one_auth_token():
    async with trading() as (sim, c):
        sim.paused = True
        assert await c.get_order("ETH-USDC", client_order_id="41") is None  # not known yet
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.02"), far_bid(sim), client_order_id="41")
        await c.create_order("BTC-USDC", "buy", "limit", Decimal("0.001"), far_bid(sim, 1), client_order_id="42")
        o = await settle(c, "ETH-USDC", "41", "open")
        assert o.order_id and o.quantity == Decimal("0.02") and o.side.value == "buy" and o.symbol == "ETH-USDC"
        assert (await c.get_order("ETH-USDC", order_id=o.order_id)).client_order_id == "41"
        assert {x.client_order_id for x in await c.get_open_orders("ETH-USDC")} == {"41"}
        await settle(c, "BTC-USDC", "42", "open")
        assert {x.client_order_id for x in await c.get_open_orders()} == {"41", "42"}  # every market
        await c.cancel_all_orders("ETH-USDC")  # scoped to one market, not account-wide
        assert (await settle(c, "ETH-USDC", "41", "canceled")).order_id == o.order_id  # from the inactive orders
        assert [x.client_order_id for x in await c.get_open_orders()] == ["42"]
        assert c.tokens.minted == 1 and sim.tokens.checked >= 8  # one token served every private read
        assert c.health()["auth_token_expires_in_s"] > 6 * 3600


async def test_a_refused_token_is_reminted_once_for_a_private_read():
    async with trading() as (sim, c):
        await c.get_open_orders()
        sim.faults["auth_ttl_s"] = 0.2
        await asyncio.sleep(0.3)  # the venue no longer honours the token we hold
        assert await c.get_open_orders() == [] and c.tokens.minted == 2


async def test_modify_moves_a_resting_order_in_place():
    async with trading() as (sim, c):
        sim.paused = True
        m = sim.markets[0]
        px = far_bid(sim)
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), px, client_order_id="51")
        o = await settle(c, "ETH-USDC", "51", "open")
        before = dict(m.bids)
        upd = await c.modify_order("ETH-USDC", client_order_id="51", quantity=Decimal("0.03"), price=px - 1)
        assert upd.status.value == "submitted" and sim.txs[-1][0] == 17
        tx = sim.txs[-1][1]
        assert (tx["Index"], tx["BaseAmount"], tx["Price"]) == (51, 300, int((px - 1).scaleb(2)))
        o2 = await settle(c, "ETH-USDC", "51", "open")
        for _ in range(50):
            o2 = await c.get_order("ETH-USDC", client_order_id="51")
            if o2.price == px - 1:
                break
            await asyncio.sleep(0.1)
        assert (o2.order_id, o2.price, o2.quantity) == (o.order_id, px - 1, Decimal("0.03"))
        p_old, p_new = int(px.scaleb(2)), int((px - 1).scaleb(2))
        assert m.bids.get(p_old, 0) == before.get(p_old, 0) - 100 and m.bids[p_new] == before.get(p_new, 0) + 300
        with pytest.raises(Exception, match="no open order"):
            await c.modify_order("ETH-USDC", client_order_id="59", quantity=Decimal("0.01"), price=px)


async def test_stop_orders_rest_untriggered_then_fire_at_the_trigger():
    async with trading() as (sim, c):
        sim.paused = True
        m = sim.markets[0]
        mid = Decimal(m.spec.px(m.mid))
        trigger, worst = mid - 10, mid - 30
        await c.create_order("ETH-USDC", "sell", "stop_market", Decimal("0.01"), worst, stop_price=trigger,
                             client_order_id="61")
        tx = sim.txs[-1][1]
        assert (tx["Type"], tx["TimeInForce"], tx["TriggerPrice"]) == (2, 0, int(trigger.scaleb(2)))
        assert tx["OrderExpiry"] > time.time() * 1000  # a conditional order must carry an expiry
        o = await settle(c, "ETH-USDC", "61", "open")
        assert o.type.value == "stop_market" and o.filled_quantity == 0
        m.mid = int(trigger.scaleb(2)) - 1  # the market falls through the trigger
        sim.orders.check_triggers(m)
        done = await settle(c, "ETH-USDC", "61", "filled")
        assert done.filled_quantity == Decimal("0.01") and done.average_price >= worst
        await c.create_order("ETH-USDC", "buy", "take_profit_limit", Decimal("0.01"), mid - 20,
                             stop_price=mid - 20, client_order_id="62")
        assert (sim.txs[-1][1]["Type"], sim.txs[-1][1]["TimeInForce"]) == (5, 1)


async def test_order_arguments_are_checked_before_anything_is_signed():
    async with trading() as (sim, c):
        sent = len(sim.txs)
        bad = [(dict(order_type="stop_market", price=Decimal("2900")), ValueError, "need stop_price"),
               (dict(order_type="limit", price=Decimal("2900"), stop_price=Decimal("2800")), ValueError, "take no"),
               (dict(order_type="limit", price=Decimal("2900"), time_in_force="FOK"), ValueError, "fill-or-kill"),
               (dict(order_type="limit", price=2900.0), TypeError, "float"),
               (dict(order_type="limit", price=Decimal("2900"), client_order_id="abc"), ValueError, "integer"),
               (dict(order_type="limit", price=Decimal("2900"), client_order_id=str(2 ** 48)), ValueError, "2\\^48"),
               (dict(order_type="market", price=None), ValueError, "worst acceptable")]
        for kw, exc, msg in bad:
            with pytest.raises(exc, match=msg):
                await c.create_order("ETH-USDC", "buy", quantity=Decimal("0.01"), **kw)
        with pytest.raises(Exception, match="rounds to zero"):
            await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.00001"), Decimal("2900"))
        assert len(sim.txs) == sent and c.lane is None  # nothing was even given a nonce


async def test_a_429_backs_off_and_an_unsent_transaction_gives_its_nonce_back():
    from engine.errors import RateLimitExceededError
    from engine.ratelimit import monotonic_ns

    async with trading(tx_over_ws=False) as (sim, c):  # sendTx over HTTP, where a 429 can hit it
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="71")
        sim.faults["rate_limit"] = 1
        before = monotonic_ns()  # the transaction budget's own clock
        with pytest.raises(RateLimitExceededError) as e:
            await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="72")
        assert e.value.retry_after == 2.0 and c.http.rate_limited == 1
        until = c.http.budget.tx.banned_until_ns
        assert until >= before + 2 * 10**9  # the budget is banned for the whole Retry-After
        sent_at, send_tx = [], c.http.send_tx

        async def timed_send_tx(*args, **kw):
            sent_at.append(monotonic_ns())
            return await send_tx(*args, **kw)

        c.http.send_tx = timed_send_tx
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="73")
        assert len(sent_at) == 1 and sent_at[0] >= until  # nothing went out before the backoff ended
        nonces = [i["Nonce"] for t, i in sim.txs]
        assert nonces == [1, 2] and c.lane.refreshes == 1 and c.lane.conflicts == 0  # 72's nonce went to 73


async def test_a_nonce_conflict_leaves_exactly_one_order_at_the_venue():
    async with trading() as (sim, c):
        sim.paused = True
        sim.faults["nonce_conflict"] = 1
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="81")
        await settle(c, "ETH-USDC", "81", "open")
        assert [o["client_order_index"] for o in sim.orders.orders.values()] == [81] and c.lane.conflicts == 1


async def test_positions_arrive_on_the_account_stream_and_match_the_account():
    async with trading() as (sim, c):
        us = c.get_user_data_stream()
        seen = []
        us.position_listeners.append(lambda sym, size: seen.append((sym, size)))
        await us.start()
        await wait_for(lambda: "ETH-USDC" in us.positions)
        assert us.positions["ETH-USDC"] == 0  # the subscription's snapshot
        sim.paused = True
        ask = Decimal(sim.markets[0].spec.px(min(sim.markets[0].asks)))
        await c.create_order("ETH-USDC", "sell", "market", Decimal("0.02"), ask - 40, client_order_id="91")
        await wait_for(lambda: us.positions.get("ETH-USDC") == Decimal("-0.02"))
        assert seen[-1] == ("ETH-USDC", Decimal("-0.02")) and (await c.get_positions())["ETH"] == Decimal("-0.02")
        assert c.health()["account_stream"]["subscribed"] is True


async def test_books_survive_a_venue_that_keeps_dropping_the_socket():
    async with lighter() as (sim, c):
        await c.add_book("ETH-USDC")
        await asyncio.sleep(0.3)
        sim.faults["disconnect_every_s"] = 0.7
        await wait_for(lambda: c.market.disconnects >= 2, timeout=15)
        sim.faults["disconnect_every_s"] = 0
        lb, m = await settled(sim, c, 0)
        assert_same(lb, m)
        assert lb.health.gaps == 0  # a lost socket is a resync, not a gap


@pytest.mark.parametrize("over_ws", [True, False], ids=["ws", "http"])
async def test_concurrent_orders_on_one_key_reach_the_venue_in_nonce_order(over_ws):
    # two HTTP connections do not keep order (a swap is a 21104): over HTTP one send at a time, over the
    # socket written in nonce order and answered in a pipeline
    async with trading(tx_over_ws=over_ws) as (sim, c):
        sim.paused = True
        px = far_bid(sim)
        got = await asyncio.gather(*(c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), px - k,
                                                    client_order_id=str(100 + k)) for k in range(12)))
        assert all(o.status.value == "submitted" for o in got)
        assert [i["Nonce"] for _, i in sim.txs] == list(range(1, 13))  # one send each, in order
        assert c.lane.conflicts == 0 and sorted(i["ClientOrderIndex"] for _, i in sim.txs) == list(range(100, 112))
        assert c.market.tx.sent == (12 if over_ws else 0)


async def test_orders_fall_back_to_http_while_the_socket_is_down_and_a_lost_answer_is_unknown():
    from engine.errors import RPCTimeoutError

    async with trading() as (sim, c):
        sim.paused = True
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="201")
        assert c.market.tx.sent == 1
        c.market.tx.transport = None  # as between a lost socket and its reconnect
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="202")
        assert c.market.tx.sent == 1 and [i["Nonce"] for _, i in sim.txs] == [1, 2]  # went over HTTP
        c.market.tx.transport = c.market.transport
        c.market.tx.timeout_s = 0.5
        sim.stream.mute_tx_answers = True  # the venue sequences it but the answer never comes
        with pytest.raises(RPCTimeoutError, match="outcome unknown"):
            await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="203")
        sim.stream.mute_tx_answers = False
        assert c.lane._next is None  # the lane will ask the venue before the next transaction
        await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), far_bid(sim), client_order_id="204")
        assert [i["Nonce"] for _, i in sim.txs] == [1, 2, 3, 4] and c.lane.conflicts == 0


async def test_control_messages_stay_inside_the_venues_per_minute_budget():
    from engine.ratelimit import RateLimits, monotonic_ns

    async with lighter() as (sim, c):
        # a budget of 3 messages, standing in for the venue's 200 a minute, on a clock that does not move:
        # nothing refills, so the 4th can only wait, however long the machine takes
        still = monotonic_ns()
        c.market.control_budget = RateLimits([{"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE",
                                               "intervalNum": 1, "limit": 3}], safety=1.0, clock_ns=lambda: still)
        for sym in ("ETH-USDC", "BTC-USDC", "CRV-USDC"):
            await c.add_book(sym)
        await c.add_trades("ETH-USDC", lambda t: None)
        await wait_for(lambda: len(sim.stream.subscribes) >= 3 and c.market.control_budget.status()["waiting"])
        assert [ch for ch, _ in sim.stream.subscribes] == ["order_book/0", "order_book/1", "order_book/36"]
        assert c.market.control_budget.status()["waiting"] == 1  # the 4th waits its turn, nothing is dropped


@pytest.mark.parametrize("over_ws", [True, False], ids=["ws", "http"])
async def test_a_requote_is_one_batch_of_cancels_then_creates(over_ws):
    from engine.models import OrderRequest, OrderType, Side

    async with trading(tx_over_ws=over_ws) as (sim, c):
        sim.paused = True
        px = far_bid(sim)
        for coi in ("301", "302"):
            await c.create_order("ETH-USDC", "buy", "limit", Decimal("0.01"), px, client_order_id=coi)
        await settle(c, "ETH-USDC", "302", "open")
        new = [OrderRequest("ETH-USDC", Side.BUY, OrderType.LIMIT_MAKER, Decimal("0.02"), px - k,
                            client_order_id=str(310 + k)) for k in (1, 2)]
        got = await c.batch_orders(creates=new, cancels=[("ETH-USDC", None, "301"), ("ETH-USDC", None, "302")])
        assert [u.client_order_id for u in got] == ["301", "302", "311", "312"]
        assert all(u.status.value == "submitted" for u in got) and len(got[0].raw["tx_hash"]) == 4
        assert [(t, i["Nonce"]) for t, i in sim.txs[2:]] == [(15, 3), (15, 4), (14, 5), (14, 6)]
        assert c.market.tx.sent == (6 if over_ws else 0)
        await settle(c, "ETH-USDC", "312", "open")
        assert {o.client_order_id for o in await c.get_open_orders("ETH-USDC")} == {"311", "312"}
        with pytest.raises(ValueError, match="at most 50"):
            await c.batch_orders(creates=[new[0]] * 51)
        with pytest.raises(TypeError):  # one bad order: nothing of the batch is numbered or signed
            bad = OrderRequest("ETH-USDC", Side.BUY, OrderType.LIMIT, Decimal("0.01"), 2900.0)
            await c.batch_orders(creates=[new[0], bad])
        assert len(sim.txs) == 6 and c.lane.conflicts == 0


async def test_a_shutdown_notice_is_a_reconnect_at_our_moment_not_a_cut():
    async with lighter() as (sim, c):
        lb = await c.add_book("ETH-USDC")
        await wait_for(lambda: lb.book.synced)
        assert await sim.stream.shutdown_all(close_in_ms=2000) == 1
        await wait_for(lambda: c.market.disconnects == 1, timeout=5)
        assert c.market.planned_reconnects == 1
        lb, m = await settled(sim, c, 0)
        assert_same(lb, m)
        await wait_for(lambda: sim.stream._shutdown.done())  # the venue's deadline came: the old socket was gone
        assert sim.stream.shutdown_forced == 0 and c.market.disconnects == 1


async def test_too_many_messages_from_the_venue_holds_our_control_messages_back():
    from engine.ratelimit import monotonic_ns

    async with lighter() as (sim, c):
        lb = await c.add_book("ETH-USDC")
        await wait_for(lambda: lb.book.synced)
        before = monotonic_ns()  # the control budget's own clock
        c.market.on_control(b'{"error":{"code":30009,"message":"Too Many Websocket Messages!"}}')
        assert c.market.control_budget.banned_until_ns >= before + 10 * 10**9  # the 10 s backoff
        await c.add_book("BTC-USDC")
        await wait_for(lambda: c.market.control_budget.status()["waiting"] == 1)  # its subscribe is held
        assert "order_book/1" not in [ch for ch, _ in sim.stream.subscribes]  # waits out the backoff
        assert c.market.errors[-1].code == 30009
        assert await sim.stream.ping_all() == 1
        await wait_for(lambda: sim.stream.pongs == 1, timeout=2)  # a pong is never held back ("no pong" close)
