"""The futures simulator's streams over real sockets: the split routes (/public, /market, /private) and the silence
of a stream on the wrong route, depth ``pu`` chaining and a book synced from it, user data (funding settlement
while positioned, MARGIN_CALL and a liquidation, listenKey expiry and keepalive), and the stream faults."""
import contextlib
import time
from decimal import Decimal as D

import aiohttp

from engine.sim.binance_futures import BinanceFuturesSimulator
from helpers import wait_for
from test_sim_binance_futures_client import Api, Listener


@contextlib.asynccontextmanager
async def running(**kw):
    async with BinanceFuturesSimulator(seed=5, **kw) as sim:
        async with aiohttp.ClientSession() as s:
            yield sim, Api(sim, s), s


def data(m):
    return m.get("data", m)


async def test_streams_on_their_routes_and_silence_on_the_wrong_one():
    async with running() as (sim, api, s):
        u = sim.ws_url
        async with Listener(s, f"{u}/market/ws/btcusdt@markPrice@1s") as mark_ok, \
                Listener(s, f"{u}/public/ws/btcusdt@markPrice@1s") as mark_wrong, \
                Listener(s, f"{u}/ws/btcusdt@aggTrade") as agg_unrouted, \
                Listener(s, f"{u}/market/ws/btcusdt@aggTrade") as agg_ok, \
                Listener(s, f"{u}/market/ws/btcusdt@depth@100ms") as depth_wrong, \
                Listener(s, f"{u}/ws/btcusdt@depth@100ms") as depth_unrouted, \
                Listener(s, f"{u}/public/stream?streams=btcusdt@bookTicker/btcusdt@kline_1m") as mixed:
            await wait_for(lambda: len(mark_ok.msgs) >= 2 and len(agg_ok.msgs) >= 3 and len(mixed.msgs) >= 3
                           and len(depth_unrouted.msgs) >= 3)
            assert mark_wrong.msgs == [] and agg_unrouted.msgs == [] and depth_wrong.msgs == []
            mp = mark_ok.msgs[-1]
            assert mp["e"] == "markPriceUpdate" and D(mp["p"]) > 0 and mp["r"] == "0.00010000" and mp["T"] > 0
            a = agg_ok.msgs[-1]
            assert a["e"] == "aggTrade" and {"a", "p", "q", "f", "l", "T", "m"} <= set(a)
            assert depth_unrouted.msgs[-1]["e"] == "depthUpdate"  # no route: served as /public
            # /public carries bookTicker but not kline: only the bookTicker half of the combined stream arrives
            assert {m["stream"] for m in mixed.msgs} == {"btcusdt@bookTicker"}
            assert data(mixed.msgs[-1])["e"] == "bookTicker"


async def test_live_subscribe_list_and_unsubscribe():
    async with running() as (sim, api, s):
        async with Listener(s, f"{sim.ws_url}/market/ws") as c:
            await c.send({"method": "SUBSCRIBE", "params": ["ethusdt@kline_1m", "ethusdt@markPrice@1s"], "id": 1})
            await c.send({"method": "LIST_SUBSCRIPTIONS", "id": 2})
            await wait_for(lambda: {"result": ["ethusdt@kline_1m", "ethusdt@markPrice@1s"], "id": 2} in c.msgs)
            assert {"result": None, "id": 1} in c.msgs
            await wait_for(lambda: c.events("kline") and c.events("markPriceUpdate"))
            k = c.events("kline")[-1]["k"]
            assert k["i"] == "1m" and k["T"] - k["t"] == 59_999
            await c.send({"method": "NOPE", "id": 3})
            await wait_for(lambda: any(m.get("code") == 2 and m.get("id") == 3 for m in c.msgs))


async def test_depth_pu_chaining_and_a_book_synced_from_it():
    async with running() as (sim, api, s):
        url = f"{sim.ws_url}/public/stream?streams=btcusdt@depth@100ms/btcusdt@depth@500ms"
        async with Listener(s, url) as c:
            await wait_for(lambda: len(c.msgs) >= 3)
            snap = await api.ok("GET", "/fapi/v1/depth", signed=False, symbol="BTCUSDT", limit=1000)
            await wait_for(lambda: sum(m["stream"].endswith("500ms") for m in c.msgs) >= 4)
            sim.paused = True
            m = sim.exchange.markets["BTCUSDT"]
            await wait_for(lambda: any(data(x)["u"] == m.last_u for x in c.msgs if x["stream"].endswith("100ms")))
            for name in ("btcusdt@depth@100ms", "btcusdt@depth@500ms"):
                evs = [data(x) for x in c.msgs if x["stream"] == name]
                assert all(b["pu"] == a["u"] for a, b in zip(evs, evs[1:])), name
                assert all(e["U"] <= e["u"] for e in evs)
            fast = [data(x) for x in c.msgs if x["stream"] == "btcusdt@depth@100ms"]
            assert any(b["U"] > a["u"] + 1 for a, b in zip(fast, fast[1:]))  # U jumps; only pu chains
            # the futures sync: drop u < lastUpdateId, first kept has U <= lastUpdateId <= u, then apply
            L = snap["lastUpdateId"]
            bids = {p: q for p, q in snap["bids"]}
            asks = {p: q for p, q in snap["asks"]}
            kept = [e for e in fast if e["u"] >= L]
            assert kept[0]["U"] <= L <= kept[0]["u"]
            for e in kept:
                for side, book in (("b", bids), ("a", asks)):
                    for p, q in e[side]:
                        if D(q) == 0:
                            book.pop(p, None)
                        else:
                            book[p] = q
            true_bids = {f"{m.px(k):f}": f"{q:f}" for k, q in m.bids.items()}
            true_asks = {f"{m.px(k):f}": f"{q:f}" for k, q in m.asks.items()}
            assert bids == true_bids and asks == true_asks


async def test_dropped_depth_link_breaks_the_pu_chain():
    async with running() as (sim, api, s):
        async with Listener(s, f"{sim.ws_url}/public/ws/btcusdt@depth@100ms") as c:
            await wait_for(lambda: len(c.msgs) >= 2)
            sim.faults.drop_diffs = 1
            await wait_for(lambda: sim.faults.drop_diffs == 0 and len(c.msgs) >= 6)
            assert any(b["pu"] != a["u"] for a, b in zip(c.msgs, c.msgs[1:]))


async def listen_key(api) -> str:
    return (await api.ok("POST", "/fapi/v1/listenKey", signed=False, key=True))["listenKey"]


async def test_funding_settles_while_positioned():
    async with running(funding_interval_s=1.0) as (sim, api, s):
        key = await listen_key(api)
        async with Listener(s, f"{sim.ws_url}/private/ws?listenKey={key}") as user:
            sim.paused = True
            m = sim.exchange.markets["BTCUSDT"]
            m.funding_rate = D("0.00100000")
            await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.100")
            wallet = sim.exchange.account.wallet
            await wait_for(lambda: user.events("ACCOUNT_UPDATE") and
                           any(e["a"]["m"] == "FUNDING_FEE" for e in user.events("ACCOUNT_UPDATE")))
            ev = next(e for e in user.events("ACCOUNT_UPDATE") if e["a"]["m"] == "FUNDING_FEE")
            fee = -D("0.100") * m.mark() * D("0.001")  # a long pays a positive rate
            assert D(ev["a"]["B"][0]["bc"]) == fee and ev["a"]["P"] == []  # cross: balances only
            assert D(ev["a"]["B"][0]["wb"]) == wallet + fee
            hist = await api.ok("GET", "/fapi/v1/fundingRate", signed=False, symbol="BTCUSDT")
            assert hist and hist[-1]["fundingRate"] == "0.00100000"
            income = await api.ok("GET", "/fapi/v1/income", incomeType="FUNDING_FEE")
            assert D(income[0]["income"]) == fee


async def test_liquidation_is_reported_and_clears_the_position():
    async with running(wallet="1000") as (sim, api, s):
        key = await listen_key(api)
        async with Listener(s, f"{sim.ws_url}/private/ws/{key}") as user:
            sim.paused = True
            await api.ok("POST", "/fapi/v1/leverage", symbol="BTCUSDT", leverage=50)
            await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.500")
            pos = await api.position()
            liq = D(pos["liquidationPrice"])
            assert D("50000") < liq < D(pos["entryPrice"])
            m = sim.exchange.markets["BTCUSDT"]
            m.move_to((liq * D("1.0005")).quantize(m.spec.tick))  # close to it: a margin call, no liquidation
            await wait_for(lambda: user.events("MARGIN_CALL"))
            assert user.events("MARGIN_CALL")[0]["p"][0]["s"] == "BTCUSDT"
            assert D((await api.position())["positionAmt"]) == D("0.5")
            m.move_to((liq * D("0.99")).quantize(m.spec.tick))
            await wait_for(lambda: any(e["o"]["o"] == "LIQUIDATION" for e in user.events("ORDER_TRADE_UPDATE")))
            lq = next(e["o"] for e in user.events("ORDER_TRADE_UPDATE") if e["o"]["o"] == "LIQUIDATION")
            assert lq["c"].startswith("autoclose-") and lq["X"] == "FILLED" and lq["S"] == "SELL"
            assert lq["z"] == "0.500" and D(lq["rp"]) < 0
            await wait_for(lambda: any(p["pa"] == "0" for e in user.events("ACCOUNT_UPDATE") for p in e["a"]["P"]))
            assert D((await api.position())["positionAmt"]) == 0
            assert sim.exchange.account.wallet < D("1000")


async def test_listen_key_expiry_event_then_silence():
    async with running(listen_key_ttl_s=0.5) as (sim, api, s):
        key = await listen_key(api)
        assert await listen_key(api) == key  # POST again: the same key, extended
        async with Listener(s, f"{sim.ws_url}/private/ws/{key}") as user:
            await wait_for(lambda: user.events("listenKeyExpired"))
            assert user.events("listenKeyExpired")[0]["listenKey"] == key
            assert await api.code("PUT", "/fapi/v1/listenKey", signed=False, key=True) == -1125
            far = sim.exchange.markets["BTCUSDT"].mark() * D("0.96")
            await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                         quantity="0.010", price=f"{far:.1f}")
            n = len(user.msgs)
            new_key = await listen_key(api)
            assert new_key != key
            async with Listener(s, f"{sim.ws_url}/private/ws/{new_key}") as fresh:
                await api.ok("DELETE", "/fapi/v1/allOpenOrders", symbol="BTCUSDT")
                await wait_for(lambda: fresh.events("ORDER_TRADE_UPDATE"))
            assert len(user.msgs) == n  # the expired key's socket heard nothing more


async def test_listen_key_keepalive_extends_and_user_data_only_on_private():
    async with running(listen_key_ttl_s=3600) as (sim, api, s):
        key = await listen_key(api)
        sim.exchange.listen_key_expires -= 3_000_000  # 50 min of the hour gone
        assert (await api.ok("PUT", "/fapi/v1/listenKey", signed=False, key=True))["listenKey"] == key
        assert sim.exchange.listen_key_expires > time.time() * 1000 + 3_000_000  # a fresh hour
        async with Listener(s, f"{sim.ws_url}/private/stream?listenKey={key}") as user, \
                Listener(s, f"{sim.ws_url}/ws/{key}") as unrouted:
            await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.010")
            await wait_for(lambda: user.events("ORDER_TRADE_UPDATE") and user.events("ACCOUNT_UPDATE"))
            assert user.msgs[0]["stream"] == key
            acct = user.events("ACCOUNT_UPDATE")[0]["data"]["a"]
            assert acct["m"] == "ORDER" and acct["P"][0]["pa"] == "0.010" and acct["P"][0]["ps"] == "BOTH"
            assert unrouted.msgs == []
        await api.ok("DELETE", "/fapi/v1/listenKey", signed=False, key=True)
        assert await api.code("PUT", "/fapi/v1/listenKey", signed=False, key=True) == -1125


async def test_stream_faults_disconnect_and_stall():
    async with running() as (sim, api, s):
        async with Listener(s, f"{sim.ws_url}/public/ws/btcusdt@depth@100ms") as c, \
                Listener(s, f"{sim.ws_url}/market/ws/btcusdt@aggTrade") as other:
            await wait_for(lambda: len(c.msgs) >= 2)
            sim.faults.stall_streams = True
            n = len(c.msgs)
            await wait_for(lambda: any(len(x.queue._queue) >= 3 for x in sim.streams.conns if x.route == "public"))
            assert len(c.msgs) <= n + 1  # at most the frame already in flight
            sim.faults.stall_streams = False
            await wait_for(lambda: len(c.msgs) >= n + 3)  # the held frames arrive, in order
            assert all(b["pu"] == a["u"] for a, b in zip(c.msgs, c.msgs[1:]))
            assert await sim.disconnect_streams("public") == 1
            await wait_for(lambda: c.closed)
            assert not other.closed


async def test_isolated_funding_carries_its_position_and_isolated_liquidation_loses_only_its_margin():
    async with running(funding_interval_s=1.0) as (sim, api, s):
        key = await listen_key(api)
        async with Listener(s, f"{sim.ws_url}/private/ws/{key}") as user:
            sim.paused = True
            await api.ok("POST", "/fapi/v1/marginType", symbol="ETHUSDT", marginType="ISOLATED")
            await api.ok("POST", "/fapi/v1/leverage", symbol="ETHUSDT", leverage=20)
            await api.ok("POST", "/fapi/v1/order", symbol="ETHUSDT", side="SELL", type="MARKET", quantity="1.000")
            await wait_for(lambda: any(e["a"]["m"] == "FUNDING_FEE" for e in user.events("ACCOUNT_UPDATE")))
            ev = next(e for e in user.events("ACCOUNT_UPDATE") if e["a"]["m"] == "FUNDING_FEE")
            assert [p["s"] for p in ev["a"]["P"]] == ["ETHUSDT"] and ev["a"]["P"][0]["mt"] == "isolated"
            assert D(ev["a"]["B"][0]["bc"]) > 0  # a short receives a positive rate
            pos = await api.position("ETHUSDT")
            margin, liq = D(pos["isolatedWallet"]), D(pos["liquidationPrice"])
            assert liq > D(pos["entryPrice"])
            wallet = sim.exchange.account.wallet
            m = sim.exchange.markets["ETHUSDT"]
            m.move_to((liq * D("1.05")).quantize(m.spec.tick))  # far past it
            await wait_for(lambda: any(e["o"]["o"] == "LIQUIDATION" for e in user.events("ORDER_TRADE_UPDATE")))
            assert D((await api.position("ETHUSDT"))["positionAmt"]) == 0
            assert wallet - sim.exchange.account.wallet <= margin + D("0.00000001")


async def test_stop_limit_triggers_on_the_last_price_and_rests_as_a_limit():
    async with running() as (sim, api, s):
        sim.paused = True
        m = sim.exchange.markets["BTCUSDT"]
        last = m.last_price()
        o = await api.ok("POST", "/fapi/v1/order", symbol="BTCUSDT", side="BUY", type="STOP", timeInForce="GTC",
                         quantity="0.010", stopPrice=f"{last + 100:.1f}", price=f"{last + 90:.1f}")
        assert o["type"] == "STOP" and o["status"] == "NEW"
        m.move_to(last + 200)
        m.record_trade(last + 200, D("0.001"), False, 0)  # the last price reaches the stop
        sim.exchange.step()
        q = await api.ok("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=o["orderId"])
        assert q["type"] == "LIMIT" and q["origType"] == "STOP" and q["status"] == "NEW"  # 90 under the market
        tp = await api.code("POST", "/fapi/v1/order", symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT_MARKET",
                            quantity="0.010", stopPrice=f"{last:.1f}")
        assert tp == -2021  # a SELL take-profit below the last price would trigger at once


async def test_expire_listen_key_fault_action():
    async with running() as (sim, api, s):
        key = await listen_key(api)
        async with Listener(s, f"{sim.ws_url}/private/ws/{key}") as user:
            sim.expire_listen_key()
            await wait_for(lambda: user.events("listenKeyExpired"))
            assert await api.code("PUT", "/fapi/v1/listenKey", signed=False, key=True) == -1125
            assert await listen_key(api) != key  # a new key after expiry
