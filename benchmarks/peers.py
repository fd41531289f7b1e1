"""What users of the peers run, written here so every peer sees the same bytes and the same checks.

Each book class takes the snapshot body and offers ``apply(raw)``, ``bbo()``, ``top(n)`` (float tuples,
best first). These are our own minimal renditions of each stack's typical usage, not the peers' code:
- json.loads / orjson.loads / msgspec + sortedcontainers.SortedDict keyed by float (python-binance,
  ccxt-style keys, the common user stack);
- cryptofeed's C ``order_book.OrderBook`` fed by orjson with Decimal keys (what cryptofeed does);
- "ccxt-style" bisect-sorted price/size lists (ccxt's ``OrderBookSide`` model).
"""
from __future__ import annotations

import bisect
import hashlib
import hmac
import json
import time
from decimal import Decimal
from urllib.parse import urlencode

import orjson

try:
    from sortedcontainers import SortedDict
except ImportError:  # pragma: no cover
    SortedDict = None
try:
    import msgspec
except ImportError:  # pragma: no cover
    msgspec = None
try:
    import order_book as cf_order_book
except ImportError:  # pragma: no cover
    cf_order_book = None


class SortedDictBook:
    """loads + SortedDict[float]; best bid is the last key, best ask the first."""

    loads = staticmethod(json.loads)

    def __init__(self, snapshot: bytes):
        m = self.loads(snapshot)
        self.bids = SortedDict({float(p): float(q) for p, q in m["bids"]})
        self.asks = SortedDict({float(p): float(q) for p, q in m["asks"]})
        self.last = m["lastUpdateId"]

    def apply(self, raw: bytes):
        self.apply_dict(self.loads(raw))

    def apply_dict(self, m: dict):
        if m["u"] <= self.last:
            return
        for side, key in ((self.bids, "b"), (self.asks, "a")):
            for p, q in m[key]:
                p, q = float(p), float(q)
                if q == 0.0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.last = m["u"]

    def bbo(self):
        bp, bq = self.bids.peekitem(-1)
        ap, aq = self.asks.peekitem(0)
        return bp, bq, ap, aq

    def top(self, n: int):
        b = self.bids.items()[-n:]
        b.reverse()
        return b, self.asks.items()[:n]


class OrjsonSortedDictBook(SortedDictBook):
    loads = staticmethod(orjson.loads)


if msgspec is not None:
    class _Diff(msgspec.Struct):
        u: int
        b: list[tuple[float, float]]
        a: list[tuple[float, float]]

    _DECODER = msgspec.json.Decoder(_Diff, strict=False)

    class MsgspecSortedDictBook(SortedDictBook):
        loads = staticmethod(orjson.loads)

        def apply(self, raw: bytes):
            m = _DECODER.decode(raw)
            if m.u <= self.last:
                return
            for side, levels in ((self.bids, m.b), (self.asks, m.a)):
                for p, q in levels:
                    if q == 0.0:
                        side.pop(p, None)
                    else:
                        side[p] = q
            self.last = m.u


class CryptofeedBook:
    """cryptofeed's handler: orjson, Decimal keys, the C order_book (re-sorts on the first read)."""

    def __init__(self, snapshot: bytes):
        m = orjson.loads(snapshot)
        self.book = cf_order_book.OrderBook()
        for p, q in m["bids"]:
            self.book.bids[Decimal(p)] = Decimal(q)
        for p, q in m["asks"]:
            self.book.asks[Decimal(p)] = Decimal(q)
        self.last = m["lastUpdateId"]

    def apply(self, raw: bytes):
        m = orjson.loads(raw)
        if m["u"] <= self.last:
            return
        for side, key in ((self.book.bids, "b"), (self.book.asks, "a")):
            for p, q in m[key]:
                p, q = Decimal(p), Decimal(q)
                if q == 0:
                    if p in side:
                        del side[p]
                else:
                    side[p] = q
        self.last = m["u"]

    def bbo(self):
        bp, bq = self.book.bids.index(0)
        ap, aq = self.book.asks.index(0)
        return float(bp), float(bq), float(ap), float(aq)

    def top(self, n: int):
        f = lambda side: [(float(p), float(q)) for p, q in (side.index(i) for i in range(min(n, len(side))))]  # noqa
        return f(self.book.bids), f(self.book.asks)


class CcxtStyleBook:
    """Sorted parallel lists per side with bisect (bids stored negated so both sides ascend)."""

    def __init__(self, snapshot: bytes):
        m = orjson.loads(snapshot)
        self.bk, self.bq, self.ak, self.aq = [], [], [], []
        for p, q in m["bids"]:
            self._set(self.bk, self.bq, -float(p), float(q))
        for p, q in m["asks"]:
            self._set(self.ak, self.aq, float(p), float(q))
        self.last = m["lastUpdateId"]

    @staticmethod
    def _set(keys, vals, k, q):
        i = bisect.bisect_left(keys, k)
        if i < len(keys) and keys[i] == k:
            if q == 0.0:
                del keys[i]
                del vals[i]
            else:
                vals[i] = q
        elif q != 0.0:
            keys.insert(i, k)
            vals.insert(i, q)

    def apply(self, raw: bytes):
        m = orjson.loads(raw)
        if m["u"] <= self.last:
            return
        for p, q in m["b"]:
            self._set(self.bk, self.bq, -float(p), float(q))
        for p, q in m["a"]:
            self._set(self.ak, self.aq, float(p), float(q))
        self.last = m["u"]

    def bbo(self):
        return -self.bk[0], self.bq[0], self.ak[0], self.aq[0]

    def top(self, n: int):
        return ([(-k, q) for k, q in zip(self.bk[:n], self.bq[:n])],
                list(zip(self.ak[:n], self.aq[:n])))


BOOK_PEERS = {
    "json.loads + SortedDict[float]": SortedDictBook,
    "orjson + SortedDict[float]": OrjsonSortedDictBook,
    "ccxt-style bisect lists (orjson)": CcxtStyleBook,
}
if msgspec is not None:
    BOOK_PEERS["msgspec Struct[float] + SortedDict"] = MsgspecSortedDictBook
if cf_order_book is not None:
    BOOK_PEERS["cryptofeed order_book[Decimal] (orjson)"] = CryptofeedBook


# ---- signing peers
def hmac_new(key: bytes, msg: bytes) -> str:
    return hmac.new(key, msg, hashlib.sha256).hexdigest()


class PrecomputedHmac:
    """The fastest pure-Python path: an hmac object keyed once, copied per message."""

    def __init__(self, key: bytes):
        self._pre = hmac.new(key, digestmod=hashlib.sha256)

    def sign(self, msg: bytes) -> str:
        h = self._pre.copy()
        h.update(msg)
        return h.hexdigest()


def join_and_hmac(key: bytes, params: dict, ts: int, recv: int) -> str:
    q = "&".join(f"{k}={v}" for k, v in params.items()) + f"&recvWindow={recv}&timestamp={ts}"
    return q + "&signature=" + hmac.new(key, q.encode(), hashlib.sha256).hexdigest()


def urlencode_and_hmac(key: bytes, params: dict, ts: int, recv: int) -> str:
    q = urlencode({**params, "recvWindow": recv, "timestamp": ts})
    return q + "&signature=" + hmac.new(key, q.encode(), hashlib.sha256).hexdigest()


# ---- rate-limit peers
class NaiveBucket:
    """A plain Python token bucket on monotonic_ns with integer tokens."""

    def __init__(self, rate: float, capacity: int):
        self.rate_per_ns = rate / 1e9
        self.capacity = capacity
        self.tokens = float(capacity)
        self.last = time.monotonic_ns()

    def try_acquire(self, w: int = 1) -> bool:
        now = time.monotonic_ns()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate_per_ns)
        self.last = now
        if self.tokens >= w:
            self.tokens -= w
            return True
        return False
