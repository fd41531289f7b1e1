"""The Lighter simulator's REST surface beyond the order book, over real sockets (aiohttp): assetDetails,
exchangeStats, each checked against lighter-sdk's models (``from_dict`` with the SDK's required fields) and
with an error case each."""
import aiohttp
import pytest

from engine.sim.lighter import LighterSimulator

lighter = pytest.importorskip("lighter", reason="the lighter extra (lighter-sdk) is not installed")


async def get(sim, path, **params):
    async with aiohttp.ClientSession() as s:
        async with s.get(sim.rest_url + path, params=params) as r:
            return r.status, await r.json()


async def test_asset_details_lists_usdc_in_the_sdk_shape():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/assetDetails")
        assert status == 200
        got = lighter.AssetDetails.from_dict(body)
        assert [(a.asset_id, a.symbol, a.decimals) for a in got.asset_details] == [(3, "USDC", 6)]
        status, one = await get(sim, "/api/v1/assetDetails", asset_id=3)
        assert status == 200 and [a["symbol"] for a in one["asset_details"]] == ["USDC"]


async def test_asset_details_unknown_asset_is_20001():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/assetDetails", asset_id=99)
        assert (status, body["code"]) == (400, 20001)


async def test_exchange_stats_count_the_markets_trades():
    async with LighterSimulator(seed=1) as sim:
        eth = sim.markets[0]
        eth.trades[:] = [(1, 300_000, 10_000, True, 1), (2, 303_000, 20_000, False, 2)]  # 3000.00 x1, 3030.00 x2
        status, body = await get(sim, "/api/v1/exchangeStats")
        assert status == 200
        got = lighter.ExchangeStats.from_dict(body)
        assert got.total == len(sim.markets)
        row = next(r for r in got.order_book_stats if r.symbol == "ETH")
        assert row.daily_trades_count == 2 and row.last_trade_price == 3030.0
        assert row.daily_base_token_volume == 3.0 and row.daily_quote_token_volume == 9060.0
        assert row.daily_price_change == 1.0
        assert got.daily_trades_count == sum(len(m.trades) for m in sim.markets.values())


async def test_exchange_stats_for_an_unknown_market_is_20001():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/exchangeStats", market_id=99)
        assert (status, body["code"]) == (400, 20001)
