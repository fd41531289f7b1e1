"""Pure-Python oracle for Lighter order-book frames (json + Decimal), following docs/lighter.md
("Order book: snapshot, deltas, sequencing")."""
import json
from decimal import Decimal

APPLIED, GAP = 1, 3


class RefLighterBook:
    def __init__(self):
        self.bids, self.asks = {}, {}
        self.nonce = None

    def apply(self, frame) -> int:
        m = json.loads(frame)
        ob = m["order_book"]
        if m["type"] == "subscribed/order_book":
            self.bids = {Decimal(x["price"]): Decimal(x["size"]) for x in ob["bids"] if Decimal(x["size"]) != 0}
            self.asks = {Decimal(x["price"]): Decimal(x["size"]) for x in ob["asks"] if Decimal(x["size"]) != 0}
            self.nonce = ob["nonce"]
            return APPLIED
        if self.nonce is None or ob["begin_nonce"] != self.nonce:
            self.nonce = None
            return GAP
        for side, key in ((self.bids, "bids"), (self.asks, "asks")):
            for x in ob[key]:
                p, q = Decimal(x["price"]), Decimal(x["size"])
                if q == 0:
                    side.pop(p, None)
                else:
                    side[p] = q
        self.nonce = ob["nonce"]
        return APPLIED

    def levels(self, price_decimals, size_decimals):
        fp, fq = 10 ** price_decimals, 10 ** size_decimals
        bids = [(int(p * fp), int(q * fq)) for p, q in sorted(self.bids.items(), reverse=True)]
        asks = [(int(p * fp), int(q * fq)) for p, q in sorted(self.asks.items())]
        return bids, asks
