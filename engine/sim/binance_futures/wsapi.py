"""The futures WS API (``/ws-fapi/v1`` on the REST port): ``{"id","method","params"}`` requests on one socket.

Methods: ping, time, session.logon/status/logout, order.place, order.cancel, order.status, account.status,
account.balance, account.position (each also as ``v2/<method>``), depth, ticker.price, ticker.book,
userDataStream.start/ping/stop. Signed methods take ``apiKey``, ``timestamp`` and a signature over the sorted
``k=v&...`` of every parameter but ``signature`` (HMAC-SHA256, or Ed25519 for a key registered with
``add_ed25519_key``); after ``session.logon`` (Ed25519 keys only) they need neither. The signature and logon
checks are the spot simulator's (engine/sim/binance/wsapi.py). Each order method runs the REST handler, so the
rules, codes and bodies are the REST ones; answers are ``{"id","status":200,"result","rateLimits"}`` or
``{"id","status","error":{"code","msg"}}``."""
from __future__ import annotations

from engine.sim.binance.wsapi import Session, WsApi as SpotWsApi, _text

from .errors import SimError
from .market import now_ms
from .rest import RestApi

# method -> (REST handler name, REST (method, path) whose weight it costs, signed)
METHODS = {
    "order.place": ("new_order", ("POST", "/fapi/v1/order"), True),
    "order.cancel": ("cancel_order", ("DELETE", "/fapi/v1/order"), True),
    "order.status": ("query_order", ("GET", "/fapi/v1/order"), True),
    "account.status": ("account", ("GET", "/fapi/v2/account"), True),
    "account.balance": ("balance", ("GET", "/fapi/v2/balance"), True),
    "account.position": ("position_risk_v2", ("GET", "/fapi/v2/positionRisk"), True),
    "depth": ("depth", ("GET", "/fapi/v1/depth"), False),
    "ticker.price": ("ticker_price", ("GET", "/fapi/v1/ticker/price"), False),
    "ticker.book": ("book_ticker", ("GET", "/fapi/v1/ticker/bookTicker"), False),
    "userDataStream.start": ("listen_key_post", ("POST", "/fapi/v1/listenKey"), "key"),
    "userDataStream.ping": ("listen_key_put", ("PUT", "/fapi/v1/listenKey"), "key"),
    "userDataStream.stop": ("listen_key_delete", ("DELETE", "/fapi/v1/listenKey"), "key"),
}


class WsApi:
    # the spot simulator's checks: per-request HMAC/Ed25519 signature, timestamp and recvWindow, logon keys
    _verify = SpotWsApi._verify
    _check_time = SpotWsApi._check_time
    add_ed25519_key = SpotWsApi.add_ed25519_key

    def __init__(self, rest: RestApi):
        self.rest = rest
        self.api_key = rest.api_key
        self.api_secret = rest.api_secret
        self.server_ms = rest.server_ms
        self.ed25519_keys: dict[str, bytes] = {}
        self.sockets: set = set()

    # the spot simulator's socket loop (parse, answer in order through the session's queue, close): it calls
    # _answer below for each well-formed request
    handler = SpotWsApi.handler

    async def _answer(self, rid, method, params: dict, sess: Session) -> dict:
        return self.answer(rid, method, params, sess)

    def answer(self, rid, method, params: dict, sess: Session) -> dict:
        if isinstance(method, str) and method.startswith("v2/"):
            method = method[3:]
        used = None
        try:
            spec = METHODS.get(method)
            weight = self.rest._weight_of(*spec[1], params) if spec else 1
            used = self.rest._charge(sess.ip, weight)
            body = {"id": rid, "status": 200, "result": self._call(method, params, sess)}
        except SimError as e:
            body = {"id": rid, "status": e.http, "error": e.body()}
        if used is not None:
            body["rateLimits"] = [{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                                   "limit": self.rest.weights.limit, "count": used}]
        return body

    def _call(self, method, params: dict, sess: Session):
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": self.server_ms()}
        if method == "session.logon":
            sess.api_key, sess.authorized_ms = self._verify(params, logon=True), now_ms()
            return self._status(sess)
        if method == "session.status":
            return self._status(sess)
        if method == "session.logout":
            sess.api_key = sess.authorized_ms = None
            return self._status(sess)
        spec = METHODS.get(method)
        if spec is None:
            raise SimError(-1100, f"Illegal characters found in parameter 'method'; legal range is known methods "
                                  f"(got {method!r}).")
        handler, (verb, path), signed = spec
        if signed is True:
            self._verify(params, sess)
        elif signed == "key":
            key = params.get("apiKey") or sess.api_key
            if key != self.api_key and key not in self.ed25519_keys:
                raise SimError(-2015, "Invalid API-key, IP, or permissions for action.", http=401)
        if verb == "POST" and path == "/fapi/v1/order":
            self.rest.order_count.count(1)
        p = {k: _text(v) for k, v in params.items() if k not in ("apiKey", "signature", "timestamp", "recvWindow")}
        return getattr(self.rest, handler)(p)

    def _status(self, sess: Session) -> dict:
        return {"apiKey": sess.api_key, "authorizedSince": sess.authorized_ms, "connectedSince": sess.connected_ms,
                "returnRateLimits": True, "serverTime": self.server_ms()}

    async def close_all(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
