"""Nonce lanes hand out strictly increasing nonces under concurrency and resync from the venue on conflict."""
import asyncio

from engine.connectors.lighter.nonce import NonceLane


class Venue:
    def __init__(self, nxt=7):
        self.next = nxt
        self.fetches = 0

    async def fetch(self, account, key):
        self.fetches += 1
        await asyncio.sleep(0)
        return self.next


async def test_concurrent_takes_are_unique_and_ordered():
    venue = Venue(7)
    lane = NonceLane(1, 3, venue.fetch)
    got = await asyncio.gather(*(lane.take() for _ in range(50)))
    assert sorted(got) == list(range(7, 57)) and venue.fetches == 1


async def test_conflict_refetches_and_give_back_rules():
    venue = Venue(10)
    lane = NonceLane(1, 3, venue.fetch)
    assert await lane.take() == 10
    venue.next = 20  # another process used the key
    assert await lane.on_conflict() == 20 and lane.conflicts == 1
    n = await lane.take()
    assert n == 20
    lane.give_back(n)  # never sent, and the last one taken: reused
    assert await lane.take() == 20
    a, b = await lane.take(), await lane.take()
    lane.give_back(a)  # not the last one taken: the lane asks the venue again
    venue.next = b + 1
    assert await lane.take() == b + 1 and venue.fetches == 3


async def test_against_the_simulator_next_nonce():
    from engine.connectors.lighter.http import LighterHttp
    from engine.connectors.lighter.urls import LighterEndpoints
    from engine.sim.lighter import LighterSimulator

    async with LighterSimulator() as sim:
        http = LighterHttp(LighterEndpoints(sim.rest_url, sim.ws_url))

        async def fetch(account, key):
            return (await http.get("/api/v1/nextNonce", {"account_index": account, "api_key_index": key}))["nonce"]

        try:
            lane = NonceLane(sim.account_index, sim.api_key_index, fetch)
            assert await lane.take() == sim.nonces[(sim.account_index, sim.api_key_index)]
        finally:
            await http.close()
