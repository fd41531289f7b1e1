"""Garbage from the venue on the Lighter account stream and transaction answers: dropped (and logged), never
a crash, never an invented order update; the next good frame is still read."""
import asyncio
import json
import pathlib

from engine.connectors.lighter.account_ws import LighterAccountStream
from engine.connectors.lighter.client import LighterConnector
from engine.connectors.lighter.ws_tx import WsTxSender

DATA = pathlib.Path(__file__).parents[1] / "data/lighter/captured"
GARBAGE = [b"", b"not json", b"[]", b"5", b'{"type":"update/account_all_orders","orders":5}',
           b'{"type":"update/account_all_orders","orders":{"0":[{"no":"fields"}]}}',
           b'{"type":"update/account_all_orders","orders":{"0":[{"market_index":0,"filled_base_amount":"x"}]}}',
           b'{"channel":"account_all_positions:516","positions":{"1":{"market_id":1,"position":"abc"}}}',
           b'{"channel":"account_all_positions:516","positions":[1,2]}', b'\xff\xfe']


def test_account_stream_drops_garbage_and_reads_the_next_good_frame():
    c = LighterConnector(account_index=516)
    us = LighterAccountStream(c)
    seen = []
    us.listeners.append(seen.append)
    for frame in GARBAGE:
        us.on_frame(frame)
    assert seen == [] and us.positions == {} and us.epoch == 0 and us.dropped >= len(GARBAGE)
    bad = json.loads((DATA / "ws_private_account_all_orders_update_canceled_testnet.json").read_text())
    good = bad["orders"]["1"][0]
    bad["orders"]["1"] = [{"market_index": 1, "price": "NaN"}, good]  # one bad row does not sink its frame
    us.on_frame(json.dumps(bad).encode())
    assert [u.order_id for u in seen] == [str(good["order_id"])]
    seen.clear()
    us.on_frame((DATA / "ws_private_account_all_orders_update_canceled_testnet.json").read_bytes())
    assert [(u.status.value, u.side.value) for u in seen] == [("canceled", "buy")]
    us.on_frame((DATA / "ws_private_account_all_positions_update_flat_testnet.json").read_bytes())
    assert us.positions == {"1": 0}  # no markets loaded here: keyed by the market id


def test_transaction_answers_that_match_nothing_are_ignored():
    async def main():
        tx = WsTxSender()
        assert not tx.on_reply({"id": "tx99", "code": 200})  # nobody waits for it
        assert not tx.on_reply({"error": {"code": 30003, "message": "Already Subscribed"}})  # not a tx error
        assert not tx.on_reply({"error": "a string"})
        fut = asyncio.get_running_loop().create_future()
        tx.inflight["tx1"] = fut
        assert tx.on_reply({"error": {"code": 21104, "message": "invalid nonce"}})  # bare: the oldest in flight
        assert fut.exception().code == 21104
        fut2 = asyncio.get_running_loop().create_future()
        tx.inflight["tx2"] = fut2
        assert tx.on_reply({"id": "tx2", "code": 500, "message": "?"}) and fut2.exception() is not None
    asyncio.run(main())


def test_the_captured_order_rows_parse_exactly():
    from engine.connectors.lighter import parse

    row = json.loads((DATA / "rest_accountActiveOrders_one_testnet.json").read_text())["orders"][0]
    u = parse.order_update(row, "BTC-USDC")
    assert (u.order_id, u.client_order_id, u.status.value, u.type.value) == (
        "844424912956320", "178554256601", "open", "limit_maker")
    assert (u.price, u.quantity, u.filled_quantity, u.side.value) == (
        parse.Decimal("56608.2"), parse.Decimal("0.00100"), 0, "buy")
