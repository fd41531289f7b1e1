"""LighterConnector: the seed's Lighter connector.

Market data: order books over picows into the compiled book, trades, REST reads. Orders: signed by the
official signer library on a worker thread (the ``lighter`` extra), numbered by a nonce lane per API key,
sent with sendTx (or several at once with sendTxBatch); a nonce conflict (21104) refreshes the lane from
nextNonce and retries once. sendTx's 200 means *sequenced*: create, modify and cancel come back as SUBMITTED
and their fate arrives on the account stream (``get_user_data_stream()``) or from the order lookups
(``get_order``/``get_open_orders``: accountActiveOrders/accountInactiveOrders with an auth token).
"""
from __future__ import annotations

import asyncio
import logging
import secrets
import time
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from typing import AsyncIterator, Optional

import orjson

from engine.book import DEFAULT_MAX_FRAME_BYTES
from engine.config import reveal, venue_settings
from engine.connectors.base import BaseConnector, ConnectorState
from engine.errors import (AuthenticationError, NonceConflictError, OrderRejectedError, RateLimitExceededError,
                           TradingError)
from engine.models import (Balance, Candle, OrderBookSnapshot, OrderStatus, OrderType, OrderUpdate, Side,
                           TimeInForce)
from engine.symbols import Symbol, SymbolMap

from . import parse
from .auth import AuthTokens
from .errors import permanent_auth_failure
from .http import LighterHttp
from .limits import MAX_MARKETS
from .nonce import NonceLane
from .settings import (DEFAULT_TX_DEADLINE_MARGIN_S, DEFAULT_TX_TIMEOUT_S, MAX_TX_DEADLINE_MARGIN_S, MAX_TX_TIMEOUT_S,
                       check_private_key, check_seconds)
from .urls import ENVIRONMENTS, LighterEndpoints
from .ws_orderbook import LighterMarketData

log = logging.getLogger("engine.lighter")
MAX_COI = 2 ** 48 - 1
# OrderType -> (Lighter order type, needs a trigger); docs/lighter.md, "Order enums and the signer's validation"
TYPE_CODES = {OrderType.LIMIT: (0, False), OrderType.LIMIT_MAKER: (0, False), OrderType.MARKET: (1, False),
              OrderType.STOP_MARKET: (2, True), OrderType.STOP_LIMIT: (3, True),
              OrderType.TAKE_PROFIT_MARKET: (4, True), OrderType.TAKE_PROFIT_LIMIT: (5, True)}
TIF_IOC, TIF_GTT, TIF_POST_ONLY = 0, 1, 2
EXPIRY_28D = -1  # the signer's "now + 28 days" (a resting or conditional order must carry an expiry)
WS_BATCH_MAX, HTTP_BATCH_MAX = 15, 50  # jsonapi/sendtxbatch takes 15 (asyncapi, nautilus), sendTxBatch 50


class LighterConnector(BaseConnector):
    name = "lighter"

    def __init__(self, config=None, *, endpoints: Optional[LighterEndpoints] = None, testnet: bool = False,
                 timeout_s: float = 10.0, account_index: Optional[int] = None, api_key_index: Optional[int] = None,
                 api_private_key: Optional[str] = None, token_lifetime_s: float = 7 * 3600,
                 tx_over_ws: bool = True, tier: Optional[str] = None,
                 max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES, max_markets: int = MAX_MARKETS,
                 tx_timeout_s: Optional[float] = None, tx_deadline_margin_s: Optional[float] = None):
        super().__init__()
        if config is not None:  # the engine's Settings or this venue's LighterSettings; keywords win
            own = venue_settings(config, self.name)
            testnet = testnet or bool(own.testnet)
            account_index = account_index if account_index is not None else own.account_index
            api_key_index = api_key_index if api_key_index is not None else own.api_key_index
            api_private_key = api_private_key or reveal(own.api_private_key)
            tx_timeout_s = tx_timeout_s if tx_timeout_s is not None else own.tx_timeout_s
            if tx_deadline_margin_s is None:
                tx_deadline_margin_s = own.tx_deadline_margin_s
        check_private_key(api_private_key)  # an unusable key is refused here, before any socket or signer
        # LighterSettings' docstring says what these two are; checked the same way as the variables
        tx_timeout_s = check_seconds(DEFAULT_TX_TIMEOUT_S if tx_timeout_s is None else tx_timeout_s,
                                     "tx_timeout_s (LIGHTER_TX_TIMEOUT_S)", zero_ok=False, hi=MAX_TX_TIMEOUT_S)
        self.tx_deadline_margin_s = check_seconds(
            DEFAULT_TX_DEADLINE_MARGIN_S if tx_deadline_margin_s is None else tx_deadline_margin_s,
            "tx_deadline_margin_s (LIGHTER_TX_DEADLINE_MARGIN_S)", zero_ok=True, hi=MAX_TX_DEADLINE_MARGIN_S)
        self.account_index, self.api_key_index = account_index, api_key_index
        self._private_key = api_private_key
        self.signer = None
        self.lane: Optional[NonceLane] = None
        self.tokens = AuthTokens(lambda: self._trading()[0], lifetime_s=token_lifetime_s)
        self.endpoints = endpoints or ENVIRONMENTS["testnet" if testnet else "mainnet"]
        self.http = LighterHttp(self.endpoints, timeout_s=timeout_s)
        if tier is not None:
            self.http.budget.set_tier(tier)
        self._tier_known = tier is not None  # else read from accountLimits when trading starts
        self.market = LighterMarketData(self.endpoints.ws, max_frame_bytes=max_frame_bytes, max_markets=max_markets,
                                        tx_timeout_s=tx_timeout_s)
        self.markets: dict[str, dict] = {}  # native symbol -> orderBookDetails row
        self.by_id: dict[int, dict] = {}  # market_id -> the same row
        self.symbols = SymbolMap("lighter")
        self.last_tx_hash: Optional[str] = None
        self.tx_over_ws = tx_over_ws  # jsonapi/sendtx on the stream socket (ordered, pipelined); else sendTx

    def __repr__(self) -> str:
        return f"LighterConnector(rest={self.endpoints.rest!r}, state={self.state.value})"

    @classmethod
    def for_simulator(cls, sim, **kwargs) -> "LighterConnector":
        """Against a simulator offering ``rest_url``, ``ws_url``, ``account_index``, ``api_key_index`` and
        ``api_private_key``."""
        kw = {"endpoints": LighterEndpoints(sim.rest_url, sim.ws_url), "account_index": sim.account_index,
              "api_key_index": sim.api_key_index, "api_private_key": sim.api_private_key, **kwargs}
        return cls(**kw)

    async def connect(self) -> None:
        self.state = ConnectorState.CONNECTING
        try:
            details = await self.http.get("/api/v1/orderBookDetails")
        except Exception:
            await self.http.close()
            self.state = ConnectorState.DISCONNECTED
            raise
        for row in details.get("order_book_details", ()):
            self.markets[row["symbol"]] = row
            self.by_id[int(row["market_id"])] = row
            # perps are USDC-margined; ETH-USDT is accepted as an alias so one symbol names both venues
            self.symbols.add(Symbol(row["symbol"], "USDC"), row["symbol"])
            self.symbols.add(Symbol(row["symbol"], "USDT"), row["symbol"])
        await self.market.start()
        self.state = ConnectorState.LIVE

    async def disconnect(self) -> None:
        if self._user_stream is not None:
            await self._user_stream.stop()
        await self.market.stop()
        await self.http.close()
        if self.signer is not None:
            self.signer.close()
        self.state = ConnectorState.CLOSED

    def _trading(self):
        """The signer and nonce lane, created on first use (the lighter extra is needed only here)."""
        if self.signer is None:
            self._require_keys()
            from .signer import LighterSigner

            self.signer = LighterSigner(self.endpoints.rest, self._private_key, self.account_index,
                                        self.api_key_index, self.endpoints.chain_id)

            async def next_nonce(account, key):
                body = await self.http.get("/api/v1/nextNonce", {"account_index": account, "api_key_index": key})
                return body["nonce"]

            self.lane = NonceLane(self.account_index, self.api_key_index, next_nonce)
        return self.signer, self.lane

    def _require_keys(self) -> None:
        if self._private_key is None or self.account_index is None or self.api_key_index is None:
            raise AuthenticationError("lighter: no API key, so no orders or account stream (set "
                                      "LIGHTER_ACCOUNT_INDEX, LIGHTER_API_KEY_INDEX and LIGHTER_API_PRIVATE_KEY)",
                                      exchange="lighter")

    async def _send(self, sign) -> dict:
        return await self._transact([sign])

    async def _transact(self, signs: list) -> dict:
        """Sign each with the next nonce and send them (one tx, or one batch); on 21104/21105 refresh the
        lane and retry exactly once.

        Sign and write happen under the lane's send lock, so one key's transactions leave in nonce order. Over
        the stream socket (default) the answer is awaited after the lock is released, so orders pipeline;
        over HTTP (no socket, or ``tx_over_ws=False``) one request is on the way at a time, because
        separate HTTP connections do not keep order.
        """
        _, lane = self._trading()
        await self._learn_tier()
        for attempt in (1, 2):
            async with lane.sending:
                taken, txs = [], []
                try:
                    for sign in signs:
                        taken.append(await lane.take())
                        tx_type, tx_info, tx_hash = await sign(taken[-1])
                        txs.append((tx_type, tx_info))
                except Exception:
                    for nonce in reversed(taken):
                        lane.give_back(nonce)  # refused locally by the signer: nothing was sent
                    raise
                await self.http.budget.tx.acquire(0, orders=len(txs))  # REST and WS share the tx budget
                if self.tx_over_ws and self.market.tx.ready and len(txs) <= WS_BATCH_MAX:
                    # on the wire now, in nonce order
                    answer = self.market.tx.write(*txs[0]) if len(txs) == 1 else self.market.tx.write_batch(txs)
                else:
                    answer = asyncio.ensure_future(self.http.send_tx(*txs[0]) if len(txs) == 1
                                                   else self.http.send_tx_batch(txs))
                    await asyncio.wait([answer])
            try:
                body = await answer
            except NonceConflictError:
                if attempt == 2:
                    raise
                await lane.on_conflict()
                continue
            except RateLimitExceededError:
                for nonce in reversed(taken):
                    lane.give_back(nonce)  # the venue's limiter refused it before sequencing
                raise
            except Exception:
                lane.forget()  # the outcome is unknown: the next transaction asks the venue where we are
                raise
            self.last_tx_hash = body.get("tx_hash") or tx_hash
            return body
        raise AssertionError("unreachable")

    async def _learn_tier(self) -> None:
        """Budget by the account's tier (accountLimits.user_tier); Standard's budget until it is known."""
        if self._tier_known:
            return
        self._tier_known = True
        try:
            tier = str((await self._private_get("/api/v1/accountLimits", {})).get("user_tier", "standard"))
            self.http.budget.set_tier(tier)
            log.info("lighter account %s: %s tier rate limits", self.account_index, tier)
        except (TradingError, ValueError) as e:
            log.warning("lighter: account tier unknown (%s); keeping the Standard tier's limits", e)

    async def _private_get(self, path: str, params: dict) -> dict:
        """A read that needs an auth token; a refused token (20013) is re-minted once. A refused key
        (``permanent_auth_failure``: 21108/21109/21120/21136) is raised at once, never retried."""
        if self.account_index is None:
            raise AuthenticationError(f"lighter {path} needs LIGHTER_ACCOUNT_INDEX", exchange="lighter")
        params = {"account_index": self.account_index, **params}
        try:
            return await self.http.get(path, params, auth=await self.tokens.current())
        except AuthenticationError as e:
            if permanent_auth_failure(e):
                raise
            return await self.http.get(path, params, auth=await self.tokens.fresh())

    def native(self, symbol) -> str:
        return self.symbols.native(symbol)

    def market_info(self, symbol) -> dict:
        return self.markets[self.native(symbol)]

    def unified_market(self, market_id: int) -> str:
        m = self.by_id.get(int(market_id))
        return str(self.symbols.unified(m["symbol"])) if m else str(market_id)

    async def add_book(self, symbol, callback=None):
        m = self.market_info(symbol)
        return await self.market.add_book(m["market_id"], m["symbol"], m["price_decimals"], m["size_decimals"],
                                          callback)

    async def add_trades(self, symbol, callback) -> None:
        """``callback(Trade)`` for every new public print (deduplicated by trade id across reconnects)."""
        m = self.market_info(symbol)
        unified = str(self.symbols.unified(m["symbol"]))
        await self.market.add_trades(m["market_id"], lambda row: callback(parse.trade(row, unified)))

    def book_latency(self):
        return self.market.listener.latency.snapshot() if self.market.listener is not None else None

    # -- market data
    async def get_orderbook(self, symbol: str, limit: int = 100) -> OrderBookSnapshot:
        m = self.market_info(symbol)
        body = await self.http.get("/api/v1/orderBookOrders", {"market_id": m["market_id"], "limit": min(limit, 250)})

        def levels(rows, reverse):
            agg: dict = {}
            for r in rows:  # individual orders, not levels: aggregate by price
                p = Decimal(r["price"])
                agg[p] = agg.get(p, Decimal(0)) + Decimal(r["remaining_base_amount"])
            return [(float(p), float(q)) for p, q in sorted(agg.items(), reverse=reverse)][:limit]

        return OrderBookSnapshot("lighter", str(self.symbols.unified(m["symbol"])), levels(body["bids"], True),
                                 levels(body["asks"], False))

    async def get_candlesticks(self, symbol, interval="1m", limit=100, start_ms=None, end_ms=None):
        m = self.market_info(symbol)
        end = end_ms if end_ms is not None else int(time.time() * 1000)
        body = await self.http.get("/api/v1/candles", {
            "market_id": m["market_id"], "resolution": interval, "start_timestamp": start_ms or 0,
            "end_timestamp": end, "count_back": min(limit, 500)})
        step = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "4h": 14_400_000,
                "12h": 43_200_000, "1d": 86_400_000, "1w": 604_800_000}.get(interval, 60_000)
        d = lambda x: Decimal(str(x))  # noqa: E731 (candle values are JSON floats on Lighter)
        return [Candle(open_time_ms=k["t"], open=d(k["o"]), high=d(k["h"]), low=d(k["l"]), close=d(k["c"]),
                       volume=d(k.get("v", 0)), close_time_ms=k["t"] + step - 1) for k in (body.get("c") or [])]

    async def get_ticker_price(self, symbol: str) -> Decimal:
        m = self.market_info(symbol)
        body = await self.http.get("/api/v1/orderBookDetails", {"market_id": m["market_id"]})
        return Decimal(str(body["order_book_details"][0]["last_trade_price"]))

    async def stream_orderbook(self, symbol: str) -> AsyncIterator:
        lb = await self.add_book(symbol)
        while True:
            await lb.changed.wait()
            lb.changed.clear()
            yield lb.book

    async def stream_trades(self, symbol: str) -> AsyncIterator:
        """Public trades as ``Trade`` (taker side), deduplicated by trade id across reconnects."""
        queue: asyncio.Queue = asyncio.Queue(maxsize=10_000)

        def put(t):
            if queue.full():
                queue.get_nowait()  # a slow consumer loses the oldest prints, never the connection
            queue.put_nowait(t)

        await self.add_trades(symbol, put)
        while True:
            yield await queue.get()

    def new_client_order_id(self) -> str:
        return str(1 + secrets.randbelow(MAX_COI))

    # -- orders
    def _scale(self, m: dict, quantity, price, side: Side, *, stop_price=None) -> tuple:
        """(base_amount, price, trigger) in the market's integer units; refuses floats and zero sizes."""
        if any(isinstance(x, float) for x in (quantity, price, stop_price)):
            raise TypeError("quantity and prices must be Decimal, str or int, not float")
        base = int(Decimal(quantity).scaleb(m["size_decimals"]).to_integral_value(rounding=ROUND_FLOOR))
        if base <= 0:
            raise OrderRejectedError(f"lighter {m['symbol']}: quantity {quantity} rounds to zero at "
                                     f"{m['size_decimals']} decimals", exchange="lighter")
        if price is None:
            raise ValueError("Lighter orders need a price (for market and stop orders: the worst acceptable price)")
        # a buy never pays more, a sell never receives less, than asked
        px = int(Decimal(price).scaleb(m["price_decimals"]).to_integral_value(
            rounding=ROUND_FLOOR if side is Side.BUY else ROUND_CEILING))
        trigger = 0
        if stop_price is not None:
            trigger = int(Decimal(stop_price).scaleb(m["price_decimals"]).to_integral_value(rounding=ROUND_HALF_EVEN))
        for name, v in (("price", px), ("stop_price", trigger)):
            if not 0 <= v < 2 ** 32 or (name == "price" and v == 0):
                raise OrderRejectedError(f"lighter {m['symbol']}: {name} out of range", exchange="lighter")
        return base, px, trigger

    @staticmethod
    def _order_codes(otype: OrderType, tif: Optional[TimeInForce], trigger: int) -> tuple:
        """(order type, time in force, order expiry) by the signer's validation matrix (lighter.md 5.2)."""
        type_code, needs_trigger = TYPE_CODES[otype]
        if needs_trigger != bool(trigger):
            raise ValueError(f"{otype.value} orders on Lighter {'need' if needs_trigger else 'take no'} stop_price")
        if tif is TimeInForce.FOK:
            raise ValueError("Lighter has no fill-or-kill; use IOC")
        if otype in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET):
            # market: IOC, no expiry; a conditional market order rests untriggered, so it carries one
            return type_code, TIF_IOC, (EXPIRY_28D if needs_trigger else 0)
        if tif is TimeInForce.IOC:
            if needs_trigger:
                return type_code, TIF_IOC, EXPIRY_28D
            return type_code, TIF_IOC, 0
        if otype is OrderType.LIMIT_MAKER or tif is TimeInForce.POST_ONLY:
            return type_code, TIF_POST_ONLY, EXPIRY_28D
        return type_code, TIF_GTT, EXPIRY_28D

    def _coi(self, client_order_id) -> int:
        if client_order_id is None:
            return int(self.new_client_order_id())
        if not str(client_order_id).isdigit():
            raise ValueError(f"a Lighter client order index is an integer (got {client_order_id!r}); "
                             "connector.new_client_order_id() makes one")
        coi = int(client_order_id)
        if not 0 < coi <= MAX_COI:
            raise ValueError("a Lighter client order index is an integer in 1 .. 2^48-1")
        return coi

    async def create_order(self, symbol, side, order_type, quantity, price=None, *, stop_price=None,
                           time_in_force=None, client_order_id=None, reduce_only=False) -> OrderUpdate:
        """Sign and send a CreateOrder. Returns SUBMITTED (sequenced): whether it rests, fills or is refused
        arrives on the account stream, or from ``get_order``. Market and stop orders need ``price`` = the
        worst acceptable price; stop and take-profit orders need ``stop_price`` (the trigger)."""
        sign, upd = self._prepare_create(symbol, side, order_type, quantity, price, stop_price=stop_price,
                                         time_in_force=time_in_force, client_order_id=client_order_id,
                                         reduce_only=reduce_only)
        upd.raw = await self._send(sign)
        return upd

    def _prepare_create(self, symbol, side, order_type, quantity, price, *, stop_price=None, time_in_force=None,
                        client_order_id=None, reduce_only=False) -> tuple:
        """Check and scale everything first (nothing is numbered or signed for a bad order); returns the
        signing step and the SUBMITTED update it will be answered with."""
        m = self.market_info(symbol)
        side = side if isinstance(side, Side) else Side(str(side).lower())
        otype = order_type if isinstance(order_type, OrderType) else OrderType(str(order_type).lower())
        tif = time_in_force if time_in_force is None or isinstance(time_in_force, TimeInForce) \
            else TimeInForce(str(time_in_force).upper())
        base, px, trigger = self._scale(m, quantity, price, side, stop_price=stop_price)
        type_code, tif_code, expiry = self._order_codes(otype, tif, trigger)
        coi = self._coi(client_order_id)

        async def sign(nonce):
            signed = await self.signer.create_order(
                market_index=m["market_id"], client_order_index=coi, base_amount=base, price=px,
                is_ask=side is Side.SELL, order_type=type_code, time_in_force=tif_code, reduce_only=reduce_only,
                trigger_price=trigger, order_expiry=expiry, nonce=nonce)
            self._remember_expiry(coi, signed[1])
            return signed

        return sign, OrderUpdate(exchange="lighter", symbol=str(self.symbols.unified(m["symbol"])), order_id=None,
                                 client_order_id=str(coi), status=OrderStatus.SUBMITTED, side=side, type=otype,
                                 price=Decimal(px).scaleb(-m["price_decimals"]),
                                 quantity=Decimal(base).scaleb(-m["size_decimals"]),
                                 timestamp_ms=int(time.time() * 1000))

    def _remember_expiry(self, coi: int, tx_info: str) -> None:
        """The venue cannot execute a transaction after its ExpiredAt (ms, set by the signer library): past
        it, plus ``tx_deadline_margin_s`` for the clocks, an order it has not shown will never exist."""
        try:
            expired_at = int(orjson.loads(tx_info)["ExpiredAt"])
        except (ValueError, KeyError, TypeError):
            return
        self.deadlines.set(str(coi), expired_at + round(self.tx_deadline_margin_s * 1000))

    async def batch_orders(self, creates=(), cancels=()) -> list:
        """Cancels, then creates, as one transaction batch on one key (consecutive nonces; sequenced all or
        none): a requote in one step. ``creates`` are OrderRequests, ``cancels`` (symbol, order_id,
        client_order_id) tuples. Up to 15 go over the socket, up to 50 over HTTP sendTxBatch. Returns the
        SUBMITTED updates, cancels first; fates arrive as for single orders."""
        prepared = [self._prepare_cancel(*c) for c in cancels]
        prepared += [self._prepare_create(r.symbol, r.side, r.type, r.quantity, r.price, stop_price=r.stop_price,
                                          time_in_force=r.time_in_force, client_order_id=r.client_order_id,
                                          reduce_only=r.reduce_only) for r in creates]
        if len(prepared) > HTTP_BATCH_MAX:
            raise ValueError(f"a Lighter batch holds at most {HTTP_BATCH_MAX} transactions (got {len(prepared)})")
        if not prepared:
            return []
        body = await self._transact([sign for sign, _ in prepared])
        for _, upd in prepared:
            upd.raw = body
        return [upd for _, upd in prepared]

    async def modify_order(self, symbol, order_id=None, client_order_id=None, *, quantity, price,
                           stop_price=None) -> OrderUpdate:
        """Change a resting order's remaining size, price (and trigger) in place; SUBMITTED like create."""
        m = self.market_info(symbol)
        index = self._index(order_id, client_order_id)
        current = await self.get_order(symbol, order_id=order_id, client_order_id=client_order_id)
        if current is None or current.status.is_final:
            raise OrderRejectedError(f"lighter {m['symbol']}: no open order {index} to modify", exchange="lighter")
        base, px, trigger = self._scale(m, quantity, price, current.side, stop_price=stop_price)

        async def sign(nonce):
            return await self.signer.modify_order(market_index=m["market_id"], order_index=index, base_amount=base,
                                                  price=px, trigger_price=trigger, nonce=nonce)

        answer = await self._send(sign)
        return OrderUpdate(exchange="lighter", symbol=current.symbol, order_id=current.order_id,
                           client_order_id=current.client_order_id, status=OrderStatus.SUBMITTED, side=current.side,
                           type=current.type, price=Decimal(px).scaleb(-m["price_decimals"]),
                           quantity=Decimal(base).scaleb(-m["size_decimals"]), timestamp_ms=int(time.time() * 1000),
                           raw=answer)

    @staticmethod
    def _index(order_id, client_order_id) -> int:
        index = order_id if order_id is not None else client_order_id  # Lighter takes either (disjoint ranges)
        if index is None:
            raise ValueError("needs order_id or client_order_id")
        return int(index)

    async def cancel_order(self, symbol, order_id=None, client_order_id=None) -> OrderUpdate:
        sign, upd = self._prepare_cancel(symbol, order_id, client_order_id)
        upd.raw = await self._send(sign)
        return upd

    def _prepare_cancel(self, symbol, order_id=None, client_order_id=None) -> tuple:
        m = self.market_info(symbol)
        index = self._index(order_id, client_order_id)

        async def sign(nonce):
            return await self.signer.cancel_order(market_index=m["market_id"], order_index=index, nonce=nonce)

        return sign, OrderUpdate(exchange="lighter", symbol=str(self.symbols.unified(m["symbol"])),
                                 order_id=str(order_id) if order_id is not None else None,
                                 client_order_id=str(client_order_id) if client_order_id is not None else None,
                                 status=OrderStatus.SUBMITTED, timestamp_ms=int(time.time() * 1000))

    async def cancel_all_orders(self, symbol) -> list:
        """CancelAllOrders scoped to this market (attribute 5; without it the venue cancels account-wide)."""
        m = self.market_info(symbol)

        async def sign(nonce):
            return await self.signer.cancel_all(time_in_force=0, time_ms=0, market_index=m["market_id"],
                                                nonce=nonce)

        await self._send(sign)
        return []  # the cancelled orders are reported by the account stream

    # -- order lookups (auth token)
    async def get_open_orders(self, symbol=None) -> list:
        params = {"market_id": self.market_info(symbol)["market_id"]} if symbol is not None else {}
        body = await self._private_get("/api/v1/accountActiveOrders", params)
        return [parse.order_update(r, self.unified_market(r["market_index"])) for r in body.get("orders") or ()]

    async def get_order(self, symbol, order_id=None, client_order_id=None) -> Optional[OrderUpdate]:
        """The venue's view of one order: the active orders, then the latest 100 inactive ones; None if neither
        has it (not sequenced yet, dropped by the venue, or older than the inactive window)."""
        self._index(order_id, client_order_id)
        mid = self.market_info(symbol)["market_id"]
        for path, extra in (("/api/v1/accountActiveOrders", {}), ("/api/v1/accountInactiveOrders", {"limit": 100})):
            body = await self._private_get(path, {"market_id": mid, **extra})
            for r in body.get("orders") or ():
                if parse.matches(r, order_id, client_order_id):
                    return parse.order_update(r, self.unified_market(r["market_index"]))
        return None

    # -- account
    async def get_account(self) -> dict:
        """Balances (USDC collateral) from GET /api/v1/account; positions are in ``get_positions``."""
        body = await self._account_body()
        return {a["symbol"]: Balance(a["symbol"], Decimal(a["balance"]), Decimal(a["locked_balance"]))
                for a in body.get("assets", ())}

    async def get_positions(self) -> dict:
        body = await self._account_body()
        return {p["symbol"]: parse.position(p) for p in body.get("positions", ())}

    async def _account_body(self) -> dict:
        if self.account_index is None:
            raise AuthenticationError("lighter account reads need LIGHTER_ACCOUNT_INDEX", exchange="lighter")
        body = await self.http.get("/api/v1/account", {"by": "index", "value": self.account_index})
        if not body.get("accounts"):
            raise OrderRejectedError(f"lighter account {self.account_index} not found", exchange="lighter")
        return body["accounts"][0]

    def _book_feed(self, symbol: str):
        return self.market.books.get(self.market_info(symbol)["market_id"])

    def _book_feeds(self):
        return self.market.books.values()

    def get_user_data_stream(self):
        self._require_keys()
        if self._user_stream is None:
            from .account_ws import LighterAccountStream

            self._user_stream = LighterAccountStream(self)
        return self._user_stream

    def health(self) -> dict:
        """State, each book's health (``symbol`` unified, ``native`` Lighter's market name), REST counts, the
        tier's budgets, and the per-minute REST budget as ``rest_budget`` {used, limit, kind, banned_for_s}
        (kind "weight" on the paid tiers, "requests" on Standard, which counts requests whatever they are).
        ``market`` is the stream connection's ``status()`` (disconnects, stalls, connect_failures,
        oversized_frames, resyncs, last_disconnect, late_answers); ``account_stream`` the account stream's
        ``status()`` (state, subscribed, last_error, ...), present once ``get_user_data_stream()`` made it."""
        rest = self.http.limits.status()
        kind, row = (("weight", rest["REQUEST_WEIGHT/1M"]) if "REQUEST_WEIGHT/1M" in rest
                     else ("requests", rest.get("RAW_REQUESTS/1M")))
        books = [{**b, "symbol": str(self.symbols.unified(b["symbol"])), "native": b["symbol"]}
                 for b in self.market.health()]
        out = {"exchange": "lighter", "state": self.state.value, "books": books,
               "ws_disconnects": self.market.disconnects, "market": self.market.status(),
               "rest_requests": self.http.requests,
               "rate_limited": self.http.rate_limited, "limits": self.http.budget.status(),
               "rest_budget": None if row is None else {**row, "kind": kind, "banned_for_s": rest["banned_for_s"]}}
        if self.lane is not None:
            out["nonce"] = {"api_key": self.api_key_index, "refreshes": self.lane.refreshes,
                            "conflicts": self.lane.conflicts}
        if self.tokens.minted:
            out["auth_token_expires_in_s"] = round(self.tokens.expires_in_s())
        if self._user_stream is not None:
            out["account_stream"] = self._user_stream.status()
        return out
