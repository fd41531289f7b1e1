"""The engine's exception hierarchy and the one classifier every venue builds on (stdlib only).

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

What is generic lives here: the body parser, ``Retry-After``, the HTTP statuses that decide alone, 5xx as
an unknown outcome, and ``classify``. A venue's code table and its builder live in its own package
(``engine/connectors/<venue>/errors.py``), so adding a venue adds no line here.
"""
from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping


class FrameError(ValueError):
    """A market-data frame or REST body the hot path cannot accept.

    Raised by the compiled decoders for truncated, non-JSON, wrongly typed, overlong or otherwise
    malformed input. The message names the problem and the byte offset; the object the call was
    applied to (a book, a sync state) is exactly as it was before the call.
    """


class ErrorAction(str, enum.Enum):
    """What a caller should do about an error; each venue's code table assigns one to every code."""

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
    """A stream closed; carries the close code and reason so the cause is not erased (who closed it, and why)."""

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
    """One row of a venue's code table: the exception to raise and what the caller should do."""

    exc: type
    action: ErrorAction


# HTTP statuses that decide on their own, whatever the body says.
STATUS_RULES: Mapping[int, ErrorRule] = {
    429: ErrorRule(RateLimitExceededError, ErrorAction.WAIT),
    418: ErrorRule(RateLimitExceededError, ErrorAction.WAIT),
    403: ErrorRule(RateLimitExceededError, ErrorAction.WAIT),  # WAF block: treat as rate-related, back off
}
SERVER_ERROR_RULE = ErrorRule(RPCTimeoutError, ErrorAction.RECONCILE)  # 5XX: execution status UNKNOWN
NO_CODE_RULE = ErrorRule(ExchangeConnectionError, ErrorAction.RETRY)  # no status rule, no code: transient
UNKNOWN_CODE_RULE = ErrorRule(InvalidRequestError, ErrorAction.REJECT)  # a code the table lacks: never a retry loop
DEFAULT_RETRY_AFTER_S = 60.0


def parse_body(body: Any, *, message_key: str = "msg", envelope: str | None = None) -> tuple[int | None, str]:
    """``(code, message)`` from an error body: bytes, str or an already-decoded mapping.

    ``message_key`` names the venue's message field; ``envelope`` a key whose mapping holds the error when
    the venue wraps it (``{"error": {"code": ..}}``). A body that is not a JSON object gives no code and its
    first 200 characters as the message; a code that is not an integer (a string, a bool) is no code.
    """
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
    if envelope is not None and isinstance(data.get(envelope), Mapping):
        data = data[envelope]
    code = data.get("code")
    msg = data.get(message_key)
    if isinstance(code, bool) or not isinstance(code, int):
        code = None
    return code, msg if isinstance(msg, str) else ""


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The ``Retry-After`` header in seconds (any spelling of the name), or None when absent or unreadable."""
    if not headers:
        return None
    for k, v in headers.items():
        if k.lower() == "retry-after":
            try:
                return max(0.0, float(v))
            except (TypeError, ValueError):
                return None
    return None


def classify(
    exchange: str,
    http_status: int | None,
    code: int | None,
    message: str,
    table: Mapping[int, ErrorRule],
    *,
    raw: Any = None,
    headers: Mapping[str, str] | None = None,
    endpoint: str | None = None,
    unknown_code: "ErrorRule | Callable[[int], ErrorRule]" = UNKNOWN_CODE_RULE,
    exc: type | None = None,
) -> TradingError:
    """The TradingError for one failed answer, decided in this order:

    1. an HTTP status in ``STATUS_RULES`` (429/418/403), then any 5xx (outcome unknown), whatever the body;
    2. the venue's ``table`` by ``code``;
    3. a code the table lacks: ``unknown_code`` (a rule, or a function of the code for venues whose codes
       fall into ranges); no code at all: a transient connection error.

    ``exc`` replaces the rule's exception class (the action stays the rule's) for the rare code that covers
    several cases only the venue's own module can tell apart. A rate-limit error without ``Retry-After``
    waits ``DEFAULT_RETRY_AFTER_S``. The message is never used to classify here.
    """
    rule = STATUS_RULES.get(http_status or 0)
    if rule is None and http_status is not None and http_status >= 500:
        rule = SERVER_ERROR_RULE
    if rule is None and code is not None:
        rule = table.get(code)
        if rule is None:
            rule = unknown_code(code) if callable(unknown_code) else unknown_code
    if rule is None:
        rule = NO_CODE_RULE
    cls = exc or rule.exc
    retry_after = retry_after_s(headers)
    if cls is RateLimitExceededError and retry_after is None:
        retry_after = DEFAULT_RETRY_AFTER_S
    where = f" on {endpoint}" if endpoint else ""
    return cls(f"{exchange}{where}: {message or f'HTTP {http_status}'}", exchange=exchange, code=code,
               http_status=http_status, retry_after=retry_after, raw=raw, action=rule.action)


def timeout_error(exchange: str, what: str, raw: Any = None) -> RPCTimeoutError:
    """A request whose answer never came: the outcome is unknown and must be reconciled."""
    return RPCTimeoutError(f"{exchange}: {what} timed out; outcome unknown", exchange=exchange, raw=raw)
