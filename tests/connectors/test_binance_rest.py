"""BinanceConnector REST methods against the simulator over real sockets (asyncio and uvloop)."""
import asyncio
import logging
from decimal import Decimal

import pytest

from engine.errors import (InsufficientBalanceError, NonceConflictError, OrderNotFoundError, OrderRejectedError,
                           RateLimitExceededError, RPCTimeoutError)
from engine.models import OrderStatus

from binance_env import binance


async def test_market_data_and_account():
    async with binance() as (sim, c):
        ob = await c.get_orderbook("BTC-USDT", 10)
        m = sim.exchange.markets["BTCUSDT"]
        assert ob.symbol == "BTC-USDT" and len(ob.bids) == 10 and ob.best_bid < ob.best_ask
        assert ob.last_update_id >= 1_000_000
        same = await c.get_orderbook("BTCUSDT", 5)  # the venue's own spelling works too
        assert same.symbol == "BTC-USDT"
        candles = await c.get_candlesticks("ETH-USDT", "1m", limit=5)
        assert len(candles) == 5 and all(a.open_time_ms < b.open_time_ms for a, b in zip(candles, candles[1:]))
        assert all(k.low <= k.open <= k.high and k.low <= k.close <= k.high for k in candles)
        price = await c.get_ticker_price("BTC-USDT")
        assert isinstance(price, Decimal) and abs(price - Decimal(m.spec.px(m.mid))) < 10
        acct = await c.get_account()
        assert acct["USDT"].free == Decimal("100000") and acct["BTC"].free == Decimal("1")
        with pytest.raises(ValueError, match="DOGE-USDT"):
            await c.get_ticker_price("DOGE-USDT")


async def test_order_lifecycle_and_cancel_semantics():
    async with binance() as (sim, c):
        o = await c.create_order("BTC-USDT", "buy", "limit", Decimal("0.01"), Decimal("50000.009"))
        assert o.status is OrderStatus.OPEN and o.client_order_id.startswith("eng-")
        assert o.price == Decimal("50000.00")  # a buy rounds down to the tick, never pays more
        sim_order = sim.exchange.orders[int(o.order_id)]
        assert sim_order.client_id == o.client_order_id
        got = await c.get_order("BTC-USDT", client_order_id=o.client_order_id)
        assert got.status is OrderStatus.OPEN and got.order_id == o.order_id
        assert [x.order_id for x in await c.get_open_orders("BTC-USDT")] == [o.order_id]
        canceled = await c.cancel_order("BTC-USDT", order_id=o.order_id)
        assert canceled.status is OrderStatus.CANCELED
        # canceling again is -2011 at the venue; the connector reports the order's real final state
        again = await c.cancel_order("BTC-USDT", client_order_id=o.client_order_id)
        assert again.status is OrderStatus.CANCELED
        assert await c.cancel_all_orders("BTC-USDT") == []  # -2011 "nothing open" is not an error
        assert await c.get_order("BTC-USDT", client_order_id="never-sent") is None
        with pytest.raises(OrderNotFoundError):
            await c.cancel_order("BTC-USDT", client_order_id="never-sent")


async def test_marketable_order_fills_and_moves_balances():
    async with binance() as (sim, c):
        before = await c.get_account()
        o = await c.create_order("ETH-USDT", "buy", "market", Decimal("0.5"))
        assert o.status is OrderStatus.FILLED and o.filled_quantity == Decimal("0.5")
        assert o.average_price is not None and o.fee > 0 and o.fee_asset == "ETH"
        after = await c.get_account()
        assert after["ETH"].free == before["ETH"].free + Decimal("0.5") - o.fee
        assert after["USDT"].free < before["USDT"].free


async def test_cancel_all_cancels_every_open_order():
    async with binance() as (sim, c):
        for px in ("40000", "41000", "42000"):
            await c.create_order("BTC-USDT", "buy", "limit", "0.001", px)
        done = await c.cancel_all_orders("BTC-USDT")
        assert sorted(o.status for o in done) == [OrderStatus.CANCELED] * 3
        assert sim.exchange.open_orders("BTCUSDT") == []


async def test_filter_violations_are_refused_locally_without_a_request():
    async with binance() as (sim, c):
        n = sim.rest.requests
        with pytest.raises(OrderRejectedError, match="NOTIONAL"):
            await c.create_order("BTC-USDT", "buy", "limit", "0.00001", "10")
        with pytest.raises(OrderRejectedError, match="LOT_SIZE|zero"):
            await c.create_order("BTC-USDT", "buy", "limit", "0.000001", "60000")
        with pytest.raises(TypeError, match="float"):
            await c.create_order("BTC-USDT", "buy", "limit", 0.01, "60000")
        assert sim.rest.requests == n


async def test_insufficient_balance_maps_to_its_own_error():
    async with binance() as (sim, c):
        with pytest.raises(InsufficientBalanceError) as exc:
            await c.create_order("BTC-USDT", "buy", "limit", "5", "50000")
        assert exc.value.code == -2010 and not exc.value.outcome_unknown


@pytest.mark.parametrize("fault", ["order_5xx", "order_timeout"])
async def test_lost_answer_is_reconciled_and_never_sent_twice(fault):
    async with binance(timeout_s=0.5) as (sim, c):
        setattr(sim.faults, fault, 1)
        sim.faults.order_timeout_s = 2.0
        o = await c.create_order("BTC-USDT", "buy", "limit", "0.001", "45000", client_order_id="lost-answer-1")
        assert o.client_order_id == "lost-answer-1" and o.status is OrderStatus.OPEN
        same = [x for x in sim.exchange.orders.values() if x.client_id == "lost-answer-1"]
        assert len(same) == 1  # exactly one order at the venue


async def test_unknown_outcome_that_cannot_be_found_raises_rpc_timeout():
    async with binance(timeout_s=0.5) as (sim, c):
        sim.faults.status_5xx = 1  # answered 500 before anything happened: the order never existed
        with pytest.raises(RPCTimeoutError) as exc:
            await c.create_order("BTC-USDT", "buy", "limit", "0.001", "45000", client_order_id="ghost-1")
        assert exc.value.outcome_unknown
        assert not [x for x in sim.exchange.orders.values() if x.client_id == "ghost-1"]


async def test_clock_skew_is_healed_by_a_resync_and_one_retry(caplog):
    async with binance() as (sim, c):
        sim.faults.clock_skew_ms = -4000  # the server's clock falls 4 s behind ours
        with caplog.at_level(logging.WARNING, "engine.binance.http"):
            acct = await c.get_account()
        assert acct["USDT"].free > 0
        assert "-1021" in caplog.text
        assert c.auth.offset_ms < -3000


async def test_persistent_timestamp_rejection_is_raised_after_one_retry():
    async with binance() as (sim, c):
        c.auth.recv_window = 1  # any jitter now breaks the window
        c.auth.offset_ms += 10_000_000
        c.http.sync_time = lambda *a, **k: asyncio.sleep(0)  # the resync cannot help
        with pytest.raises(NonceConflictError):
            await c.get_account()


async def test_429_bans_the_budget_until_retry_after():
    async with binance() as (sim, c):
        sim.faults.rate_limit_429 = 1
        with pytest.raises(RateLimitExceededError) as exc:
            await c.get_ticker_price("BTC-USDT")
        assert exc.value.http_status == 429 and exc.value.retry_after > 0
        assert c.limits.banned  # nothing else goes out until Retry-After
        assert sim.rest.weights.answered_418 == 0
        c.limits.banned_until_ns = 0  # time passes
        assert await c.get_ticker_price("BTC-USDT") > 0


async def test_secrets_never_appear_in_reprs_logs_or_errors(caplog):
    caplog.set_level(logging.DEBUG)
    async with binance() as (sim, c):
        secret = sim.api_secret
        texts = [repr(c), str(c), repr(c.auth), repr(c.http.auth)]
        c.auth._signer = type(c.auth._signer)("wrong-secret")  # every signature now fails: -1022
        with pytest.raises(Exception) as exc:
            await c.get_account()
        texts += [str(exc.value), repr(exc.value), caplog.text]
        for t in texts:
            assert secret not in t and secret[:12] not in t
        assert sim.api_key not in repr(c)


async def test_stop_limit_orders_wait_for_their_trigger():
    async with binance() as (sim, c):
        m = sim.exchange.markets["BTCUSDT"]
        sim.paused = True
        stop = Decimal(m.spec.px(m.mid + 50))
        o = await c.create_order("BTC-USDT", "buy", "stop_limit", "0.001", stop + 10, stop_price=stop)
        assert o.status in (OrderStatus.SUBMITTED, OrderStatus.OPEN)
        resting = sim.exchange.orders[int(o.order_id)]
        assert resting.type == "STOP_LOSS_LIMIT" and not resting.working
        m.mid += 60  # the market rises through the stop: the sweep prints trades above it
        sim.step()
        got = await c.get_order("BTC-USDT", order_id=o.order_id)
        assert got.status in (OrderStatus.FILLED, OrderStatus.OPEN, OrderStatus.PARTIALLY_FILLED)
        triggered = sim.exchange.orders[int(o.order_id)]
        assert triggered.type == "LIMIT" and (triggered.status == "FILLED" or triggered.working)
