"""Rate-limit accounting per request: the compiled bucket vs a naive Python bucket vs aiolimiter."""
import asyncio

import pytest

from engine.ratelimit import TokenBucketLimiter
from peers import NaiveBucket

N = 50000
BIG = 10**9  # never runs dry: the uncontended cost is what is measured


@pytest.mark.benchmark(group="rate limit: acquire 1")
@pytest.mark.parametrize("name", ["engine TokenBucketLimiter.try_acquire (compiled)", "naive Python bucket",
                                  "floor: the loop and a no-op call f(1)"])
def test_sync_buckets(benchmark, name):
    if name.startswith("floor"):
        f = bool  # what the loop itself costs, for reading the rows above it
    else:
        b = TokenBucketLimiter(BIG, BIG) if name.startswith("engine") else NaiveBucket(BIG, BIG)
        f = b.try_acquire

    def run():
        ok = 0
        for _ in range(N):
            ok += f(1)
        return ok

    assert benchmark.pedantic(run, rounds=7, iterations=1) == N
    benchmark.extra_info["ops"] = N


@pytest.mark.benchmark(group="rate limit: acquire 1")
@pytest.mark.parametrize("name", ["aiolimiter await acquire(1)"])
def test_aiolimiter_acquire(benchmark, name):
    aiolimiter = pytest.importorskip("aiolimiter")
    loop = asyncio.new_event_loop()
    lim = aiolimiter.AsyncLimiter(BIG, 1)

    async def many():
        acq = lim.acquire
        for _ in range(N):
            await acq(1)
        return N

    try:
        assert benchmark.pedantic(lambda: loop.run_until_complete(many()), rounds=7, iterations=1) == N
    finally:
        loop.close()
    benchmark.extra_info["ops"] = N
