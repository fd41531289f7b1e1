"""The Lighter simulator's own Schnorr/ECgFp5 verifier (engine/sim/lighter/{goldilocks,poseidon2,schnorr,tx_hash}.py)
against lighter-sdk's compiled signer as the oracle: the keys, messages and signatures it makes are what the
simulator derives and accepts; a changed field, another key or a changed signature is refused. Over sockets, a
simulator built with ``verify_signatures=True`` answers 21120 to a SignerClient holding a key the account never
registered, and sequences the same client's transactions with the right key.
"""
import asyncio
import base64
import json
import time

import pytest

from engine.sim.lighter import LighterSimulator
from engine.sim.lighter import goldilocks as gf
from engine.sim.lighter import schnorr
from engine.sim.lighter.poseidon2 import hash_no_pad, permute
from engine.sim.lighter.tx_hash import tx_message, verify_auth_token, verify_tx
from helpers import wait_for

ACCOUNT, KEY_INDEX = 281474976710608, 3


# --- field, hash and curve vectors from the public sources (docs/lighter.md "Signatures") ---

def test_frobenius_root_inverse_and_square_root():
    assert gf.FROB[1][1] == 1041288259238279555  # 3^((p-1)/5), the source's FP5_DTH_ROOT
    a = (5, 17, 2**63, 12345678901234567, gf.P - 1)
    assert gf.mul(a, gf.inv(a)) == gf.ONE5
    assert gf.power(a, gf.P) == gf.frobenius(a)
    r = gf.sqrt(gf.square(a))
    assert r in (a, gf.neg(a))
    assert gf.is_square(gf.square(a)) and not gf.is_square(schnorr.CURVE_B)
    assert gf.sqrt(schnorr.CURVE_B) is None


def test_poseidon2_matches_the_sources_vectors():
    state = [5417613058500526590, 2481548824842427254, 6473243198879784792, 1720313757066167274,
             2806320291675974571, 7407976414706455446, 1105257841424046885, 7613435757403328049,
             3376066686066811538, 5888575799323675710, 6689309723188675948, 2468250420241012720]
    assert permute(state) == [5364184781011389007, 15309475861242939136, 5983386513087443499, 886942118604446276,
                              14903657885227062600, 7742650891575941298, 1962182278500985790, 10213480816595178755,
                              3510799061817443836, 4610029967627506430, 7566382334276534836, 2288460879362380348]
    inputs = [2963773914414780088, 8389525300242074234, 3700959901615818008, 6116199383751757212,
              3418607418699599889, 8793277256263635044, 448623437464918480, 1857310021116627925,
              6145634616307237342, 1548353948794474539, 2318110128254703527, 8347759953730634762]
    assert hash_no_pad(inputs, 12) == [3627923032009111551, 1460752551327577353, 1084214837491058067,
                                       1841622875286057462, 3996252440506437984, 1276718204392552803,
                                       8564515621134952155, 9252927025993202701, 1147435538714642916,
                                       16407277821156164797, 11997661877740155273, 12485021000320141292]


def test_generator_is_the_sources_point():
    # the source gives the generator as the point (x_g, 4 x_g) whose x is not a square; the simulator carries
    # it as (b / x_g, ...), so the two x coordinates multiply to b
    x_g = (12883135586176881569, 4356519642755055268, 5248930565894896907, 2165973894480315022, 2448410071095648785)
    X, _, _ = schnorr.decode(schnorr.GENERATOR_W)
    assert gf.mul(gf.sub(X, schnorr._A_THIRD), x_g) == schnorr.CURVE_B
    assert schnorr.encode(schnorr._G) == schnorr.GENERATOR_W
    assert schnorr.encode(schnorr.multiply(schnorr._G, schnorr.N_ORDER - 1)) == gf.neg(schnorr.GENERATOR_W)
    assert schnorr.multiply(schnorr._G, schnorr.N_ORDER)[2] == gf.ZERO5  # n G is the neutral


def test_own_sign_and_verify_round_trip():
    sk = (123456789).to_bytes(40, "little")
    pk, msg = schnorr.public_key(sk), gf.to_bytes((1, 2, 3, 4, 5))
    sig = schnorr.sign(sk, msg, 987654321)
    assert schnorr.verify(pk, msg, sig)
    assert not schnorr.verify(pk, gf.to_bytes((1, 2, 3, 4, 6)), sig)
    assert not schnorr.verify(pk, msg, sig[:79])
    assert not schnorr.verify(b"\xff" * 40, msg, sig)  # limbs >= p: not a key


# --- lighter-sdk's signer as the oracle ---

lighter = pytest.importorskip("lighter", reason="the lighter extra (lighter-sdk) is not installed")
from lighter.signer_client import CreateOrderTxReq, create_api_key  # noqa: E402


def new_key():
    priv, pub, err = create_api_key()
    assert err is None
    return priv.removeprefix("0x"), pub.removeprefix("0x")


async def sign_async(priv, make, account=ACCOUNT):
    """``make(client)`` -> (tx_type, tx_info, tx_hash, err) from a SignerClient holding ``priv`` (no network)."""
    c = lighter.SignerClient("http://127.0.0.1:9", account, {KEY_INDEX: priv}, chain_id=304)
    try:
        tx_type, info, tx_hash, err = make(c)
    finally:
        await c.close()
    assert err is None, err
    return tx_type, json.loads(info), tx_hash


def signed(priv, make, account=ACCOUNT):
    return asyncio.run(sign_async(priv, make, account))


KW = {"nonce": 9, "api_key_index": KEY_INDEX}
SIGNED = {
    "create_order": lambda c: c.sign_create_order(0, 123, 1000, 405000, 1, 0, 1, **KW),
    "create_order_with_attributes": lambda c: c.sign_create_order(
        1, 5, 70, 3000, 0, 0, 2, integrator_account_index=5, integrator_taker_fee=10, integrator_maker_fee=3,
        skip_nonce=1, **KW),
    "trigger_order": lambda c: c.sign_create_order(0, 8, 1000, 405000, 1, 2, 0, trigger_price=400000, **KW),
    "cancel_order": lambda c: c.sign_cancel_order(0, 77, **KW),
    "cancel_all": lambda c: c.sign_cancel_all_orders(1, 1700000000000, **KW),
    "modify_order": lambda c: c.sign_modify_order(0, 77, 1000, 405000, **KW),
    "modify_order_version": lambda c: c.sign_modify_order(0, 77, 1000, 405000, order_version=3, **KW),
    "update_leverage": lambda c: c.sign_update_leverage(1, 500, 0, **KW),
    "update_margin": lambda c: c.sign_update_margin(1, 5_000_000_000_000, 1, **KW),
    "withdraw": lambda c: c.sign_withdraw(3, 0, 12345678901, **KW),
    "transfer": lambda c: c.sign_transfer_same_master_account(ACCOUNT + 1, 3, 0, 0, 1000000, 7, "0" * 64, **KW),
    "update_public_pool": lambda c: c.sign_update_public_pool(7, 1, 100, 50, **KW),
    "update_account_config": lambda c: c.sign_update_account_config(1, **KW),
    "update_account_asset_config": lambda c: c.sign_update_account_asset_config(3, 1, **KW),
    "mint_shares": lambda c: c.sign_mint_shares(281474976710000, 10, **KW),
    "burn_shares": lambda c: c.sign_burn_shares(281474976710000, 10, **KW),
    "stake_assets": lambda c: c.sign_stake_assets(281474976710000, 10, **KW),
    "unstake_assets": lambda c: c.sign_unstake_assets(281474976710000, 10, **KW),
    "approve_integrator": lambda c: c.sign_approve_integrator("0x" + "11" * 32, 200, 10, 10, 10, 10, 1798716985175,
                                                              **KW),
    "grouped_orders": lambda c: c.sign_create_grouped_orders(1, [
        CreateOrderTxReq(MarketIndex=0, ClientOrderIndex=0, BaseAmount=1000, Price=405000, IsAsk=0, Type=0,
                         TimeInForce=1, ReduceOnly=0, TriggerPrice=0, OrderExpiry=1798716985175),
        CreateOrderTxReq(MarketIndex=0, ClientOrderIndex=0, BaseAmount=0, Price=400000, IsAsk=1, Type=2,
                         TimeInForce=0, ReduceOnly=1, TriggerPrice=400000, OrderExpiry=1798716985175)], **KW),
    # signed by the key it registers (the SDK's flow: a client holding the new key sends it)
    "change_pub_key": lambda c: c.sign_change_api_key(
        "0x" + "11" * 32, "0x" + schnorr.public_key(bytes.fromhex(c.api_key_dict[KEY_INDEX])).hex(), **KW),
    # the signer refuses these two for an account index this high: a master account is signed with a low one
    "create_sub_account@100": lambda c: c.sign_create_sub_account(**KW),
    "create_public_pool@100": lambda c: c.sign_create_public_pool(100, 1000, 50, **KW),
}


@pytest.fixture(scope="module")
def keys():
    return new_key(), new_key()


def test_public_keys_match_the_signers(keys):
    for priv, pub in keys:
        assert schnorr.public_key(bytes.fromhex(priv)).hex() == pub


@pytest.mark.parametrize("name", sorted(SIGNED))
def test_tx_message_and_signature_match_the_signer(keys, name):
    (priv, pub), (_, other) = keys
    _, _, account = name.partition("@")
    tx_type, info, tx_hash = signed(priv, SIGNED[name], int(account or ACCOUNT))
    assert tx_message(tx_type, info).hex() == tx_hash  # the message the signer says it signed
    assert verify_tx(tx_type, info, pub)
    if tx_type == 8:  # checked against the key it registers
        assert not verify_tx(tx_type, {**info, "PubKey": base64.b64encode(bytes.fromhex(other)).decode()}, pub)
    else:
        assert not verify_tx(tx_type, info, other)  # another account's key
    if tx_type == 28:
        orders = [dict(o) for o in info["Orders"]]
        orders[1]["Price"] += 1
        assert not verify_tx(tx_type, {**info, "Orders": orders}, pub)
    assert not verify_tx(tx_type, info, pub, chain_id=300)  # signed for mainnet, checked as testnet
    for field in (k for k, v in info.items() if type(v) is int):
        assert not verify_tx(tx_type, {**info, field: info[field] + 1}, pub), field
    sig = bytearray(base64.b64decode(info["Sig"]))
    sig[3] ^= 1
    assert not verify_tx(tx_type, {**info, "Sig": base64.b64encode(bytes(sig)).decode()}, pub)
    assert not verify_tx(tx_type, {**info, "Sig": "not base64!"}, pub)


def test_attributes_are_part_of_the_message(keys):
    (priv, pub), _ = keys
    tx_type, info, _ = signed(priv, SIGNED["create_order_with_attributes"])
    assert info["L2TxAttributes"] and verify_tx(tx_type, info, pub)
    assert not verify_tx(tx_type, {**info, "L2TxAttributes": None}, pub)
    assert not verify_tx(tx_type, {**info, "L2TxAttributes": {**info["L2TxAttributes"], "2": 11}}, pub)


def test_auth_token_signature(keys):
    (priv, pub), (_, other) = keys

    async def main():
        c = lighter.SignerClient("http://127.0.0.1:9", ACCOUNT, {KEY_INDEX: priv}, chain_id=304)
        try:
            return c.create_auth_token_with_expiry(api_key_index=KEY_INDEX)
        finally:
            await c.close()
    token, err = asyncio.run(main())
    assert err is None
    assert verify_auth_token(token, pub)
    assert not verify_auth_token(token, other)
    deadline, rest = token.split(":", 1)
    assert not verify_auth_token(f"{int(deadline) + 1}:{rest}", pub)


# --- over sockets: the simulator with verify_signatures=True ---

async def _send_orders(sim, private_key):
    """Create a far bid, modify it and cancel it with a SignerClient holding ``private_key``; the errors."""
    signer = lighter.SignerClient(url=sim.rest_url, account_index=sim.account_index,
                                  api_private_keys={sim.api_key_index: private_key})
    errors = []
    try:
        m = sim.markets[0]
        price = m.mid // 2
        _, resp, err = await signer.create_order(market_index=0, client_order_index=31, base_amount=100, price=price,
                                                 is_ask=False, order_type=signer.ORDER_TYPE_LIMIT,
                                                 time_in_force=signer.ORDER_TIME_IN_FORCE_POST_ONLY,
                                                 order_expiry=signer.DEFAULT_28_DAY_ORDER_EXPIRY)
        errors.append(err)
        if err is not None:
            return errors

        def resting():
            return [i for i, o in sim.orders.orders.items() if o.get("client_order_index") == 31
                    and o.get("status") == "open"]
        await wait_for(lambda: resting())
        index = resting()[0]
        _, resp, err = await signer.modify_order(market_index=0, order_index=index, base_amount=200, price=price - 1)
        errors.append(err)
        await wait_for(lambda: sim.orders.orders[index].get("price") != m.spec.px(price))
        _, resp, err = await signer.cancel_order(market_index=0, order_index=index)
        errors.append(err)
        await wait_for(lambda: not resting())
        _, resp, err = await signer.cancel_all_orders(time_in_force=signer.CANCEL_ALL_TIF_IMMEDIATE, timestamp_ms=0)
        errors.append(err)
        _, resp, err = await signer.update_leverage(0, signer.CROSS_MARGIN_MODE, 5)
        errors.append(err)
    finally:
        await signer.close()
    return errors


async def test_a_key_the_account_never_registered_gets_21120():
    wrong, _ = new_key()
    async with LighterSimulator(seed=1, verify_signatures=True) as sim:
        errors = await _send_orders(sim, wrong)
        assert len(errors) == 1 and "21120" in str(errors[0]) and "invalid signature" in str(errors[0]), errors
        assert not sim.orders.orders and not sim.txs


async def test_the_registered_key_orders_modifies_cancels_and_updates_leverage():
    async with LighterSimulator(seed=1, verify_signatures=True) as sim:
        assert await _send_orders(sim, sim.api_private_key) == [None, None, None, None, None]
        assert [t for t, _ in sim.txs] == [14, 17, 15, 16, 20]


async def test_verification_is_off_by_default():
    wrong, _ = new_key()
    async with LighterSimulator(seed=1) as sim:
        assert not sim.verify_signatures
        assert (await _send_orders(sim, wrong))[0] is None


async def test_a_tampered_tx_over_rest_gets_21120():
    """A signed create-order whose price was changed after signing, sent as raw sendTx form data."""
    import aiohttp

    async with LighterSimulator(seed=1, verify_signatures=True) as sim, aiohttp.ClientSession() as s:
        _, info, _ = await sign_async(sim.api_private_key, lambda c: c.sign_create_order(
            0, 5, 100, sim.markets[0].mid // 2, 0, 0, 2, nonce=sim.nonces[(ACCOUNT, KEY_INDEX)],
            api_key_index=KEY_INDEX))

        async def send(tx):
            async with s.post(f"{sim.rest_url}/api/v1/sendTx", data={"tx_type": "14", "tx_info": json.dumps(tx)}) as r:
                return await r.json()
        bad = await send({**info, "Price": info["Price"] + 1})
        assert bad["code"] == 21120 and bad["message"] == "invalid signature", bad
        good = await send(info)
        assert good["code"] == 200, good


async def test_auth_tokens_are_verified_when_signatures_are():
    """accountActiveOrders with a token the signer made with another key: 20013 invalid signature; with the
    registered key's token the orders are served."""
    import aiohttp

    wrong, _ = new_key()

    async def token(priv):
        c = lighter.SignerClient("http://127.0.0.1:9", ACCOUNT, {KEY_INDEX: priv}, chain_id=304)
        try:
            tok, err = c.create_auth_token_with_expiry(api_key_index=KEY_INDEX)
        finally:
            await c.close()
        assert err is None
        return tok

    async with LighterSimulator(seed=1, verify_signatures=True) as sim, aiohttp.ClientSession() as s:
        async def active(tok):
            async with s.get(f"{sim.rest_url}/api/v1/accountActiveOrders",
                             params={"account_index": str(ACCOUNT), "market_id": "0", "auth": tok}) as r:
                return r.status, await r.json()
        status, body = await active(await token(wrong))
        assert (status, body["code"], body["message"]) == (401, 20013, "invalid auth: invalid signature"), body
        status, body = await active(await token(sim.api_private_key))
        assert status == 200 and body["code"] == 200 and body["orders"] == [], body
