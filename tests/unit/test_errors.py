"""Binance error bodies observed in the wild map to the right exception and action (by code only)."""
import json
import pathlib

import pytest

from engine import errors as E
from engine.connectors.binance.errors import binance_error
from engine.connectors.lighter.errors import lighter_error

OBSERVED_FILE = pathlib.Path(__file__).parents[1] / "data/binance/errors_observed.jsonl"
OBSERVED = [json.loads(line) for line in OBSERVED_FILE.read_text().splitlines() if line.strip()]

EXPECTED = {
    -1021: (E.NonceConflictError, E.ErrorAction.RESYNC_RETRY_ONCE),
    -1003: (E.RateLimitExceededError, E.ErrorAction.WAIT),
    -1013: (E.OrderRejectedError, E.ErrorAction.REJECT),
    -1022: (E.AuthenticationError, E.ErrorAction.FIX_CONFIG),
    -2011: (E.OrderNotFoundError, E.ErrorAction.IGNORE_ON_CANCEL),
    -2010: (E.InsufficientBalanceError, E.ErrorAction.REJECT),
    -1100: (E.InvalidRequestError, E.ErrorAction.REJECT),
    -1111: (E.OrderRejectedError, E.ErrorAction.REJECT),
    -1125: (E.AuthenticationError, E.ErrorAction.RESYNC_RETRY_ONCE),
}


@pytest.mark.parametrize("case", OBSERVED, ids=lambda c: f"{c['code']}-{c['http_status']}")
def test_observed_bodies_classify_by_code(case):
    body = json.dumps(case["binance_body"]).encode()
    err = binance_error(case["http_status"] or 400, body, endpoint=case["endpoint"])
    exc, action = EXPECTED[case["code"]]
    assert type(err) is exc
    assert err.action is action
    assert err.code == case["code"]
    assert err.exchange == "binance"
    assert err.raw == body
    assert isinstance(err, E.TradingError)


def test_hierarchy_matches_the_contract():
    assert issubclass(E.RPCTimeoutError, E.ExchangeConnectionError)
    assert issubclass(E.RateLimitExceededError, E.ExchangeConnectionError)
    assert issubclass(E.WebSocketDisconnectedError, E.ExchangeConnectionError)
    assert issubclass(E.ExchangeConnectionError, E.TradingError)
    for sub in (E.NonceConflictError, E.InsufficientBalanceError, E.OrderRejectedError):
        assert issubclass(sub, E.OrderExecutionError)
    assert issubclass(E.OrderExecutionError, E.TradingError)
    assert issubclass(E.FrameError, ValueError)


def test_rate_limit_uses_retry_after_header_else_sixty_seconds():
    body = b'{"code":-1003,"msg":"Too much request weight used"}'
    err = binance_error(429, body, {"Retry-After": "17"})
    assert isinstance(err, E.RateLimitExceededError) and err.retry_after == 17.0 and not err.banned
    ban = binance_error(418, body, {"retry-after": "120"})
    assert ban.banned and ban.retry_after == 120.0
    assert binance_error(429, body).retry_after == E.DEFAULT_RETRY_AFTER_S


@pytest.mark.parametrize("status,body", [(500, b""), (502, b"<html>bad gateway</html>"), (503, b"{}"), (504, None)])
def test_5xx_means_outcome_unknown(status, body):
    err = binance_error(status, body)
    assert isinstance(err, E.RPCTimeoutError)
    assert err.outcome_unknown and err.action is E.ErrorAction.RECONCILE


def test_minus_1007_timeout_is_outcome_unknown_even_on_4xx():
    err = binance_error(400, b'{"code":-1007,"msg":"Timeout waiting for response from backend server."}')
    assert err.outcome_unknown


def test_classification_ignores_message_wording():
    a = binance_error(400, b'{"code":-2011,"msg":"Unknown order sent."}')
    b = binance_error(400, b'{"code":-2011,"msg":"something entirely different"}')
    assert type(a) is type(b) is E.OrderNotFoundError
    # a message that *looks* like -1021 but carries another code is not a timestamp error
    c = binance_error(400, b'{"code":-1013,"msg":"Timestamp for this request is outside of the recvWindow."}')
    assert type(c) is E.OrderRejectedError


@pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"code":"x"}', b'{"code":true}', b"\xff\xfe", b""])
def test_garbage_bodies_still_give_a_trading_error(body):
    err = binance_error(400, body)
    assert isinstance(err, E.TradingError) and err.code is None


def test_unknown_codes_fall_back_by_range():
    assert type(binance_error(400, b'{"code":-2099,"msg":"?"}')) is E.OrderRejectedError
    assert type(binance_error(400, b'{"code":-1199,"msg":"?"}')) is E.InvalidRequestError


def test_websocket_disconnect_keeps_the_cause():
    err = E.WebSocketDisconnectedError("closed", exchange="binance", close_code=1008, reason="Too many messages",
                                       planned=False)
    assert err.close_code == 1008 and err.reason == "Too many messages" and not err.planned
    assert "binance" in str(err)


LIGHTER = pathlib.Path(__file__).parents[1] / "data/lighter/captured"


@pytest.mark.parametrize("fname,status,exc", [
    ("rest_sendTx_400_21104_invalid_nonce.json", 400, E.NonceConflictError),
    ("rest_accountLimits_error_20013_deadline_over_8h_testnet.json", 401, E.AuthenticationError),
    ("rest_accountActiveOrders_error_20001_no_auth_testnet.json", 400, E.InvalidRequestError),
    ("ws_error_30003_already_subscribed_mainnet.json", None, E.InvalidRequestError),
])
def test_lighter_bodies_map_by_code(fname, status, exc):
    body = (LIGHTER / fname).read_bytes()
    err = lighter_error(status, body)
    assert type(err) is exc and err.exchange == "lighter" and err.code is not None


def test_lighter_nonce_conflict_is_retry_once_and_5xx_unknown():
    err = lighter_error(400, b'{"code":21104,"message":"invalid nonce"}')
    assert err.action is E.ErrorAction.RESYNC_RETRY_ONCE
    assert lighter_error(502, b"").outcome_unknown
    assert lighter_error(429, b'{"code":23000,"message":"Too Many Requests"}').retry_after == 60.0


@pytest.mark.parametrize("code, exc, action", [
    (21136, E.AuthenticationError, E.ErrorAction.FIX_CONFIG),  # the signer library is outdated
    (21120, E.AuthenticationError, E.ErrorAction.FIX_CONFIG),
    (21739, E.InsufficientBalanceError, E.ErrorAction.REJECT),
    (21733, E.OrderRejectedError, E.ErrorAction.REJECT),
    (21600, E.OrderNotFoundError, E.ErrorAction.IGNORE_ON_CANCEL),
    (30009, E.RateLimitExceededError, E.ErrorAction.WAIT),
    (29999, E.InvalidRequestError, E.ErrorAction.REJECT),  # unknown code: a clear reject, never a retry loop
])
def test_lighter_codes_map_to_what_the_caller_must_do(code, exc, action):
    err = lighter_error(400, {"code": code, "message": "m"})
    assert type(err) is exc and err.action is action and err.code == code
    ws = lighter_error(None, {"error": {"code": code, "message": "m"}})  # the stream's error frame shape
    assert type(ws) is exc and ws.code == code
