"""The Lighter simulator's account side behaves like the venue, over real sockets.

Private REST reads and their auth errors, sendTxBatch and WS jsonapi/sendtx sequencing, market_stats and
account channel frames (checked against the captured shapes in tests/data/lighter/), order semantics
(triggers, modify, duplicate client order index, reduce-only) and the faults (rate limit, token expiry,
server disconnects). Transactions reuse the SDK-signed tx_info samples; the simulator checks shape, owner
key and nonce, not signatures.
"""
import asyncio
import json
import pathlib
import time

import aiohttp
import pytest

from engine.sim.lighter import LighterSimulator
from helpers import shape

DATA = pathlib.Path(__file__).parents[1] / "data/lighter"
CASES = json.loads((DATA / "sdk_signer_generated_txs.json").read_text())["cases"]


def load(name: str):
    return json.loads((DATA / name).read_text())


def token(sim, ahead_s: int = 3600) -> str:
    return f"{int(time.time()) + ahead_s}:{sim.account_index}:{sim.api_key_index}:{'0' * 160}"


def tx(sim, case: str, **fields) -> dict:
    """A signed sample tx_info re-owned for the simulator's key, with the next nonce unless given."""
    info = json.loads(CASES[case]["tx_info"])
    info.update(AccountIndex=sim.account_index, ApiKeyIndex=sim.api_key_index,
                Nonce=sim.nonces[(sim.account_index, sim.api_key_index)], ExpiredAt=int(time.time() * 1000) + 600_000)
    info.update(fields)
    return info


def bid(sim, coi: int, price: int) -> dict:
    """A post-only buy of 0.1 ETH (market 0) far enough below the 3000.00 start mid to rest."""
    return tx(sim, "create_order_limit_post_only", ClientOrderIndex=coi, Price=price)


async def send(s, sim, tx_type: int, info: dict):
    data = {"tx_type": str(tx_type), "tx_info": json.dumps(info)}
    async with s.post(sim.rest_url + "/api/v1/sendTx", data=data) as r:
        return r.status, await r.json()


def by_coi(sim, coi: int) -> list:
    return [o for o in sim.orders.orders.values() if o["client_order_index"] == coi]


async def until(cond, timeout: float = 3.0) -> None:
    async def poll():
        while not cond():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(poll(), timeout)


async def recv(ws, pred=lambda m: True, timeout: float = 3.0) -> dict:
    async def go():
        while True:
            m = json.loads(await ws.receive_str())
            if pred(m):
                return m
    return await asyncio.wait_for(go(), timeout)


def of_type(kind: str):
    return lambda m: m.get("type") == kind


async def subscribe(ws, channel: str, auth=None) -> dict:
    await ws.send_json({"type": "subscribe", "channel": channel, **({"auth": auth} if auth else {})})
    return await recv(ws, lambda m: m.get("type", "").startswith("subscribed/") or "error" in m)


async def test_private_rest_reads_auth_errors_and_shapes():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s:
        sim.paused = True
        q = f"?account_index={sim.account_index}"

        async def get(path, tok=None, in_header=True, extra=""):
            headers = {"authorization": tok} if tok and in_header else {}
            url = f"{sim.rest_url}/api/v1/{path}{q}{extra}" + (f"&auth={tok}" if tok and not in_header else "")
            async with s.get(url, headers=headers) as r:
                return r.status, await r.json()

        for path in ("accountActiveOrders", "accountLimits"):
            assert (await get(path))[1] == load("captured/rest_accountActiveOrders_error_20001_no_auth_testnet.json")
            assert await get(path, token(sim, 8 * 3600 + 60)) == (
                401, load("captured/rest_accountLimits_error_20013_deadline_over_8h_testnet.json"))

        assert (await send(s, sim, 14, bid(sim, 71, 290000)))[0] == 200
        await until(lambda: by_coi(sim, 71))
        want = load("captured/rest_accountActiveOrders_one_testnet.json")
        limits = load("captured/rest_accountLimits_ok_testnet.json")
        tok = token(sim)
        for in_header in (True, False):
            status, body = await get("accountActiveOrders", tok, in_header)
            assert status == 200 and set(body) == set(want) and len(body["orders"]) == 1
            row = body["orders"][0]
            # order_version (the field SignModifyOrder takes since the 1.1.8 signer) is newer than the capture
            assert set(row) == set(want["orders"][0]) | {"order_version"} and row["order_version"] == 0
            assert shape({k: v for k, v in row.items() if k != "order_version"}) == shape(want["orders"][0])
            assert (row["client_order_index"], row["price"], row["status"], row["time_in_force"]) == (
                71, "2900.00", "open", "post-only")
            status, body = await get("accountLimits", tok, in_header)
            assert status == 200 and shape(body) == shape(limits)

        assert (await send(s, sim, 15, tx(sim, "cancel_order", MarketIndex=0, Index=71)))[0] == 200
        await until(lambda: by_coi(sim, 71)[0]["status"] == "canceled")
        assert (await get("accountActiveOrders", tok))[1]["orders"] == []
        status, body = await get("accountInactiveOrders", tok, in_header=False, extra="&limit=10")
        assert status == 200
        assert [(o["client_order_index"], o["status"], o["remaining_base_amount"]) for o in body["orders"]] == [
            (71, "canceled", "0.0000")]


async def test_send_tx_batch_is_all_or_nothing():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        sim.paused = True
        key = (sim.account_index, sim.api_key_index)
        n = sim.nonces[key]
        await recv(ws, of_type("connected"))
        await subscribe(ws, f"account_all_orders/{sim.account_index}", token(sim))

        def order(i, nonce, **kw):
            return tx(sim, "create_order_limit_post_only", Nonce=nonce, ClientOrderIndex=500 + i,
                      Price=290000 - 100 * i, **kw)

        async def batch(infos, types=None):
            data = {"tx_types": json.dumps(types or [14] * len(infos)),
                    "tx_infos": json.dumps([json.dumps(i) for i in infos])}
            async with s.post(sim.rest_url + "/api/v1/sendTxBatch", data=data) as r:
                return r.status, await r.json()

        rejected = {21105: [order(0, n), order(1, n + 2)],
                    21121: [order(0, n), order(1, n + 1, ApiKeyIndex=sim.api_key_index + 1)],
                    21514: [order(i, n + i) for i in range(51)],
                    21101: [order(0, n), order(1, n + 1, BaseAmount="1000")]}  # not an integer field
        for code, infos in rejected.items():
            status, body = await batch(infos)
            assert (status, body["code"]) == (400, code)
            assert sim.txs == [] and sim.pending_txs == [] and sim.nonces[key] == n
        assert (await send(s, sim, 14, order(0, n, IsAsk=False)))[1]["code"] == 21101
        status, body = await batch([order(0, n), order(1, n + 1)])
        assert status == 200 and body["code"] == 200
        assert isinstance(body["tx_hash"], list) and len(set(body["tx_hash"])) == 2
        assert sim.nonces[key] == n + 2 and [t for t, _ in sim.txs] == [14, 14]
        upd = await recv(ws, of_type("update/account_all_orders"))
        assert [(o["client_order_index"], o["status"]) for o in upd["orders"]["0"]] == [(500, "open"), (501, "open")]
        # created and cancelled in one block: one row, in its final state
        status, _ = await batch([order(2, n + 2), tx(sim, "cancel_order", MarketIndex=0, Index=502, Nonce=n + 3)],
                                [14, 15])
        assert status == 200
        upd = await recv(ws, of_type("update/account_all_orders"))
        assert [(o["client_order_index"], o["status"]) for o in upd["orders"]["0"]] == [(502, "canceled")]
        assert sorted(o["client_order_index"] for o in sim.orders.active()) == [500, 501]


async def test_ws_sendtx_echoes_id_and_rejects_a_replayed_nonce():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        sim.paused = True
        await recv(ws, of_type("connected"))
        info = bid(sim, 77, 290000)
        await ws.send_json({"type": "jsonapi/sendtx", "data": {"id": "cl-1", "tx_type": 14, "tx_info": info}})
        ok = await recv(ws)
        assert set(ok) == {"code", "id", "predicted_execution_time_ms", "tx_hash", "type"}  # documented shape
        assert (ok["id"], ok["type"], ok["code"]) == ("cl-1", "jsonapi/sendtx", 200)
        assert isinstance(ok["tx_hash"], str) and ok["tx_hash"]
        await ws.send_json({"type": "jsonapi/sendtx", "data": {"id": "cl-2", "tx_type": 14, "tx_info": info}})
        assert await recv(ws) == {"error": {"code": 21104, "message": "invalid nonce"}, "id": "cl-2"}
        await until(lambda: by_coi(sim, 77))
        assert len(sim.txs) == 1 and by_coi(sim, 77)[0]["status"] == "open"


async def test_market_stats_frames_have_the_fixture_shapes():
    single = load("nautilus_trader/ws_market_stats_subscribed_single.json")
    every = load("nautilus_trader/ws_market_stats_update_all.json")
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        sim.paused = True
        await recv(ws, of_type("connected"))
        one = await subscribe(ws, "market_stats/0")
        assert set(one) == set(single)
        assert (one["channel"], one["type"]) == ("market_stats:0", "subscribed/market_stats")
        assert shape(one["market_stats"]) == shape(single["market_stats"])  # prices strings, volumes floats
        assert one["market_stats"]["mid_price"] == sim.markets[0].spec.px(sim.markets[0].mid)
        full = await subscribe(ws, "market_stats/all")
        assert set(full) == set(every) and (full["channel"], full["type"]) == ("market_stats:all",
                                                                               "subscribed/market_stats")
        assert set(full["market_stats"]) == {str(mid) for mid in sim.markets}
        for mid, row in full["market_stats"].items():
            assert set(every["market_stats"]["0"]) <= set(row) and shape(row) == shape(single["market_stats"])
            assert (row["market_id"], row["symbol"]) == (int(mid), sim.markets[int(mid)].spec.symbol)
        upd = await recv(ws, of_type("update/market_stats"))
        assert upd["channel"] in ("market_stats:0", "market_stats:all")


async def test_account_channels_report_a_fill_and_the_position():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        sim.paused = True
        acct, tok = sim.account_index, token(sim)
        await recv(ws, of_type("connected"))
        trades = await subscribe(ws, f"account_all_trades/{acct}", tok)
        want = load("captured/ws_private_account_all_trades_subscribed_empty_testnet.json")
        assert trades == {**want, "channel": f"account_all_trades:{acct}"}
        flat = load("captured/ws_private_account_all_positions_update_flat_testnet.json")
        pos = await subscribe(ws, f"account_all_positions/{acct}", tok)
        assert set(pos) == set(flat) and pos["type"] == "subscribed/account_all_positions"
        assert set(pos["positions"]) == {str(mid) for mid in sim.markets}
        assert all(shape(row) == shape(flat["positions"]["1"]) for row in pos["positions"].values())

        buy = tx(sim, "create_order_market_ioc", IsAsk=0, Price=310000, BaseAmount=1000, ClientOrderIndex=91)
        assert (await send(s, sim, 14, buy))[0] == 200
        fills = (await recv(ws, of_type("update/account_all_trades")))["trades"]["0"]
        row_keys = set(load("nautilus_trader/ws_account_all_trades_update.json")["trades"]["0"][0])
        assert all(set(f) == row_keys - {"taker_fee", "maker_fee"} for f in fills)  # fees omitted when zero
        assert {(f["bid_client_id"], f["bid_account_id"], f["is_maker_ask"]) for f in fills} == {(91, acct, True)}
        assert sum(int(f["size"].replace(".", "")) for f in fills) == 1000
        row = (await recv(ws, of_type("update/account_all_positions")))["positions"]["0"]
        assert shape(row) == shape(flat["positions"]["1"])
        assert sim.orders.positions[0] == 1000 and by_coi(sim, 91)[0]["status"] == "filled"
        assert (row["sign"], row["position"]) == (1, sim.markets[0].spec.sz(sim.orders.positions[0]))
        prices = [float(f["price"]) for f in fills]
        assert min(prices) <= float(row["avg_entry_price"]) <= max(prices)


async def test_stop_orders_wait_off_book_until_the_trigger():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s:
        sim.paused = True
        m = sim.markets[0]  # ETH, mid 3000.00
        book = (dict(m.bids), dict(m.asks))
        stop = tx(sim, "create_order_stop_loss_market_reduce_only", ReduceOnly=0, ClientOrderIndex=11,
                  TriggerPrice=295000, Price=290000)
        assert (await send(s, sim, 14, stop))[0] == 200
        # a stop-loss-limit IOC whose limit is far above the bids: once triggered it must not rest
        stop_ioc = tx(sim, "create_order_stop_loss_market_reduce_only", ReduceOnly=0, ClientOrderIndex=12,
                      Type=3, TimeInForce=0, TriggerPrice=295000, Price=310000)
        assert (await send(s, sim, 14, stop_ioc))[0] == 200
        await until(lambda: by_coi(sim, 11) and by_coi(sim, 12))
        o, o2 = by_coi(sim, 11)[0], by_coi(sim, 12)[0]
        assert (o["type"], o["status"], o["trigger_status"], o["trigger_price"]) == (
            "stop-loss", "open", "mark-price", "2950.00")
        assert (m.bids, m.asks) == book  # not in the public book
        m.mid = 295001
        sim.orders.check_triggers(m)
        assert o["trigger_status"] == "mark-price" and (m.bids, m.asks) == book
        m.mid = 295000
        sim.orders.check_triggers(m)
        assert (o["status"], o["trigger_status"], sim.orders.positions[0]) == ("filled", "ready", -1000)
        assert sum(book[0].values()) - sum(m.bids.values()) == 1000  # sold into the bids
        assert o2["status"] == "canceled" and 310000 not in m.asks


async def test_modify_moves_a_resting_order_in_the_book():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s:
        sim.paused = True
        m = sim.markets[0]
        before = dict(m.bids)
        bid = tx(sim, "create_order_limit_gtt_default_28d_expiry", IsAsk=0, Price=290000, ClientOrderIndex=21)
        assert (await send(s, sim, 14, bid))[0] == 200
        await until(lambda: by_coi(sim, 21))
        o = by_coi(sim, 21)[0]
        assert m.bids[290000] == before.get(290000, 0) + 1000 and o["order_version"] == 0
        mod = tx(sim, "modify_order", MarketIndex=0, Index=o["order_index"], BaseAmount=1500, Price=289000,
                 TriggerPrice=0)
        assert (await send(s, sim, 17, mod))[0] == 200
        await until(lambda: o["order_version"] == 1)
        assert m.bids.get(290000, 0) == before.get(290000, 0) and m.bids[289000] == before.get(289000, 0) + 1500
        assert (o["status"], o["price"], o["remaining_base_amount"]) == ("open", "2890.00", "0.1500")
        mod = tx(sim, "modify_order", MarketIndex=0, Index=21, BaseAmount=1500, Price=288000, TriggerPrice=0)
        assert (await send(s, sim, 17, mod))[0] == 200  # by client order index this time
        await until(lambda: o["order_version"] == 2)
        assert m.bids.get(289000, 0) == before.get(289000, 0) and m.bids[288000] == before.get(288000, 0) + 1500
        assert len(sim.orders.orders) == 1


async def test_duplicate_client_order_index_and_reduce_only_without_position():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        sim.paused = True
        m = sim.markets[0]
        await recv(ws, of_type("connected"))
        empty = load("captured/ws_private_account_all_orders_subscribed_empty_testnet.json")
        channel = f"account_all_orders:{sim.account_index}"
        assert await subscribe(ws, channel.replace(":", "/"), token(sim)) == {**empty, "channel": channel}
        assert (await send(s, sim, 14, bid(sim, 31, 290000)))[0] == 200
        upd = await recv(ws, of_type("update/account_all_orders"))
        assert [o["client_order_index"] for o in upd["orders"]["0"]] == [31]
        book = dict(m.bids)
        status, body = await send(s, sim, 14, bid(sim, 31, 289000))
        assert status == 200 and body["code"] == 200  # sequenced; the order never appears
        reduce = tx(sim, "create_order_limit_ioc", IsAsk=1, ReduceOnly=1, Price=290000, ClientOrderIndex=32)
        assert (await send(s, sim, 14, reduce))[0] == 200
        upd = await recv(ws, of_type("update/account_all_orders"))  # no report for the duplicate before this
        assert [(o["client_order_index"], o["status"]) for rows in upd["orders"].values() for o in rows] == [
            (32, "canceled-reduce-only")]
        assert [coi for coi, _ in sim.orders.dropped] == [31] and len(by_coi(sim, 31)) == 1
        assert by_coi(sim, 31)[0]["price"] == "2900.00" and m.bids == book  # nothing booked, nothing traded
        assert sim.orders.positions.get(0, 0) == 0 and len(sim.txs) == 3


async def test_rate_limit_fault():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s:
        sim.faults["rate_limit"] = 2
        got = []
        for _ in range(3):
            async with s.get(f"{sim.rest_url}/api/v1/nextNonce?account_index={sim.account_index}"
                             f"&api_key_index={sim.api_key_index}") as r:
                got.append((r.status, await r.json()))
        assert got == [(429, {"code": 23000, "message": "Too Many Requests!"})] * 2 + [(200, {"code": 200, "nonce": 1})]


async def test_auth_ttl_fault_ends_the_subscription():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url) as ws:
        sim.paused = True
        sim.faults["auth_ttl_s"] = 1
        tok = token(sim)  # its own deadline is an hour away: only the fault can end it now
        await recv(ws, of_type("connected"))
        assert (await subscribe(ws, f"account_all_orders/{sim.account_index}", tok))["type"] == (
            "subscribed/account_all_orders")
        assert (await send(s, sim, 14, bid(sim, 41, 290000)))[0] == 200
        assert (await recv(ws, of_type("update/account_all_orders")))["orders"]["0"][0]["client_order_index"] == 41
        err = await recv(ws)
        assert err["error"]["code"] == 20013 and set(err) == {"error"} and sim.stream.auth_expired == 1
        # ended by the fault's 1 s from first use (the simulator's own record), not a moment before it
        assert sim.tokens.expires_at(tok) == sim.tokens.first_seen[tok] + 1 <= time.time()
        assert (await send(s, sim, 14, bid(sim, 42, 289000)))[0] == 200
        await until(lambda: by_coi(sim, 42))
        with pytest.raises(asyncio.TimeoutError):  # no more updates on the expired subscription
            await recv(ws, timeout=0.5)
        async with s.get(f"{sim.rest_url}/api/v1/accountLimits?account_index={sim.account_index}",
                         headers={"authorization": tok}) as r:
            assert r.status == 401 and (await r.json())["code"] == 20013


async def test_disconnect_fault_closes_the_socket():
    async with LighterSimulator(seed=1) as sim, aiohttp.ClientSession() as s:
        async with s.ws_connect(sim.ws_url) as ws:
            await recv(ws, of_type("connected"))
            with pytest.raises(asyncio.TimeoutError):  # without the fault the socket stays open
                await asyncio.wait_for(ws.receive(), 0.7)
            sim.faults["disconnect_every_s"] = 0.5
            msg = await asyncio.wait_for(ws.receive(), 2)
            assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1001
        async with s.ws_connect(sim.ws_url) as ws:  # again on the next connection
            await recv(ws, of_type("connected"))
            msg = await asyncio.wait_for(ws.receive(), 2)
            assert msg.type == aiohttp.WSMsgType.CLOSE and ws.close_code == 1001
