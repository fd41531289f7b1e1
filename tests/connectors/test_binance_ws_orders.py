"""Binance spot order entry over the WebSocket API against the simulator's /ws-api/v3 (both event loops).

Logon with an Ed25519 key, per-request HMAC and Ed25519 signatures, place/cancel/cancelReplace/amend,
open orders and account over the socket; the answers' rateLimits in the connector's budget; a socket cut
with an order in flight and -1007 reconciled to exactly one order; REST while the socket is down; keys never
printed.
"""
import asyncio
import base64
import logging
import time
from decimal import Decimal

import pytest
from binance_env import binance
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from helpers import wait_for

from engine.connectors.binance.auth import Ed25519Key
from engine.connectors.binance.settings import BinanceSettings
from engine.models import OrderStatus

ED_API_KEY = "ed25519" + "k" * 57


def new_key():
    k = Ed25519PrivateKey.generate()
    pem = k.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    seed = base64.b64encode(k.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())).decode()
    pub = k.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw)
    return pem, seed, pub


def ws_conn(ed=None, **kw):
    """binance(...) kwargs for a connector using the WS API; ``ed`` = (private key text, public key)."""
    conn_kw = {"order_entry": "ws", **kw}
    if ed is not None:
        conn_kw.update(ed25519_api_key=ED_API_KEY, ed25519_private_key=ed[0])
    return conn_kw


async def connected(sim, conn, pub=None):
    if pub is not None:
        sim.wsapi.add_ed25519_key(ED_API_KEY, pub)
    await conn.connect()
    assert conn.ws_api.up
    return conn


def venue_orders(sim, cid):
    return [o for o in sim.exchange.orders.values() if o.client_id == cid]


async def test_logon_with_ed25519_place_amend_cancel_replace_cancel_over_ws_api():
    pem, _, pub = new_key()
    async with binance(connect=False, **ws_conn((pem, pub))) as (sim, c):
        await connected(sim, c, pub)
        assert c.ws_api.logged_on and sim.wsapi.calls["session.logon"] == 1
        rest_before = sim.rest.calls if hasattr(sim.rest, "calls") else None
        o = await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000")
        assert o.status is OrderStatus.OPEN and sim.wsapi.calls["order.place"] == 1
        assert venue_orders(sim, o.client_order_id)[0].order_id == int(o.order_id)
        amended = await c.amend_keep_priority("BTC-USDT", "0.005", order_id=o.order_id)
        assert amended.quantity == Decimal("0.00500") and sim.wsapi.calls["order.amend.keepPriority"] == 1
        assert sim.exchange.orders[int(o.order_id)].order_id == int(o.order_id)
        old, new = await c.cancel_replace("BTC-USDT", "buy", "limit", "0.02", "49000", cancel_order_id=o.order_id)
        assert old.status is OrderStatus.CANCELED and new.status is OrderStatus.OPEN
        assert sim.wsapi.calls["order.cancelReplace"] == 1
        assert [x.order_id for x in await c.get_open_orders("BTC-USDT")] == [new.order_id]
        assert sim.wsapi.calls["openOrders.status"] == 1
        balances = await c.get_account()
        assert "USDT" in balances and sim.wsapi.calls["account.status"] == 1
        done = await c.cancel_order("BTC-USDT", client_order_id=new.client_order_id)
        assert done.status is OrderStatus.CANCELED and sim.wsapi.calls["order.cancel"] == 1
        assert rest_before is None or rest_before == sim.rest.calls


@pytest.mark.parametrize("kind", ["hmac", "ed25519"])
async def test_per_request_signatures_without_logon(kind):
    pem, _, pub = new_key()
    kw = ws_conn((pem, pub), ws_logon=False) if kind == "ed25519" else ws_conn()
    # with the Ed25519 key the HMAC secret is a wrong one: only Ed25519 signatures can place the order
    creds = (lambda sim: {"api_secret": "0" * 64}) if kind == "ed25519" else None
    async with binance(connect=False, creds=creds, **kw) as (sim, c):
        await connected(sim, c, pub)
        assert not c.ws_api.logged_on and sim.wsapi.calls["session.logon"] == 0
        o = await c.create_order("BTC-USDT", "sell", "limit", "0.01", "70000")
        assert o.status is OrderStatus.OPEN and sim.wsapi.calls["order.place"] == 1
        assert (await c.cancel_order("BTC-USDT", order_id=o.order_id)).status is OrderStatus.CANCELED


async def test_answers_rate_limits_feed_the_order_budget():
    async with binance(connect=False, **ws_conn()) as (sim, c):
        await connected(sim, c)
        for _ in range(7):  # orders counted by the venue that this connector never sent (another process)
            sim.exchange.order_limits.count()
        await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000")
        assert c.limits.status()["ORDERS/10S"]["used"] >= 8


async def test_socket_cut_with_order_in_flight_reconciles_to_exactly_one_order():
    async with binance(connect=False, **ws_conn()) as (sim, c):
        await connected(sim, c)
        sim.wsapi.rest.faults.order_timeout, sim.wsapi.rest.faults.order_timeout_s = 1, 1.0
        cid = "cut-in-flight-1"
        task = asyncio.ensure_future(c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000",
                                                    client_order_id=cid))
        await wait_for(lambda: venue_orders(sim, cid))  # placed at the venue, its answer held back
        await sim.wsapi.close_all()  # the socket is cut before the answer
        o = await task
        assert o.client_order_id == cid and o.status is OrderStatus.OPEN
        assert len(venue_orders(sim, cid)) == 1 and sim.wsapi.calls["order.place"] == 1
        assert c.order_deadline_ms(cid) is not None
        await wait_for(lambda: c.ws_api.up)  # and the socket comes back by itself
        assert c.ws_api.connects == 2
        await wait_for(lambda: len(sim.wsapi.sockets) == 1)  # the cut socket's handler has finished


async def test_minus_1007_is_unknown_and_reconciled_never_resent():
    async with binance(connect=False, **ws_conn()) as (sim, c):
        await connected(sim, c)
        sim.wsapi.rest.faults.order_5xx = 1
        o = await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000", client_order_id="unknown-1007")
        assert o.status is OrderStatus.OPEN and len(venue_orders(sim, "unknown-1007")) == 1
        assert sim.wsapi.calls["order.place"] == 1 and c.ws_api.unknown == 1


async def test_rest_while_the_socket_is_down_then_ws_again():
    async with binance(connect=False, **ws_conn()) as (sim, c):
        await connected(sim, c)
        url = c.ws_api.url
        c.ws_api.url = url.replace("/ws-api/v3", "/no-such-path")  # reconnects fail until restored
        await sim.wsapi.close_all()
        await wait_for(lambda: not c.ws_api.up)
        o = await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000")
        assert o.status is OrderStatus.OPEN and sim.wsapi.calls["order.place"] == 0
        assert len(venue_orders(sim, o.client_order_id)) == 1
        assert (await c.cancel_order("BTC-USDT", order_id=o.order_id)).status is OrderStatus.CANCELED
        c.ws_api.url = url
        await wait_for(lambda: c.ws_api.up, timeout=30)
        await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000")
        assert sim.wsapi.calls["order.place"] == 1


async def test_keys_never_in_logs_repr_or_errors(caplog):
    pem, seed, pub = new_key()
    caplog.set_level(logging.DEBUG)
    async with binance(connect=False, **ws_conn((seed, pub))) as (sim, c):
        await connected(sim, c, pub)
        sim.wsapi.rest.faults.order_5xx = 1  # an unknown outcome is logged
        await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000")
        with pytest.raises(Exception) as refused:
            await c.create_order("BTC-USDT", "buy", "limit", "100000", "50000")  # refused: an error text
        texts = [caplog.text, repr(c), str(c.ws_api), repr(c.ed25519), str(refused.value), repr(refused.value),
                 str(c.health()) if hasattr(c, "health") else ""]
        secret = sim.api_secret
    body = "".join(pem.split("\n")[1:-2])
    assert "outcome unknown" in caplog.text and "logged on" in caplog.text
    for t in texts:
        assert seed not in t and body[:40] not in t and secret not in t
    with pytest.raises(ValueError) as bad:
        Ed25519Key("k" * 64, seed[:-4] + "!!!!")
    assert seed[:20] not in str(bad.value)
    s = BinanceSettings.from_env({"BINANCE_ED25519_PRIVATE_KEY": seed, "BINANCE_ORDER_ENTRY": "ws"})
    assert seed not in repr(s) and seed not in str(s.summary()) and s.order_entry == "ws"


async def test_settings_choose_the_order_entry():
    pem, _, pub = new_key()
    async with binance(connect=False) as (sim, c):
        assert c.order_entry == "rest" and c.ws_api is None
    s = BinanceSettings.from_env({"BINANCE_API_KEY": "x" * 64, "BINANCE_API_SECRET": "y" * 64,
                                  "BINANCE_ORDER_ENTRY": "ws", "BINANCE_ED25519_API_KEY": ED_API_KEY,
                                  "BINANCE_ED25519_PRIVATE_KEY": pem})
    from engine.connectors.binance.client import BinanceConnector

    conn = BinanceConnector(s)
    assert conn.order_entry == "ws" and conn.ws_api is not None and conn.ws_api.logon
    assert conn.ed25519.public_bytes() == pub


async def test_deadline_is_set_when_the_ws_request_is_signed():
    async with binance(connect=False, **ws_conn()) as (sim, c):
        await connected(sim, c)
        c.limits.ban(2.0)  # the order waits in the rate limiter's queue before it is signed and sent
        t0 = time.time() * 1000
        o = await c.create_order("BTC-USDT", "buy", "limit", "0.01", "50000", client_order_id="late-1")
        assert sim.wsapi.calls["order.place"] == 1 and o.client_order_id == "late-1"
        # the deadline counts from the signing (after the 2 s wait), not from the call (half a second of
        # margin for the loop's timer and the ms rounding)
        assert c.order_deadline_ms("late-1") >= t0 + 1500 + c.auth.recv_window + 1000
