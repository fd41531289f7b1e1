"""sendTx over the stream socket (``jsonapi/sendtx``): transactions leave in the order they were written.

Lighter needs each API key's transactions to reach the sequencer in nonce order. Separate HTTP connections
do not keep order (two concurrent sendTx on one key can arrive swapped: 21104), one WebSocket does. So a
signed transaction is written to the socket at once, in nonce order (the caller holds the lane's send
lock across sign + write), and its answer is awaited afterwards, which lets orders on one key pipeline.

The answer is matched by the ``id`` we put in ``data`` and the venue echoes. A bare error frame in the
transaction range (21000-21999) without an ``id`` is given to the oldest transaction in flight (the venue
answers in order). A socket lost with transactions in flight, or no answer within ``timeout_s``, leaves
their outcome unknown (RPCTimeoutError): the nonce lane asks the venue, the order is reconciled by client id.

A transaction whose caller stopped waiting keeps its place in the queue until its answer comes (counted in
``late_answers`` and logged, never handed to anyone) or the socket goes: were it dropped, its late bare
error would be taken for the next transaction's answer, and that one, sequenced, would be retried as refused.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict
from typing import Optional

import orjson

from engine.errors import RPCTimeoutError, timeout_error

from .errors import lighter_error

log = logging.getLogger("engine.lighter.ws")
ABANDONED_MAX = 1024  # waits given up on a socket that never answers them: the oldest are forgotten past this


class WsTxSender:
    def __init__(self, *, timeout_s: float = 10.0):
        self.timeout_s = timeout_s
        self.transport = None  # set by the connection while it is up
        # request id -> the caller's future, in write order; None once the caller stopped waiting
        self.inflight: "OrderedDict[str, Optional[asyncio.Future]]" = OrderedDict()
        self._ids = itertools.count(1)
        self.sent = 0
        self.late_answers = 0  # answers that came after their caller had stopped waiting

    @property
    def ready(self) -> bool:
        return self.transport is not None and not self.transport.is_disconnected

    def write(self, tx_type: int, tx_info: str):
        """Put one signed transaction on the wire now; returns the awaitable answer (the sendTx body)."""
        rid = f"tx{next(self._ids)}"
        # tx_info is the signer's JSON object text: embedded as is, never re-encoded
        frame = (b'{"type":"jsonapi/sendtx","data":{"id":"%s","tx_type":%d,"tx_info":%s}}'
                 % (rid.encode(), int(tx_type), tx_info.encode()))
        fut = asyncio.get_running_loop().create_future()
        self.inflight[rid] = fut
        self.transport.send(1, frame)  # 1 = text frame
        self.sent += 1
        return self._answer(rid, fut)

    def write_batch(self, txs: list):
        """jsonapi/sendtxbatch: ``txs`` = [(tx_type, tx_info)] in nonce order (the venue takes up to 15)."""
        rid = f"tx{next(self._ids)}"
        data = {"id": rid, "tx_types": orjson.dumps([int(t) for t, _ in txs]).decode(),
                "tx_infos": orjson.dumps([i for _, i in txs]).decode()}  # both JSON-encoded strings (5.6)
        fut = asyncio.get_running_loop().create_future()
        self.inflight[rid] = fut
        self.transport.send(1, orjson.dumps({"type": "jsonapi/sendtxbatch", "data": data}))
        self.sent += len(txs)
        return self._answer(rid, fut)

    async def _answer(self, rid: str, fut: asyncio.Future) -> dict:
        try:
            return await asyncio.wait_for(fut, self.timeout_s)
        except asyncio.TimeoutError:
            raise timeout_error("lighter", "jsonapi/sendtx") from None
        finally:
            if rid in self.inflight:  # not answered (timeout, cancelled): the answer may still come, in order
                self.inflight[rid] = None
                while len(self.inflight) > ABANDONED_MAX and next(iter(self.inflight.values())) is None:
                    self.inflight.popitem(last=False)

    def on_reply(self, msg: dict) -> bool:
        """A frame from the socket that may answer a transaction; True if it did."""
        rid: Optional[str] = msg.get("id")
        err = msg.get("error")
        code = err.get("code") if isinstance(err, dict) else None
        if rid is None:
            if not (isinstance(code, int) and 21000 <= code < 22000 and self.inflight):
                return False
            rid = next(iter(self.inflight))
        rid = str(rid)
        if rid not in self.inflight:
            return False
        fut = self.inflight.pop(rid)
        if fut is None or fut.done():
            # sequenced or refused after all: the order is settled by reconciliation, the nonce by the lane
            self.late_answers += 1
            log.warning("lighter %s answered after its caller stopped waiting: %s", rid,
                        f"error {code}" if err is not None else f"code {msg.get('code')}")
            return True
        if err is not None:
            fut.set_exception(lighter_error(None, msg, endpoint="jsonapi/sendtx"))
        elif msg.get("code") == 200:
            fut.set_result(msg)
        else:
            fut.set_exception(lighter_error(None, {"code": msg.get("code"), "message": str(msg)[:200]},
                                            endpoint="jsonapi/sendtx"))
        return True

    def on_disconnect(self) -> None:
        """The socket is gone: whatever was in flight may or may not have been sequenced."""
        self.transport = None
        while self.inflight:
            _, fut = self.inflight.popitem(last=False)
            if fut is not None and not fut.done():
                fut.set_exception(RPCTimeoutError("lighter: stream lost with a transaction in flight; outcome unknown",
                                                  exchange="lighter"))
