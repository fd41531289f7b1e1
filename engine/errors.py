"""The engine's exception hierarchy and the exchange error-code tables (stdlib only).

    TradingError
    ├── ExchangeConnectionError
    │   ├── RPCTimeoutError            outcome UNKNOWN: reconcile (by client order id), never resend blindly
    │   ├── RateLimitExceededError     429/418: stop until ``retry_after`` seconds have passed
    │   └── WebSocketDisconnectedError close code + reason + whether it was planned
    ├── OrderExecutionError
    │   ├── NonceConflictError         request-ordering token rejected (Binance -1021, Lighter 21104):
    │   │                              nothing was placed; resync and retry once
    │   ├── InsufficientBalanceError
    │   ├── OrderRejectedError         filters, precision, post-only would take, ...
    │   └── OrderNotFoundError         cancel/query of an order the venue does not know
    ├── AuthenticationError            bad signature / key / permissions: a config problem, never retried
    └── InvalidRequestError            the request itself is wrong (bad symbol, missing param): a bug
    FrameError (ValueError)            malformed market-data frame or REST body (hot path)

Every error carries ``exchange``, ``code`` (the venue's numeric code or None), ``http_status``,
``retry_after`` (seconds or None), ``raw`` (the body as received) and ``action`` (what the caller should
do). Classification is by code and HTTP status only, never by message text: venues reword messages
(Binance -2011 was "UNKNOWN_ORDER", now "Unknown order sent.").
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Mapping


class FrameError(ValueError):
    """A market-data frame or REST body the hot path cannot accept.

    Raised by the compiled decoders for truncated, non-JSON, wrongly typed, overlong or otherwise
    malformed input. The message names the problem and the byte offset; the object the call was
    applied to (a book, a sync state) is exactly as it was before the call.
    """


class ErrorAction(str, enum.Enum):
    """What a caller should do about an error; the tables below assign one to every code."""

    RETRY = "retry"  # transient: retry with backoff (for orders: only after reconciling)
    WAIT = "wait"  # rate limited: no requests on this budget until retry_after
    RESYNC_RETRY_ONCE = "resync_retry_once"  # clock/nonce out of sync: resync, retry once
    RECONCILE = "reconcile"  # outcome unknown: look the order up by client id before anything else
    REJECT = "reject"  # the venue refused it for good: do not resend unchanged
    IGNORE_ON_CANCEL = "ignore_on_cancel"  # unknown order on cancel: already gone, reconcile state
    FIX_CONFIG = "fix_config"  # keys, permissions, signature: a human must act


class TradingError(Exception):
    """Base of every error the engine raises about an exchange interaction."""

    default_action = ErrorAction.REJECT

    def __init__(
        self,
        message: str = "",
        *,
        exchange: str | None = None,
        code: int | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
        raw: Any = None,
        action: ErrorAction | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.exchange = exchange
        self.code = code
        self.http_status = http_status
        self.retry_after = retry_after
        self.raw = raw
        self.action = action or self.default_action

    @property
    def outcome_unknown(self) -> bool:
        """True when the request may or may not have taken effect (reconcile before resending)."""
        return self.action is ErrorAction.RECONCILE

    def __str__(self) -> str:
        parts = [self.message or type(self).__name__]
        tags = [
            f"{k}={v}"
            for k, v in (("exchange", self.exchange), ("code", self.code), ("http", self.http_status),
                         ("retry_after", self.retry_after))
            if v is not None
        ]
        if tags:
            parts.append("(" + ", ".join(tags) + ")")
        return " ".join(parts)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.message!r}, exchange={self.exchange!r}, code={self.code!r}, "
                f"http_status={self.http_status!r}, action={self.action.value!r})")


class ExchangeConnectionError(TradingError):
    default_action = ErrorAction.RETRY


class RPCTimeoutError(ExchangeConnectionError):
    """The request timed out or the server failed (5xx): its outcome is UNKNOWN."""

    default_action = ErrorAction.RECONCILE


class RateLimitExceededError(ExchangeConnectionError):
    """429 (limit hit) or 418 (IP banned): nothing on this budget until ``retry_after`` seconds pass."""

    default_action = ErrorAction.WAIT

    @property
    def banned(self) -> bool:
        return self.http_status == 418


class WebSocketDisconnectedError(ExchangeConnectionError):
    """A stream closed; carries the close code and reason so the cause is not erased (aiohttp #8540)."""

    def __init__(self, message: str = "", *, close_code: int | None = None, reason: str = "",
                 planned: bool = False, **kw):
        super().__init__(message, **kw)
        self.close_code = close_code
        self.reason = reason
        self.planned = planned


class OrderExecutionError(TradingError):
    default_action = ErrorAction.REJECT


class NonceConflictError(OrderExecutionError):
    default_action = ErrorAction.RESYNC_RETRY_ONCE


class InsufficientBalanceError(OrderExecutionError):
    pass


class OrderRejectedError(OrderExecutionError):
    pass


class OrderNotFoundError(OrderExecutionError):
    default_action = ErrorAction.IGNORE_ON_CANCEL


class AuthenticationError(TradingError):
    default_action = ErrorAction.FIX_CONFIG


class InvalidRequestError(TradingError):
    pass


@dataclass(frozen=True)
class ErrorRule:
    exc: type
    action: ErrorAction


# ---- Binance (spot REST / WS API). Codes from the official error list; actions per the table.
_R = ErrorRule
_A = ErrorAction
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

# -2010 is one code for several business rejects; the balance case gets its own type because callers
# handle it differently (refresh balances, stop quoting that side). Binance offers no finer code, so this
# is the one place that looks at the message, and only to pick a subclass, never the action.
_BINANCE_INSUFFICIENT = "insufficient balance"

# HTTP statuses that decide on their own, whatever the body says.
_STATUS_RULES: Mapping[int, ErrorRule] = {
    429: _R(RateLimitExceededError, _A.WAIT),
    418: _R(RateLimitExceededError, _A.WAIT),
    403: _R(RateLimitExceededError, _A.WAIT),  # WAF block: treat as rate-related, back off
}
DEFAULT_RETRY_AFTER_S = 60.0


def _parse_body(body: Any) -> tuple[int | None, str]:
    if isinstance(body, Mapping):
        data = body
    else:
        if isinstance(body, (bytes, bytearray, memoryview)):
            body = bytes(body).decode("utf-8", "replace")
        if not isinstance(body, str) or not body:
            return None, ""
        try:
            data = json.loads(body)
        except ValueError:
            return None, body[:200]
        if not isinstance(data, Mapping):
            return None, body[:200]
    code = data.get("code")
    msg = data.get("msg")
    if isinstance(code, bool) or not isinstance(code, int):
        code = None
    return code, msg if isinstance(msg, str) else ""


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    if not headers:
        return None
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(0.0, float(v))
            except (TypeError, ValueError):
                return None
    return None


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
    code, msg = _parse_body(body)
    rule = _STATUS_RULES.get(http_status or 0)
    if rule is None and http_status is not None and http_status >= 500:
        rule = _R(RPCTimeoutError, _A.RECONCILE)  # 5XX: execution status UNKNOWN, whatever the body says
    if rule is None and code is not None:
        rule = BINANCE_ERROR_CODES.get(code)
    if rule is None:
        if code is not None:
            rule = _R(OrderRejectedError if code <= -2000 else InvalidRequestError, _A.REJECT)
        else:
            rule = _R(ExchangeConnectionError, _A.RETRY)
    exc = rule.exc
    if code == -2010 and _BINANCE_INSUFFICIENT in msg.lower():
        exc = InsufficientBalanceError
    retry_after = _retry_after(headers)
    if exc is RateLimitExceededError and retry_after is None:
        retry_after = DEFAULT_RETRY_AFTER_S
    where = f" on {endpoint}" if endpoint else ""
    text = f"binance{where}: {msg}" if msg else f"binance{where}: HTTP {http_status}"
    return exc(text, exchange="binance", code=code, http_status=http_status, retry_after=retry_after,
               raw=body, action=rule.action)


# ---- Lighter (REST and WS error codes from protocols/lighter.md; HTTP status decides first like Binance's)
LIGHTER_ERROR_CODES: Mapping[int, ErrorRule] = {
    20001: _R(InvalidRequestError, _A.REJECT),  # invalid param (incl. "auth field is required")
    20013: _R(AuthenticationError, _A.RESYNC_RETRY_ONCE),  # invalid auth: deadline > 8 h / expired: new token
    21104: _R(NonceConflictError, _A.RESYNC_RETRY_ONCE),  # invalid nonce: refresh from nextNonce, retry once
    21105: _R(NonceConflictError, _A.RESYNC_RETRY_ONCE),  # batch nonces not increasing
    21121: _R(InvalidRequestError, _A.REJECT),  # batch mixes accounts/api keys
    21514: _R(InvalidRequestError, _A.REJECT),  # batch too large
    21728: _R(OrderRejectedError, _A.REJECT),  # client order index already exists
    # keys and signatures: nothing to retry, the configuration (or the signer library) is wrong
    21108: _R(AuthenticationError, _A.FIX_CONFIG),  # invalid public key
    21109: _R(AuthenticationError, _A.FIX_CONFIG),  # api key not found
    21120: _R(AuthenticationError, _A.FIX_CONFIG),  # invalid signature
    21136: _R(AuthenticationError, _A.FIX_CONFIG),  # "invalid PublicKey, update the sdk": the signer is too old
    # order business rejects (before sequencing)
    21301: _R(InsufficientBalanceError, _A.REJECT),  # not enough collateral
    21507: _R(InsufficientBalanceError, _A.REJECT),  # below maintenance margin
    21508: _R(InsufficientBalanceError, _A.REJECT),  # below initial margin
    21739: _R(InsufficientBalanceError, _A.REJECT),  # not enough margin
    21601: _R(OrderRejectedError, _A.REJECT),  # order book full
    21602: _R(InvalidRequestError, _A.REJECT),  # invalid market index
    21701: _R(OrderRejectedError, _A.REJECT),  # invalid base amount
    21702: _R(OrderRejectedError, _A.REJECT),  # invalid price
    21706: _R(OrderRejectedError, _A.REJECT),  # invalid order base or quote amount
    21711: _R(OrderRejectedError, _A.REJECT),  # invalid expiry
    21727: _R(OrderRejectedError, _A.REJECT),  # invalid client order index
    21733: _R(OrderRejectedError, _A.REJECT),  # fat-finger price
    21734: _R(OrderRejectedError, _A.REJECT),  # price too far from the mark
    21717: _R(OrderRejectedError, _A.REJECT),  # order count limits (21717-21720)
    21718: _R(OrderRejectedError, _A.REJECT),
    21719: _R(OrderRejectedError, _A.REJECT),
    21720: _R(OrderRejectedError, _A.REJECT),
    21600: _R(OrderNotFoundError, _A.IGNORE_ON_CANCEL),  # not an active limit order (cancel/modify)
    21500: _R(OrderNotFoundError, _A.IGNORE_ON_CANCEL),  # tx not found
    # rate limits: back off, never retry blindly
    21506: _R(RateLimitExceededError, _A.WAIT),  # too many pending txs
    23000: _R(RateLimitExceededError, _A.WAIT),  # too many requests
    23001: _R(RateLimitExceededError, _A.WAIT),  # too many subscriptions
    23002: _R(RateLimitExceededError, _A.WAIT),  # too many different accounts
    23003: _R(RateLimitExceededError, _A.WAIT),  # too many connections
    30009: _R(RateLimitExceededError, _A.WAIT),  # too many websocket messages
    30010: _R(RateLimitExceededError, _A.WAIT),  # too many inflight messages
    30003: _R(InvalidRequestError, _A.REJECT),  # already subscribed
    30005: _R(InvalidRequestError, _A.REJECT),  # invalid channel
}


def lighter_error(http_status: int | None, body: Any = None, headers: Mapping[str, str] | None = None, *,
                  endpoint: str | None = None) -> TradingError:
    """Build the right TradingError for a failed Lighter answer (REST body or WS ``{"error": {...}}``)."""
    if isinstance(body, (bytes, bytearray, memoryview, str)):
        text = bytes(body).decode("utf-8", "replace") if not isinstance(body, str) else body
        try:
            data = json.loads(text) if text else {}
        except ValueError:
            data = {"message": text[:200]}
    else:
        data = body or {}
    if isinstance(data, Mapping) and isinstance(data.get("error"), Mapping):
        data = data["error"]
    code = data.get("code") if isinstance(data, Mapping) else None
    code = code if isinstance(code, int) and not isinstance(code, bool) else None
    msg = data.get("message", "") if isinstance(data, Mapping) else ""
    rule = _STATUS_RULES.get(http_status or 0)
    if rule is None and http_status is not None and http_status >= 500:
        rule = _R(RPCTimeoutError, _A.RECONCILE)
    if rule is None and code is not None:
        rule = LIGHTER_ERROR_CODES.get(code)
    if rule is None:
        rule = _R(InvalidRequestError if code is not None else ExchangeConnectionError,
                  _A.REJECT if code is not None else _A.RETRY)
    retry_after = _retry_after(headers)
    if rule.exc is RateLimitExceededError and retry_after is None:
        retry_after = DEFAULT_RETRY_AFTER_S
    where = f" on {endpoint}" if endpoint else ""
    return rule.exc(f"lighter{where}: {msg or f'HTTP {http_status}'}", exchange="lighter", code=code,
                    http_status=http_status, retry_after=retry_after, raw=body, action=rule.action)


def timeout_error(exchange: str, what: str, raw: Any = None) -> RPCTimeoutError:
    """A request whose answer never came: the outcome is unknown and must be reconciled."""
    return RPCTimeoutError(f"{exchange}: {what} timed out; outcome unknown", exchange=exchange, raw=raw)
