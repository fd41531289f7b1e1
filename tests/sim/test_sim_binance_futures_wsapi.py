"""The futures simulator's WS API (/ws-fapi/v1) over a real socket: HMAC-signed order.place / status / cancel with
the REST rules and codes, account reads, listenKey methods, signature and key refusals, Ed25519 session.logon
(signed here with the `cryptography` package), then unsigned orders on the logged-on session."""
import base64
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from decimal import Decimal as D

import aiohttp
import pytest

from engine.sim.binance_futures import BinanceFuturesSimulator

_ids = itertools.count(1)


def signed(params: dict, secret: str) -> dict:
    params = {**params, "timestamp": int(time.time() * 1000)}
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return {**params, "signature": hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}


@contextlib.asynccontextmanager
async def session():
    async with BinanceFuturesSimulator(seed=7) as sim:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(sim.ws_api_url) as ws:
                async def req(method, params=None):
                    rid = next(_ids)
                    await ws.send_str(json.dumps({"id": rid, "method": method, "params": params or {}}))
                    ans = json.loads((await ws.receive()).data)
                    assert ans["id"] == rid
                    return ans
                yield sim, req


async def test_orders_and_account_over_the_ws_api():
    async with session() as (sim, req):
        sim.paused = True
        key = sim.api_key
        far = f"{sim.exchange.markets['BTCUSDT'].mark() * D('0.96'):.1f}"
        order = {"apiKey": key, "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                 "quantity": "0.010", "price": far}
        placed = await req("order.place", signed(order, sim.api_secret))
        assert placed["status"] == 200 and placed["result"]["status"] == "NEW", placed
        assert placed["rateLimits"][0]["rateLimitType"] == "REQUEST_WEIGHT"
        oid = placed["result"]["orderId"]
        st = await req("order.status", signed({"apiKey": key, "symbol": "BTCUSDT", "orderId": oid}, sim.api_secret))
        assert st["result"]["orderId"] == oid
        gone = await req("order.cancel", signed({"apiKey": key, "symbol": "BTCUSDT", "orderId": oid}, sim.api_secret))
        assert gone["result"]["status"] == "CANCELED"
        again = await req("order.cancel", signed({"apiKey": key, "symbol": "BTCUSDT", "orderId": oid},
                                                 sim.api_secret))
        assert again["status"] == 400 and again["error"]["code"] == -2011
        mkt = await req("order.place", signed({"apiKey": key, "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET",
                                                "quantity": "0.010"}, sim.api_secret))
        assert mkt["result"]["status"] == "FILLED"
        pos = await req("v2/account.position", signed({"apiKey": key, "symbol": "BTCUSDT"}, sim.api_secret))
        assert D(pos["result"][0]["positionAmt"]) == D("0.010")
        bal = await req("account.balance", signed({"apiKey": key}, sim.api_secret))
        assert bal["result"][0]["asset"] == "USDT"
        hedge = await req("order.place", signed({**order, "positionSide": "LONG"}, sim.api_secret))
        assert hedge["error"]["code"] == -4061
        lk = await req("userDataStream.start", {"apiKey": key})
        assert lk["result"]["listenKey"] == sim.exchange.listen_key
        assert (await req("userDataStream.ping", {"apiKey": key}))["result"]["listenKey"] == sim.exchange.listen_key


async def test_refusals_over_the_ws_api():
    async with session() as (sim, req):
        order = {"apiKey": sim.api_key, "symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010"}
        assert (await req("order.place", order))["error"]["code"] == -1102  # no signature
        assert (await req("order.place", signed(order, "00" * 32)))["error"]["code"] == -1022
        assert (await req("order.place", signed({**order, "apiKey": "nope"}, sim.api_secret)))["error"]["code"] == -2015
        logon = await req("session.logon", signed({"apiKey": sim.api_key}, sim.api_secret))
        assert logon["error"]["code"] == -1002  # the venue logs on Ed25519 keys only
        assert (await req("no.such.method"))["error"]["code"] == -1100


async def test_ed25519_logon_then_unsigned_orders():
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    from cryptography.hazmat.primitives import serialization
    async with session() as (sim, req):
        sim.paused = True
        priv = ed.Ed25519PrivateKey.generate()
        pub = priv.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        ed_key = "ed" + "1" * 62
        sim.wsapi.add_ed25519_key(ed_key, pub)
        params = {"apiKey": ed_key, "timestamp": int(time.time() * 1000)}
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params)).encode()
        params["signature"] = base64.b64encode(priv.sign(payload)).decode()
        logon = await req("session.logon", params)
        assert logon["status"] == 200 and logon["result"]["apiKey"] == ed_key
        placed = await req("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010",
                                           "timestamp": int(time.time() * 1000)})
        assert placed["status"] == 200 and placed["result"]["status"] == "FILLED", placed
        await req("session.logout")
        after = await req("order.place", {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.010",
                                          "timestamp": int(time.time() * 1000)})
        assert after["status"] != 200
