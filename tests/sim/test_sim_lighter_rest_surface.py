"""The Lighter simulator's REST surface beyond the order book, over real sockets (aiohttp): assetDetails,
exchangeStats, accountOrders, trades, tx, each checked against lighter-sdk's models (``from_dict`` with the
SDK's required fields) and with an error case each. Transactions are the SDK-signed samples of
tests/data/lighter/ re-owned for the simulator's key (test_sim_lighter_account's helpers)."""
import json
import time

import aiohttp
import pytest

from engine.sim.lighter import LighterSimulator
from helpers import wait_for
from test_sim_lighter_account import send, token, tx

lighter = pytest.importorskip("lighter", reason="the lighter extra (lighter-sdk) is not installed")


async def get(sim, path, headers=None, **params):
    async with aiohttp.ClientSession() as s:
        async with s.get(sim.rest_url + path, params=params, headers=headers) as r:
            return r.status, await r.json()


async def sent(sim, tx_type, info) -> str:
    """sendTx over REST; the tx hash it answered."""
    async with aiohttp.ClientSession() as s:
        status, body = await send(s, sim, tx_type, info)
    assert (status, body["code"]) == (200, 200), body
    return body["tx_hash"]


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


async def test_account_orders_finds_orders_by_client_order_index_in_any_status():
    async with LighterSimulator(seed=1) as sim:
        await sent(sim, 14, tx(sim, "create_order_limit_post_only", ClientOrderIndex=41, Price=150000))
        await sent(sim, 14, tx(sim, "create_order_limit_post_only", ClientOrderIndex=42, Price=150100))
        await wait_for(lambda: len(sim.orders.active()) == 2)
        idx = next(o["order_index"] for o in sim.orders.active() if o["client_order_index"] == 42)
        await sent(sim, 15, tx(sim, "cancel_order", MarketIndex=0, Index=idx))
        await wait_for(lambda: not any(o["client_order_index"] == 42 for o in sim.orders.active()))
        auth = {"authorization": token(sim)}
        status, body = await get(sim, "/api/v1/accountOrders", auth, account_index=sim.account_index,
                                 client_order_indexes="41,42,43")
        assert status == 200
        got = lighter.Orders.from_dict(body)
        assert sorted((o.client_order_index, o.status) for o in got.orders) == [(41, "open"), (42, "canceled")]
        status, body = await get(sim, "/api/v1/accountOrders", auth, account_index=sim.account_index,
                                 client_order_indexes="43")
        assert (status, body["orders"]) == (200, [])


async def test_account_orders_errors():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/accountOrders", {"authorization": token(sim)},
                                 account_index=sim.account_index, client_order_indexes="x")
        assert (status, body["code"]) == (400, 20001)
        status, body = await get(sim, "/api/v1/accountOrders", account_index=sim.account_index,
                                 client_order_indexes="41")
        assert body["code"] == 20001  # no token
        other = sim.account_index + 1  # another account than the token's
        status, body = await get(sim, "/api/v1/accountOrders", {"authorization": token(sim)},
                                 account_index=other, client_order_indexes="41")
        assert (status, body["code"]) == (401, 20013)


async def test_trades_lists_the_accounts_fills():
    async with LighterSimulator(seed=1) as sim:
        await sent(sim, 14, tx(sim, "create_order_market_ioc", IsAsk=0, Price=310000, BaseAmount=1000,
                               ClientOrderIndex=51))
        await wait_for(lambda: sim.orders.history)
        status, body = await get(sim, "/api/v1/trades", {"authorization": token(sim)}, sort_by="timestamp",
                                 limit=10, account_index=sim.account_index)
        assert status == 200
        got = lighter.Trades.from_dict(body)
        assert got.trades and all(t.bid_client_id == 51 and t.bid_account_id == sim.account_index
                                  for t in got.trades)
        assert sum(float(t.size) for t in got.trades) == 0.1
        assert got.trades[0].market_symbol == "ETH"
        status, body = await get(sim, "/api/v1/trades", sort_by="trade_id", limit=5, market_id=0)
        assert status == 200 and len(lighter.Trades.from_dict(body).trades) <= 5


async def test_trades_errors():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/trades", sort_by="timestamp", limit=10, market_id=99)
        assert (status, body["code"]) == (400, 20001)  # unknown market
        status, body = await get(sim, "/api/v1/trades", sort_by="nope", limit=10)
        assert (status, body["code"]) == (400, 20001)
        status, body = await get(sim, "/api/v1/trades", {"authorization": "1:2:3:bad"}, sort_by="timestamp",
                                 limit=10, account_index=sim.account_index)
        assert body["code"] == 20013


async def test_tx_by_hash_reports_the_sequenced_tx():
    async with LighterSimulator(seed=1) as sim:
        info = tx(sim, "create_order_limit_post_only", ClientOrderIndex=61, Price=150000)
        h = await sent(sim, 14, info)
        await wait_for(lambda: not sim.pending_txs)
        status, body = await get(sim, "/api/v1/tx", by="hash", value=h)
        assert status == 200
        got = lighter.EnrichedTx.from_dict(body)
        assert (got.hash, got.type, got.status, got.nonce) == (h, 14, 2, info["Nonce"])
        assert json.loads(got.info)["ClientOrderIndex"] == 61 and json.loads(got.event_info) == {"ae": ""}


async def test_tx_by_hash_unknown_hash_is_20001():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/tx", by="hash", value="00" * 40)
        assert (status, body["code"]) == (400, 20001)


async def test_fundings_hourly_over_a_time_range_and_count_back():
    async with LighterSimulator(seed=1) as sim:
        end = 1_764_720_000_000  # a whole hour (ms)
        status, body = await get(sim, "/api/v1/fundings", market_id=0, resolution="1h",
                                 start_timestamp=end - 5 * 3_600_000 + 1, end_timestamp=end, count_back=0)
        assert status == 200
        got = lighter.Fundings.from_dict(body)
        assert [f.timestamp for f in got.fundings] == [end // 1000 - 3600 * k for k in (4, 3, 2, 1, 0)]
        assert all(f.direction == ("long" if float(f.rate) >= 0 else "short") for f in got.fundings)
        status, last2 = await get(sim, "/api/v1/fundings", market_id=0, resolution="1h",
                                  start_timestamp=0, end_timestamp=end, count_back=2)
        assert [f["timestamp"] for f in last2["fundings"]] == [end // 1000 - 3600, end // 1000]
        assert last2["fundings"][-1] == body["fundings"][-1]  # the same hour, the same rate
        status, day = await get(sim, "/api/v1/fundings", market_id=0, resolution="1d",
                                start_timestamp=end - 86_400_000 * 3, end_timestamp=end, count_back=1)
        assert len(day["fundings"]) == 1


async def test_fundings_unknown_market_is_20001():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/fundings", market_id=99, resolution="1h", start_timestamp=0,
                                 end_timestamp=3_600_000, count_back=1)
        assert (status, body["code"]) == (400, 20001)
        status, body = await get(sim, "/api/v1/fundings", market_id=0, resolution="5m", start_timestamp=0,
                                 end_timestamp=3_600_000, count_back=1)
        assert (status, body["code"]) == (400, 20001)


async def test_funding_rates_one_per_market_matching_the_current_hour():
    async with LighterSimulator(seed=1) as sim:
        hour = int(time.time() * 1000) // 3_600_000 * 3_600_000
        status, body = await get(sim, "/api/v1/funding-rates")
        assert status == 200
        got = lighter.FundingRates.from_dict(body)
        assert sorted(r.market_id for r in got.funding_rates) == sorted(sim.markets)
        eth = next(r for r in got.funding_rates if r.market_id == 0)
        status, f = await get(sim, "/api/v1/fundings", market_id=0, resolution="1h", start_timestamp=hour,
                              end_timestamp=hour, count_back=1)
        if hour == int(time.time() * 1000) // 3_600_000 * 3_600_000:  # the hour did not turn between the reads
            assert f"{eth.rate:.8f}" == f["fundings"][0]["rate"]


@pytest.mark.parametrize("path", ["/api/v1/candles", "/api/v1/candlesticks"])
async def test_candles_with_count_back_0_serve_every_bar_of_the_range(path):
    async with LighterSimulator(seed=1) as sim:
        end = 1_764_720_000_000  # a whole hour (ms)
        status, body = await get(sim, path, market_id=0, resolution="1m", start_timestamp=end - 10 * 60_000,
                                 end_timestamp=end, count_back=0)
        assert status == 200
        bars = body["c"] if path.endswith("candles") else body["candlesticks"]
        stamps = [b["t"] if "t" in b else b["timestamp"] for b in bars]
        assert stamps == [end - 60_000 * k for k in range(10, -1, -1)]
        if path.endswith("candles"):
            assert lighter.Candles.from_dict(body).c
        status, capped = await get(sim, path, market_id=0, resolution="1m", start_timestamp=0,
                                   end_timestamp=end, count_back=0)
        assert len(capped["c"] if path.endswith("candles") else capped["candlesticks"]) == 500


async def test_candles_unknown_market_is_20001():
    async with LighterSimulator(seed=1) as sim:
        status, body = await get(sim, "/api/v1/candles", market_id=99, resolution="1m", start_timestamp=0,
                                 end_timestamp=60_000, count_back=0)
        assert (status, body["code"]) == (400, 20001)
