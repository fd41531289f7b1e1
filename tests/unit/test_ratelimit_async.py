"""Awaitable acquire: exact sleeps on one timer, first come first served, bans, cancellation."""
import asyncio

import pytest

from engine.ratelimit import RateLimits


def limits(limit=10, interval="SECOND"):
    return RateLimits([{"rateLimitType": "REQUEST_WEIGHT", "interval": interval, "intervalNum": 1, "limit": limit}],
                      safety=1.0)


async def test_waiters_are_served_in_arrival_order_and_never_early():
    rl = limits()
    order = []

    async def go(i, w):
        await rl.acquire(w)
        # the budget must really allow it: the bucket is never driven negative
        order.append(i)

    await rl.acquire(10)  # empty the bucket
    tasks = [asyncio.create_task(go(i, w)) for i, w in enumerate([5, 10, 1])]
    await asyncio.sleep(0)
    assert rl.status()["waiting"] == 3
    # a newcomer may not overtake the queue even when a small request would fit
    assert not rl.try_acquire(1)
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2]
    assert rl.status()["waiting"] == 0


async def test_acquire_sleeps_on_a_timer_not_a_polling_loop():
    rl = limits()
    await rl.acquire(10)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await rl.acquire(5)  # needs 0.5 s of refill
    waited = loop.time() - t0
    assert waited >= 0.45  # never before the bucket allows it (loop clock granularity aside)
    assert rl._timer is None  # no timer left behind


async def test_ban_then_release():
    rl = limits(limit=100)
    rl.ban(0.2)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    await rl.acquire(1)
    assert loop.time() - t0 >= 0.15
    assert rl.bans == 1


async def test_cancelled_waiter_leaves_the_queue_and_does_not_block_others():
    rl = limits()
    await rl.acquire(10)
    big = asyncio.create_task(rl.acquire(10))
    small = asyncio.create_task(rl.acquire(1))
    await asyncio.sleep(0.01)
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    await asyncio.wait_for(small, 1.0)
    assert rl.status()["waiting"] == 0


async def test_impossible_request_fails_fast():
    with pytest.raises(ValueError, match="never pass"):
        await limits().acquire(11)
