"""lighter-sdk against the Lighter simulator, host pointed at it: the official SignerClient signs and sends
orders, cancels and auth tokens with the simulator's throwaway API key, and its REST client reads them back.

The simulator runs on a thread of its own (conftest's lighter_sim_thread): the SDK's signer makes blocking HTTP
calls (check_client), which would stall a simulator on the test's own loop.
"""
import asyncio
import contextlib
import time

import pytest

lighter = pytest.importorskip("lighter", reason="the lighter extra (lighter-sdk) is not installed")

from fidelity_env import CALL_TIMEOUT, shallow  # noqa: E402

ETH = 0  # the simulator's ETH perp market


def run_sdk(sim, body, private_key=None):
    """``body(signer, api)`` on a fresh loop with the SDK's SignerClient and ApiClient on the simulator; both closed."""
    async def main():
        signer = lighter.SignerClient(url=sim.rest_url, account_index=sim.account_index,
                                      api_private_keys={sim.api_key_index: private_key or sim.api_private_key})
        api = lighter.ApiClient(configuration=lighter.Configuration(host=sim.rest_url))
        try:
            return await asyncio.wait_for(body(signer, api), 3 * CALL_TIMEOUT)
        except (AssertionError, asyncio.TimeoutError):
            raise
        except Exception as e:
            raise shallow(e) from None
        finally:
            await signer.close()
            await api.close()
    return asyncio.run(main())


async def sent(call):
    """Await a SignerClient send; its RespSendTx, or fail with the error string it returned."""
    _, resp, err = await asyncio.wait_for(call, CALL_TIMEOUT)
    assert err is None, err
    assert resp.code == 200, resp
    return resp


async def until(read, pred, timeout=CALL_TIMEOUT):
    """Await ``read()`` until ``pred`` holds of its answer (transactions execute at the simulator's next block)."""
    end = time.monotonic() + timeout
    while True:
        got = await asyncio.wait_for(read(), CALL_TIMEOUT)
        if pred(got):
            return got
        assert time.monotonic() < end, f"condition not reached; last answer {got!r}"
        await asyncio.sleep(0.05)


async def best_bid(api) -> int:
    """The best bid of the ETH market as the signer's integer price."""
    order = lighter.OrderApi(api)
    details = (await order.order_book_details(market_id=ETH)).order_book_details[0]
    top = await order.order_book_orders(market_id=ETH, limit=1)
    return round(float(top.bids[0].price) * 10 ** details.price_decimals)


def test_signer_orders_cancels_and_auth_token(lighter_sim_thread):
    sim = lighter_sim_thread

    async def body(signer, api):
        assert await asyncio.wait_for(asyncio.to_thread(signer.check_client), CALL_TIMEOUT) is None
        token, err = signer.create_auth_token_with_expiry()
        assert err is None
        order = lighter.OrderApi(api)

        def active():
            return order.account_active_orders(authorization=token, account_index=sim.account_index, market_id=ETH)

        bid = await best_bid(api)
        far = bid // 2  # a bid at half the market rests: the random walk never trades down to it
        await sent(signer.create_order(market_index=ETH, client_order_index=7, base_amount=100, price=far,
                                       is_ask=False, order_type=signer.ORDER_TYPE_LIMIT,
                                       time_in_force=signer.ORDER_TIME_IN_FORCE_POST_ONLY,
                                       order_expiry=signer.DEFAULT_28_DAY_ORDER_EXPIRY))
        resting = (await until(active, lambda r: len(r.orders) == 1)).orders[0]
        assert (resting.client_order_index, resting.is_ask, resting.status) == (7, False, "open")
        await sent(signer.cancel_order(market_index=ETH, order_index=resting.order_index))
        await until(active, lambda r: r.orders == [])

        def inactive():
            return order.account_inactive_orders(authorization=token, account_index=sim.account_index, limit=10)

        assert [o.status for o in (await inactive()).orders if o.client_order_index == 7] == ["canceled"]

        await sent(signer.create_market_order(market_index=ETH, client_order_index=9, base_amount=100,
                                              avg_execution_price=bid + 1000, is_ask=False))
        done = await until(inactive, lambda r: any(o.client_order_index == 9 for o in r.orders))
        assert [o.status for o in done.orders if o.client_order_index == 9] == ["filled"]

        for i in (10, 11):
            await sent(signer.create_order(market_index=ETH, client_order_index=i, base_amount=100, price=far - i,
                                           is_ask=False, order_type=signer.ORDER_TYPE_LIMIT,
                                           time_in_force=signer.ORDER_TIME_IN_FORCE_POST_ONLY,
                                           order_expiry=signer.DEFAULT_28_DAY_ORDER_EXPIRY))
        await until(active, lambda r: len(r.orders) == 2)
        await sent(signer.cancel_all_orders(time_in_force=signer.CANCEL_ALL_TIF_IMMEDIATE, timestamp_ms=0))
        await until(active, lambda r: r.orders == [])
        assert sorted(o.status for o in (await inactive()).orders if o.client_order_index in (10, 11)) == \
            ["canceled", "canceled"]

    run_sdk(sim, body)


async def eth_position(api, sim):
    acct = (await lighter.AccountApi(api).account(by="index", value=str(sim.account_index))).accounts[0]
    return next(p for p in acct.positions if p.market_id == ETH)


def test_signer_update_leverage(lighter_sim_thread):
    sim = lighter_sim_thread

    async def body(signer, api):
        await sent(signer.update_leverage(ETH, signer.ISOLATED_MARGIN_MODE, 4))  # 10000 / 4 = 2500 bp
        pos = await until(lambda: eth_position(api, sim), lambda p: p.initial_margin_fraction == "25.00")
        assert pos.margin_mode == signer.ISOLATED_MARGIN_MODE
        await sent(signer.update_leverage(ETH, signer.CROSS_MARGIN_MODE, 20))
        pos = await until(lambda: eth_position(api, sim), lambda p: p.initial_margin_fraction == "5.00")
        assert pos.margin_mode == signer.CROSS_MARGIN_MODE
    run_sdk(sim, body)


def test_signer_update_margin(lighter_sim_thread):
    sim = lighter_sim_thread

    async def body(signer, api):
        await sent(signer.update_leverage(ETH, signer.ISOLATED_MARGIN_MODE, 10))
        await sent(signer.update_margin(ETH, 12.5, signer.ISOLATED_MARGIN_ADD_COLLATERAL))
        await until(lambda: eth_position(api, sim), lambda p: p.allocated_margin == "12.500000")
        await sent(signer.update_margin(ETH, 2.5, signer.ISOLATED_MARGIN_REMOVE_COLLATERAL))
        await until(lambda: eth_position(api, sim), lambda p: p.allocated_margin == "10.000000")
        await sent(signer.update_margin(ETH, 10, signer.ISOLATED_MARGIN_REMOVE_COLLATERAL))
        await sent(signer.update_leverage(ETH, signer.CROSS_MARGIN_MODE, 20))  # leave the shared sim as found
        await until(lambda: eth_position(api, sim), lambda p: p.margin_mode == signer.CROSS_MARGIN_MODE)
    run_sdk(sim, body)


def test_signer_create_grouped_orders(lighter_sim_thread):
    sim = lighter_sim_thread
    req = lighter.signer_client.CreateOrderTxReq

    async def body(signer, api):
        token, err = signer.create_auth_token_with_expiry()
        assert err is None
        far = await best_bid(api) // 2  # rests: the random walk never trades down to it

        def active():
            return lighter.OrderApi(api).account_active_orders(authorization=token, account_index=sim.account_index,
                                                               market_id=ETH)

        entry = req(MarketIndex=ETH, ClientOrderIndex=71, BaseAmount=100, Price=far, IsAsk=0, Type=0,
                    TimeInForce=signer.ORDER_TIME_IN_FORCE_POST_ONLY, ReduceOnly=0, TriggerPrice=0, OrderExpiry=-1)
        tp = req(MarketIndex=ETH, ClientOrderIndex=72, BaseAmount=0, Price=far * 3, IsAsk=1,
                 Type=signer.ORDER_TYPE_TAKE_PROFIT, TimeInForce=0, ReduceOnly=1, TriggerPrice=far * 2, OrderExpiry=-1)
        sl = req(MarketIndex=ETH, ClientOrderIndex=73, BaseAmount=0, Price=far // 3, IsAsk=1,
                 Type=signer.ORDER_TYPE_STOP_LOSS, TimeInForce=0, ReduceOnly=1, TriggerPrice=far // 2, OrderExpiry=-1)
        await sent(signer.create_grouped_orders(signer.GROUPING_TYPE_ONE_TRIGGERS_A_ONE_CANCELS_THE_OTHER,
                                                [entry, tp, sl]))
        got = await until(active, lambda r: len([o for o in r.orders if o.client_order_index in (71, 72, 73)]) == 3)
        rows = {o.client_order_index: o for o in got.orders}
        assert (rows[71].status, rows[71].to_trigger_order_id_0, rows[71].to_trigger_order_id_1) == \
            ("open", rows[72].order_id, rows[73].order_id)
        assert [(rows[i].status, rows[i].trigger_status, rows[i].parent_order_index) for i in (72, 73)] == \
            [("pending", "parent-order", rows[71].order_index)] * 2
        assert rows[72].to_cancel_order_id_0 == rows[73].order_id
        await sent(signer.cancel_order(market_index=ETH, order_index=rows[71].order_index))
        await until(active, lambda r: not [o for o in r.orders if o.client_order_index in (71, 72, 73)])
    run_sdk(sim, body)


def test_signer_with_a_wrong_key_is_refused(lighter_sim_thread):
    """A transaction signed with a key that is not the account's: 21120, as the venue answers (the simulator's
    Schnorr check, on for this simulator only: it costs ~30 ms a transaction)."""
    lighter_sim_thread.verify_signatures = True

    async def body(signer, api):
        bid = await best_bid(api)
        _, resp, err = await signer.create_order(market_index=ETH, client_order_index=8, base_amount=100,
                                                 price=bid - 50, is_ask=False, order_type=signer.ORDER_TYPE_LIMIT,
                                                 time_in_force=signer.ORDER_TIME_IN_FORCE_POST_ONLY,
                                                 order_expiry=signer.DEFAULT_28_DAY_ORDER_EXPIRY)
        assert resp is None and "21120" in str(err), (resp, err)
    wrong, _, err = lighter.signer_client.create_api_key()
    assert err is None
    run_sdk(lighter_sim_thread, body, private_key=wrong.removeprefix("0x"))


def _token(signer):
    return signer.create_auth_token_with_expiry()[0]


def _ms():
    return int(time.time() * 1000)


async def _tx_by_hash(s, api):
    """Send a post-only bid far under the book with the signer, then read its transaction back by hash."""
    price = await best_bid(api) // 2
    resp = await sent(s.create_order(market_index=ETH, client_order_index=12, base_amount=100, price=price,
                                     is_ask=False, order_type=s.ORDER_TYPE_LIMIT,
                                     time_in_force=s.ORDER_TIME_IN_FORCE_POST_ONLY,
                                     order_expiry=s.DEFAULT_28_DAY_ORDER_EXPIRY))
    got = await lighter.TransactionApi(api).tx(by="hash", value=resp.tx_hash)
    return got.hash == resp.tx_hash and got.type == 14


SERVED = {
    "account_orders": lambda sim, s, api: lighter.OrderApi(api).account_orders(
        authorization=_token(s), client_order_indexes="7", account_index=sim.account_index),
    "trades": lambda sim, s, api: lighter.OrderApi(api).trades(
        sort_by="timestamp", limit=10, authorization=_token(s), account_index=sim.account_index),
    "tx_by_hash": lambda sim, s, api: _tx_by_hash(s, api),
    "fundings": lambda sim, s, api: lighter.CandlestickApi(api).fundings(
        market_id=ETH, resolution="1h", start_timestamp=_ms() - 5 * 3_600_000, end_timestamp=_ms(), count_back=5),
    "funding_rates": lambda sim, s, api: lighter.FundingApi(api).funding_rates(),
    "exchange_stats": lambda sim, s, api: lighter.OrderApi(api).exchange_stats(),
    "asset_details": lambda sim, s, api: lighter.OrderApi(api).asset_details(),
}


@pytest.mark.parametrize("name", sorted(SERVED))
def test_served(lighter_sim_thread, name):
    async def body(signer, api):
        assert await asyncio.wait_for(SERVED[name](lighter_sim_thread, signer, api), CALL_TIMEOUT)
    run_sdk(lighter_sim_thread, body)


def test_candles_by_time_range(lighter_sim_thread):
    async def body(signer, api):
        now = _ms()
        bars = await lighter.CandlestickApi(api).candles(market_id=ETH, resolution="1m", start_timestamp=now - 600_000,
                                                         end_timestamp=now, count_back=0)
        assert bars.c
    run_sdk(lighter_sim_thread, body)


def test_ws_client_order_book_and_account_all(lighter_sim_thread):
    """lighter-sdk's WsClient (order_book/<id> and account_all/<account>, its only account stream): the book it
    keeps from the snapshot and updates is the simulator's book, and a fill reaches its account callback."""
    sim = lighter_sim_thread
    books, accounts = [], []

    def on_book(market_id, state):
        books.append((market_id, {side: [dict(lv) for lv in state[side]] for side in ("asks", "bids")}))

    async def wait(pred):
        end = time.monotonic() + CALL_TIMEOUT
        while not pred():
            assert time.monotonic() < end, f"not reached; {len(books)} book and {len(accounts)} account callbacks"
            await asyncio.sleep(0.02)

    async def body(signer, api):
        ws = lighter.WsClient(ws_url=sim.ws_url, order_book_ids=[ETH], account_ids=[sim.account_index],
                              on_order_book_update=on_book, on_account_update=lambda a, m: accounts.append((a, m)))
        task = asyncio.create_task(ws.run_async())
        try:
            await wait(lambda: len(books) >= 3 and accounts)  # the snapshot and two updates; the account snapshot
            account_id, snap = accounts[0]
            assert (account_id, snap["type"], snap["channel"]) == \
                (str(sim.account_index), "subscribed/account_all", f"account_all:{sim.account_index}")
            assert "0" in snap["positions"] and snap["assets"]["3"]["symbol"] == "USDC"

            sim.paused = True  # the book stops moving: what WsClient holds must become exactly the simulator's
            m = sim.markets[ETH]
            await asyncio.sleep(5 * sim.tick_s)  # let the frames in flight arrive
            want = {"asks": sorted((m.spec.px(p), m.spec.sz(q)) for p, q in m.levels("a")),
                    "bids": sorted((m.spec.px(p), m.spec.sz(q)) for p, q in m.levels("b"))}
            market_id, state = books[-1]
            assert market_id == "0"
            assert {side: sorted((lv["price"], lv["size"]) for lv in state[side]) for side in state} == want

            bid = await best_bid(api)
            await sent(signer.create_market_order(market_index=ETH, client_order_index=91, base_amount=100,
                                                  avg_execution_price=bid + 1000, is_ask=False))
            await wait(lambda: any(msg["type"] == "update/account_all" and any(
                t["bid_client_id"] == 91 for t in msg["trades"].get("0", [])) for _, msg in accounts))
            upd = next(msg for _, msg in accounts if msg["type"] == "update/account_all" and msg["trades"].get("0"))
            assert sum(int(t["size"].replace(".", "")) for t in upd["trades"]["0"]) == 100
            pos = await eth_position(api, sim)
            assert (upd["positions"]["0"]["position"], upd["positions"]["0"]["sign"]) == (pos.position, pos.sign)
        finally:
            sim.paused = False
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            if ws.ws is not None:
                await ws.ws.close()
    run_sdk(sim, body)
