"""Signing through the official signer library gives the same tx_info as the SDK did (all fields but the
randomized signature and the library-set expiry), on a worker thread; the key never shows.

Runs where the ``lighter`` extra (lighter-sdk) is installed, which CI does; skipped with the reason elsewhere.
"""
import json
import pathlib
import threading
import time

import pytest

pytest.importorskip("lighter.signer_client", reason="the lighter extra (lighter-sdk) is not installed")

from engine.connectors.lighter.signer import LighterSigner, SignerError, new_api_key  # noqa: E402

CASES = json.loads((pathlib.Path(__file__).parents[1] / "data/lighter/sdk_signer_generated_txs.json").read_text())
META = CASES["_meta"]
RANDOM = {"Sig", "ExpiredAt"}  # per-call randomness and the library's own now+10 min


@pytest.fixture(scope="module")
def key():
    return new_api_key()


def signer(key):
    priv, _ = key
    return LighterSigner(META["url"], priv, META["account_index"], META["api_key_index"], META["chain_id"])


def same(tx_info: str, case: str):
    got, want = json.loads(tx_info), dict(CASES["cases"][case]["tx_info_parsed"])
    assert set(got) == set(want)
    assert {k: v for k, v in got.items() if k not in RANDOM} == {k: v for k, v in want.items() if k not in RANDOM}
    assert got["ExpiredAt"] > int(time.time() * 1000)


async def test_create_cancel_and_cancel_all_match_the_sdk_outputs(key):
    s = signer(key)
    try:
        want = CASES["cases"]["create_order_limit_post_only"]["tx_info_parsed"]
        tx_type, info, tx_hash = await s.create_order(
            market_index=0, client_order_index=1001, base_amount=1000, price=300000, is_ask=False, order_type=0,
            time_in_force=2, order_expiry=want["OrderExpiry"], nonce=7)
        assert tx_type == CASES["cases"]["create_order_limit_post_only"]["tx_type"] == 14 and len(tx_hash) == 80
        same(info, "create_order_limit_post_only")
        _, info, _ = await s.create_order(market_index=0, client_order_index=1003, base_amount=1000, price=310000,
                                          is_ask=True, order_type=1, time_in_force=0, order_expiry=0, nonce=9)
        same(info, "create_order_market_ioc")
        tx_type, info, _ = await s.cancel_order(market_index=0, order_index=1001, nonce=14)
        assert tx_type == 15
        same(info, "cancel_order")
        tx_type, info, _ = await s.cancel_all(time_in_force=0, time_ms=0, nonce=15)
        assert tx_type == 16
        same(info, "cancel_all_immediate")
    finally:
        s.close()


async def test_local_validation_errors_and_auth_token(key):
    s = signer(key)
    try:
        with pytest.raises(SignerError):  # a market order may not carry an expiry
            await s.create_order(market_index=0, client_order_index=1, base_amount=1000, price=310000,
                                 is_ask=True, order_type=1, time_in_force=0, order_expiry=int(time.time() * 1000)
                                 + 3_600_000, nonce=1)
        deadline = int(time.time()) + 600
        token = await s.auth_token(deadline)
        d, acct, k, sig = token.split(":")
        assert (int(d), int(acct), int(k), len(sig)) == (deadline, META["account_index"], META["api_key_index"], 160)
        name = await s._run(lambda: threading.current_thread().name)
        assert name.startswith("lighter-signer") and name != threading.current_thread().name
        assert key[0] not in repr(s) and key[0][:12] not in str(s)
    finally:
        s.close()
