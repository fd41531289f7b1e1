"""jsonapi/sendtx answers that come late: a transaction whose caller stopped waiting keeps its place in the
answer order, so its late answer (with or without an id) is never taken for the next transaction's."""
import asyncio

import pytest

from engine.connectors.lighter.ws_tx import WsTxSender
from engine.errors import NonceConflictError, RPCTimeoutError


class Wire:
    """A stand-in for the picows transport: records frames, never disconnected."""

    is_disconnected = False

    def __init__(self):
        self.frames = []

    def send(self, kind, data):
        self.frames.append(data)


def sender(timeout_s=0.05):
    tx = WsTxSender(timeout_s=timeout_s)
    tx.transport = Wire()
    return tx


async def test_a_late_bare_error_belongs_to_the_abandoned_transaction_not_the_next_one():
    tx = sender()
    first = tx.write(14, '{"Nonce":1}')
    with pytest.raises(RPCTimeoutError):
        await first  # the caller gives up: outcome unknown
    second = asyncio.ensure_future(tx.write(14, '{"Nonce":2}'))
    tx.timeout_s = 10.0
    await asyncio.sleep(0)
    # the venue answers in order: first the old transaction's refusal (no id), then the new one's success
    assert tx.on_reply({"error": {"code": 21104, "message": "invalid nonce"}}) is True
    assert not second.done() and tx.late_answers == 1
    assert tx.on_reply({"id": "tx2", "code": 200, "tx_hash": "ab"}) is True
    assert (await second)["tx_hash"] == "ab" and not tx.inflight


async def test_a_late_answer_with_its_id_is_counted_and_not_handed_to_the_stream():
    tx = sender()
    with pytest.raises(RPCTimeoutError):
        await tx.write(14, '{"Nonce":1}')
    assert list(tx.inflight) == ["tx1"]  # kept, in order, until its answer comes
    assert tx.on_reply({"id": "tx1", "code": 200, "tx_hash": "cd", "type": "jsonapi/sendtx"}) is True
    assert tx.late_answers == 1 and not tx.inflight
    assert tx.on_reply({"id": "tx1", "code": 200}) is False  # an id we no longer know is not ours


async def test_a_bare_error_still_answers_the_oldest_waiting_transaction():
    tx = sender(timeout_s=10.0)
    fut = asyncio.ensure_future(tx.write(14, '{"Nonce":1}'))
    await asyncio.sleep(0)
    assert tx.on_reply({"error": {"code": 21104, "message": "invalid nonce"}}) is True
    with pytest.raises(NonceConflictError):
        await fut
    assert tx.late_answers == 0


async def test_a_lost_socket_fails_waiting_transactions_and_forgets_abandoned_ones():
    tx = sender()
    with pytest.raises(RPCTimeoutError):
        await tx.write(14, '{"Nonce":1}')
    tx.timeout_s = 10.0
    waiting = asyncio.ensure_future(tx.write(14, '{"Nonce":2}'))
    await asyncio.sleep(0)
    tx.on_disconnect()
    with pytest.raises(RPCTimeoutError, match="outcome unknown"):
        await waiting
    assert not tx.inflight and not tx.ready
