"""Every transaction type lighter-sdk's signer produces is sequenced by the Lighter simulator, with its effect.

The transactions are signed by the official signer (lighter-sdk) with the simulator's throwaway key and sent
over REST sendTx: UpdateLeverage and UpdateMargin (account and position answers), grouped orders (OTO, OCO,
OTOCO links and their life cycle), transfers and withdrawals (collateral), ChangePubKey (apikeys), account
and asset config, integrator approval, and the types accepted without an effect. Malformed fields get 21101.
"""
import contextlib
import json
import time

import aiohttp
import pytest

lighter = pytest.importorskip("lighter", reason="the lighter extra (lighter-sdk) is not installed")

from lighter.signer_client import CreateOrderTxReq  # noqa: E402

from engine.sim.lighter import LighterSimulator  # noqa: E402
from helpers import wait_for  # noqa: E402

ETH = 0
ETH_KEY = "0x" + "11" * 32  # an L1 key for the L1Sig of ChangePubKey (the simulator does not check L1Sig)
POOL = 2 ** 47 + 5  # pool indexes start at 2**47 (the signer refuses lower ones)


@contextlib.asynccontextmanager
async def rig(**kw):
    """The simulator, an SDK signer on its key, and an HTTP session; ``send(tx_type, tx_info)`` posts sendTx."""
    async with LighterSimulator(seed=1, **kw) as sim:
        signer = lighter.SignerClient(url=sim.rest_url, account_index=sim.account_index,
                                      api_private_keys={sim.api_key_index: sim.api_private_key})
        async with aiohttp.ClientSession() as http:
            async def send(signed):
                tx_type, info, _, err = signed
                assert err is None, err
                async with http.post(sim.rest_url + "/api/v1/sendTx",
                                     data={"tx_type": str(tx_type), "tx_info": info}) as r:
                    return r.status, await r.json()

            async def get(path, **params):
                async with http.get(sim.rest_url + path, params=params) as r:
                    return await r.json()
            try:
                yield sim, signer, send, get
            finally:
                await signer.close()


def nonce(sim):
    return sim.nonces.get((sim.account_index, sim.api_key_index), 0)


def kw(sim):
    return {"nonce": nonce(sim), "api_key_index": sim.api_key_index}


async def sent(send, signed):
    status, body = await send(signed)
    assert (status, body["code"]) == (200, 200), body
    return body


async def executed(sim):
    """Wait until every sequenced transaction has run (they execute at the simulator's next block)."""
    await wait_for(lambda: not sim.pending_txs, timeout=5)


async def position(get, sim, market=ETH):
    acct = (await get("/api/v1/account", by="index", value=str(sim.account_index)))["accounts"][0]
    return acct, next(p for p in acct["positions"] if p["market_id"] == market)


def order(market=ETH, coi=0, base=0, price=0, ask=0, typ=0, tif=1, reduce=0, trigger=0, expiry=-1):
    return CreateOrderTxReq(MarketIndex=market, ClientOrderIndex=coi, BaseAmount=base, Price=price, IsAsk=ask,
                            Type=typ, TimeInForce=tif, ReduceOnly=reduce, TriggerPrice=trigger, OrderExpiry=expiry)


async def test_every_signer_transaction_type_is_sequenced():
    async with rig() as (sim, s, send, get):
        calls = {
            12: lambda: s.sign_transfer_same_master_account(sim.account_index + 1, 3, 0, 0, 1_000_000, 0,
                                                            "0x" + "00" * 32, **kw(sim)),
            13: lambda: s.sign_withdraw(3, 0, 1_000_000, **kw(sim)),
            11: lambda: s.sign_update_public_pool(POOL, 0, 100, 10, **kw(sim)),
            18: lambda: s.sign_mint_shares(POOL, 10, **kw(sim)),
            19: lambda: s.sign_burn_shares(POOL, 10, **kw(sim)),
            20: lambda: s.sign_update_leverage(ETH, 2000, 0, **kw(sim)),
            28: lambda: s.sign_create_grouped_orders(2, [order(base=0, price=400000, ask=1, typ=4, tif=0, reduce=1,
                                                               trigger=390000),
                                                         order(base=0, price=200000, ask=1, typ=2, tif=0, reduce=1,
                                                               trigger=210000)], **kw(sim)),
            29: lambda: s.sign_update_margin(ETH, 1_000_000, 1, **kw(sim)),
            35: lambda: s.sign_stake_assets(POOL, 10, **kw(sim)),
            36: lambda: s.sign_unstake_assets(POOL, 10, **kw(sim)),
            41: lambda: s.sign_update_account_config(0, **kw(sim)),
            42: lambda: s.sign_update_account_asset_config(3, 0, **kw(sim)),
            45: lambda: s.sign_approve_integrator_same_master_account(sim.account_index + 2, 10, 10, 10, 10,
                                                                      int(time.time() * 1000) + 86_400_000, **kw(sim)),
        }
        for tx_type, sign in calls.items():
            before = nonce(sim)
            signed = sign()
            assert signed[0] == tx_type
            await sent(send, signed)
            assert nonce(sim) == before + 1
            assert sim.txs[-1][0] == tx_type
        await executed(sim)
        # each hash reads back with its type
        assert {r["type"] for r in sim.tx_hashes.values()} == set(calls)


async def test_sub_account_and_public_pool_from_a_master_account():
    # the signer signs CreateSubAccount / CreatePublicPool only for a small (master) account index
    async with rig(account_index=100) as (sim, s, send, get):
        await sent(send, s.sign_create_sub_account(**kw(sim)))
        await sent(send, s.sign_create_public_pool(100, 1000, 10, **kw(sim)))
        await executed(sim)
        assert [t for t, _ in sim.txs] == [9, 10]
        assert sim.account.sub_accounts == [101]


async def test_update_leverage_sets_the_markets_fraction_and_margin_mode():
    async with rig() as (sim, s, send, get):
        _, pos = await position(get, sim)
        assert (pos["initial_margin_fraction"], pos["margin_mode"]) == ("5.00", 0)
        await sent(send, s.sign_update_leverage(ETH, 2000, s.ISOLATED_MARGIN_MODE, **kw(sim)))
        await executed(sim)
        _, pos = await position(get, sim)
        assert (pos["initial_margin_fraction"], pos["margin_mode"]) == ("20.00", 1)
        _, btc = await position(get, sim, market=1)
        assert (btc["initial_margin_fraction"], btc["margin_mode"]) == ("5.00", 0)  # per market
        # a fraction under the market's minimum (200 = 2.00 %) is sequenced but changes nothing
        await sent(send, s.sign_update_leverage(ETH, 100, 0, **kw(sim)))
        await executed(sim)
        _, pos = await position(get, sim)
        assert (pos["initial_margin_fraction"], pos["margin_mode"]) == ("20.00", 1)
        assert sim.account.refused[-1][0] == 20


async def test_update_margin_moves_collateral_into_an_isolated_position():
    async with rig() as (sim, s, send, get):
        await sent(send, s.sign_update_margin(ETH, 5_000_000, 1, **kw(sim)))  # cross margin: refused
        await executed(sim)
        acct, pos = await position(get, sim)
        assert (pos["allocated_margin"], acct["collateral"]) == ("0.000000", "100000.000000")
        await sent(send, s.sign_update_leverage(ETH, 1000, s.ISOLATED_MARGIN_MODE, **kw(sim)))
        await sent(send, s.sign_update_margin(ETH, 10_000_000, s.ISOLATED_MARGIN_ADD_COLLATERAL, **kw(sim)))
        await sent(send, s.sign_update_margin(ETH, 4_000_000, s.ISOLATED_MARGIN_REMOVE_COLLATERAL, **kw(sim)))
        await sent(send, s.sign_update_margin(ETH, 7_000_000, s.ISOLATED_MARGIN_REMOVE_COLLATERAL, **kw(sim)))
        await executed(sim)
        acct, pos = await position(get, sim)
        assert (pos["allocated_margin"], acct["collateral"]) == ("6.000000", "99994.000000")
        assert [t for t, _ in sim.account.refused] == [29, 29]  # the cross one and the one removing too much


async def test_transfer_and_withdraw_take_usdc_from_the_collateral():
    async with rig() as (sim, s, send, get):
        await sent(send, s.sign_transfer_same_master_account(sim.account_index + 1, 3, 0, 0, 2_500_000, 500_000,
                                                             "0x" + "00" * 32, **kw(sim)))
        await sent(send, s.sign_withdraw(3, 0, 1_000_000, **kw(sim)))
        await sent(send, s.sign_withdraw(3, 0, 10 ** 12, **kw(sim)))  # more than there is: no effect
        await executed(sim)
        acct, _ = await position(get, sim)
        assert acct["collateral"] == acct["available_balance"] == "99996.000000"
        assert acct["assets"][0]["balance"] == "99996.000000"

        # the history reads, through lighter-sdk's models (auth token required)
        token, err = s.create_auth_token_with_expiry()
        assert err is None
        api = lighter.ApiClient(configuration=lighter.Configuration(host=sim.rest_url))
        try:
            txs = lighter.TransactionApi(api)
            transfers = (await txs.transfer_history(account_index=sim.account_index, authorization=token)).transfers
            assert [(t.amount, t.fee, t.from_account_index, t.to_account_index, t.asset_id, t.from_route)
                    for t in transfers] == [("2.500000", "0.500000", sim.account_index, sim.account_index + 1, 3,
                                             "perp")]
            assert transfers[0].tx_hash in sim.tx_hashes
            # a Transfer names its sender FromAccountIndex: the tx lookup by hash answers with that account
            tx = await get("/api/v1/tx", by="hash", value=transfers[0].tx_hash)
            assert (tx["code"], tx["account_index"]) == (200, sim.account_index)
            withdraws = (await txs.withdraw_history(authorization=token, account_index=sim.account_index)).withdraws
            assert [(w.amount, w.asset_id, w.status) for w in withdraws] == [("1.000000", 3, "pending")]
            assert (await get("/api/v1/withdraw/history", account_index=str(sim.account_index)))["code"] == 20001
        finally:
            await api.close()


async def test_change_pub_key_registers_a_new_key_index():
    async with rig() as (sim, s, send, get):
        priv, pub, err = lighter.signer_client.create_api_key()
        assert err is None
        new = lighter.SignerClient(url=sim.rest_url, account_index=sim.account_index,
                                   api_private_keys={5: priv.removeprefix("0x")})
        try:
            assert (await get("/api/v1/nextNonce", account_index=sim.account_index, api_key_index=5))["nonce"] == 0
            await sent(send, new.sign_change_api_key(ETH_KEY, pub, nonce=0, api_key_index=5))
            await executed(sim)
            keys = (await get("/api/v1/apikeys", account_index=sim.account_index, api_key_index=5))["api_keys"]
            assert [(k["api_key_index"], k["nonce"], k["public_key"]) for k in keys] == \
                [(5, 1, pub.removeprefix("0x"))]
            # the new key now signs ordinary transactions
            await sent(send, new.sign_update_account_config(0, nonce=1, api_key_index=5))
        finally:
            await new.close()


async def test_account_and_asset_config_and_integrators_are_visible():
    async with rig() as (sim, s, send, get):
        expiry = int(time.time() * 1000) + 86_400_000
        await sent(send, s.sign_update_account_config(1, **kw(sim)))
        await sent(send, s.sign_update_account_asset_config(3, s.ASSET_MARGIN_MODE_ENABLED, **kw(sim)))
        await sent(send, s.sign_approve_integrator_same_master_account(sim.account_index + 2, 7, 6, 5, 4, expiry,
                                                                       **kw(sim)))
        await executed(sim)
        acct, _ = await position(get, sim)
        assert acct["account_trading_mode"] == 1
        assert acct["assets"][0]["margin_mode"] == "enabled"
        assert acct["approved_integrators"] == [{
            "account_index": sim.account_index + 2, "name": "", "max_perps_taker_fee": 7, "max_perps_maker_fee": 6,
            "max_spot_taker_fee": 5, "max_spot_maker_fee": 4, "approval_expiry": expiry}]


def ioc_buy(coi, best_ask):
    """An immediate-or-cancel buy of 0.01 ETH that crosses the book: a group's entry that fills at once."""
    return order(coi=coi, base=100, price=best_ask + 5000, tif=0, expiry=0)


def by_coi(sim, coi):
    return next(o for o in sim.orders.orders.values() if o["client_order_index"] == coi)


async def test_oto_children_wait_for_the_entry_and_take_its_filled_size():
    async with rig() as (sim, s, send, get):
        m = sim.markets[ETH]
        best_ask = min(m.asks)
        # entry: an IOC buy of 0.01 ETH that crosses; child: a stop-loss sell for whatever the entry fills
        await sent(send, s.sign_create_grouped_orders(s.GROUPING_TYPE_ONE_TRIGGERS_THE_OTHER, [
            ioc_buy(21, best_ask),
            order(coi=22, price=best_ask - 50000, ask=1, typ=2, tif=0, reduce=1, trigger=best_ask - 40000)],
            **kw(sim)))
        await executed(sim)
        entry, child = by_coi(sim, 21), by_coi(sim, 22)
        assert entry["status"] == "filled"
        assert entry["to_trigger_order_id_0"] == child["order_id"]
        assert (child["status"], child["trigger_status"], child["base_size"]) == ("open", "mark-price", 100)
        assert (child["parent_order_index"], child["remaining_base_amount"]) == (entry["order_index"], "0.0100")

        # a resting entry: its child waits ("pending", "parent-order"); cancelling the unfilled entry cancels it
        low = max(m.bids) // 2
        await sent(send, s.sign_create_grouped_orders(s.GROUPING_TYPE_ONE_TRIGGERS_THE_OTHER, [
            order(coi=31, base=100, price=low, tif=2),
            order(coi=32, price=low - 10000, ask=1, typ=2, tif=0, reduce=1, trigger=low - 5000)], **kw(sim)))
        await executed(sim)
        entry, child = by_coi(sim, 31), by_coi(sim, 32)
        assert (entry["status"], child["status"], child["trigger_status"]) == ("open", "pending", "parent-order")
        active = await get("/api/v1/accountActiveOrders", account_index=str(sim.account_index), market_id="0",
                           auth=_token(sim))
        assert {o["client_order_index"] for o in active["orders"]} >= {31, 32}
        assert m.bids.get(low - 10000, 0) == 0 and m.asks.get(low - 10000, 0) == 0  # the child is not in the book
        await sent(send, s.sign_cancel_order(ETH, entry["order_index"], **kw(sim)))
        await executed(sim)
        assert (entry["status"], child["status"]) == ("canceled", "canceled")


def _token(sim):
    return f"{int(time.time()) + 3600}:{sim.account_index}:{sim.api_key_index}:{'0' * 160}"


async def test_oco_one_triggering_cancels_the_other():
    async with rig() as (sim, s, send, get):
        m = sim.markets[ETH]
        await sent(send, s.sign_create_order(ETH, 41, 100, min(m.asks) + 5000, 0, 1, 0, 0, 0, 0, **kw(sim)))
        await executed(sim)
        assert sim.orders.positions[ETH] == 100
        mid = m.mid
        # take-profit sell already reached (mid >= its trigger), stop-loss far below: the TP triggers next block
        await sent(send, s.sign_create_grouped_orders(s.GROUPING_TYPE_ONE_CANCELS_THE_OTHER, [
            order(coi=42, price=mid - 20000, ask=1, typ=4, tif=0, reduce=1, trigger=mid - 10000),
            order(coi=43, price=mid // 3, ask=1, typ=2, tif=0, reduce=1, trigger=mid // 2)], **kw(sim)))
        await executed(sim)
        tp, sl = by_coi(sim, 42), by_coi(sim, 43)
        assert (tp["to_cancel_order_id_0"], sl["to_cancel_order_id_0"]) == (sl["order_id"], tp["order_id"])
        await wait_for(lambda: tp["status"] != "open", timeout=5)
        assert (tp["status"], tp["filled_base_amount"]) == ("filled", "0.0100")  # sized by the position
        assert sl["status"] == "canceled"
        assert sim.orders.positions[ETH] == 0


async def test_otoco_links_both_children_and_the_pair_cancels():
    async with rig() as (sim, s, send, get):
        m = sim.markets[ETH]
        ask = min(m.asks)
        await sent(send, s.sign_create_grouped_orders(s.GROUPING_TYPE_ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER, [
            ioc_buy(51, ask),
            order(coi=52, price=ask * 3, ask=1, typ=4, tif=0, reduce=1, trigger=ask * 2),
            order(coi=53, price=ask // 3, ask=1, typ=2, tif=0, reduce=1, trigger=ask // 2)], **kw(sim)))
        await executed(sim)
        entry, tp, sl = by_coi(sim, 51), by_coi(sim, 52), by_coi(sim, 53)
        assert (entry["to_trigger_order_id_0"], entry["to_trigger_order_id_1"]) == (tp["order_id"], sl["order_id"])
        assert [o["status"] for o in (entry, tp, sl)] == ["filled", "open", "open"]
        await sent(send, s.sign_cancel_order(ETH, tp["order_index"], **kw(sim)))
        await executed(sim)
        assert (tp["status"], sl["status"]) == ("canceled", "canceled")


async def test_an_invalid_group_is_dropped_without_an_order():
    # the signer itself enforces the grouping rules (sides, types, one market); a market the venue does not list
    # is what it lets through
    async with rig() as (sim, s, send, get):
        await sent(send, s.sign_create_grouped_orders(s.GROUPING_TYPE_ONE_TRIGGERS_THE_OTHER, [
            order(market=7, coi=61, base=100, price=100000, tif=2),
            order(market=7, coi=62, price=90000, ask=1, typ=2, tif=0, reduce=1, trigger=95000)], **kw(sim)))
        await executed(sim)
        assert not [o for o in sim.orders.orders.values() if o["client_order_index"] in (61, 62)]
        assert sim.orders.dropped[-1] == (61, "invalid order group")


def signed_info(signed) -> dict:
    return json.loads(signed[1])


async def test_malformed_fields_get_21101_and_keep_the_nonce():
    async with rig() as (sim, s, send, get):
        base = nonce(sim)

        async def refused(tx_type, info, code=21101):
            status, body = await send((tx_type, json.dumps(info), None, None))
            assert (status, body["code"]) == (400, code), body
        t = signed_info(s.sign_transfer_same_master_account(1, 3, 0, 0, 1, 0, "0x" + "00" * 32, **kw(sim)))
        await refused(12, {**t, "Memo": [0] * 31})
        await refused(12, {**t, "Memo": "00" * 32})
        await refused(12, {k: v for k, v in t.items() if k != "FromAccountIndex"})
        await refused(12, {**t, "L1Sig": 5})
        g = signed_info(s.sign_create_grouped_orders(2, [order(price=1, ask=1, typ=4, tif=0, reduce=1, trigger=1),
                                                         order(price=1, ask=1, typ=2, tif=0, reduce=1, trigger=1)],
                                                     **kw(sim)))
        await refused(28, {**g, "Orders": g["Orders"][:1]})  # OCO of one order
        await refused(28, {**g, "Orders": [{**g["Orders"][0], "Price": "1"}, g["Orders"][1]]})
        await refused(28, {**g, "GroupingType": 9})
        lev = signed_info(s.sign_update_leverage(ETH, 2000, 0, **kw(sim)))
        await refused(20, {**lev, "InitialMarginFraction": 20.0})
        await refused(20, {k: v for k, v in lev.items() if k != "MarginMode"})
        await refused(99, lev, code=21100)
        assert nonce(sim) == base and not sim.txs
        await sent(send, (20, json.dumps(lev), None, None))  # the untouched one is taken
        assert nonce(sim) == base + 1


async def test_batch_of_new_types_shares_the_owner_rule():
    async with rig() as (sim, s, send, get):
        n = nonce(sim)
        a = s.sign_update_leverage(ETH, 2000, 0, nonce=n, api_key_index=sim.api_key_index)
        b = s.sign_withdraw(3, 0, 1_000_000, nonce=n + 1, api_key_index=sim.api_key_index)
        async with aiohttp.ClientSession() as http:
            async with http.post(sim.rest_url + "/api/v1/sendTxBatch",
                                 data={"tx_types": json.dumps([a[0], b[0]]),
                                       "tx_infos": json.dumps([a[1], b[1]])}) as r:
                assert r.status == 200, await r.text()
        await executed(sim)
        assert nonce(sim) == n + 2
        assert sim.collateral == 99999 and sim.account.imf(ETH) == 2000


async def test_skip_nonce_leaves_the_keys_nonce_and_needs_a_fresh_value():
    async with rig() as (sim, s, send, get):
        base, ms = nonce(sim), int(time.time() * 1000)
        await sent(send, s.sign_update_leverage(ETH, 2000, 0, skip_nonce=1, nonce=ms, api_key_index=sim.api_key_index))
        assert nonce(sim) == base  # not consumed
        status, body = await send(s.sign_update_leverage(ETH, 2500, 0, skip_nonce=1, nonce=ms,
                                                         api_key_index=sim.api_key_index))
        assert (status, body["code"]) == (400, 21104)  # the same skip-nonce value again
        await sent(send, s.sign_update_leverage(ETH, 2500, 0, skip_nonce=1, nonce=ms + 1,
                                                api_key_index=sim.api_key_index))
        # a transaction with an L1 signature takes the sequential nonce even when it asks to skip
        status, body = await send(s.sign_change_api_key(ETH_KEY, lighter.signer_client.create_api_key()[1],
                                                        skip_nonce=1, nonce=ms + 2, api_key_index=sim.api_key_index))
        assert (status, body["code"]) == (400, 21104)
        await executed(sim)
        assert sim.account.imf(ETH) == 2500 and nonce(sim) == base


def test_api_key_index_flag_and_bounds():
    import subprocess
    import sys
    proc = subprocess.Popen([sys.executable, "-m", "engine.sim.lighter", "--port", "0", "--api-key-index", "7"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        assert info["api_key_index"] == 7
        import urllib.request
        with urllib.request.urlopen(f"{info['rest_url']}/api/v1/nextNonce?account_index={info['account_index']}"
                                    "&api_key_index=7", timeout=10) as r:
            assert json.loads(r.read())["nonce"] == 1  # the throwaway key lives on index 7
    finally:
        proc.terminate()
        proc.wait(10)
    bad = subprocess.run([sys.executable, "-m", "engine.sim.lighter", "--api-key-index", "255"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--api-key-index: not an API key index 0..254: '255'" in bad.stderr
    with pytest.raises(ValueError, match="api_key_index"):
        LighterSimulator(api_key_index=255)
