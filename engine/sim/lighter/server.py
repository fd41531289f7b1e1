"""LighterSimulator: REST (/api/v1) and the /stream WebSocket on one aiohttp server on 127.0.0.1.

    async with LighterSimulator(seed=1) as sim:
        sim.rest_url, sim.ws_url, sim.account_index, sim.api_key_index, sim.api_private_key
        sim.faults["gap"] = 1                 # the next book update is never sent (a broken nonce chain)
        sim.faults["nonce_conflict"] = 1      # the next sendTx gets 21104 and the key's nonce moves on
        sim.faults["rate_limit"] = 2          # the next 2 REST requests get HTTP 429 / 23000
        sim.faults["auth_ttl_s"] = 1.0        # tokens expire 1 s after first use; private channels end (20013)
        sim.faults["disconnect_every_s"] = 5  # every stream socket is closed every 5 s
        sim.faults["drop_order"] = 1          # the next order is sequenced (200) and then vanishes, no report
        sim.stream.mute_tx_answers = True     # jsonapi/sendtx is sequenced but its answer never comes back
        sim.refuse_key(21120)                 # the API key is refused for good (tokens and transactions)
        sim.faults["big_frame_bytes"] = 5 << 20  # the next book update is padded with whitespace to 5 MiB

    LighterSimulator(replay="session.jsonl.gz", replay_pace="fast"|"recorded")  # /stream serves a recording

Shares no code with the engine's connectors or compiled hot path. Sequenced transactions (REST sendTx,
sendTxBatch, WS jsonapi/sendtx) execute at the next tick against the books (orders.py) and are reported on
the account channels (stream.py); private reads and channels check auth tokens (auth.py).
"""
from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from decimal import Decimal
from typing import Optional

from aiohttp import web

from .account_rest import LighterAccountRest
from .account_tx import SimAccount
from .auth import REFUSALS, TokenBook
from .history_rest import LighterHistoryRest
from .transfer_rest import LighterTransferRest
from .info_rest import LighterInfoRest
from .market import DEFAULT_MARKETS, LighterMarket
from .orders import SimOrders
from .rest import LighterRest
from .stream import LighterStream


class LighterSimulator:
    def __init__(self, *, seed: int = 1, host: str = "127.0.0.1", port: int = 0, markets: tuple = DEFAULT_MARKETS,
                 tick_s: float = 0.1, account_index: int = 281474976710608, api_key_index: int = 3,
                 user_tier: str = "premium", verify_signatures: bool = False, replay: Optional[str] = None,
                 replay_pace: str = "fast", replay_speed: float = 1.0):
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the simulator only listens on loopback")
        if type(api_key_index) is not int or not 0 <= api_key_index <= 254:  # 255 is the signer's "any key"
            raise ValueError("api_key_index must be an integer 0..254")
        self.host, self._port, self.tick_s = host, port, tick_s
        rng = random.Random(seed)
        self.markets = {m.market_id: LighterMarket(m, random.Random(rng.random()), nonce=18_032_383_898 + 1000 * i)
                        for i, m in enumerate(markets)}
        self.account_index, self.api_key_index = account_index, api_key_index
        # accountLimits.user_tier: clients budget by it. The simulator enforces no limits (faults aside), so it
        # says "premium" by default; "standard" is what the captured testnet account said
        self.user_tier = user_tier
        self.api_private_key, self.api_public_key = _throwaway_key()
        # check each tx's and auth token's Schnorr signature against the registered key (tx.py, auth.py; ~30 ms)
        self.verify_signatures = verify_signatures
        self.tokens = TokenBook(self)
        self.refused_keys: dict = {}  # (account, api key) -> the code the venue refuses it with (refuse_key)
        self.nonces: dict = {(account_index, api_key_index): 1}
        self.skip_nonces: dict = {}  # (account, api key) -> the skip-nonce Nonces used (tx.py)
        self.trades_sent: dict = {}
        self.next_fill_id = 27_000_000_000
        self.txs: list = []  # (tx_type, tx_info) sequenced, in order
        self.tx_hashes: dict = {}  # tx_hash -> the record GET /api/v1/tx serves (tx.py remember)
        self.collateral = Decimal("100000")  # USDC
        self.pending_txs: list = []  # sequenced, executed at the next tick (a block later, as on the venue)
        self.account = SimAccount(self)  # leverage, margin, transfers, keys (account_tx.py)
        self.orders = SimOrders(self)
        for m in self.markets.values():
            m.on_sweep = self.orders.on_sweep
        self.faults: dict = {}
        self.rest = LighterRest(self)
        self.account_rest = LighterAccountRest(self, self.rest)
        self.info_rest = LighterInfoRest(self, self.rest)
        self.history_rest = LighterHistoryRest(self, self.rest, self.account_rest)
        self.transfer_rest = LighterTransferRest(self, self.rest, self.account_rest)
        self.stream = LighterStream(self)
        self._runner: Optional[web.AppRunner] = None
        self._clock: Optional[asyncio.Task] = None
        self.paused = False
        self.replay = None
        if replay:  # serve a recording on /stream (replay.py); the simulated markets stand still
            from .replay import ReplayStream, load_session

            self.replay = load_session(replay)
            self.stream = ReplayStream(self.replay, pace=replay_pace, speed=replay_speed)
            self.paused = True
        self.rest_url = self.ws_url = ""

    def refuse_key(self, code: int = 21120, account: Optional[int] = None, api_key: Optional[int] = None) -> None:
        """From now on the venue refuses this API key (the simulator's own by default) with ``code``: its
        auth tokens and its transactions (auth.py ``REFUSALS`` lists the codes); ``code=None`` accepts it again."""
        key = (self.account_index if account is None else account, self.api_key_index if api_key is None else api_key)
        if code is None:
            self.refused_keys.pop(key, None)
        elif code not in REFUSALS:
            raise ValueError(f"refuse_key takes one of {sorted(REFUSALS)}")
        else:
            self.refused_keys[key] = code

    def info(self) -> dict:
        return {"exchange": "lighter", "rest_url": self.rest_url, "ws_url": self.ws_url,
                "account_index": self.account_index, "api_key_index": self.api_key_index,
                "api_private_key": self.api_private_key}

    def market_by_id(self, market_id: int) -> Optional[LighterMarket]:
        return self.markets.get(market_id)

    def trade_json(self, m: LighterMarket, t: tuple) -> dict:
        tid, price, size, maker_ask, ts = t
        spec = m.spec
        usd = (price * size) / 10 ** (spec.price_decimals + spec.size_decimals)
        return {"trade_id": tid, "trade_id_str": str(tid), "type": "trade", "market_id": spec.market_id,
                "size": spec.sz(size), "price": spec.px(price), "usd_amount": f"{usd:.6f}",
                "is_maker_ask": maker_ask, "timestamp": ts, "transaction_time": ts * 1000}

    async def start(self) -> "LighterSimulator":
        app = web.Application(middlewares=[self._faults_mw])
        self.rest.routes(app)
        self.account_rest.routes(app)
        self.info_rest.routes(app)
        self.history_rest.routes(app)
        self.transfer_rest.routes(app)
        app.router.add_get("/stream", self.stream.handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self._port)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.rest_url = f"http://{self.host}:{port}"
        self.ws_url = f"ws://{self.host}:{port}/stream"
        self._clock = asyncio.create_task(self._run_clock(), name="lighter-sim-clock")
        return self

    async def stop(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._clock
        await self.stream.close_all()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self):
        return await self.start()

    async def __aexit__(self, *exc):
        await self.stop()

    @web.middleware
    async def _faults_mw(self, request, handler):
        """REST faults: ``rate_limit`` = the next N requests get 429 / 23000 as the venue's limiter answers."""
        if request.path != "/stream" and self.faults.get("rate_limit", 0) > 0:
            self.faults["rate_limit"] -= 1
            self.rest.rejected_429 += 1
            return web.json_response({"code": 23000, "message": "Too Many Requests!"}, status=429)
        return await handler(request)

    async def _run_clock(self) -> None:
        loop = asyncio.get_running_loop()
        nxt = self._last_drop = loop.time()
        while True:
            nxt += self.tick_s
            while self.pending_txs:
                self.orders.execute(*self.pending_txs.pop(0))
            if not self.paused:
                for m in self.markets.values():
                    m.step_market()
                    self.orders.check_triggers(m)
            every = self.faults.get("disconnect_every_s")
            if every and loop.time() - self._last_drop >= every:  # fault: drop every stream socket
                self._last_drop = loop.time()
                await self.stream.close_all()
            await self.stream.publish()
            await asyncio.sleep(max(0.0, nxt - loop.time()))


def _throwaway_key() -> tuple:
    """A throwaway API key pair (80 hex each). With lighter-sdk installed it is a real signer key, so clients
    can sign with it (and, with verify_signatures on, only with it)."""
    try:
        from lighter.signer_client import create_api_key

        priv, pub, err = create_api_key()
        if priv and not err:
            return priv.removeprefix("0x"), pub.removeprefix("0x")
    except Exception:  # the SDK is optional
        pass
    return secrets.token_hex(40), secrets.token_hex(40)

