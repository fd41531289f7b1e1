"""Awaitable acquire: exact sleeps on one timer, first come first served, bans, cancellation."""
import asyncio

import pytest

from engine.ratelimit import RateLimits


def limits(limit=10, interval="SECOND", **kw):
    return RateLimits([{"rateLimitType": "REQUEST_WEIGHT", "interval": interval, "intervalNum": 1, "limit": limit}],
                      safety=1.0, **kw)


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
    loop = asyncio.get_running_loop()
    t0 = loop.time()  # read before the bucket empties, so a stall on a busy machine only adds to the wait
    await rl.acquire(10)
    await rl.acquire(5)  # needs 0.5 s of refill
    waited = loop.time() - t0
    assert waited >= 0.5 - 1e-6  # never before the bucket allows it (the loop and the bucket share one clock)
    assert rl._timer is None  # no timer left behind


async def test_ban_then_release():
    rl = limits(limit=100)
    loop = asyncio.get_running_loop()
    t0 = loop.time()  # read before the ban starts, so a stall on a busy machine only adds to the wait
    rl.ban(0.2)
    await rl.acquire(1)
    assert loop.time() - t0 >= 0.2 - 1e-6
    assert rl.bans == 1


async def test_cancelled_waiter_leaves_the_queue_and_does_not_block_others():
    now = [0]  # the bucket's clock, moved by hand: what is served depends on it alone
    rl = limits(clock_ns=lambda: now[0])
    await rl.acquire(10)
    big = asyncio.create_task(rl.acquire(10))
    small = asyncio.create_task(rl.acquire(1))
    await asyncio.sleep(0)
    assert rl.status()["waiting"] == 2
    now[0] = 100_000_000  # 0.1 s on: enough refill for the small request, never for the big one
    big.cancel()
    with pytest.raises(asyncio.CancelledError):
        await big
    await asyncio.wait_for(small, 10)  # served at once; behind big it would wait for a clock that stands still
    assert rl.status()["REQUEST_WEIGHT/1S"]["used"] == 10  # the small one took the one refilled token
    assert rl.status()["waiting"] == 0


async def test_impossible_request_fails_fast():
    with pytest.raises(ValueError, match="never pass"):
        await limits().acquire(11)
