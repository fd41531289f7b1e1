"""Executing sequenced transactions in the Lighter simulator and reporting them on the account channels.

Orders: post-only orders that would cross are cancelled ("canceled-post-only"); IOC/market orders fill
against the book up to their price and cancel the rest; good-till-time orders fill what crosses and rest the
remainder in the public book. Stop-loss / take-profit orders wait un-triggered (``trigger_status``
"mark-price", not in the public book) until the mid price reaches the trigger, then execute as a market
order (types 2, 4: the order price is the worst acceptable) or a limit order (3, 5; with TimeInForce 0 it
is immediate-or-cancel and never rests). Modify changes a resting order's size, price or trigger in place
(same order index); cancel (by order index or client order index) and cancel-all remove resting orders.
A second order with the client order index of one still active is dropped without any report, as on the
venue (sendTx still answered 200). When the random walk trades through a price level, the resting orders
there are filled.

Grouped orders (CreateGroupedOrders, tx 28): OTO is an entry order (limit or market) and one stop-loss or
take-profit on the other side; OCO a take-profit and a stop-loss on the same side; OTOCO an entry and both.
The entry's children wait with status "pending" and trigger_status "parent-order" (in the active orders, not
in the book) until the entry is done: then they go live as trigger orders ("open", "mark-price") for the
size the entry filled, or are cancelled if it filled nothing. The two orders of an OCO pair name each other
in ``to_cancel_order_id_0``: when one triggers, fills or is cancelled the other is cancelled. A trigger order
sent with BaseAmount 0 (the signer's grouped-order children) takes the position's size when it triggers. A
group that breaks these rules is dropped without any report, like an invalid order. Every other transaction
type goes to account_tx.py.

Every change is queued for ``account_all_orders``; every fill for ``account_all_trades`` (trade rows with
our client order id on our side) and the touched market for ``account_all_positions``.
"""
from __future__ import annotations

import time
from decimal import Decimal

TRIGGER_TYPES = (2, 3, 4, 5)
ORDER_TYPES = {0: "limit", 1: "market", 2: "stop-loss", 3: "stop-loss-limit", 4: "take-profit", 5: "take-profit-limit"}
TIFS = {0: "immediate-or-cancel", 1: "good-till-time", 2: "post-only"}
ACTIVE = ("open", "pending")
MAX_HISTORY = 1000


class SimOrders:
    def __init__(self, sim):
        self.sim = sim
        self.orders: dict = {}  # order_index -> order dict (the captured shape)
        self.next_index = 844424914280000
        self.changed: list = []  # orders changed since the last publish
        self.fills: dict = {}  # market_id -> [trade rows] since the last publish
        self.positions: dict = {}  # market_id -> signed size in size units (long > 0)
        self.entry_cost: dict = {}  # market_id -> signed cost of the open position, in price*size units
        self.positions_changed: set = set()
        self.dropped: list = []  # (client_order_index, reason): sequenced txs that produced no order
        self.history: list = []  # every fill row, oldest first (GET /api/v1/trades), the last MAX_HISTORY

    # -- the market moved
    def on_sweep(self, m, side: str, price: int, size: int) -> None:
        """The market traded through ``price`` on ``side``: fill our resting orders there (oldest first)."""
        is_ask = side == "a"
        for o in sorted(self.orders.values(), key=lambda o: o["order_index"]):
            if (o["status"] != "open" or o["market_index"] != m.spec.market_id or o["is_ask"] != is_ask
                    or o["base_price"] != price or not self._in_book(o)):
                continue
            self._fill(m, o, o["base_size"], price, maker=True)
            self._touch(o)

    def check_triggers(self, m) -> None:
        """Trigger the stop-loss / take-profit orders whose trigger the mid price has reached."""
        for o in list(self.orders.values()):
            if o["status"] != "open" or o["market_index"] != m.spec.market_id or o["trigger_status"] != "mark-price":
                continue
            trig, ask, stop = o["_trigger"], o["is_ask"], o["type"].startswith("stop-loss")
            # a stop sells below / buys above its trigger; a take-profit sells above / buys below
            hit = (m.mid <= trig) if (ask == stop) else (m.mid >= trig)
            if hit:
                if o["base_size"] == 0:  # sized by the position when it triggers (a grouped child sent with 0)
                    size = abs(self.positions.get(m.spec.market_id, 0))
                    o["base_size"], o["remaining_base_amount"] = size, m.spec.sz(size)
                    o["initial_base_amount"] = m.spec.sz(size)
                o["trigger_status"] = "ready"
                o["trigger_time"] = int(time.time() * 1000)
                # market stops always, and limit stops sent immediate-or-cancel, must not rest once triggered
                self._execute_resting(m, o, ioc=o["type"] in ("stop-loss", "take-profit") or o["_tif"] == 0)

    # -- transactions
    def execute(self, tx_type: int, info: dict) -> None:
        if tx_type == 14:
            self._create(info)
        elif tx_type == 15:
            o = self._find(info["Index"])
            if o is not None:
                self._cancel(o)
        elif tx_type == 16:
            market = (info.get("L2TxAttributes") or {}).get("5")  # attribute 5: one market only
            for o in [o for o in self.orders.values() if o["status"] in ACTIVE]:
                if market is None or o["market_index"] == market:
                    self._cancel(o)
        elif tx_type == 17:
            o = self._find(info["Index"])
            if o is not None:
                self._modify(o, info)
        elif tx_type == 28:
            self._create_group(info)
        else:
            self.sim.account.execute(tx_type, info)

    def _find(self, index: int):
        for o in self.orders.values():
            if o["status"] in ACTIVE and index in (o["order_index"], o["client_order_index"]):
                return o
        return None

    def _create(self, info: dict, *, start: bool = True, hold: bool = False):
        """Make the order; with ``start`` it goes to the book (or waits for its trigger) now; with ``hold`` it
        waits for its parent (a grouped child). The order, or None when it was dropped."""
        m = self.sim.markets.get(info["MarketIndex"])
        coi = info["ClientOrderIndex"]
        if coi and any(o["client_order_index"] == coi and o["status"] in ACTIVE for o in self.orders.values()):
            self.dropped.append((coi, "21728 client order index already exists"))
            return None  # the venue drops it silently: sendTx said 200, no order ever appears
        if self.sim.faults.get("drop_order", 0) > 0:  # fault: dropped like an invalid reduce-only (no report)
            self.sim.faults["drop_order"] -= 1
            self.dropped.append((coi, "dropped by the drop_order fault"))
            return None
        self.next_index += 1
        spec = m.spec if m else None
        sz = spec.sz if spec else (lambda x: "0")
        px = spec.px if spec else (lambda x: "0")
        now = time.time()
        o = {"order_index": self.next_index, "client_order_index": coi,
             "order_id": str(self.next_index), "client_order_id": str(coi),
             "market_index": info["MarketIndex"], "owner_account_index": info["AccountIndex"],
             "initial_base_amount": sz(info["BaseAmount"]), "price": px(info["Price"]), "nonce": info["Nonce"],
             "remaining_base_amount": sz(info["BaseAmount"]), "is_ask": bool(info["IsAsk"]),
             "base_size": info["BaseAmount"], "base_price": info["Price"], "filled_base_amount": sz(0),
             "filled_quote_amount": "0.000000", "side": "", "type": ORDER_TYPES.get(info["Type"], "limit"),
             "time_in_force": TIFS.get(info["TimeInForce"], "Unknown"), "reduce_only": bool(info["ReduceOnly"]),
             "trigger_price": px(info["TriggerPrice"]) if info["TriggerPrice"] else "0.0",
             "order_expiry": info["OrderExpiry"], "status": "open", "trigger_status": "na", "trigger_time": 0,
             "parent_order_index": 0, "parent_order_id": "0", "to_trigger_order_id_0": "0",
             "to_trigger_order_id_1": "0", "to_cancel_order_id_0": "0", "integrator_fee_collector_index": "0",
             "integrator_taker_fee": "0", "integrator_maker_fee": "0", "order_flags": 0, "order_version": 0,
             "block_height": 510869, "timestamp": int(now), "created_at": int(now), "updated_at": int(now),
             "transaction_time": int(now * 1e6), "_tif": info["TimeInForce"], "_trigger": info["TriggerPrice"],
             "_type": info["Type"]}
        self.orders[o["order_index"]] = o
        if m is None:
            o["status"] = "canceled"
            self._touch(o)
            return o
        if hold:
            o["status"], o["trigger_status"] = "pending", "parent-order"
            self._touch(o)
        elif start:
            self._start(m, o)
        return o

    def _start(self, m, o: dict) -> None:
        if o["_type"] in TRIGGER_TYPES:
            o["trigger_status"] = "mark-price"  # waits for its trigger, outside the public book
            self._touch(o)
            return
        self._execute_resting(m, o, ioc=o["_type"] == 1 or o["_tif"] == 0)

    def _create_group(self, info: dict) -> None:
        """CreateGroupedOrders: OTO (1), OCO (2), OTOCO (3); the rules are in the module docstring."""
        g, raw = info["GroupingType"], info["Orders"]
        orders = [{**o, "AccountIndex": info["AccountIndex"], "Nonce": info["Nonce"]} for o in raw]
        entry = orders[0] if g in (1, 3) else None
        triggers = orders[1:] if entry else orders
        kinds = sorted("tp" if o["Type"] in (4, 5) else "sl" for o in triggers if o["Type"] in TRIGGER_TYPES)
        ok = (len(kinds) == len(triggers) and len({o["MarketIndex"] for o in orders}) == 1
              and (entry is None or (entry["Type"] in (0, 1)
                                     and all(o["IsAsk"] != entry["IsAsk"] for o in triggers)))
              and (len(triggers) == 1 or (kinds == ["sl", "tp"] and triggers[0]["IsAsk"] == triggers[1]["IsAsk"])))
        if not ok or orders[0]["MarketIndex"] not in self.sim.markets:
            self.dropped.append((orders[0]["ClientOrderIndex"], "invalid order group"))
            return
        m = self.sim.markets[orders[0]["MarketIndex"]]
        parent = self._create(entry, start=False) if entry else None
        if entry and parent is None:
            return
        kids = [k for k in (self._create(o, start=False, hold=parent is not None) for o in triggers) if k is not None]
        if parent is not None:
            parent["_children"] = [k["order_index"] for k in kids]
            for i, k in enumerate(kids):
                parent[f"to_trigger_order_id_{i}"] = k["order_id"]
                k["parent_order_index"], k["parent_order_id"] = parent["order_index"], parent["order_id"]
        if len(kids) == 2:
            a, b = kids
            a["_oco"], b["_oco"] = b["order_index"], a["order_index"]
            a["to_cancel_order_id_0"], b["to_cancel_order_id_0"] = b["order_id"], a["order_id"]
        if parent is not None:
            self._start(m, parent)
        else:
            for k in kids:
                self._start(m, k)

    def _links(self, o: dict) -> None:
        """A grouped order changed: release or cancel its waiting children; cancel its OCO partner."""
        if o["status"] not in ACTIVE:
            filled = o.get("_filled", 0)
            for i in o.get("_children", ()):
                k = self.orders[i]
                if k["status"] != "pending":
                    continue
                if filled > 0:
                    m = self.sim.markets[k["market_index"]]
                    k["status"], k["trigger_status"], k["base_size"] = "open", "mark-price", filled
                    k["initial_base_amount"] = k["remaining_base_amount"] = m.spec.sz(filled)
                    self._touch(k)
                else:
                    self._cancel(k)
        partner = self.orders.get(o.get("_oco"))
        if (partner is not None and partner["status"] == "open" and partner["trigger_status"] == "mark-price"
                and (o["status"] not in ACTIVE or o["trigger_status"] == "ready")):
            self._cancel(partner)

    def _execute_resting(self, m, o: dict, *, ioc: bool) -> None:
        """Match ``o`` against the book (post-only refuses to cross), then rest or cancel what is left."""
        is_ask, price = o["is_ask"], o["base_price"]
        if o["reduce_only"] and not self._reduces(m, is_ask):  # checked when it would trade, as on the venue
            o["status"] = "canceled-reduce-only"
            o["base_size"] = 0
            o["remaining_base_amount"] = m.spec.sz(0)
            self._touch(o)
            return
        opp = m.bids if is_ask else m.asks
        crosses = (lambda p: p >= price) if is_ask else (lambda p: p <= price)
        if o["_tif"] == 2 and any(crosses(p) for p in opp):
            o["status"] = "canceled-post-only"
            self._touch(o)
            return
        for p in sorted(opp, reverse=is_ask):
            left = o["base_size"]
            if left <= 0 or not crosses(p):
                break
            take = min(left, opp[p])
            m._set("b" if is_ask else "a", p, opp[p] - take)
            m._print(p, take, is_maker_ask=not is_ask)
            self._fill(m, o, take, p, maker=False)
        if o["status"] == "open" and o["base_size"] > 0:
            if ioc:
                o["status"] = "canceled"
                o["base_size"] = 0
                o["remaining_base_amount"] = m.spec.sz(0)
            else:
                book = m.asks if is_ask else m.bids
                m._set("a" if is_ask else "b", price, book.get(price, 0) + o["base_size"])
        self._touch(o)

    def _modify(self, o: dict, info: dict) -> None:
        m = self.sim.markets[o["market_index"]]
        if self._in_book(o):
            self._unbook(m, o)
        filled = o.get("_filled", 0)
        o["base_size"], o["base_price"] = info["BaseAmount"], info["Price"]
        o["initial_base_amount"] = m.spec.sz(filled + info["BaseAmount"])
        o["remaining_base_amount"] = m.spec.sz(info["BaseAmount"])
        o["price"] = m.spec.px(info["Price"])
        if info["TriggerPrice"]:
            o["_trigger"], o["trigger_price"] = info["TriggerPrice"], m.spec.px(info["TriggerPrice"])
        o["order_version"] += 1
        if o["trigger_status"] in ("mark-price", "parent-order"):
            self._touch(o)
            return
        self._execute_resting(m, o, ioc=False)

    def _cancel(self, o: dict) -> None:
        m = self.sim.markets[o["market_index"]]
        if self._in_book(o):
            self._unbook(m, o)
        o["status"] = "canceled"
        o["remaining_base_amount"] = m.spec.sz(0)
        o["base_size"] = 0
        self._touch(o)

    # -- helpers
    @staticmethod
    def _in_book(o: dict) -> bool:
        return o["trigger_status"] not in ("mark-price", "parent-order") and o["base_size"] > 0

    @staticmethod
    def _unbook(m, o: dict) -> None:
        side = "a" if o["is_ask"] else "b"
        book = m.asks if o["is_ask"] else m.bids
        m._set(side, o["base_price"], book.get(o["base_price"], 0) - o["base_size"])

    def _reduces(self, m, is_ask: bool) -> bool:
        pos = self.positions.get(m.spec.market_id, 0)
        return pos > 0 if is_ask else pos < 0

    def _fill(self, m, o: dict, size: int, price: int, *, maker: bool) -> None:
        spec = m.spec
        filled = o.get("_filled", 0) + size
        quote = o.get("_quote", 0) + size * price
        o["_filled"], o["_quote"] = filled, quote
        o["base_size"] -= size
        o.update(filled_base_amount=spec.sz(filled),
                 filled_quote_amount=f"{Decimal(quote).scaleb(-(spec.price_decimals + spec.size_decimals)):.6f}",
                 remaining_base_amount=spec.sz(o["base_size"]))
        if o["base_size"] <= 0:
            o["status"] = "filled"
        mid = spec.market_id
        signed = -size if o["is_ask"] else size
        pos = self.positions.get(mid, 0)
        cost = self.entry_cost.get(mid, 0)
        if pos == 0 or (pos > 0) == (signed > 0):
            cost += signed * price
        else:  # reducing (or flipping): the remaining position keeps its average entry
            closing = min(abs(signed), abs(pos))
            cost = int(cost * (abs(pos) - closing) / abs(pos)) if abs(pos) > closing else 0
            if abs(signed) > closing:
                cost = (signed // abs(signed)) * (abs(signed) - closing) * price
        self.positions[mid], self.entry_cost[mid] = pos + signed, cost
        self.positions_changed.add(mid)
        self.sim.next_fill_id += 1
        ts = int(time.time() * 1000)
        ours = {"id": o["order_index"], "client": o["client_order_index"], "account": o["owner_account_index"]}
        other = {"id": 281474976710656 + self.sim.next_fill_id, "client": 0, "account": 1000}
        ask, bid = (ours, other) if o["is_ask"] else (other, ours)
        row = {
            "trade_id": self.sim.next_fill_id, "trade_id_str": str(self.sim.next_fill_id),
            "tx_hash": f"{self.sim.next_fill_id:016x}", "type": "trade", "market_id": mid, "size": spec.sz(size),
            "price": spec.px(price),
            "usd_amount": f"{Decimal(size * price).scaleb(-(spec.price_decimals + spec.size_decimals)):.6f}",
            "ask_id": ask["id"], "ask_id_str": str(ask["id"]), "bid_id": bid["id"], "bid_id_str": str(bid["id"]),
            "ask_client_id": ask["client"], "ask_client_id_str": str(ask["client"]), "bid_client_id": bid["client"],
            "bid_client_id_str": str(bid["client"]), "ask_account_id": ask["account"],
            "bid_account_id": bid["account"], "is_maker_ask": o["is_ask"] == maker, "block_height": 510869,
            "timestamp": ts, "transaction_time": ts * 1000}
        self.fills.setdefault(mid, []).append(row)
        self.history.append(dict(row))
        del self.history[:-MAX_HISTORY]

    def _touch(self, o: dict) -> None:
        o["updated_at"] = int(time.time())
        o["transaction_time"] = int(time.time() * 1e6)
        self.changed.append(o)
        if "_children" in o or "_oco" in o:
            self._links(o)

    # -- views for the REST reads and the account channels
    @staticmethod
    def public(o: dict) -> dict:
        return {k: v for k, v in o.items() if not k.startswith("_")}

    def active(self):
        return [o for o in self.orders.values() if o["status"] in ACTIVE]

    def open_by_market(self) -> dict:
        out: dict = {}
        for o in self.active():
            out.setdefault(str(o["market_index"]), []).append(self.public(o))
        return out

    def position_json(self, m, *, stream: bool = False) -> dict:
        """The account's position row; the stream's rows also carry ``margin_set_flag`` (captured), REST's not."""
        spec, mid = m.spec, m.spec.market_id
        pos, cost = self.positions.get(mid, 0), self.entry_cost.get(mid, 0)
        avg = Decimal(abs(cost)) / abs(pos) if pos else Decimal(0)
        acct = self.sim.account
        return {"market_id": mid, "symbol": spec.symbol,
                "initial_margin_fraction": f"{Decimal(acct.imf(mid)).scaleb(-2):.2f}",
                "open_order_count": sum(1 for o in self.active() if o["market_index"] == mid),
                "pending_order_count": 0, "position_tied_order_count": 0, "sign": -1 if pos < 0 else 1,
                "position": spec.sz(abs(pos)), "avg_entry_price": spec.px(int(avg)),
                "position_value": f"{Decimal(abs(pos) * m.mid).scaleb(-(spec.price_decimals + spec.size_decimals)):.6f}",
                "unrealized_pnl": "0.000000", "realized_pnl": "0.000000", "liquidation_price": "0",
                "margin_mode": acct.margin_mode(mid), **({"margin_set_flag": 1} if stream else {}),
                "allocated_margin": acct.allocated_margin(mid)}

    def take_changed(self) -> dict:
        """The orders changed since the last publish, one row each in its latest state (an order touched twice
        in one tick, e.g. created and cancelled by one batch, is not repeated)."""
        out: dict = {}
        seen: set = set()
        for o in self.changed:
            if o["order_index"] in seen:
                continue
            seen.add(o["order_index"])
            out.setdefault(str(o["market_index"]), []).append(self.public(o))
        self.changed = []
        return out

    def take_fills(self) -> dict:
        out, self.fills = {str(k): v for k, v in self.fills.items()}, {}
        return out

    def take_positions(self) -> dict:
        out = {str(mid): self.position_json(self.sim.markets[mid], stream=True) for mid in sorted(self.positions_changed)}
        self.positions_changed = set()
        return out
