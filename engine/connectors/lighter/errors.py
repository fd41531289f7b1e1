"""Lighter's error codes (REST bodies and the stream's ``{"error": {...}}`` frames) and their builder.

``lighter_error`` reads ``code``/``message`` (unwrapping the stream's ``error`` envelope) and hands the rest
to ``engine.errors.classify``: HTTP status first, 5xx = unknown outcome, then this table; a code the table
lacks is a clear reject, never a retry loop. A permanent authentication failure (``permanent_auth_failure``:
21108, 21109, 21120, 21136) carries what to check (``AUTH_CHECKS``) in its message.
"""
from __future__ import annotations

from typing import Any, Mapping

from engine.errors import (AuthenticationError, ErrorAction, ErrorRule, InsufficientBalanceError,
                           InvalidRequestError, NonceConflictError, OrderNotFoundError, OrderRejectedError,
                           RateLimitExceededError, TradingError, classify, parse_body)

_R = ErrorRule
_A = ErrorAction
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

# What a human must check for each permanent authentication failure. Appended to the venue's message; never
# contains a key, a token or a signature.
_KEY = "LIGHTER_API_PRIVATE_KEY, LIGHTER_API_KEY_INDEX and LIGHTER_ACCOUNT_INDEX"
_ENV = "testnet and mainnet have separate accounts and keys: check LIGHTER_TESTNET"
AUTH_CHECKS: Mapping[int, str] = {
    21108: f"the venue does not take this key's public key: register the key (ChangePubKey) or check {_KEY}",
    21109: f"no API key is registered at LIGHTER_API_KEY_INDEX for LIGHTER_ACCOUNT_INDEX: check {_KEY}; {_ENV}",
    21120: f"the signature did not verify: LIGHTER_API_PRIVATE_KEY is not the key registered at "
           f"LIGHTER_API_KEY_INDEX of LIGHTER_ACCOUNT_INDEX; {_ENV}",
    21136: "the venue wants a newer signer library: upgrade lighter-sdk (the lighter extra)",
}


def permanent_auth_failure(err: BaseException) -> bool:
    """Whether ``err`` is a key/signature refusal that no retry can fix (a human must act)."""
    return isinstance(err, AuthenticationError) and err.action is ErrorAction.FIX_CONFIG


def lighter_error(http_status: int | None, body: Any = None, headers: Mapping[str, str] | None = None, *,
                  endpoint: str | None = None) -> TradingError:
    """Build the right TradingError for a failed Lighter answer (REST body or WS ``{"error": {...}}``)."""
    code, msg = parse_body(body, message_key="message", envelope="error")
    err = classify("lighter", http_status, code, msg, LIGHTER_ERROR_CODES, raw=body, headers=headers,
                   endpoint=endpoint)
    if permanent_auth_failure(err) and code in AUTH_CHECKS:
        err.message = f"{err.message} ({AUTH_CHECKS[code]})"
        err.args = (err.message,)
    return err
