"""Binance's error codes (spot REST and WS API) and the builder of the right TradingError for an answer.

The table maps every code the engine acts on to an exception and an action; ``binance_error`` parses the
``{"code": -XXXX, "msg": "..."}`` body and hands the rest to ``engine.errors.classify`` (HTTP status first,
5xx = unknown outcome, then the code, then the code's range).
"""
from __future__ import annotations

from typing import Any, Mapping

from engine.errors import (AuthenticationError, ErrorAction, ErrorRule, ExchangeConnectionError,
                           InsufficientBalanceError, InvalidRequestError, NonceConflictError, OrderNotFoundError,
                           OrderRejectedError, RateLimitExceededError, RPCTimeoutError, TradingError, classify,
                           parse_body)

_R = ErrorRule
_A = ErrorAction
# Codes from Binance's official error list; the action is what the connector (or its caller) must do.
BINANCE_ERROR_CODES: Mapping[int, ErrorRule] = {
    -1000: _R(ExchangeConnectionError, _A.RETRY),  # UNKNOWN: for orders the connector reconciles first
    -1001: _R(ExchangeConnectionError, _A.RETRY),  # DISCONNECTED (internal error)
    -1003: _R(RateLimitExceededError, _A.WAIT),  # TOO_MANY_REQUESTS (weight) / IP ban
    -1006: _R(RPCTimeoutError, _A.RECONCILE),  # UNEXPECTED_RESP: execution status unknown
    -1007: _R(RPCTimeoutError, _A.RECONCILE),  # TIMEOUT: execution status unknown
    -1008: _R(ExchangeConnectionError, _A.RETRY),  # SERVER_BUSY
    -1013: _R(OrderRejectedError, _A.REJECT),  # filter failure
    -1015: _R(RateLimitExceededError, _A.WAIT),  # TOO_MANY_ORDERS
    -1021: _R(NonceConflictError, _A.RESYNC_RETRY_ONCE),  # timestamp outside recvWindow / ahead
    -1022: _R(AuthenticationError, _A.FIX_CONFIG),  # INVALID_SIGNATURE
    -1100: _R(InvalidRequestError, _A.REJECT),  # ILLEGAL_CHARS
    -1101: _R(InvalidRequestError, _A.REJECT),
    -1102: _R(InvalidRequestError, _A.REJECT),
    -1103: _R(InvalidRequestError, _A.REJECT),
    -1104: _R(InvalidRequestError, _A.REJECT),
    -1105: _R(InvalidRequestError, _A.REJECT),
    -1106: _R(InvalidRequestError, _A.REJECT),
    -1111: _R(OrderRejectedError, _A.REJECT),  # BAD_PRECISION
    -1112: _R(OrderRejectedError, _A.REJECT),  # NO_DEPTH
    -1114: _R(InvalidRequestError, _A.REJECT),
    -1115: _R(InvalidRequestError, _A.REJECT),
    -1116: _R(InvalidRequestError, _A.REJECT),
    -1117: _R(InvalidRequestError, _A.REJECT),
    -1118: _R(InvalidRequestError, _A.REJECT),
    -1119: _R(InvalidRequestError, _A.REJECT),
    -1120: _R(InvalidRequestError, _A.REJECT),
    -1121: _R(InvalidRequestError, _A.REJECT),  # BAD_SYMBOL
    -1125: _R(AuthenticationError, _A.RESYNC_RETRY_ONCE),  # INVALID_LISTEN_KEY: recreate the stream
    -2010: _R(OrderRejectedError, _A.REJECT),  # NEW_ORDER_REJECTED (generic; balance is the usual case)
    -2011: _R(OrderNotFoundError, _A.IGNORE_ON_CANCEL),  # CANCEL_REJECTED "Unknown order sent."
    -2013: _R(OrderNotFoundError, _A.IGNORE_ON_CANCEL),  # NO_SUCH_ORDER
    -2014: _R(AuthenticationError, _A.FIX_CONFIG),  # BAD_API_KEY_FMT
    -2015: _R(AuthenticationError, _A.FIX_CONFIG),  # REJECTED_MBX_KEY
    -2026: _R(OrderNotFoundError, _A.IGNORE_ON_CANCEL),  # order archived
    -2035: _R(InvalidRequestError, _A.REJECT),  # user-data subscription already active
    -2036: _R(InvalidRequestError, _A.REJECT),  # user-data subscription not active
}

# What a human must check for each permanent authentication failure (REST signs with HMAC-SHA256; the WS API
# logs on with an Ed25519 key when one is set, else signs each request with HMAC). Appended to the venue's message; never contains a key, a secret or a signature.
_SETTINGS = "BINANCE_API_KEY and BINANCE_API_SECRET"
_ENV = ("testnet keys work only with BINANCE_TESTNET=true and live keys only without it (the environments "
        "have separate keys)")
AUTH_CHECKS: Mapping[int, str] = {
    -2014: f"the API key is not in Binance's key format: check {_SETTINGS} for a truncated, quoted or swapped value",
    -2015: f"the key is unknown to this environment, this machine's IP is not on the key's IP allow-list, or the "
           f"key lacks the permission (spot trading / user data): check {_SETTINGS}, the key's IP allow-list and "
           f"permissions; {_ENV}",
    -1022: f"the signature did not verify: BINANCE_API_SECRET is not this key's secret (or the key is an "
           f"Ed25519/RSA key: set an Ed25519 key as BINANCE_ED25519_API_KEY and BINANCE_ED25519_PRIVATE_KEY, "
           f"BINANCE_API_KEY/BINANCE_API_SECRET take HMAC keys only); {_ENV}",
}


def permanent_auth_failure(err: BaseException) -> bool:
    """Whether ``err`` is a key/signature/permission refusal that no retry can fix (a human must act)."""
    return isinstance(err, AuthenticationError) and err.action is ErrorAction.FIX_CONFIG


# -2010 is one code for several business rejects; the balance case gets its own type because callers
# handle it differently (refresh balances, stop quoting that side). Binance offers no finer code, so this
# is the one place that looks at the message, and only to pick a subclass, never the action.
_INSUFFICIENT = "insufficient balance"


def _by_range(code: int) -> ErrorRule:
    """A code the table lacks: -2xxx are business rejects of an order, the rest a malformed request."""
    return _R(OrderRejectedError if code <= -2000 else InvalidRequestError, _A.REJECT)


def binance_error(
    http_status: int | None,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    *,
    endpoint: str | None = None,
) -> TradingError:
    """Build the right TradingError for a failed Binance response (REST or WS API).

    ``body`` may be bytes, str or an already-decoded mapping. ``headers`` supplies ``Retry-After``.
    """
    code, msg = parse_body(body)
    exc = InsufficientBalanceError if code == -2010 and _INSUFFICIENT in msg.lower() else None
    err = classify("binance", http_status, code, msg, BINANCE_ERROR_CODES, raw=body, headers=headers,
                    endpoint=endpoint, unknown_code=_by_range, exc=exc)
    if permanent_auth_failure(err) and code in AUTH_CHECKS:
        err.message = f"{err.message} ({AUTH_CHECKS[code]})"
        err.args = (err.message,)
    return err
