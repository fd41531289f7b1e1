"""The Lighter simulator's REST API (aiohttp): market data and nonces with the real response shapes."""
from __future__ import annotations

import random
import time

from aiohttp import web

from .tx import TxError, sequence, sequence_batch


class LighterRest:
    def __init__(self, sim):
        self.sim = sim
        self.requests = 0
        self.rejected_429 = 0

    def routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/", self.status)
        r.add_get("/api/v1/orderBooks", self.order_books)
        r.add_get("/api/v1/orderBookDetails", self.order_book_details)
        r.add_get("/api/v1/orderBookOrders", self.order_book_orders)
        r.add_get("/api/v1/recentTrades", self.recent_trades)
        r.add_get("/api/v1/nextNonce", self.next_nonce)
        r.add_post("/api/v1/sendTx", self.send_tx)
        r.add_post("/api/v1/sendTxBatch", self.send_tx_batch)
        r.add_get("/api/v1/candles", self.candles)
        r.add_get("/api/v1/candlesticks", self.candlesticks)

    def _error(self, code: int, message: str, status: int = 400) -> web.Response:
        return web.json_response({"code": code, "message": message}, status=status)

    def _markets(self, request):
        mid = request.query.get("market_id")
        markets = list(self.sim.markets.values())
        if mid is not None:
            try:
                markets = [m for m in markets if m.spec.market_id == int(mid)]
            except ValueError:
                return None
        return markets

    async def status(self, request):
        self.requests += 1
        return web.json_response({"status": 200, "network_id": 1, "timestamp": int(time.time())})

    def _ob(self, m) -> dict:
        s = m.spec
        return {"symbol": s.symbol, "market_id": s.market_id, "market_type": "perp", "base_asset_id": 0,
                "quote_asset_id": 0, "status": "active", "taker_fee": "0.0000", "is_taker_fee_enabled": True,
                "maker_fee": "0.0000", "is_maker_fee_enabled": True, "liquidation_fee": "1.0000",
                "min_base_amount": f"{s.min_base_amount:.{s.size_decimals}f}",
                "min_quote_amount": f"{s.min_quote_amount:.6f}", "order_quote_limit": "281474976.710655",
                "supported_size_decimals": s.size_decimals, "supported_price_decimals": s.price_decimals,
                "supported_quote_decimals": 6, "created_at": "1737098461100", "multiplier": "1.000000000000000000"}

    async def order_books(self, request):
        self.requests += 1
        markets = self._markets(request)
        if markets is None:
            return self._error(20001, "invalid param : market_id")
        return web.json_response({"code": 200, "order_books": [self._ob(m) for m in markets]})

    async def order_book_details(self, request):
        self.requests += 1
        markets = self._markets(request)
        if markets is None:
            return self._error(20001, "invalid param : market_id")
        rows = []
        for m in markets:
            d = self._ob(m)
            last = m.trades[-1][1] if m.trades else m.mid
            d.update({"size_decimals": m.spec.size_decimals, "price_decimals": m.spec.price_decimals,
                      "quote_multiplier": 1, "default_initial_margin_fraction": 500,
                      "min_initial_margin_fraction": 200, "maintenance_margin_fraction": 120,
                      "closeout_margin_fraction": 80, "last_trade_price": float(m.spec.px(last)),
                      "daily_trades_count": len(m.trades), "daily_base_token_volume": 0.0,
                      "daily_quote_token_volume": 0.0, "daily_price_low": float(m.spec.px(last)),
                      "daily_price_high": float(m.spec.px(last)), "daily_price_change": 0.0,
                      "open_interest": 0.0, "daily_chart": {},
                      "market_config": {"market_margin_mode": 0, "insurance_fund_account_index": 281474976710655,
                                        "liquidation_mode": 0, "force_reduce_only": False, "trading_hours": "",
                                        "funding_fee_discounts_enabled": False, "hidden": False,
                                        "rfq_enabled": True},
                      "strategy_index": 2})
            rows.append(d)
        return web.json_response({"code": 200, "order_book_details": rows, "spot_order_book_details": []})

    async def order_book_orders(self, request):
        self.requests += 1
        markets = self._markets(request)
        if not markets:
            return self._error(20001, "invalid param : market_id")
        m = markets[0]
        limit = int(request.query.get("limit", 50))
        oid = 281474976710656

        def rows(side):
            out = []
            for k, (p, q) in enumerate(m.levels(side)[:limit]):
                out.append({"order_index": oid + k, "order_id": str(oid + k), "owner_account_index": 1000 + k,
                            "initial_base_amount": m.spec.sz(q), "remaining_base_amount": m.spec.sz(q),
                            "price": m.spec.px(p), "order_expiry": 0, "transaction_time": int(time.time() * 1e6)})
            return out

        asks, bids = rows("a"), rows("b")
        return web.json_response({"code": 200, "total_asks": len(asks), "asks": asks,
                                  "total_bids": len(bids), "bids": bids})

    async def recent_trades(self, request):
        self.requests += 1
        markets = self._markets(request)
        if not markets:
            return self._error(20001, "invalid param : market_id")
        m = markets[0]
        limit = min(int(request.query.get("limit", 50)), 100)
        return web.json_response({"code": 200, "trades": [self._rest_trade(m, t) for t in m.trades[-limit:]]})

    def _rest_trade(self, m, t) -> dict:
        """A recentTrades row in the captured REST shape (nautilus ``http_recent_trades.json``): the stream's
        trade fields plus both orders' ids, client ids and accounts, the tx hash, the block and each side's
        position before the fill, all of which lighter-sdk's Trade model requires. The counterparties are not
        simulated: their ids derive from the trade id (stable across reads) and their positions are flat."""
        row, sz0 = self.sim.trade_json(m, t), m.spec.sz(0)
        tid = row["trade_id"]
        ask_id = 281474976710656 + 2 * (tid % 10 ** 9)  # 2^48 + n: the venue's order-index range
        bid_id = ask_id + 1
        flat = {"position_size_before": sz0, "entry_quote_before": "0.000000",
                "initial_margin_fraction_before": 500}  # the simulated markets' default IMF (5 %)
        # no maker_fee / taker_fee: the simulated fees are zero and the venue leaves a zero fee out
        # (the captured row has maker_fee but no taker_fee)
        return {"trade_id": tid, "trade_id_str": row["trade_id_str"], "tx_hash": f"{tid:080x}",
                "type": row["type"], "market_id": row["market_id"], "size": row["size"], "price": row["price"],
                "usd_amount": row["usd_amount"], "ask_id": ask_id, "ask_id_str": str(ask_id), "bid_id": bid_id,
                "bid_id_str": str(bid_id), "ask_client_id": 0, "ask_client_id_str": "0", "bid_client_id": 0,
                "bid_client_id_str": "0", "ask_account_id": 1000, "bid_account_id": 1001,
                "is_maker_ask": row["is_maker_ask"], "block_height": 510869, "timestamp": row["timestamp"],
                **{f"taker_{k}": v for k, v in flat.items()}, **{f"maker_{k}": v for k, v in flat.items()},
                "transaction_time": row["transaction_time"]}

    async def send_tx(self, request):
        self.requests += 1
        form = await request.post()
        try:
            tx_type = int(form.get("tx_type", ""))
        except ValueError:
            return self._error(21100, "invalid tx type")
        try:
            return web.json_response(sequence(self.sim, tx_type, form.get("tx_info", "")))
        except TxError as e:
            return self._error(e.code, e.message, e.http)

    async def send_tx_batch(self, request):
        self.requests += 1
        form = await request.post()
        try:
            return web.json_response(sequence_batch(self.sim, form.get("tx_types", ""), form.get("tx_infos", "")))
        except TxError as e:
            return self._error(e.code, e.message, e.http)

    RESOLUTION_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000,
                     "4h": 14_400_000, "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000}

    def _candle_rows(self, request):
        """The bars both candle endpoints serve, or an error response (same params, same seeded walk)."""
        q = request.query
        markets = self._markets(request)
        res = q.get("resolution")
        try:
            start, end, count = int(q["start_timestamp"]), int(q["end_timestamp"]), int(q["count_back"])
        except (KeyError, ValueError):
            return None, self._error(20001, "invalid param : start_timestamp, end_timestamp, count_back")
        if not markets or res not in self.RESOLUTION_MS:
            return None, self._error(20001, "invalid param : market_id, resolution")
        m, step = markets[0], self.RESOLUTION_MS[res]
        rng = random.Random(f"{m.spec.market_id}/{res}/{end // step}")
        price = float(m.spec.px(m.mid))
        n = min(count, 500) if count > 0 else 500  # count_back 0 (ccxt's way): every bar of the range, <= 500
        rows, t = [], (end // step) * step - (n - 1) * step
        while t <= end and len(rows) < n:
            if t >= start:
                o = price
                c = o * (1 + rng.uniform(-0.001, 0.001))
                v = round(rng.uniform(0.1, 50), 4)
                rows.append({"t": t, "o": round(o, m.spec.price_decimals), "h": round(max(o, c) * 1.0005, m.spec.price_decimals),
                             "l": round(min(o, c) * 0.9995, m.spec.price_decimals), "c": round(c, m.spec.price_decimals),
                             "v": v, "V": round(v * c, 6), "i": 19211490000 + t // step})
                price = c
            t += step
        return rows, None

    async def candles(self, request):
        self.requests += 1
        rows, err = self._candle_rows(request)
        return err or web.json_response({"code": 200, "r": request.query["resolution"], "c": rows})

    async def candlesticks(self, request):
        """The older endpoint (still served, shape of the ccxt capture): same bars, long field names."""
        self.requests += 1
        rows, err = self._candle_rows(request)
        if err is not None:
            return err
        return web.json_response({"code": 200, "resolution": request.query["resolution"], "candlesticks": [
            {"timestamp": k["t"], "open": k["o"], "high": k["h"], "low": k["l"], "close": k["c"], "open_raw": 0,
             "high_raw": 0, "low_raw": 0, "close_raw": 0, "volume0": k["v"], "volume1": k["V"],
             "last_trade_id": k["i"]} for k in rows]})

    async def next_nonce(self, request):
        self.requests += 1
        try:
            key = (int(request.query["account_index"]), int(request.query["api_key_index"]))
        except (KeyError, ValueError):
            return self._error(20001, "invalid param : account_index, api_key_index")
        return web.json_response({"code": 200, "nonce": self.sim.nonces.get(key, 0)})
