"""Executing sequenced transactions in the Lighter simulator and reporting them on account_all_orders.

Orders: post-only orders that would cross are cancelled ("canceled-post-only"); IOC/market orders fill
against the book up to their price and cancel the rest; good-till-time orders fill what crosses and rest the
remainder in the public book. Cancel (by order_index or client_order_index) and cancel-all remove resting
orders. When the random walk trades through a price level, the resting orders there are filled.
"""
from __future__ import annotations

import time

ORDER_TYPES = {0: "limit", 1: "market", 2: "stop-loss", 3: "stop-loss-limit", 4: "take-profit", 5: "take-profit-limit"}
TIFS = {0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}


class SimOrders:
    def __init__(self, sim):
        self.sim = sim
        self.orders: dict = {}  # order_index -> order dict (the captured shape)
        self.next_index = 844424914280000
        self.changed: list = []  # orders changed since the last publish
        self.positions: dict = {}  # market_id -> signed size in size units (long > 0)

    def on_sweep(self, m, side: str, price: int, size: int) -> None:
        """The market traded through ``price`` on ``side``: fill our resting orders there (oldest first)."""
        is_ask = side == "a"
        for o in sorted(self.orders.values(), key=lambda o: o["order_index"]):
            if (o["status"] != "open" or o["market_index"] != m.spec.market_id or o["is_ask"] != is_ask
                    or o["base_price"] != price):
                continue
            take = o["base_size"]
            filled = int(round(float(o["filled_base_amount"]) * 10 ** m.spec.size_decimals)) + take
            quote = float(o["filled_quote_amount"]) + take * price / 10 ** (m.spec.price_decimals + m.spec.size_decimals)
            self._position(m, is_ask, take)
            o.update(filled_base_amount=m.spec.sz(filled), filled_quote_amount=f"{quote:.6f}",
                     remaining_base_amount=m.spec.sz(0), base_size=0, status="filled",
                     transaction_time=int(time.time() * 1e6))
            self.changed.append(o)

    def execute(self, tx_type: int, info: dict) -> None:
        if tx_type == 14:
            self._create(info)
        elif tx_type == 15:
            o = self._find(info["Index"])
            if o is not None:
                self._cancel(o)
        elif tx_type == 16:
            for o in [o for o in self.orders.values() if o["status"] == "open"]:
                self._cancel(o)

    def _position(self, m, is_ask: bool, size: int) -> None:
        mid = m.spec.market_id
        self.positions[mid] = self.positions.get(mid, 0) + (-size if is_ask else size)

    def _find(self, index: int):
        for o in self.orders.values():
            if o["status"] == "open" and index in (o["order_index"], o["client_order_index"]):
                return o
        return None

    def _create(self, info: dict) -> None:
        m = self.sim.markets.get(info["MarketIndex"])
        self.next_index += 1
        spec = m.spec if m else None
        now = time.time()
        o = {"order_index": self.next_index, "client_order_index": info["ClientOrderIndex"],
             "order_id": str(self.next_index), "client_order_id": str(info["ClientOrderIndex"]),
             "market_index": info["MarketIndex"], "owner_account_index": info["AccountIndex"],
             "initial_base_amount": spec.sz(info["BaseAmount"]) if spec else "0", "price": spec.px(info["Price"])
             if spec else "0", "nonce": info["Nonce"], "remaining_base_amount": spec.sz(info["BaseAmount"]) if spec
             else "0", "is_ask": bool(info["IsAsk"]), "base_size": info["BaseAmount"], "base_price": info["Price"],
             "filled_base_amount": spec.sz(0) if spec else "0", "filled_quote_amount": "0.000000", "side": "",
             "type": ORDER_TYPES.get(info["Type"], "limit"), "time_in_force": TIFS.get(info["TimeInForce"], "Unknown"),
             "reduce_only": bool(info["ReduceOnly"]), "trigger_price": "0.0", "order_expiry": info["OrderExpiry"],
             "status": "open", "trigger_status": "na", "trigger_time": 0, "parent_order_index": 0,
             "parent_order_id": "0", "to_trigger_order_id_0": "0", "to_trigger_order_id_1": "0",
             "to_cancel_order_id_0": "0", "integrator_fee_collector_index": "0", "integrator_taker_fee": "0",
             "integrator_maker_fee": "0", "order_flags": 0, "block_height": 510869, "timestamp": int(now),
             "created_at": int(now), "updated_at": int(now), "transaction_time": int(now * 1e6)}
        self.orders[o["order_index"]] = o
        if m is None:
            o["status"] = "canceled"
            self.changed.append(o)
            return
        is_ask, price, left = bool(info["IsAsk"]), info["Price"], info["BaseAmount"]
        opp = m.bids if is_ask else m.asks
        crosses = lambda p: p >= price if is_ask else p <= price  # noqa: E731
        if info["TimeInForce"] == 2 and any(crosses(p) for p in opp):
            o["status"] = "canceled-post-only"
            self.changed.append(o)
            return
        filled = quote = 0
        for p in sorted(opp, reverse=is_ask):
            if left <= 0 or not crosses(p):
                break
            take = min(left, opp[p])
            m._set("b" if is_ask else "a", p, opp[p] - take)
            m._print(p, take, is_maker_ask=not is_ask)
            filled, left, quote = filled + take, left - take, quote + take * p
            self._position(m, is_ask, take)
        o["filled_base_amount"] = spec.sz(filled)
        o["filled_quote_amount"] = f"{quote / 10 ** (spec.price_decimals + spec.size_decimals):.6f}"
        o["remaining_base_amount"] = spec.sz(left)
        o["base_size"] = left
        if left == 0:
            o["status"] = "filled"
        elif info["TimeInForce"] == 0:
            o["status"] = "canceled"
        else:
            side = "a" if is_ask else "b"
            book = m.asks if is_ask else m.bids
            m._set(side, price, book.get(price, 0) + left)
        self.changed.append(o)

    def _cancel(self, o: dict) -> None:
        m = self.sim.markets[o["market_index"]]
        side = "a" if o["is_ask"] else "b"
        book = m.asks if o["is_ask"] else m.bids
        m._set(side, o["base_price"], book.get(o["base_price"], 0) - o["base_size"])
        o["status"] = "canceled"
        o["remaining_base_amount"] = m.spec.sz(0)
        o["base_size"] = 0
        o["updated_at"] = int(time.time())
        o["transaction_time"] = int(time.time() * 1e6)
        self.changed.append(o)

    def open_by_market(self) -> dict:
        out: dict = {}
        for o in self.orders.values():
            if o["status"] == "open":
                out.setdefault(str(o["market_index"]), []).append(o)
        return out

    def take_changed(self) -> dict:
        out: dict = {}
        for o in self.changed:
            out.setdefault(str(o["market_index"]), []).append(dict(o))
        self.changed = []
        return out
